"""Functional_Correspondence from FunKPoint: the point playing the same role in an action, across
object categories (a pot's handle and a hammer's handle, for "Mash/Pound")."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
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
from vlmtransfer.errors import InputError

__all__ = ["FunKPointCorrespondence"]


@dataclass(frozen=True)
class _Annotated:
    image: str
    category: str
    keypoints: tuple[tuple[float, float] | None, ...]


class FunKPointCorrespondence:
    """FunKPoint (Lai et al., ICCV 2021): 10 actions, objects of 20 categories, the same set of
    functional keypoints annotated per image and action (keypoint k plays the same role on every
    object). FunKPoint's own release layout could not be verified, so this builder reads one JSON list,
    ``annotations.json``, which a short script produces from any release::

        [{"action": "Mash/Pound", "image": "images/hammer_01.jpg", "category": "hammer",
          "split": "train", "keypoints": [[x, y], [x, y], null, ...]}, ...]

    A question pairs two train images of one action and *different* categories: a keypoint of the
    first (REF), the same keypoint on the second (the truth), three of its other keypoints.
    """

    task: str = "Functional_Correspondence"
    max_per_group: int | None = 3
    source = SourceInfo(
        dataset="FunKPoint",
        files=(
            "annotations.json  (list of {action, image, category, split, keypoints}, see the docs)",
            "the images it names, relative to --source",
        ),
        download="https://agi-labs.github.io/FuncCorr (from the authors)",
        license="see the FunKPoint project page",
        split='entries with "split": "train" only',
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(
            root, ("annotations.json",), "FunKPoint keypoints in vlmtransfer's layout", self.source
        )
        by_action = _train_images(path)
        index = SourceIndex(root=root, items=[])
        for action in sorted(by_action):
            images = by_action[action]
            for i, first in enumerate(images):
                for j, second in enumerate(images):
                    if first.category != second.category:
                        index.items.append(
                            Item(key=f"{action}/{i}/{j}", payload=(action, first, second), group=first.image)
                        )
        if not index.items:
            raise InputError("no action has train images of two different categories", source=path)
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        action, first, second = item.payload
        shared = [
            k for k, (p, q) in enumerate(zip(first.keypoints, second.keypoints, strict=False)) if p and q
        ]
        if not shared:
            raise SkipItem("no keypoint annotated on both objects")
        source, target = ctx.photo(first.image), ctx.photo(second.image)
        k = int(ctx.choice(shared))
        ref = source.to_output(*first.keypoints[k])
        truth = target.to_output(*second.keypoints[k])
        others = np.array(
            [target.to_output(*p) for m, p in enumerate(second.keypoints) if p and m != k]
        ).reshape(-1, 2)
        reference, marked = source.image.copy(), target.image.copy()
        distractors = pick_distractors(ctx.rng, marked, truth, others, uniform=False)
        meta = mark_correspondence(reference, ref, marked, truth, distractors=distractors, answer=answer)
        return Example(
            images=[reference, marked],
            choices=POINT_CHOICES,
            answer=answer,
            slots={"action": action},
            sources=(relative_to(source.path, index.root), relative_to(target.path, index.root)),
            raw=[source.image, target.image],
            meta={**meta, "action": action, "categories": [first.category, second.category], "keypoint": k},
        )


def _train_images(path: Path) -> dict[str, list[_Annotated]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"not JSON ({type(exc).__name__})", source=path) from None
    if not isinstance(entries, list):
        raise InputError("expected a list of annotation objects", source=path)
    by_action: dict[str, list[_Annotated]] = defaultdict(list)
    for n, entry in enumerate(entries):
        try:
            if entry.get("split", "train") != "train":
                continue
            points = tuple(None if p is None else (float(p[0]), float(p[1])) for p in entry["keypoints"])
            by_action[str(entry["action"])].append(
                _Annotated(str(entry["image"]), str(entry["category"]), points)
            )
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            raise InputError(
                "expected {action, image, category, split, keypoints: [[x, y] | null, ...]}",
                source=path,
                where=f"entry {n}",
            ) from None
    return by_action
