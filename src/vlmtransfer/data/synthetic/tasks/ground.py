"""The ground-plane backdrop shared by Syn_Relative_Depth and Syn_Multi-view_Reasoning."""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmtransfer.data.synthetic.render import unit
from vlmtransfer.data.synthetic.tasks.base import ri

__all__ = ["backdrop"]


def backdrop(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """A scene's sky, ground and the ridge of hills along its horizon, as
    :func:`vlmtransfer.data.synthetic.scenes.depth_view` draws them (the render parameters of a depth or
    multi-view question start with these)."""
    u = unit(size)
    horizon = ri(rng, 34 * u, 44 * u)
    peaks = ri(rng, 3, 5)
    ridge = [[0, horizon]]
    for k in range(peaks):
        ridge.append(
            [
                round((k + 0.5) * (size - 1) / peaks) + ri(rng, -6 * u, 6 * u),
                horizon - ri(rng, 4 * u, 14 * u),
            ]
        )
    ridge.append([size - 1, horizon])
    return {
        "horizon": horizon,
        "sky": [ri(rng, 170, 200), ri(rng, 195, 215), ri(rng, 220, 240)],
        "ground": [ri(rng, 95, 125), ri(rng, 105, 130), ri(rng, 70, 95)],
        "ridge_color": [ri(rng, 120, 140), ri(rng, 125, 145), ri(rng, 150, 170)],
        "ridge": ridge,
    }
