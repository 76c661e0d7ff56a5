"""Syn_Relative_Depth (mirrors Relative_Depth): which of two marked points on a ground-plane scene is
closer to the camera."""

from __future__ import annotations

from functools import partial

import numpy as np

from vlmtransfer.data.synthetic.render import draw_markers, marker_radius, unit
from vlmtransfer.data.synthetic.scenes import DEPTH_SHAPES, depth_object, depth_view
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    RetryError,
    TaskDef,
    draw_glyph_offset,
    pick,
    retrying,
    rf,
    ri,
    sample,
)
from vlmtransfer.data.synthetic.tasks.ground import backdrop

__all__ = ["TASK", "gen_relative_depth"]


def _erode(mask: np.ndarray, m: int) -> np.ndarray:
    """Pixels whose neighbours ``m`` pixels away in the four axis directions are all in ``mask``."""
    out = mask.copy()
    out[:m, :] = out[-m:, :] = out[:, :m] = out[:, -m:] = False
    out[m:, :] &= mask[:-m, :]
    out[:-m, :] &= mask[m:, :]
    out[:, m:] &= mask[:, :-m]
    out[:, :-m] &= mask[:, m:]
    return out


def gen_relative_depth(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = draw_glyph_offset(rng, off_grid_labels)
    u = unit(size)
    mr = marker_radius(size)

    def make() -> Example:
        scene = backdrop(rng, size)
        n = ri(rng, 2, 3)
        colors = sample(rng, COLORS, n)
        z_near = rf(rng, 1.0, 2.0, 2)
        z_far = round(min(4.0, z_near * rf(rng, 1.45, 2.3, 2)), 2)
        depths = [z_near, z_far, *(rf(rng, 1.0, 4.0, 2) for _ in range(n - 2))]
        objects = []
        for k, (color, z) in enumerate(zip(colors, depths, strict=True)):
            width, height = rf(rng, 0.6, 1.0, 2), rf(rng, 0.6, 1.0, 2)
            if k == 1 and rng.random() < 0.6:  # often partly hidden behind the near object
                near = objects[0]
                x = near["x"] + round((1 if rng.random() < 0.5 else -1) * near["w"] * rf(rng, 0.35, 0.8))
            else:
                x = ri(rng, 14 * u, size - 1 - 14 * u)
            obj = depth_object(
                size,
                scene["horizon"],
                shape=pick(rng, DEPTH_SHAPES),
                color=color,
                z=z,
                x=x,
                width=width,
                height=height,
            )
            objects.append(obj)
        image, ids = depth_view(size, scene, objects)
        points = []
        for k in (0, 1):
            inner = _erode(ids == k + 1, max(2, round(4 * u)))
            inner[: mr + 1, :] = inner[size - mr - 2 :, :] = False
            inner[:, : mr + 1] = inner[:, size - mr - 2 :] = False
            ys, xs = np.nonzero(inner)
            if len(xs) == 0:
                raise RetryError
            j = int(rng.integers(len(xs)))
            points.append((int(xs[j]), int(ys[j])))
        (xn, yn), (xf, yf) = points
        if (xn - xf) ** 2 + (yn - yf) ** 2 < (3 * mr) ** 2:
            raise RetryError
        near_label, far_label = ("A", "B") if answer == 0 else ("B", "A")
        marks = sorted([(xn, yn, near_label), (xf, yf, far_label)], key=lambda p: p[2])
        labels = draw_markers(image, marks, glyph_offset=glyph_offset)
        question = (
            "Two points are circled on the image, labeled by A and B beside each circle."
            " Which point is closer to the camera?"
        )
        render = {
            **scene,
            "objects": objects,
            "markers": [m.to_dict() for m in labels],
            "glyph_offset": glyph_offset,
        }
        return Example(question, ("A is closer", "B is closer"), [image], render)

    return retrying(make)


TASK = TaskDef(
    "Syn_Relative_Depth",
    "Relative_Depth",
    2,
    1,
    gen_relative_depth,
    pretraining=partial(gen_relative_depth, off_grid_labels=False),
)
