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
LABEL_COLUMNS = (
    "image_path",
    "action",
    "object_category",
    *(f"p{k}_{axis}" for k in range(1, KEYPOINTS_PER_ROW + 1) for axis in "xy"),
)
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
    """Per action, the train rows of ``labels.csv`` (held-out images are skipped unchecked).

    Raises:
        InputError: unreadable file, missing columns, no rows, or a bad row (naming line and column):
            an empty action, category or image, a coordinate that is not a number in [0, 1], or an
            image listed twice for one action.
    """
    by_action: dict[str, list[_Annotated]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    rows = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in LABEL_COLUMNS if column not in (reader.fieldnames or ())]
            if missing:
                raise InputError(f"missing columns {', '.join(missing)}", source=path)
            for row in reader:
                rows += 1
                where = f"line {reader.line_num}"
                image = _required(row, "image_path", path, where)
                if is_held_out(image):
                    continue
                action = _required(row, "action", path, where)
                category = _required(row, "object_category", path, where)
                if (action, image) in seen:
                    raise InputError(f"{image} is listed twice for {action!r}", source=path, where=where)
                seen.add((action, image))
                points = tuple(_keypoint(row, k, path, where) for k in range(1, KEYPOINTS_PER_ROW + 1))
                by_action[action].append(_Annotated(image, category, points))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"not a readable CSV ({type(exc).__name__})", source=path) from None
    if rows == 0:
        raise InputError("no rows", source=path)
    return by_action


def _required(row: dict[str, str | None], column: str, path: Path, where: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise InputError(f"column {column!r} is empty", source=path, where=where)
    return value


def _keypoint(row: dict[str, str | None], k: int, path: Path, where: str) -> tuple[float, float] | None:
    """Keypoint ``k`` (1-based) of a row, or None when either coordinate is empty or NaN."""
    raw = [(row.get(f"p{k}_{axis}") or "").strip() for axis in "xy"]
    if not all(raw):
        return None
    values = []
    for axis, text in zip("xy", raw, strict=True):
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if math.isnan(value):
            return None
        if not 0 <= value <= 1:
            raise InputError(
                f"column 'p{k}_{axis}': {text!r} is not a number in [0, 1] (normalised)",
                source=path,
                where=where,
            )
        values.append(value)
    return values[0], values[1]
