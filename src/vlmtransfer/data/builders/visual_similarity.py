"""Visual_Similarity from NIGHTS (DreamSim): a reference and two variations; the one humans judged closer."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.data.builders.base import (
    Example,
    Item,
    RenderContext,
    SourceIndex,
    SourceInfo,
    find_file,
    relative_to,
)
from vlmtransfer.errors import InputError

__all__ = ["NightsSimilarity"]

CHOICES = ("the second image", "the third image")
MIN_VOTES = 6  # DreamSim trains on triplets with at least 6 agreeing votes
_COLUMNS = ("ref_path", "left_path", "right_path", "split", "left_vote", "right_vote", "votes")


@dataclass(frozen=True)
class _Triplet:
    ref: str
    closer: str
    farther: str
    votes: int


class NightsSimilarity:
    """NIGHTS (Fu et al., NeurIPS 2023): ``nights/data.csv`` with columns ``id, left_vote, right_vote,
    votes, ref_path, left_path, right_path, split, is_imagenet, prompt`` (paths relative to ``nights/``;
    ``right_vote`` 1 means the right image is the closer one). Only triplets of the train split with at
    least 6 agreeing votes, as DreamSim trains; the closer image is the correct option."""

    task: str = "Visual_Similarity"
    max_per_group: int | None = None
    source = SourceInfo(
        dataset="NIGHTS (DreamSim)",
        files=("nights/data.csv", "nights/ref/<xxx>/<yyy>.png, nights/distort/<xxx>/<yyy>_{0,1}.png"),
        download="https://github.com/ssundaram21/dreamsim (dataset/download_dataset.sh)",
        license="see github.com/ssundaram21/dreamsim (images generated with Stable Diffusion)",
        split='rows with split "train" and votes >= 6; val and test rows are never read',
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(root, ("nights/data.csv", "data.csv"), "NIGHTS' triplets and votes", self.source)
        base = path.parent
        index = SourceIndex(root=root, items=[])
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)}", source=path)
            for n, row in enumerate(reader, start=2):
                triplet = _triplet(row, base, root, path, n)
                if row["split"] != "train":
                    index.excluded[f"{row['split']} split"] += 1
                elif triplet is None:
                    index.excluded[f"fewer than {MIN_VOTES} agreeing votes"] += 1
                else:
                    index.items.append(Item(key=row.get("id") or str(n), payload=triplet))
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        triplet: _Triplet = item.payload
        ref, closer, farther = (
            ctx.photo(p, upright=True) for p in (triplet.ref, triplet.closer, triplet.farther)
        )
        candidates = [closer, farther] if answer == "A" else [farther, closer]
        photos = [ref, *candidates]
        return Example(
            images=[p.image for p in photos],
            choices=CHOICES,
            answer=answer,
            sources=tuple(relative_to(p.path, index.root) for p in photos),
            meta={"votes": triplet.votes},
        )


def _triplet(row: dict[str, str], base: Path, root: Path, path: Path, n: int) -> _Triplet | None:
    try:
        left, right, votes = float(row["left_vote"]), float(row["right_vote"]), int(float(row["votes"]))
    except ValueError:
        raise InputError("non-numeric votes", source=path, where=f"line {n}") from None
    if votes < MIN_VOTES or left == right:
        return None
    ref, left_path, right_path = (
        relative_to(base / row[k], root) for k in ("ref_path", "left_path", "right_path")
    )
    closer, farther = (right_path, left_path) if right > left else (left_path, right_path)
    return _Triplet(ref, closer, farther, votes)
