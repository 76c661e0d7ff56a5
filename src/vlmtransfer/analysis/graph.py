"""The task-transfer graph: strongest directed edges, and cliques of mutual transfer."""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from scipy import stats

from vlmtransfer.analysis.cube import TransferCube

__all__ = [
    "Clique",
    "mutual_transfer_graph",
    "one_sided_wilcoxon",
    "transfer_cliques",
    "transfer_edges",
]

SIGNS = ("positive", "negative")


def transfer_edges(mean_matrix: pd.DataFrame, fraction: float = 0.2) -> pd.DataFrame:
    """The top ``fraction`` of positive edges by PGF and of negative edges by |PGF|.

    Edges are the off-diagonal cells i -> j (source != target by name) of a seed-mean matrix.
    Each sign keeps ``ceil(fraction * count)`` edges of that sign, so any sign that occurs at all
    keeps at least one edge. Ties are broken by (source, target) so the result is deterministic.

    Returns:
        DataFrame ``source, target, pgf, sign``: positive edges strongest first, then negative.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"edge fraction must be in (0, 1], got {fraction}")
    cells = mean_matrix.stack().rename("pgf").reset_index()
    cells.columns = ["source", "target", "pgf"]
    cells = cells[cells["source"] != cells["target"]]
    kept = [_strongest(cells, sign, fraction) for sign in SIGNS]
    return pd.concat(kept, ignore_index=True)


def _strongest(cells: pd.DataFrame, sign: str, fraction: float) -> pd.DataFrame:
    chosen = cells[cells["pgf"] > 0] if sign == "positive" else cells[cells["pgf"] < 0]
    chosen = chosen.assign(strength=chosen["pgf"].abs(), sign=sign)
    chosen = chosen.sort_values(
        ["strength", "source", "target"], ascending=[False, True, True], kind="stable"
    )
    keep = math.ceil(fraction * len(chosen) - 1e-9)
    return chosen.head(keep)[["source", "target", "pgf", "sign"]]


@dataclass(frozen=True)
class Clique:
    """A maximal set of tasks that transfer to each other in both directions with one sign.

    Attributes:
        tasks: member task names, sorted.
        sign: ``"positive"`` or ``"negative"``.
        mean_pgf: mean of the seed-mean PGF over all directed edges inside the clique.
        p_value: the clique's p-value: after :func:`vlmtransfer.analysis.significance.clique_tests`,
            the selection-aware test whose unit is the question and the seed; straight from
            :func:`transfer_cliques`, the paper's Wilcoxon test (as ``wilcoxon_p_value``).
        n_values: number of per-seed edge values the Wilcoxon test used.
        wilcoxon_p_value: the paper's test: one-sided Wilcoxon signed-rank p-value that the per-seed
            PGF of the clique's directed edges is centred above 0 (positive cliques) or below 0
            (negative cliques), treating every edge x seed value as independent (they are not).
        ci_low, ci_high: 95 % interval of ``mean_pgf`` (NaN until tested).
        significant: ``p_value`` below the analysis' alpha (False until tested).
    """

    tasks: tuple[str, ...]
    sign: str
    mean_pgf: float
    p_value: float
    n_values: int
    wilcoxon_p_value: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    significant: bool = False


def mutual_transfer_graph(mean_matrix: pd.DataFrame, sign: str) -> nx.Graph:
    """Undirected graph on tasks that are both sources and targets, with edge {i, j} when
    mu_ij and mu_ji are both positive (``sign="positive"``) or both negative."""
    if sign not in SIGNS:
        raise ValueError(f"sign must be one of {SIGNS}")
    tasks = [t for t in mean_matrix.index if t in mean_matrix.columns]
    square = mean_matrix.loc[tasks, tasks].to_numpy(dtype=float)
    same_sign = (square > 0) if sign == "positive" else (square < 0)
    mutual = same_sign & same_sign.T
    np.fill_diagonal(mutual, False)
    graph = nx.Graph()
    graph.add_nodes_from(tasks)
    rows, cols = np.nonzero(np.triu(mutual, k=1))
    graph.add_edges_from((tasks[r], tasks[c]) for r, c in zip(rows, cols, strict=True))
    return graph


def transfer_cliques(
    cube: TransferCube, sign: str, min_size: int = 3, allowed: np.ndarray | None = None
) -> list[Clique]:
    """All maximal cliques of size >= ``min_size`` of the mutual-transfer graph of the seed-mean
    matrix, largest first (then strongest mean |PGF|, then by name), each with its Wilcoxon test.

    ``allowed`` (sources x targets, boolean) keeps only those cells as edges (e.g. significant ones).
    """
    mean = cube.mean()
    if allowed is not None:
        mean = mean.where(allowed, 0.0)
    graph = mutual_transfer_graph(mean, sign)
    members = sorted(tuple(sorted(c)) for c in nx.find_cliques(graph) if len(c) >= min_size)
    cliques = [clique for size_group in _by_size(members) for clique in _test_cliques(cube, size_group, sign)]
    return sorted(cliques, key=lambda c: (-len(c.tasks), -abs(c.mean_pgf), c.tasks))


def _by_size(cliques: list[tuple[str, ...]]) -> list[list[tuple[str, ...]]]:
    sizes = sorted({len(c) for c in cliques})
    return [[c for c in cliques if len(c) == size] for size in sizes]


def _test_cliques(cube: TransferCube, cliques: list[tuple[str, ...]], sign: str) -> list[Clique]:
    """Test cliques of one size together: their samples share a length, so scipy tests them in one call."""
    off_diagonal = ~np.eye(len(cliques[0]), dtype=bool)
    samples, means = [], []
    for tasks in cliques:
        rows = [cube.sources.index(t) for t in tasks]
        cols = [cube.targets.index(t) for t in tasks]
        block = cube.values[:, rows][:, :, cols]
        samples.append(block[:, off_diagonal].reshape(-1))
        means.append(float(block.mean(axis=0)[off_diagonal].mean()))
    p_values = one_sided_wilcoxon(np.array(samples), sign)
    return [
        Clique(
            tasks, sign, mean, float(p), int(off_diagonal.sum() * len(cube.seeds)), wilcoxon_p_value=float(p)
        )
        for tasks, mean, p in zip(cliques, means, p_values, strict=True)
    ]


def one_sided_wilcoxon(samples: np.ndarray, sign: str) -> np.ndarray:
    """p-values of the Wilcoxon signed-rank test that each row of ``samples`` is centred above
    (``positive``) or below (``negative``) zero. Zeros are dropped (Wilcox's method); an all-zero
    row gives 1.0. A 1-D input is one sample and gives a 0-d array.

    The p-values are exactly those of ``scipy.stats.wilcoxon(row, alternative=...)`` per row
    (checked in the tests), computed faster: scipy's ``method="auto"`` picks exact, permutation or
    normal-approximation p-values once per call, from whether *any* row has zeros or tied
    magnitudes, so rows are batched by that property. Short samples with zeros or ties, where scipy
    runs a generic permutation test (~0.5 s per sample of 13), use :func:`_sign_flip_p_values`,
    the same exact distribution in one matrix product.
    """
    samples = np.asarray(samples, dtype=float)
    rows = np.atleast_2d(samples)
    p_values = np.ones(len(rows))
    informative = np.any(rows != 0, axis=1)
    irregular = _has_zeros_or_ties(rows)
    alternative = "greater" if sign == "positive" else "less"
    regular = informative & ~irregular
    if regular.any():
        result = stats.wilcoxon(rows[regular], axis=1, alternative=alternative, zero_method="wilcox")
        p_values[regular] = result.pvalue
    if (informative & irregular).any():
        short = rows.shape[1] <= _MAX_EXACT_SIGN_FLIPS
        batch = informative & irregular
        p_values[batch] = (
            _sign_flip_p_values(rows[batch], alternative)
            if short
            else stats.wilcoxon(rows[batch], axis=1, alternative=alternative, zero_method="wilcox").pvalue
        )
    return p_values.reshape(samples.shape[:-1])


_MAX_EXACT_SIGN_FLIPS = 13  # scipy's own threshold: 2**13 sign patterns are enumerated exactly


def _sign_flip_p_values(rows: np.ndarray, alternative: str) -> np.ndarray:
    """Exact one-sided p-values of the signed-rank statistic under random signs.

    Zeros are dropped (rank 0), ties get average ranks; R+ of every one of the 2**n sign patterns
    is a row of ``patterns @ ranks``, so the null distribution of all rows costs one product.
    """
    n = rows.shape[1]
    patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    magnitudes = np.where(rows == 0, np.nan, np.abs(rows))
    ranks = np.nan_to_num(stats.rankdata(magnitudes, axis=1, nan_policy="omit"), nan=0.0)
    observed = np.where(rows > 0, ranks, 0.0).sum(axis=1)
    null = patterns @ ranks.T
    tolerance = 1e-9 * np.maximum(1.0, np.abs(observed))
    if alternative == "greater":
        return (null >= observed - tolerance).mean(axis=0)
    return (null <= observed + tolerance).mean(axis=0)


def _has_zeros_or_ties(rows: np.ndarray) -> np.ndarray:
    magnitudes = np.sort(np.abs(rows), axis=1)
    return (magnitudes[:, 0] == 0) | (np.diff(magnitudes, axis=1) == 0).any(axis=1)
