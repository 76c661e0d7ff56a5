"""Syn_Relative_Reflectance (mirrors Relative_Reflectance): which of two marked points has the darker
surface colour under uneven illumination, or whether they are about the same."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np
from PIL import Image

from vlmtransfer.data.synthetic.render import draw_markers, marker_radius, unit
from vlmtransfer.data.synthetic.scenes import shading
from vlmtransfer.data.synthetic.tasks.base import (
    Example,
    RetryError,
    TaskDef,
    draw_glyph_offset,
    pick,
    retrying,
    rf,
    ri,
)

__all__ = ["REFLECTANCE_LEVELS", "TASK", "gen_reflectance"]

REFLECTANCE_LEVELS = (0.28, 0.45, 0.72)
_REFLECTANCE_LOW = (0.25, 0.4)  # the illumination falls from 100 % to this across the scene
_REFLECTANCE_CANDIDATES = 8  # candidate points per marked rectangle
_REFLECTANCE_LIGHTS = 5  # candidate illuminations per question


def _cuts(rng: np.random.Generator, size: int, parts: int) -> list[int]:
    u = unit(size)
    return [0, *(round(size * k / parts) + ri(rng, -8 * u, 8 * u) for k in range(1, parts)), size]


def gen_reflectance(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = draw_glyph_offset(rng, off_grid_labels)
    u = unit(size)
    mr = marker_radius(size)
    inset = mr + round(5 * u)

    def points_in(cell: Sequence[int]) -> list[tuple[int, int]]:
        x0, y0, x1, y1 = cell
        if x1 - x0 <= 2 * inset or y1 - y0 <= 2 * inset:
            raise RetryError
        return [
            (ri(rng, x0 + inset, x1 - 1 - inset), ri(rng, y0 + inset, y1 - 1 - inset))
            for _ in range(_REFLECTANCE_CANDIDATES)
        ]

    def raw_answer(brightness_a: float, brightness_b: float) -> int:
        # what comparing the observed brightness alone would answer
        ratio = brightness_a / brightness_b
        return 0 if ratio < 0.8 else 1 if ratio > 1.25 else 2

    decoy = ri(rng, 0, 2)  # the answer raw brightness should suggest (drawn once, outside the retries)

    def make() -> Example:
        xs, ys = _cuts(rng, size, ri(rng, 2, 3)), _cuts(rng, size, ri(rng, 1, 2))
        cells = [[xs[i], ys[j], xs[i + 1], ys[j + 1]] for j in range(len(ys) - 1) for i in range(len(xs) - 1)]
        levels = [pick(rng, range(len(REFLECTANCE_LEVELS))) for _ in cells]
        # two different rectangles for every answer (a same-rectangle pair would mark "About the same")
        if answer == 2:
            pairs = [
                (i, j)
                for i in range(len(cells))
                for j in range(len(cells))
                if i != j and levels[i] == levels[j]
            ]
        else:
            darker = (
                (lambda i, j: levels[i] < levels[j]) if answer == 0 else (lambda i, j: levels[i] > levels[j])
            )
            pairs = [(i, j) for i in range(len(cells)) for j in range(len(cells)) if darker(i, j)]
        if not pairs:
            raise RetryError
        ia, ib = pick(rng, pairs)
        points_a, points_b = points_in(cells[ia]), points_in(cells[ib])
        pairs_ab = [
            (a, b)
            for a in points_a
            for b in points_b
            if (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 >= (26 * u) ** 2
        ]
        if not pairs_ab:
            raise RetryError
        # Points and lighting chosen, when possible, so that comparing raw brightness gives the answer
        # drawn as ``decoy`` (uniform over the three, whatever the true answer): the shading then
        # reverses, hides or fakes albedo differences, and albedo must be judged relative to shading.
        options = []
        for _ in range(_REFLECTANCE_LIGHTS):
            angle, low = rf(rng, 0, 2 * math.pi, 4), rf(rng, *_REFLECTANCE_LOW)
            light = shading(size, angle, low)
            for a, b in pairs_ab:
                raw = raw_answer(
                    REFLECTANCE_LEVELS[levels[ia]] * light[a[1], a[0]],
                    REFLECTANCE_LEVELS[levels[ib]] * light[b[1], b[0]],
                )
                options.append((raw == decoy, angle, low, a, b))
        decoyed = [o for o in options if o[0]]
        _, angle, low, (xa, ya), (xb, yb) = pick(rng, decoyed or options)
        light = shading(size, angle, low)
        tint = [rf(rng, 0.9, 1.0) for _ in range(3)]
        albedo = np.zeros((size, size), dtype=np.float64)
        for (x0, y0, x1, y1), level in zip(cells, levels, strict=True):
            albedo[y0:y1, x0:x1] = REFLECTANCE_LEVELS[level]
        pixels = albedo[..., None] * np.array(tint) * light[..., None] * 255.0
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
        labels = draw_markers(image, [(xa, ya, "A"), (xb, yb, "B")], glyph_offset=glyph_offset)
        question = (
            "Two points are circled on the image, labeled by A and B beside each circle."
            " Which point has darker surface color, or the colors are about the same?"
        )
        render = {
            "cells": cells,
            "albedo": [REFLECTANCE_LEVELS[v] for v in levels],
            "angle": angle,
            "low": low,
            "tint": tint,
            "markers": [m.to_dict() for m in labels],
            "glyph_offset": glyph_offset,
        }
        return Example(question, ("A is darker", "B is darker", "About the same"), [image], render)

    return retrying(make)


TASK = TaskDef(
    "Syn_Relative_Reflectance",
    "Relative_Reflectance",
    3,
    1,
    gen_reflectance,
    pretraining=partial(gen_reflectance, off_grid_labels=False),
)
