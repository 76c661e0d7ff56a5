"""Semantic_Correspondence from SPair-71k: the same part on a different object of the same category."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vlmtransfer.data.builders.base import (
    Example,
    Item,
    RenderContext,
    SkipItem,
    SourceIndex,
    SourceInfo,
    find_file,
    relative_to,
)
from vlmtransfer.data.builders.correspondence import POINT_CHOICES, mark_correspondence, pick_distractors

__all__ = ["SPairCorrespondence"]


class SPairCorrespondence:
    """SPair-71k (Min et al., 2019): ``PairAnnotation/trn/<pair>.json`` holds ``src_imname``,
    ``trg_imname``, ``category`` and ``src_kps`` / ``trg_kps`` (``[[x, y], ...]``, the same keypoint
    at the same index); images are ``JPEGImages/<category>/<name>``. A question: one keypoint of the
    source image (REF), the same keypoint on the target (the truth) and three other target keypoints.
    Pair files are read when rendered, so scanning 53,000 of them is instant.
    """

    task: str = "Semantic_Correspondence"
    max_per_group: int | None = None
    source = SourceInfo(
        dataset="SPair-71k",
        files=(
            "SPair-71k/PairAnnotation/trn/<pair>.json",
            "SPair-71k/JPEGImages/<category>/<image>.jpg",
        ),
        download="https://cvlab.postech.ac.kr/research/SPair-71k/ (SPair-71k.tar.gz)",
        license="research use; images from PASCAL VOC (Flickr terms)",
        split="PairAnnotation/trn only; val and test pairs are never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        base = _base(root)
        pairs = find_file(base, ("PairAnnotation/trn",), "SPair-71k's train pairs", self.source)
        find_file(base, ("JPEGImages",), "SPair-71k's images", self.source)
        files = sorted(pairs.glob("*.json"))
        items = [Item(key=f.stem, payload=relative_to(f, root)) for f in files]
        return SourceIndex(root=root, items=items)

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        pair = _read_pair(index.root / item.payload)
        images = _base(index.root) / "JPEGImages" / pair["category"]
        source, target = ctx.photo(images / pair["src_imname"]), ctx.photo(images / pair["trg_imname"])
        src = np.asarray(pair["src_kps"], dtype=np.float64).reshape(-1, 2) * np.array(source.scale)
        trg = np.asarray(pair["trg_kps"], dtype=np.float64).reshape(-1, 2) * np.array(target.scale)
        if len(src) != len(trg) or len(trg) < 4:
            raise SkipItem("fewer than four keypoints in the pair")
        r = int(ctx.rng.integers(len(src)))
        others = np.delete(trg, r, axis=0)
        reference, marked = source.image.copy(), target.image.copy()
        distractors = pick_distractors(ctx.rng, marked, trg[r], others, uniform=False)
        meta = mark_correspondence(reference, src[r], marked, trg[r], distractors=distractors, answer=answer)
        ids = pair.get("kps_ids") or list(range(len(src)))
        return Example(
            images=[reference, marked],
            choices=POINT_CHOICES,
            answer=answer,
            sources=(relative_to(source.path, index.root), relative_to(target.path, index.root)),
            raw=[source.image, target.image],
            meta={**meta, "category": pair["category"], "keypoint": str(ids[r])},
        )


def _base(root: Path) -> Path:
    return root / "SPair-71k" if (root / "SPair-71k").is_dir() else root


def _read_pair(path: Path) -> dict:
    try:
        pair = json.loads(path.read_text(encoding="utf-8"))
        for key in ("src_imname", "trg_imname", "category", "src_kps", "trg_kps"):
            pair[key]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SkipItem(f"unreadable pair annotation ({type(exc).__name__})", path) from None
    return pair
