"""Scale trend: mean transferability and malleability per model, in a user-given model order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from vlmtransfer.analysis.cube import SeedScores
from vlmtransfer.analysis.metrics import seed_std

__all__ = ["scale_trend"]


def scale_trend(
    transferability: Mapping[str, SeedScores],
    malleability: Mapping[str, SeedScores],
    model_order: Sequence[str],
) -> pd.DataFrame:
    """One row per model in ``model_order``: the mean over tasks of D+, D-, Theta+ and Theta-.

    Means are over tasks of the seed-mean scores; each ``*_std`` is the across-seed std of the
    per-seed mean over tasks (seed-to-seed variability of the model-level number). Tasks with
    undefined scores (nothing counted) are left out of the means.
    """
    rows = []
    for model in model_order:
        row: dict[str, object] = {"model": model}
        for role, scores in (
            ("transferability", transferability[model]),
            ("malleability", malleability[model]),
        ):
            for sign in ("positive", "negative"):
                defined = scores.values(sign)[:, scores.defined()]
                per_seed = defined.mean(axis=1) if defined.size else np.full(len(scores.seeds), np.nan)
                row[f"mean_{sign}_{role}"] = float(per_seed.mean())
                row[f"mean_{sign}_{role}_std"] = float(seed_std(per_seed))
        rows.append(row)
    return pd.DataFrame(rows)
