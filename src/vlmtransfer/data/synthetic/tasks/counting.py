"""Syn_Counting (mirrors Counting): how many shapes of one colour and kind, among distractors."""

from __future__ import annotations

import numpy as np

from vlmtransfer.data.synthetic.render import SHAPES, plural, unit
from vlmtransfer.data.synthetic.scenes import flat_scene
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    TaskDef,
    grey,
    pick,
    place,
    retrying,
    ri,
    sample,
    shape_dict,
)

__all__ = ["TASK", "gen_counting"]


def gen_counting(rng: np.random.Generator, answer: int, size: int) -> Example:
    u = unit(size)
    count = answer + 1
    shape = pick(rng, ("circle", "square", "triangle", "diamond"))
    color, *others = sample(rng, COLORS, 3)
    n_distract = min(ri(rng, 0, 2), 5 - count)

    def make() -> Example:
        radii = [round(ri(rng, 10, 13) * u) for _ in range(count + n_distract)]
        centres = place(rng, size, radii, gap=6 * u)
        background = grey(rng, 40, 90)
        shapes = [
            shape_dict(shape, color, x, y, r)
            for (x, y), r in zip(centres[:count], radii[:count], strict=True)
        ]
        for (x, y), r in zip(centres[count:], radii[count:], strict=True):
            shapes.append(shape_dict(pick(rng, SHAPES), pick(rng, others), x, y, r))
        order = [shapes[int(i)] for i in rng.permutation(len(shapes))]
        image = flat_scene(size, background, order)
        render = {"background": background, "target_color": color, "target_shape": shape, "shapes": order}
        return Example(f"How many {color} {plural(shape)} are there?", ("1", "2", "3", "4"), [image], render)

    return retrying(make)


TASK = TaskDef("Syn_Counting", "Counting", 4, 1, gen_counting)
