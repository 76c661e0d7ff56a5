"""Syn_Jigsaw (mirrors Jigsaw): which of two pieces fills the scene's missing lower-right quadrant."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from vlmtransfer.data.synthetic.render import PALETTE, SHAPES, shape_mask, unit
from vlmtransfer.data.synthetic.scenes import flat_scene
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    RetryError,
    TaskDef,
    grey,
    order_images,
    pick,
    retrying,
    ri,
    sample,
    shape_dict,
)

__all__ = ["JIGSAW_MIN_MARGIN", "JIGSAW_PRETRAIN_MIN_MARGIN", "TASK", "border_mismatch", "gen_jigsaw"]

JIGSAW_MIN_MARGIN = 140.0
"""How much worse the wrong piece's edges must match the hole's than the right piece's
(:func:`border_mismatch`), in the ``train`` and ``val`` splits. The shipped model answers 55 % of
questions at the ``pretrain`` split's margin, and 62 % of those with a margin of 120 or more
(docs/synthetic-suite.md, "Jigsaw's margin")."""
JIGSAW_PRETRAIN_MIN_MARGIN = 15.0


def _border_shape(
    rng: np.random.Generator, size: int, color: str, shapes: Sequence[str] = SHAPES
) -> dict[str, Any]:
    """A shape (one of ``shapes``) straddling the top or left edge of the lower-right quadrant."""
    u, h = unit(size), size // 2
    r = round(ri(rng, 15, 24) * u)
    along, across = ri(rng, h + r // 3, size - 1 - r // 3), h + ri(rng, -r // 2, r // 2)
    x, y = (across, along) if rng.random() < 0.5 else (along, across)
    return shape_dict(pick(rng, shapes), color, x, y, r)


def _visible_colors(image: Image.Image, box: Sequence[int]) -> list[str]:
    """Palette colours with pixels outside ``box`` (the part of a jigsaw scene left visible)."""
    px = np.asarray(image, dtype=np.uint32)
    packed = (px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2]  # one compare per colour, not three
    packed[box[1] : box[3], box[0] : box[2]] = 1 << 24  # no colour: the hole is not visible
    return [name for name in COLORS if np.count_nonzero(packed == _packed(PALETTE[name])) >= 4]


def _packed(color: Sequence[int]) -> int:
    return (int(color[0]) << 16) | (int(color[1]) << 8) | int(color[2])


def border_mismatch(first: np.ndarray, candidate: np.ndarray) -> float:
    """Mean colour difference between the pixels bordering the hole of ``first`` (its lower-right
    quadrant) and the top row / left column of ``candidate`` scaled back to the hole's size."""
    size = first.shape[0]
    h = size // 2
    patch = Image.fromarray(candidate.astype(np.uint8)).resize((size - h, size - h), Image.Resampling.NEAREST)
    patch_px = np.asarray(patch, dtype=np.int32)
    above = np.abs(first[h - 1, h:, :] - patch_px[0, :, :]).max(axis=1)
    left = np.abs(first[h:, h - 1, :] - patch_px[:, 0, :]).max(axis=1)
    return float(np.concatenate([above, left]).mean())


def gen_jigsaw(
    rng: np.random.Generator, answer: int, size: int, *, min_margin: float = JIGSAW_MIN_MARGIN
) -> Example:
    u, h = unit(size), size // 2

    def make() -> Example:
        background = grey(rng, 45, 95)
        colors = sample(rng, COLORS, len(COLORS))
        n = ri(rng, 3, 4)
        shapes = [_border_shape(rng, size, colors[0])]
        for color in colors[1:n]:
            r = round(ri(rng, 12, 22) * u)
            shapes.append(
                shape_dict(
                    pick(rng, SHAPES), color, ri(rng, r // 2, size - 1 - r // 2), ri(rng, r // 2, h), r
                )
            )
        box = (h, h, size, size)
        full = flat_scene(size, background, shapes)
        # The wrong piece is the same quadrant of a scene in which every shape reaching into it was
        # moved elsewhere along the hole's edge, taking a colour and a kind already seen in the first
        # image: no colour or shape gives the piece away, only continuity across the edge does.
        visible = _visible_colors(full, box)
        kinds = sorted({s["shape"] for s in shapes})
        if not visible:
            raise RetryError
        alternative = [
            _border_shape(rng, size, pick(rng, visible), kinds)
            if shape_mask(size, s["shape"], s["x"], s["y"], s["r"])[h:, h:].any()
            else s
            for s in shapes
        ]
        other = flat_scene(size, background, alternative)
        right = full.crop(box).resize((size, size), Image.Resampling.NEAREST)
        wrong = other.crop(box).resize((size, size), Image.Resampling.NEAREST)
        first = full.copy()
        first.paste((0, 0, 0), box)
        first_px = np.asarray(first, dtype=np.int32)
        margin = border_mismatch(first_px, np.asarray(wrong, dtype=np.int32)) - border_mismatch(
            first_px, np.asarray(right, dtype=np.int32)
        )
        if margin < min_margin:
            raise RetryError
        candidates = order_images(rng, answer, right, [wrong])
        question = (
            "Given the first image with the lower right corner missing, can you tell which one of the second"
            " image or the third image is the missing part? Imagine which image would be more appropriate to"
            " place in the missing spot. You can also carefully observe and compare the edges of the images."
        )
        render = {
            "background": background,
            "shapes": shapes,
            "alternative_shapes": alternative,
            "candidate_sources": ["scene" if c is right else "alternative" for c in candidates],
        }
        return Example(question, ("the second image", "the third image"), [first, *candidates], render)

    return retrying(make)


TASK = TaskDef(
    "Syn_Jigsaw",
    "Jigsaw",
    2,
    3,
    gen_jigsaw,
    pretraining=partial(gen_jigsaw, min_margin=JIGSAW_PRETRAIN_MIN_MARGIN),
)
