"""Syn_Forensic_Detection (mirrors Forensic_Detection): the one real photo among three fakes carrying a
periodic grid artifact."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from vlmtransfer.data.synthetic.render import SHAPES, texture, unit
from vlmtransfer.data.synthetic.scenes import flat_scene, shading
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    TaskDef,
    grey,
    order_images,
    pick,
    place,
    retrying,
    rf,
    ri,
    rlog,
    sample,
    shape_dict,
)

__all__ = ["FORENSIC_AMPLITUDE", "FORENSIC_PRETRAIN_AMPLITUDE", "ORDINALS", "TASK", "gen_forensic"]

ORDINALS = ("first", "second", "third", "fourth")
FORENSIC_AMPLITUDE = (0.02, 0.22)  # a fake's grid strength, log-uniform
FORENSIC_PRETRAIN_AMPLITUDE = (0.14, 0.22)  # the same for the pretrain split, uniform


def _forensic_image(
    rng: np.random.Generator, size: int, artifact: bool, *, weak_artifacts: bool
) -> tuple[Image.Image, dict]:
    u = unit(size)

    def layout() -> tuple[list[int], list[int]]:
        radii = [round(ri(rng, 10, 22) * u) for _ in range(ri(rng, 2, 3))]
        return radii, place(rng, size, radii, gap=4 * u)

    radii, centres = retrying(layout)
    background = grey(rng, 100, 160)
    colors = sample(rng, COLORS, len(radii))
    shapes = [
        shape_dict(pick(rng, SHAPES), c, x, y, r) for c, (x, y), r in zip(colors, centres, radii, strict=True)
    ]
    angle, low = rf(rng, 0, 2 * math.pi, 4), rf(rng, 0.7, 0.85)
    pixels = np.asarray(flat_scene(size, background, shapes), dtype=np.float64)
    pixels = pixels * shading(size, angle, low)[..., None]
    params: dict[str, Any] = {"background": background, "shapes": shapes, "angle": angle, "low": low}
    if artifact:
        if weak_artifacts:
            amplitude = rlog(rng, *FORENSIC_AMPLITUDE)
        else:
            amplitude = rf(rng, *FORENSIC_PRETRAIN_AMPLITUDE)
        half = max(2, round(2 * u))
        grid = texture("checker", size, half, ((0, 0, 0), (1, 1, 1))).astype(np.float64)
        pixels = pixels * (1.0 + amplitude * (2.0 * grid - 1.0))
        params |= {"artifact": "grid", "amplitude": amplitude, "half_period": half}
    else:
        params |= {"artifact": None}
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    return image, params


def gen_forensic(rng: np.random.Generator, answer: int, size: int, *, weak_artifacts: bool = True) -> Example:
    """One real photo among three fakes carrying a periodic grid. With ``weak_artifacts`` (train and
    val) a fake's grid strength is log-uniform in FORENSIC_AMPLITUDE; without (pretrain) it is
    always strong. The tiny model pretrained on strong grids answers 64 % of the mixed questions, while
    one trained on grids of 2-22 % reached 100 % (docs/synthetic-suite.md): finetuning has headroom.
    Both draw the strength with one uniform number, so the pretrain split's questions are those
    rendered before the weak grids existed."""
    real = _forensic_image(rng, size, artifact=False, weak_artifacts=weak_artifacts)
    fakes = [_forensic_image(rng, size, artifact=True, weak_artifacts=weak_artifacts) for _ in range(3)]
    images = order_images(rng, answer, real, fakes)
    question = (
        "You are a judge in a photography competition, and now you are given the four images. Please"
        " examine the details and tell which one of them is most likely to be a real photograph."
    )
    return Example(
        question,
        tuple(f"the {o} image" for o in ORDINALS),
        [i for i, _ in images],
        {"images": [p for _, p in images]},
    )


TASK = TaskDef(
    "Syn_Forensic_Detection",
    "Forensic_Detection",
    4,
    4,
    gen_forensic,
    pretraining=partial(gen_forensic, weak_artifacts=False),
)
