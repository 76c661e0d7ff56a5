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
        p_value: one-sided Wilcoxon signed-rank p-value that the per-seed PGF of the clique's
            directed edges is centred above 0 (positive cliques) or below 0 (negative cliques).
        n_values: number of per-seed edge values the test used.
    """

    tasks: tuple[str, ...]
    sign: str
    mean_pgf: float
    p_value: float
    n_values: int


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


def transfer_cliques(cube: TransferCube, sign: str, min_size: int = 3) -> list[Clique]:
    """All maximal cliques of size >= ``min_size`` of the mutual-transfer graph of the seed-mean
    matrix, largest first (then strongest mean |PGF|, then by name), each with its Wilcoxon test."""
    mean = cube.mean()
    graph = mutual_transfer_graph(mean, sign)
    cliques = [
        _test_clique(cube, mean, tuple(sorted(members)), sign)
        for members in nx.find_cliques(graph)
        if len(members) >= min_size
    ]
    return sorted(cliques, key=lambda c: (-len(c.tasks), -abs(c.mean_pgf), c.tasks))


def _test_clique(cube: TransferCube, mean: pd.DataFrame, tasks: tuple[str, ...], sign: str) -> Clique:
    rows = [cube.sources.index(t) for t in tasks]
    cols = [cube.targets.index(t) for t in tasks]
    block = cube.values[:, rows][:, :, cols]
    off_diagonal = ~np.eye(len(tasks), dtype=bool)
    per_seed = block[:, off_diagonal].reshape(-1)
    mean_pgf = float(mean.loc[list(tasks), list(tasks)].to_numpy()[off_diagonal].mean())
    return Clique(tasks, sign, mean_pgf, one_sided_wilcoxon(per_seed, sign), int(per_seed.size))


def one_sided_wilcoxon(values: np.ndarray, sign: str) -> float:
    """p-value of the Wilcoxon signed-rank test that ``values`` are centred above (``positive``)
    or below (``negative``) zero. Zeros are dropped (Wilcox's method); all-zero input gives 1.0."""
    values = np.asarray(values, dtype=float)
    if not np.any(values != 0):
        return 1.0
    alternative = "greater" if sign == "positive" else "less"
    return float(stats.wilcoxon(values, alternative=alternative, zero_method="wilcox").pvalue)
