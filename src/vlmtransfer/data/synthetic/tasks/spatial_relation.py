"""Syn_Spatial_Relation (mirrors Spatial_Relation): is one shape left of, right of, above or below another."""

from __future__ import annotations

import numpy as np

from vlmtransfer.data.synthetic.render import SHAPES, unit
from vlmtransfer.data.synthetic.scenes import flat_scene
from vlmtransfer.data.synthetic.tasks.base import COLORS, Example, TaskDef, grey, pick, ri, sample, shape_dict

__all__ = ["OPPOSITE", "RELATIONS", "TASK", "gen_spatial"]

RELATIONS = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}
OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def gen_spatial(rng: np.random.Generator, answer: int, size: int) -> Example:
    u = unit(size)
    relation = pick(rng, tuple(RELATIONS))
    truth = relation if answer == 0 else OPPOSITE[relation]
    (c1, c2), (s1, s2) = sample(rng, COLORS, 2), sample(rng, SHAPES, 2)
    r1, r2 = round(ri(rng, 11, 16) * u), round(ri(rng, 11, 16) * u)
    separation, offset = ri(rng, 34 * u, 66 * u), ri(rng, -12 * u, 12 * u)
    sign = -1 if truth in ("left", "above") else 1  # object 1 relative to object 2 along the axis
    rmax = max(r1, r2) + 2
    mid_along = ri(rng, rmax + separation / 2, size - 1 - rmax - separation / 2)
    mid_across = ri(rng, rmax + abs(offset) / 2, size - 1 - rmax - abs(offset) / 2)
    a1, a2 = round(mid_along + sign * separation / 2), round(mid_along - sign * separation / 2)
    b1, b2 = round(mid_across + offset / 2), round(mid_across - offset / 2)
    if truth in ("left", "right"):
        (x1, y1), (x2, y2) = (a1, b1), (a2, b2)
    else:
        (x1, y1), (x2, y2) = (b1, a1), (b2, a2)
    background = grey(rng, 40, 100)
    shapes = [shape_dict(s1, c1, x1, y1, r1), shape_dict(s2, c2, x2, y2, r2)]
    image = flat_scene(size, background, shapes)
    question = f"Is the {c1} {s1} {RELATIONS[relation]} the {c2} {s2}?"
    render = {"background": background, "relation": relation, "shapes": shapes}
    return Example(question, ("yes", "no"), [image], render)


TASK = TaskDef("Syn_Spatial_Relation", "Spatial_Relation", 2, 1, gen_spatial)
