"""Functional_Correspondence from FunKPoint: the point playing the same role in an action, across
object categories (a pot's handle and a hammer's handle, for "Mash/Pound")."""

from __future__ import annotations

import csv
import math
import zlib
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

__all__ = ["KEYPOINTS_PER_ROW", "FunKPointCorrespondence", "is_held_out"]

KEYPOINTS_PER_ROW = 5
LABEL_COLUMNS = ("image_path", "action", "object_category", *(f"p{k}_{a}" for k in range(1, 6) for a in "xy"))
HELD_OUT_PERCENT = 20


def is_held_out(image_path: str) -> bool:
    """FunKPoint has no official split; this is ours: an image is test when the CRC-32 of its path
    (as written in ``labels.csv``) falls in the lowest 20 %. By image, so no photo is on both sides."""
    return zlib.crc32(image_path.encode("utf-8")) % 100 < HELD_OUT_PERCENT


@dataclass(frozen=True)
class _Annotated:
    image: str
    category: str
    keypoints: tuple[tuple[float, float] | None, ...]
    """Normalised to the image: x / width, y / height."""


class FunKPointCorrespondence:
    """FunKPoint (Lai et al., ICCV 2021): 10 actions, objects of 20 categories, 5 functional keypoints
    per (image, action) row of ``labels.csv`` (``p1_x, p1_y .. p5_x, p5_y`` normalised to the image,
    ``difficulty``, ``image_path`` like ``images/<wnid>/<file>``, ``action`` like ``Mash/Pound``,
    ``wnid``, ``object_category``); keypoint k plays the same role on every object of an action.

    A question pairs two train images of one action and *different* categories: a keypoint of the
    first (REF), the same keypoint on the second (the truth), three of its other keypoints.
    """

    task: str = "Functional_Correspondence"
    max_per_group: int | None = 3
    source = SourceInfo(
        dataset="FunKPoint",
        files=(
            "labels.csv  (p1_x, p1_y .. p5_x, p5_y, difficulty, image_path, action, wnid, object_category)",
            "images/<wnid>/<file>  (the images it names, relative to --source)",
        ),
        download="https://agi-labs.github.io/FuncCorr (released by the authors on request)",
        license="see the FunKPoint project page",
        split="no official split: 80 % of images by a hash of their path (the other 20 % are never read)",
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(root, ("labels.csv",), "FunKPoint's keypoint table", self.source)
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
        ref = _to_pixels(source.image.size, first.keypoints[k])
        truth = _to_pixels(target.image.size, second.keypoints[k])
        others = np.array(
            [_to_pixels(target.image.size, p) for m, p in enumerate(second.keypoints) if p and m != k]
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


def _to_pixels(size: tuple[int, int], point: tuple[float, float]) -> tuple[float, float]:
    return point[0] * size[0], point[1] * size[1]


def _train_images(path: Path) -> dict[str, list[_Annotated]]:
    """Per action, the train rows of ``labels.csv`` (held-out images skipped)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"not a readable CSV ({type(exc).__name__})", source=path) from None
    missing = [column for column in LABEL_COLUMNS if rows and column not in rows[0]]
    if not rows or missing:
        raise InputError(f"expected columns {', '.join(missing or LABEL_COLUMNS)}", source=path)
    by_action: dict[str, list[_Annotated]] = defaultdict(list)
    for n, row in enumerate(rows, start=2):
        image = (row["image_path"] or "").strip()
        if not image or is_held_out(image):
            continue
        try:
            points = tuple(_keypoint(row, k) for k in range(1, KEYPOINTS_PER_ROW + 1))
        except ValueError:
            raise InputError(
                "keypoints must be numbers in [0, 1] or empty", source=path, where=f"line {n}"
            ) from None
        category = (row["object_category"] or "").strip()
        by_action[(row["action"] or "").strip()].append(_Annotated(image, category, points))
    return by_action


def _keypoint(row: dict[str, str], k: int) -> tuple[float, float] | None:
    """Keypoint ``k`` (1-based) of a row, or None when either coordinate is empty or NaN."""
    raw = (row[f"p{k}_x"] or "").strip(), (row[f"p{k}_y"] or "").strip()
    if not all(raw):
        return None
    x, y = float(raw[0]), float(raw[1])
    if math.isnan(x) or math.isnan(y):
        return None
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise ValueError("out of range")
    return x, y
