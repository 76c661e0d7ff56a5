"""Syn_Object_Localization (mirrors Object_Localization): which of two labelled boxes encloses the object."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np

from vlmtransfer.data.records import LETTERS
from vlmtransfer.data.synthetic.render import (
    SHAPES,
    box_iou,
    draw_box,
    draw_label,
    label_size,
    patch_side,
    shape_bbox,
    unit,
)
from vlmtransfer.data.synthetic.scenes import flat_scene
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    RetryError,
    TaskDef,
    draw_glyph_offset,
    grey,
    pick,
    retrying,
    rf,
    ri,
    shape_dict,
)

__all__ = ["TASK", "gen_localization"]


def _box_label(size: int, box: Sequence[int], text: str, avoid: Sequence[Sequence[int]]) -> list[int]:
    """Where a box's label goes: on the patch grid, covering one of the box's corners (so the box's
    edges run into it), the top-left if it is free of ``avoid``, else the freest other corner."""
    w, h = label_size(size, text)
    side = patch_side(size)
    x0, y0, x1, y1 = box
    last_x, last_y = (size - w) // side * side, (size - h) // side * side
    best = None
    for k, (cx, cy) in enumerate(((x0, y0), (x1, y0), (x0, y1), (x1, y1))):
        lx, ly = min(cx // side * side, last_x), min(cy // side * side, last_y)
        rect = [lx, ly, lx + w - 1, ly + h - 1]
        overlap = sum(
            max(0, min(rect[2], a[2]) - max(rect[0], a[0]) + 1)
            * max(0, min(rect[3], a[3]) - max(rect[1], a[1]) + 1)
            for a in avoid
        )
        if best is None or (overlap, k) < best[0]:
            best = ((overlap, k), rect)
    assert best is not None
    return best[1]


def gen_localization(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = draw_glyph_offset(rng, off_grid_labels)
    u = unit(size)

    def make() -> Example:
        shape, color = pick(rng, SHAPES), pick(rng, COLORS)
        r = round(ri(rng, 14, 24) * u)
        margin = r + 6 * u
        x, y = ri(rng, margin, size - 1 - margin), ri(rng, margin, size - 1 - margin)
        background = grey(rng, 40, 100)
        image = flat_scene(size, background, [shape_dict(shape, color, x, y, r)])
        bx0, by0, bx1, by1 = shape_bbox(size, shape, x, y, r)
        pad = max(1, round(2 * u))
        right = [bx0 - pad, by0 - pad, bx1 + pad, by1 + pad]
        w, h = right[2] - right[0], right[3] - right[1]
        kind = pick(rng, ("shift", "grow", "shrink"))
        if kind == "shift":
            angle = pick(rng, range(8)) * math.pi / 4
            f = rf(rng, 0.5, 0.8)
            dx, dy = round(math.cos(angle) * f * w), round(math.sin(angle) * f * h)
            wrong = [right[0] + dx, right[1] + dy, right[2] + dx, right[3] + dy]
        else:
            f = rf(rng, 1.7, 2.1) if kind == "grow" else rf(rng, 0.45, 0.6)
            cx, cy = (right[0] + right[2]) / 2, (right[1] + right[3]) / 2
            wrong = [
                round(cx - f * w / 2),
                round(cy - f * h / 2),
                round(cx + f * w / 2),
                round(cy + f * h / 2),
            ]
        wrong = [min(max(v, 0), size - 1) for v in wrong]
        if min(wrong[2] - wrong[0], wrong[3] - wrong[1]) < 8 * u or box_iou(right, wrong) > 0.5:
            raise RetryError
        boxes = [right, wrong] if answer == 0 else [wrong, right]
        for box in boxes:
            draw_box(image, box)
        labels: list[list[int]] = []
        for k, box in enumerate(boxes):
            other = boxes[1 - k]
            corners = [[x, y, x, y] for x in (other[0], other[2]) for y in (other[1], other[3])]
            rect = _box_label(size, box, LETTERS[k], [[bx0, by0, bx1, by1], *labels, *corners])
            draw_label(image, rect[0], rect[1], LETTERS[k], glyph_offset=glyph_offset)
            labels.append(rect)
        question = (
            "A bounding box is an annotated rectangle surrounding an object. The edges of bounding boxes"
            " should touch the outermost pixels of the object. In the image provided, there are two bounding"
            f" boxes, labeled A and B. Which bounding box more accurately localizes and encloses the {color}"
            f" {shape}?"
        )
        render = {
            "background": background,
            "object": shape_dict(shape, color, x, y, r),
            "boxes": boxes,
            "labels": labels,
            "perturbation": kind,
            "glyph_offset": glyph_offset,
        }
        return Example(question, ("Box A", "Box B"), [image], render)

    return retrying(make)


TASK = TaskDef(
    "Syn_Object_Localization",
    "Object_Localization",
    2,
    1,
    gen_localization,
    pretraining=partial(gen_localization, off_grid_labels=False),
)
