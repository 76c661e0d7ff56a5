"""Syn_Visual_Similarity (mirrors Visual_Similarity): which of two candidates is most similar to the
reference (the other differs in shape or in colour)."""

from __future__ import annotations

from functools import partial

import numpy as np
from PIL import Image

from vlmtransfer.data.synthetic.render import SHAPES, unit
from vlmtransfer.data.synthetic.scenes import flat_scene
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    TaskDef,
    grey,
    order_images,
    rf,
    ri,
    sample,
    shape_dict,
)

__all__ = ["TASK", "gen_similarity"]


def _single(rng: np.random.Generator, size: int, shape: str, color: str, r: int) -> tuple[Image.Image, dict]:
    u = unit(size)
    x = size // 2 + ri(rng, -14 * u, 14 * u)
    y = size // 2 + ri(rng, -14 * u, 14 * u)
    background = grey(rng, 50, 110)
    obj = shape_dict(shape, color, x, y, r)
    return flat_scene(size, background, [obj]), {"background": background, **obj}


def gen_similarity(
    rng: np.random.Generator, answer: int, size: int, *, shape_changes: bool = True
) -> Example:
    """The odd image differs from the reference in shape or in colour, half the time each.

    ``shape_changes=False`` is the pretrain split's easier rendering: the odd image always changes colour,
    the cue a tiny vision tower picks up first, so the benchmark's shape changes are new to the model. Both
    renderings consume the same random draws: a question differs between them only in the odd image."""
    u = unit(size)
    (shape, other_shape), (color, other_color) = sample(rng, SHAPES, 2), sample(rng, COLORS, 2)
    r = round(ri(rng, 26, 34) * u)
    ref = _single(rng, size, shape, color, r)
    same = _single(rng, size, shape, color, round(r * rf(rng, 0.85, 1.15)))
    if rng.random() < 0.5 and shape_changes:
        different = _single(rng, size, other_shape, color, round(r * rf(rng, 0.85, 1.15)))
    else:
        different = _single(rng, size, shape, other_color, round(r * rf(rng, 0.85, 1.15)))
    candidates = order_images(rng, answer, same, [different])
    question = (
        "Given three similar but different images, take the first image as reference. Can you tell which"
        " one of the latter two images is most similar to the first one?"
    )
    return Example(
        question,
        ("The second image", "The third image"),
        [ref[0], *(c[0] for c in candidates)],
        {"images": [ref[1], *(c[1] for c in candidates)]},
    )


TASK = TaskDef(
    "Syn_Visual_Similarity",
    "Visual_Similarity",
    2,
    3,
    gen_similarity,
    pretraining=partial(gen_similarity, shape_changes=False),
)
