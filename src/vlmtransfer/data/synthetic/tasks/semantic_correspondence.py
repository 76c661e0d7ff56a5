"""Syn_Semantic_Correspondence (mirrors Semantic_Correspondence): which marked part of a second toy
creature corresponds to the part marked on the first."""

from __future__ import annotations

from functools import partial

import numpy as np
from PIL import Image, ImageDraw

from vlmtransfer.data.records import LETTERS
from vlmtransfer.data.synthetic.render import PALETTE, draw_markers, unit
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    TaskDef,
    draw_glyph_offset,
    grey,
    pick,
    ri,
    sample,
)

__all__ = ["PARTS", "TASK", "creature_parts", "gen_semantic"]

PARTS = ("head", "left arm", "right arm", "legs")


def creature_parts(cx: int, cy: int, radius: int) -> dict[str, tuple[int, int]]:
    """Anchor points of the four parts of a creature with body radius ``radius`` centred at (cx, cy)."""
    arm = round(1.55 * radius)
    return {
        "head": (cx, cy - radius - round(0.3 * radius)),
        "left arm": (cx - arm, cy),
        "right arm": (cx + arm, cy),
        "legs": (cx, cy + round(1.5 * radius)),
    }


def _creature(image: Image.Image, cx: int, cy: int, radius: int, *, body: str, limbs: str) -> None:
    draw = ImageDraw.Draw(image)
    a, leg = max(3, round(0.32 * radius)), max(3, round(0.42 * radius))
    draw.rectangle([cx - 2 * radius, cy - a, cx + 2 * radius, cy + a], fill=PALETTE[limbs])
    draw.rectangle([cx - leg, cy, cx + leg, cy + 2 * radius], fill=PALETTE[limbs])
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=PALETTE[body])
    hx, hy = creature_parts(cx, cy, radius)["head"]
    hr = round(0.58 * radius)
    draw.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=PALETTE[limbs])


_OUTWARD = {"head": (0.0, -1.0), "left arm": (-1.0, 0.0), "right arm": (1.0, 0.0), "legs": (0.0, 1.0)}


def gen_semantic(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = draw_glyph_offset(rng, off_grid_labels)
    u = unit(size)
    part = pick(rng, PARTS)
    others = [p for p in PARTS if p != part]
    order = [others[int(i)] for i in rng.permutation(3)]
    lettered = [*order[:answer], part, *order[answer:]]  # lettered[k] is the part labelled LETTERS[k]
    views = []
    images = []
    for k in range(2):
        radius = round(ri(rng, 12, 16) * u)
        margin = 2 * radius + 3 * u
        cx, cy = ri(rng, margin, size - 1 - margin), ri(rng, margin + 2 * u, size - 1 - margin)
        body, limbs = sample(rng, COLORS, 2)
        background = grey(rng, 60, 110)
        image = Image.new("RGB", (size, size), tuple(background))
        _creature(image, cx, cy, radius, body=body, limbs=limbs)
        anchors = creature_parts(cx, cy, radius)
        if k == 0:
            marks = [(*anchors[part], "REF")]
            prefer = [_OUTWARD[part]]
        else:
            marks = [(*anchors[p], LETTERS[j]) for j, p in enumerate(lettered)]
            prefer = [_OUTWARD[p] for p in lettered]
        labels = draw_markers(image, marks, prefer, glyph_offset=glyph_offset)
        images.append(image)
        views.append(
            {
                "background": background,
                "x": cx,
                "y": cy,
                "radius": radius,
                "body": body,
                "limbs": limbs,
                "markers": [m.to_dict() for m in labels],
            }
        )
    question = (
        "Humans can find corresponding points for different objects in the same category. For instance,"
        " if there are images of two different toy creatures, then the left arm of one creature corresponds"
        " to the left arm of the other. A point is circled on the first image, labeled with REF. You are"
        ' given multiple red-circled points on the second image, choices of "A, B, C, D" are drawn beside'
        " each circle. Which point on the second image corresponds to the point in the first image?"
    )
    return Example(
        question, tuple(f"Point {c}" for c in "ABCD"), images, {"views": views, "glyph_offset": glyph_offset}
    )


TASK = TaskDef(
    "Syn_Semantic_Correspondence",
    "Semantic_Correspondence",
    4,
    2,
    gen_semantic,
    pretraining=partial(gen_semantic, off_grid_labels=False),
)
