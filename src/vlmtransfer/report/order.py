"""Task order for heatmap axes and graph nodes: by category, by clustering, or as analysed.

One order is computed over all tasks of all models and each model's axes are sorted by it, so that
side-by-side heatmaps line up cell for cell and a task sits at the same place in every figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage

from vlmtransfer.report.data import ReportData, TaskInfo

__all__ = ["GRANULARITIES", "LEVELS", "category_groups", "category_order", "cluster_order", "task_order"]

LEVELS = ("low", "mid", "high")
GRANULARITIES = ("pixel", "crop", "image")


def task_order(data: ReportData, how: str = "category") -> list[str]:
    """All tasks of ``data`` in the order ``how`` (``category``, ``cluster`` or ``input``)."""
    tasks = list(data.all_tasks())
    if how == "category":
        return category_order(tasks, data.tasks)
    if how == "cluster":
        return cluster_order(tasks, [m.pgf_mean for m in data.models.values()])
    if how == "input":
        return tasks
    raise ValueError(f"unknown order {how!r}")


def category_order(tasks: Iterable[str], info: Mapping[str, TaskInfo]) -> list[str]:
    """Low, mid, high perceptual level; within a level pixel, crop, image granularity; then by name.

    Tasks without a category come last, by name; unknown category names sort after the known ones.
    """

    def key(name: str) -> tuple[int, str, int, str, str]:
        task = info.get(name)
        level = task.level if task else None
        granularity = task.granularity if task else None
        return (*_rank(level, LEVELS), *_rank(granularity, GRANULARITIES), name)

    return sorted(tasks, key=key)


def _rank(value: str | None, known: Sequence[str]) -> tuple[int, str]:
    if value in known:
        return known.index(value), ""
    return (len(known), value) if value is not None else (len(known) + 1, "")


def cluster_order(tasks: Sequence[str], matrices: Sequence[pd.DataFrame]) -> list[str]:
    """Average-linkage clustering (optimal leaf order) of each task's transfer profile.

    A task's profile is its row (what finetuning on it does to every task) and its column (what every
    finetune does to it) in each model's seed-mean PGF matrix; self-transfer and missing cells count as
    0 so that the large diagonal does not dominate. Deterministic: no random state is involved.
    """
    tasks = list(tasks)
    if len(tasks) < 3:
        return tasks
    profiles = np.hstack([_profile(tasks, m) for m in matrices])
    tree = linkage(profiles, method="average", metric="euclidean", optimal_ordering=True)
    return [tasks[i] for i in leaves_list(tree)]


def _profile(tasks: list[str], matrix: pd.DataFrame) -> np.ndarray:
    square = matrix.reindex(index=tasks, columns=tasks).to_numpy(dtype=float, copy=True)
    np.fill_diagonal(square, 0.0)
    square = np.nan_to_num(square, nan=0.0)
    return np.hstack([square, square.T])


def category_groups(order: Sequence[str], info: Mapping[str, TaskInfo]) -> list[tuple[str, int, int]]:
    """Runs of equal perceptual level in ``order``: ``(level, start, stop)``; empty if no task has one."""
    levels = [info[t].level if t in info else None for t in order]
    if not any(levels):
        return []
    groups: list[tuple[str, int, int]] = []
    for i, level in enumerate(levels):
        name = level or "other"
        if groups and groups[-1][0] == name:
            groups[-1] = (name, groups[-1][1], i + 1)
        else:
            groups.append((name, i, i + 1))
    return groups
