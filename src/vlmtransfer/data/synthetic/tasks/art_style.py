"""Syn_Art_Style (mirrors Art_Style): which of two candidates shares the reference's texture family."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vlmtransfer.data.synthetic.render import PALETTE, SHAPES, shape_mask, texture, unit
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    TaskDef,
    order_images,
    ri,
    sample,
    shape_dict,
)

__all__ = ["TASK", "TEXTURES", "gen_art_style"]

TEXTURES = ("hstripes", "vstripes", "checker", "diagonal")


def _styled(rng: np.random.Generator, size: int, family: str, shape: str) -> tuple[Image.Image, dict]:
    u = unit(size)
    colors = sample(rng, COLORS, 4)
    half = max(2, round(ri(rng, 3, 5) * u))
    phases = [ri(rng, 0, 2 * half - 1), ri(rng, 0, 2 * half - 1)]
    r = round(ri(rng, 28, 38) * u)
    cx = size // 2 + ri(rng, -10 * u, 10 * u)
    cy = size // 2 + ri(rng, -10 * u, 10 * u)
    back = texture(family, size, half, (PALETTE[colors[0]], PALETTE[colors[1]]), phases[0])
    front = texture(family, size, half, (PALETTE[colors[2]], PALETTE[colors[3]]), phases[1])
    mask = shape_mask(size, shape, cx, cy, r)
    pixels = np.where(mask[..., None], front, back)
    params = {
        "family": family,
        "half_period": half,
        "phases": phases,
        "colors": colors,
        **shape_dict(shape, colors[2], cx, cy, r),
    }
    return Image.fromarray(pixels, "RGB"), params


def gen_art_style(rng: np.random.Generator, answer: int, size: int) -> Example:
    family, other = sample(rng, TEXTURES, 2)
    ref_shape, new_shape = sample(rng, SHAPES, 2)
    # Content must not give the answer away: half the time the same-style candidate has another shape
    # and the other-style one the reference's (content as a distractor, as in BLINK), half the time the
    # other way round, so neither "the shape differs" nor "the shape matches" beats chance.
    style_shape, content_shape = (new_shape, ref_shape) if rng.random() < 0.5 else (ref_shape, new_shape)
    ref = _styled(rng, size, family, ref_shape)
    same_style = _styled(rng, size, family, style_shape)
    other_style = _styled(rng, size, other, content_shape)
    candidates = order_images(rng, answer, same_style, [other_style])
    question = (
        "Some common pattern styles are horizontal stripes, vertical stripes, checks and diagonal stripes."
        " Given the following images, use the first image as the reference image, and determine which one"
        " of the second or the third image shares the same style as the reference image?"
    )
    return Example(
        question,
        ("the second image", "the third image"),
        [ref[0], *(c[0] for c in candidates)],
        {"images": [ref[1], *(c[1] for c in candidates)]},
    )


TASK = TaskDef("Syn_Art_Style", "Art_Style", 2, 3, gen_art_style)
