"""Category-level transfer: how tasks of one category transfer to tasks of another (paper §4.3).

Categories come from the task registry (BLINK: perceptual level and granularity); tasks without a
category are left out of the category tables but still count in the per-task analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from vlmtransfer.analysis.cube import TransferCube
from vlmtransfer.analysis.metrics import gap_scores, seed_std

__all__ = ["ALL_TARGETS", "category_scores"]

ALL_TARGETS = "all"
"""The pseudo-category meaning "every target of the model", for per-category marginals."""


def category_scores(
    cube: TransferCube,
    categories: Mapping[str, str],
    order: Sequence[str] = (),
    include_self: bool = False,
) -> pd.DataFrame:
    """Transferability and malleability between every pair of categories.

    Transferability from category A to category B is, per seed, the mean over source tasks in A of
    D+/D- computed on the targets in B (excluding self-transfer unless ``include_self``); then the
    mean and std across seeds. Malleability of B from A is the mean over target tasks in B of
    Theta+/Theta- over the sources in A. Transferability rows also include ``target_category="all"``
    (each source over all of the model's targets). A task with no counted partner (e.g. the only
    task of B, self excluded) is left out of its category's mean rather than counted as 0.

    Args:
        cube: one model's per-seed matrices.
        categories: ``{task: category}``; tasks not in it are uncategorised.
        order: preferred category order (e.g. ``LEVELS``); other categories follow alphabetically.

    Returns:
        DataFrame ``kind, source_category, target_category, positive, negative, positive_std,
        negative_std, n_tasks``.
    """
    source_groups = _groups(cube.sources, categories, order)
    target_groups = _groups(cube.targets, categories, order)
    rows = []
    for a, sources in source_groups.items():
        for b, targets in [*target_groups.items(), (ALL_TARGETS, list(cube.targets))]:
            sub = cube.select(sources, targets)
            rows.append(("transferability", a, b, *_mean_over_tasks(sub, include_self)))
            if b != ALL_TARGETS:
                rows.append(("malleability", a, b, *_mean_over_tasks(sub.transposed(), include_self)))
    columns = ["kind", "source_category", "target_category", "positive", "negative"]
    return pd.DataFrame(rows, columns=[*columns, "positive_std", "negative_std", "n_tasks"])


def _groups(
    tasks: Sequence[str], categories: Mapping[str, str], order: Sequence[str]
) -> dict[str, list[str]]:
    present = {categories[t] for t in tasks if t in categories}
    ordered = [c for c in order if c in present] + sorted(present - set(order))
    return {c: [t for t in tasks if categories.get(t) == c] for c in ordered}


def _mean_over_tasks(cube: TransferCube, include_self: bool) -> tuple[float, float, float, float, int]:
    """Seed mean/std of the per-seed mean score over the cube's row tasks with >= 1 counted column."""
    counted = cube.counted(include_self)
    valid = counted.any(axis=1)
    if not valid.any():
        return (float("nan"),) * 4 + (0,)
    positive, negative = gap_scores(cube.values, counted)
    per_seed_pos = positive[:, valid].mean(axis=1)
    per_seed_neg = negative[:, valid].mean(axis=1)
    return (
        float(per_seed_pos.mean()),
        float(per_seed_neg.mean()),
        float(seed_std(per_seed_pos)),
        float(seed_std(per_seed_neg)),
        int(valid.sum()),
    )
