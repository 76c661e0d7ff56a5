"""Syn_Multi-view_Reasoning (mirrors Multi-view_Reasoning): whether the camera moved left or right
between two views of a ground-plane scene (near objects move more)."""

from __future__ import annotations

from functools import partial

import numpy as np

from vlmtransfer.data.synthetic.render import unit
from vlmtransfer.data.synthetic.scenes import DEPTH_SHAPES, depth_object, depth_view
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    RetryError,
    TaskDef,
    pick,
    retrying,
    rf,
    ri,
    rlog,
    sample,
)
from vlmtransfer.data.synthetic.tasks.ground import backdrop

__all__ = ["MULTIVIEW_PRETRAIN_TRAVEL", "MULTIVIEW_TRAVEL", "TASK", "gen_multiview"]

MULTIVIEW_TRAVEL = (2.0, 30.0)  # px (112-px layout) an object at depth 1 moves, log-uniform
MULTIVIEW_PRETRAIN_TRAVEL = (22.0, 30.0)  # the same for the pretrain split, uniform


def gen_multiview(rng: np.random.Generator, answer: int, size: int, *, small_moves: bool = True) -> Example:
    """Two views of a ground-plane scene. With ``small_moves`` (train and val) the camera's travel is
    log-uniform in MULTIVIEW_TRAVEL, so in half of the questions the nearest object moves less than
    half a 14-px patch; without (pretrain) every move is large. Trained on the mixed moves from the
    start, the tiny model reaches 58-64 %; pretrained on the large ones, it answers 75-83 % of the mixed
    (docs/synthetic-suite.md). Both draw the travel with one uniform number, so the pretrain split's
    questions are those rendered before the small moves existed."""
    u = unit(size)
    camera = -1 if answer == 0 else 1  # "left" / "right"

    def make() -> Example:
        scene = backdrop(rng, size)
        n = ri(rng, 3, 4)
        colors = sample(rng, COLORS, n)
        if small_moves:  # image shift of an object at depth 1
            travel = rlog(rng, *MULTIVIEW_TRAVEL, 2) * u
        else:
            travel = rf(rng, *MULTIVIEW_PRETRAIN_TRAVEL, 2) * u
        depths = [rf(rng, 1.0, 1.4, 2), *(rf(rng, 1.2, 3.5, 2) for _ in range(n - 1))]
        first, second = [], []
        for color, z in zip(colors, depths, strict=True):
            shape, width, height = pick(rng, DEPTH_SHAPES), rf(rng, 0.6, 1.0, 2), rf(rng, 0.6, 1.0, 2)
            shift = -camera * travel / z  # the scene moves opposite to the camera, near objects more
            geometry = {"shape": shape, "color": color, "z": z, "width": width, "height": height}
            probe = depth_object(size, scene["horizon"], x=0, **geometry)
            lo = 2 + probe["w"] // 2 + abs(shift) / 2
            hi = size - 3 - probe["w"] // 2 - abs(shift) / 2
            if lo > hi:
                raise RetryError
            centre = rf(rng, lo, hi, 2)
            for view, x in ((first, centre - shift / 2), (second, centre + shift / 2)):
                view.append(depth_object(size, scene["horizon"], x=round(x), **geometry))
        (one, ids1), (two, ids2) = depth_view(size, scene, first), depth_view(size, scene, second)
        # every object must stay clearly visible in both views
        for k, obj in enumerate(first):
            area = obj["w"] * obj["h"] * 0.5
            if (ids1 == k + 1).sum() < area or (ids2 == k + 1).sum() < area:
                raise RetryError
        question = (
            "The images are frames from a video. The video is shooting a static scene. The camera is moving"
            " either left or right. The first image is from the beginning of the video and the second image"
            " is from the end. Is the camera moving left or right when shooting the video?"
        )
        render = {**scene, "travel": round(travel, 3), "views": [first, second]}
        return Example(question, ("left", "right"), [one, two], render)

    return retrying(make)


TASK = TaskDef(
    "Syn_Multi-view_Reasoning",
    "Multi-view_Reasoning",
    2,
    2,
    gen_multiview,
    pretraining=partial(gen_multiview, small_moves=False),
)
