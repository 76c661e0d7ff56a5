"""Visual_Correspondence from HPatches: the same scene under a new viewpoint or light; truth by homography."""

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
from vlmtransfer.data.builders.geometry import apply_homography, corner_points, inside
from vlmtransfer.data.builders.images import Photo
from vlmtransfer.data.builders.markers import MarkerStyle
from vlmtransfer.errors import InputError

__all__ = ["HPatchesCorrespondence"]

SPLIT = "a"  # hpatches-benchmark's split "a" (the ECCV 2016 DESCRW split): 76 train, 40 test sequences
QUESTIONS_PER_PAIR = 8  # each (1, k) image pair yields this many questions, each with its own REF point


class HPatchesCorrespondence:
    """HPatches sequences (Balntas et al., CVPR 2017): per sequence ``1.ppm`` .. ``6.ppm`` and
    ``H_1_2`` .. ``H_1_6``, the 3 x 3 homographies (text, row by row) mapping pixels of image 1 to
    image k. A question: a distinctive point of image 1 (REF), its image under ``H_1_k`` and three other
    distinctive points of image k, all far enough apart to mark.
    """

    task: str = "Visual_Correspondence"
    max_per_group: int | None = None
    source = SourceInfo(
        dataset="HPatches",
        files=(
            "hpatches-sequences-release/<seq>/{1..6}.ppm, H_1_{2..6}  (hpatches-sequences-release.tar.gz)",
            "splits.json  (python/utils/splits.json of github.com/hpatches/hpatches-benchmark)",
        ),
        download="http://icvl.ee.ic.ac.uk/vbalnt/hpatches/hpatches-sequences-release.tar.gz",
        license="research use (see github.com/hpatches/hpatches-dataset)",
        split="the train sequences of splits.json split 'a'; its 40 test sequences are never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        splits = find_file(
            root,
            ("splits.json", "hpatches-benchmark/python/utils/splits.json"),
            "HPatches' splits",
            self.source,
        )
        sequences = root / "hpatches-sequences-release"
        if not sequences.is_dir():
            find_file(root, ("hpatches-sequences-release/",), "HPatches' image sequences", self.source)
        index = SourceIndex(root=root, items=[])
        for name in _train_sequences(splits):
            folder = sequences / name
            if not folder.is_dir():
                index.excluded["train sequence not downloaded"] += 1
                continue
            for k in range(2, 7):
                for required in (folder / "1.ppm", folder / f"{k}.ppm", folder / f"H_1_{k}"):
                    if not required.is_file():
                        raise InputError(f"missing {relative_to(required, root)}", source=root)
                for j in range(QUESTIONS_PER_PAIR):
                    index.items.append(Item(key=f"{name}/1-{k}/{j}", payload=(name, k), group=f"{name}/{k}"))
        if not index.items:
            raise InputError(f"none of the train sequences of {splits.name} is in {sequences}", source=root)
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        name, k = item.payload
        folder = index.root / "hpatches-sequences-release" / name
        first, other = ctx.photo(folder / "1.ppm"), ctx.photo(folder / f"{k}.ppm")
        homography = _homography(folder / f"H_1_{k}")
        reference, target = first.image.copy(), other.image.copy()
        margin = MarkerStyle.for_image(target).radius * 2
        ref_point, truth = _reference_point(ctx, first, other, homography, margin)
        candidates = corner_points(target, margin=margin)
        distractors = pick_distractors(ctx.rng, target, truth, candidates, uniform=True)
        meta = mark_correspondence(
            reference, ref_point, target, truth, distractors=distractors, answer=answer
        )
        return Example(
            images=[reference, target],
            choices=POINT_CHOICES,
            answer=answer,
            sources=(relative_to(first.path, index.root), relative_to(other.path, index.root)),
            raw=[first.image, other.image],
            meta={**meta, "sequence": name, "pair": [1, k]},
        )


def _train_sequences(path: Path) -> list[str]:
    try:
        names = json.loads(path.read_text(encoding="utf-8"))[SPLIT]["train"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"no train list of split {SPLIT!r} ({type(exc).__name__})", source=path) from None
    return sorted(str(n) for n in names)


def _homography(path: Path) -> np.ndarray:
    try:
        matrix = np.array(
            [[float(v) for v in line.split()] for line in path.read_text().split("\n") if line.strip()]
        )
    except (OSError, ValueError):
        raise InputError("not a 3 x 3 homography", source=path) from None
    if matrix.shape != (3, 3):
        raise InputError(f"not a 3 x 3 homography (shape {matrix.shape})", source=path)
    return matrix


def _reference_point(
    ctx: RenderContext, first: Photo, other: Photo, homography: np.ndarray, margin: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A distinctive point of image 1 whose match lies well inside image k (output pixels, both)."""
    candidates = corner_points(first.image, margin=margin)
    if not len(candidates):
        raise SkipItem("no distinctive point in the first image")
    (s1x, s1y), (skx, sky) = first.scale, other.scale
    source_points = candidates / np.array([s1x, s1y])
    matches = apply_homography(homography, source_points) * np.array([skx, sky])
    ok = np.flatnonzero(inside(matches, other.image.size, margin))
    if not len(ok):
        raise SkipItem("no point of the first image lands inside the second")
    pick = int(ctx.choice(ok[:50]))  # one of the 50 strongest that land inside
    (x, y), (u, v) = candidates[pick], matches[pick]
    return (float(x), float(y)), (float(u), float(v))
