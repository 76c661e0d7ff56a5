"""Exact transfer metrics (DESIGN.md §4) as vectorised numpy functions.

Everything here is elementwise or reduces over the last axis, so the same code serves one
matrix, a stack of per-seed matrices, or a whole cube of models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "PGF_EPSILON",
    "counted_mask",
    "gap_scores",
    "malleability",
    "perfection_gap_factor",
    "relative_gain",
    "seed_std",
    "self_transfer_mask",
    "transferability",
]

PGF_EPSILON = 1e-6
"""Added to the PGF denominator, exactly as in the paper, so a target at its ceiling stays finite."""


def perfection_gap_factor(
    accuracy: np.ndarray | float,
    base_accuracy: np.ndarray | float,
    ceiling: np.ndarray | float = 100.0,
) -> np.ndarray:
    """PGF = (Acc(M(T_i), T_j) - Acc(M, T_j)) / (U_j - Acc(M, T_j) + 1e-6), elementwise.

    The fraction of the remaining gap to the ceiling ``U_j`` that finetuning closed (positive) or,
    when negative, the loss measured in units of that gap. PGF <= 1 whenever accuracy <= ceiling.
    Arguments broadcast; accuracies and ceilings are percentages.
    """
    accuracy, base_accuracy, ceiling = (
        np.asarray(x, dtype=float) for x in (accuracy, base_accuracy, ceiling)
    )
    return (accuracy - base_accuracy) / (ceiling - base_accuracy + PGF_EPSILON)


def relative_gain(accuracy: np.ndarray | float, base_accuracy: np.ndarray | float) -> np.ndarray:
    """(Acc(M(T_i), T_j) - Acc(M, T_j)) / Acc(M, T_j), elementwise; NaN where the baseline is 0.

    The ceiling-blind alternative to PGF that the paper compares against (its Table 1).
    """
    accuracy = np.asarray(accuracy, dtype=float)
    base_accuracy = np.asarray(base_accuracy, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (accuracy - base_accuracy) / base_accuracy
    return np.where(base_accuracy == 0, np.nan, gain)


def gap_scores(values: np.ndarray, counted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The paper's breadth-weighted transfer scores over the last axis.

    With N counted entries, of which p are positive and n negative::

        D+ = (1 - exp(-p / N)) / p * sum(positive entries)
        D- = (1 - exp(-n / N)) / n * sum(negative entries)

    i.e. the mean positive (negative) effect scaled by a saturating function of how many targets
    it reaches; a term is 0 when its count is 0. Exact zeros count towards N but to neither sign.
    With nothing counted (N = 0, e.g. a source whose only target is itself) both scores are
    undefined and returned as NaN, so that averages over tasks can leave them out.

    Args:
        values: transfer values, shape (..., K).
        counted: boolean mask broadcastable to ``values``; False entries are ignored entirely
            (used to exclude self-transfer). Default: all counted.

    Returns:
        ``(positive, negative)``, each of shape ``values.shape[:-1]``.
    """
    values = np.asarray(values, dtype=float)
    counted = np.ones_like(values, dtype=bool) if counted is None else np.broadcast_to(counted, values.shape)
    total = counted.sum(axis=-1)
    positive = _signed_score(values, counted & (values > 0), total)
    negative = _signed_score(values, counted & (values < 0), total)
    undefined = total == 0
    return np.where(undefined, np.nan, positive), np.where(undefined, np.nan, negative)


def _signed_score(values: np.ndarray, selected: np.ndarray, total: np.ndarray) -> np.ndarray:
    count = selected.sum(axis=-1)
    summed = np.where(selected, values, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = (1.0 - np.exp(-count / total)) / count * summed
    return np.where(count > 0, score, 0.0)


def seed_std(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Sample standard deviation (ddof=1) across seeds; NaN when there is a single seed.

    ddof=1 because seeds are a sample of training runs; with one seed the spread is unknown,
    and NaN (null in JSON) says so rather than a misleading 0.
    """
    values = np.asarray(values, dtype=float)
    if values.shape[axis] < 2:
        return np.full(np.delete(values.shape, axis), np.nan)
    return values.std(axis=axis, ddof=1)


def self_transfer_mask(
    sources: list[str] | tuple[str, ...], targets: list[str] | tuple[str, ...]
) -> np.ndarray:
    """Boolean (sources x targets) matrix, True where the source is the target itself."""
    return np.asarray(sources, dtype=object)[:, None] == np.asarray(targets, dtype=object)[None, :]


def transferability(matrix: pd.DataFrame, include_self: bool = False) -> pd.DataFrame:
    """D+/D- of every source (row) of one sources x targets matrix.

    Self-transfer (source == target, matched by name) is excluded unless ``include_self``:
    a task's effect on itself is finetuning, not transfer.

    Returns:
        DataFrame indexed by source with columns ``positive`` and ``negative``.
    """
    counted = counted_mask(list(matrix.index), list(matrix.columns), include_self)
    positive, negative = gap_scores(matrix.to_numpy(dtype=float), counted)
    return pd.DataFrame({"positive": positive, "negative": negative}, index=matrix.index)


def malleability(matrix: pd.DataFrame, include_self: bool = False) -> pd.DataFrame:
    """Theta+/Theta- of every target (column): the column-wise counterpart of transferability."""
    return transferability(matrix.T, include_self=include_self)


def counted_mask(
    sources: list[str] | tuple[str, ...], targets: list[str] | tuple[str, ...], include_self: bool = False
) -> np.ndarray:
    """Boolean (sources x targets): the cells that transferability and malleability count.

    Self-transfer (source == target, matched by name) is left out unless ``include_self``: a task's
    effect on itself is what finetuning is for, not transfer.
    """
    if include_self:
        return np.ones((len(sources), len(targets)), dtype=bool)
    return ~self_transfer_mask(sources, targets)
