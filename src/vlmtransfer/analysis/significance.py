"""Honest tests for cliques and personas: their unit is the question and the seed, not the edge value.

The paper tests a clique with a Wilcoxon test over every directed edge x seed value and a persona with a
Welch test of one task's per-seed scores against the others'; both treat values as independent that share
a base run and a finetune, and the clique test ignores that the clique was *chosen* because its edges had
one sign. Those tests are kept under their own names (``wilcoxon_p_value``, ``welch_p_value``); the ones
here are (docs/statistics.md):

* **Clique**: a max-statistic test against null matrices (bootstrap or seed-resampled noise around 0):
  for each null draw the clique search runs again, and p is the share of draws whose strongest clique of
  at least the same size has a mean PGF at least as strong. The selection is part of the null, so a clique
  made of noise is not significant. The interval is the bootstrap (or seed t) interval of its mean PGF.
* **Persona**: per model, the task's score minus the model mean, with a bootstrap (or across-seed t)
  interval and a one-sided p-value; membership needs every model (p = the largest of the models',
  an intersection-union test), then Benjamini-Hochberg over the candidate tasks of each persona.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from vlmtransfer.analysis.cube import SeedScores, TransferCube
from vlmtransfer.analysis.graph import Clique
from vlmtransfer.analysis.personas import PERSONAS
from vlmtransfer.analysis.uncertainty import CI_LEVEL, Replicates, benjamini_hochberg, percentile_interval

__all__ = ["CLIQUE_NULL_DRAWS", "clique_tests", "maximal_cliques", "null_draws", "persona_tests"]

CLIQUE_NULL_DRAWS = 1000
"""Null matrices per clique test (at most; fewer when fewer resamples were asked for)."""


def maximal_cliques(adjacency: list[int], min_size: int) -> list[int]:
    """Maximal cliques of size >= ``min_size`` of a graph given as neighbour bitmasks, as bitmasks.

    Bron-Kerbosch with pivoting on Python integers: for the few dozen tasks of a study this is ~50x
    faster than building a networkx graph, which matters when it runs once per null draw.
    """
    found: list[int] = []

    def expand(members: int, size: int, candidates: int, excluded: int) -> None:
        if not candidates:
            if not excluded and size >= min_size:
                found.append(members)
            return
        if size + candidates.bit_count() < min_size:
            return
        pivot = max(_bits(candidates | excluded), key=lambda u: (candidates & adjacency[u]).bit_count())
        rest = candidates & ~adjacency[pivot]
        while rest:
            bit = rest & -rest
            v = bit.bit_length() - 1
            expand(members | bit, size + 1, candidates & adjacency[v], excluded & adjacency[v])
            candidates &= ~bit
            excluded |= bit
            rest &= ~bit

    expand(0, 0, (1 << len(adjacency)) - 1, 0)
    return found


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        bit = mask & -mask
        out.append(bit.bit_length() - 1)
        mask &= ~bit
    return out


def _adjacency_bits(squares: np.ndarray, sign: str) -> np.ndarray:
    """(draws, tasks) neighbour bitmasks of the mutual-transfer graphs of a stack of square matrices."""
    same = squares > 0 if sign == "positive" else squares < 0
    mutual = same & same.transpose(0, 2, 1)
    tasks = squares.shape[1]
    mutual[:, np.arange(tasks), np.arange(tasks)] = False
    if tasks > 62:
        return np.array(
            [[sum(1 << int(k) for k in np.flatnonzero(row)) for row in m] for m in mutual], object
        )
    return mutual.astype(np.int64) @ (np.int64(1) << np.arange(tasks, dtype=np.int64))


def _null_maxima(null: np.ndarray, sign: str, min_size: int) -> np.ndarray:
    """(draws, n_tasks + 1): per null draw, the strongest sign-oriented clique mean among its maximal
    cliques of size >= k, for every k (-inf where there is none)."""
    draws, tasks = null.shape[0], null.shape[1]
    adjacency = _adjacency_bits(null, sign).tolist()
    orient = 1.0 if sign == "positive" else -1.0
    best = np.full((draws, tasks + 1), -np.inf)
    width = (tasks + 7) // 8
    for r in range(draws):
        found = maximal_cliques(adjacency[r], min_size)
        if not found:
            continue
        packed = np.frombuffer(b"".join(c.to_bytes(width, "little") for c in found), dtype=np.uint8)
        masks = np.unpackbits(packed.reshape(len(found), width), axis=1, bitorder="little")[:, :tasks]
        masks = masks.astype(float)
        sizes = masks.sum(axis=1)
        square = null[r]
        totals = ((masks @ square) * masks).sum(axis=1) - masks @ np.diag(square)
        np.maximum.at(best[r], sizes.astype(int), orient * totals / (sizes * (sizes - 1)))
    return np.maximum.accumulate(best[:, ::-1], axis=1)[:, ::-1]


def null_draws(tasks: int) -> int:
    """Null draws of the clique test for a study of ``tasks`` tasks: :data:`CLIQUE_NULL_DRAWS` up to 20
    tasks, fewer beyond (the clique search per draw grows fast), never under 100."""
    return max(100, min(CLIQUE_NULL_DRAWS, int(CLIQUE_NULL_DRAWS * (20 / max(tasks, 1)) ** 2)))


def clique_tests(
    cube: TransferCube,
    cliques: list[Clique],
    sign: str,
    *,
    replicates: Replicates | None,
    null: np.ndarray | None,
    min_size: int,
    alpha: float,
) -> list[Clique]:
    """The cliques of one sign with the selection-aware p-value, an interval and the flag.

    Args:
        cube: the model's per-seed PGF cube.
        cliques: the cliques found on the seed-mean matrix (Wilcoxon p in ``p_value``).
        sign: ``positive`` or ``negative``.
        replicates: bootstrap replicates (per-question inputs) for the interval; None: seed t interval.
        null: (draws, sources, targets) null matrices (noise around 0), or None (no test possible).
        min_size: the smallest clique size searched.
        alpha: significance level of the flag.
    """
    if not cliques:
        return []
    square = [t for t in cube.sources if t in cube.targets]
    rows = [cube.sources.index(t) for t in square]
    cols = [cube.targets.index(t) for t in square]
    maxima = None if null is None else _null_maxima(null[:, rows][:, :, cols], sign, min_size)
    orient = 1.0 if sign == "positive" else -1.0
    tested = []
    for clique in cliques:
        members = [square.index(t) for t in clique.tasks]
        low, high = _clique_interval(cube, replicates, rows, cols, members)
        p = math.nan
        if maxima is not None:
            exceed = (maxima[:, len(members)] >= orient * clique.mean_pgf - 1e-12).sum()
            p = float((1 + exceed) / (len(maxima) + 1))
        tested.append(
            Clique(
                clique.tasks,
                sign,
                clique.mean_pgf,
                p,
                clique.n_values,
                wilcoxon_p_value=clique.p_value,
                ci_low=low,
                ci_high=high,
                significant=bool(p < alpha),
            )
        )
    return tested


def _clique_interval(
    cube: TransferCube, replicates: Replicates | None, rows: list[int], cols: list[int], members: list[int]
) -> tuple[float, float]:
    r = [rows[m] for m in members]
    c = [cols[m] for m in members]
    off = ~np.eye(len(members), dtype=bool)
    if replicates is not None:
        means = replicates.mean[:, r][:, :, c][:, off].mean(axis=1)
        low, high = percentile_interval(means)
        return float(low), float(high)
    per_seed = cube.values[:, r][:, :, c][:, off].mean(axis=1)
    if len(per_seed) < 2:
        return math.nan, math.nan
    half = (
        stats.t.ppf(0.5 + CI_LEVEL / 2, len(per_seed) - 1) * per_seed.std(ddof=1) / math.sqrt(len(per_seed))
    )
    return float(per_seed.mean() - half), float(per_seed.mean() + half)


# --- personas -----------------------------------------------------------------------------------


def persona_tests(
    table: pd.DataFrame,
    scores: Mapping[str, Mapping[str, SeedScores]],
    replicates: Mapping[str, Replicates | None],
    alpha: float,
) -> pd.DataFrame:
    """The persona table with the paper's Welch test renamed and the honest test added.

    Adds per (persona, task, model) ``difference`` (score minus the model mean), its interval
    ``difference_ci_low/high`` and a one-sided ``p_value``; per (persona, task) ``p_member`` (the largest
    p over models: membership needs every model), its BH ``q_member`` over the persona's candidates, and
    ``significant`` (a member by the paper's rule with ``q_member < alpha``).

    Args:
        table: :func:`vlmtransfer.analysis.persona_table`.
        scores: ``{"transferability"|"malleability": {model: SeedScores}}``.
        replicates: per model, bootstrap replicates (per-question inputs) or None (seeds only).
        alpha: the level of ``significant``.
    """
    table = table.rename(columns={"t_statistic": "welch_t", "p_value": "welch_p_value"})
    if table.empty:
        added = ["difference", "difference_ci_low", "difference_ci_high", "p_value", "p_member", "q_member"]
        return table.assign(**dict.fromkeys(added, np.nan), significant=False)
    evidence = pd.concat(
        [
            _persona_evidence(persona, model, scores[persona.role][model], replicates.get(model))
            for persona in PERSONAS
            for model in scores[persona.role]
        ],
        ignore_index=True,
    )
    table = table.merge(evidence, on=["persona", "task", "model"], how="left")
    grouped = table.groupby(["persona", "task"], sort=False)["p_value"]
    member_p = grouped.agg(lambda p: p.max() if p.notna().all() else np.nan).rename("p_member")
    q = member_p.groupby(level="persona", sort=False).transform(lambda p: benjamini_hochberg(p.to_numpy()))
    joined = pd.DataFrame({"p_member": member_p, "q_member": q}).reset_index()
    table = table.merge(joined, on=["persona", "task"], how="left")
    table["significant"] = table["member"] & (table["q_member"].fillna(1.0) < alpha)
    return table


def _persona_evidence(persona, model: str, scores: SeedScores, replicates: Replicates | None) -> pd.DataFrame:
    defined = scores.defined()
    tasks = [t for t, ok in zip(scores.tasks, defined, strict=True) if ok]
    values = scores.values(persona.sign)[:, defined]
    estimate = values.mean(axis=0) - values.mean()
    greater = persona.direction == "greater"
    if replicates is not None:
        draws = replicates.scores(persona.role, persona.sign)[:, defined]
        differences = draws - draws.mean(axis=1, keepdims=True)
        low, high = percentile_interval(differences)
        shifted = differences - estimate
        beyond = (shifted >= estimate - 1e-12) if greater else (shifted <= estimate + 1e-12)
        p = (1 + beyond.sum(axis=0)) / (len(draws) + 1)
    else:
        low, high, p = _seed_one_sided(values - values.mean(axis=1, keepdims=True), greater)
    return pd.DataFrame(
        {
            "persona": persona.name,
            "task": tasks,
            "model": model,
            "difference": estimate,
            "difference_ci_low": low,
            "difference_ci_high": high,
            "p_value": p,
        }
    )


def _seed_one_sided(differences: np.ndarray, greater: bool) -> tuple[np.ndarray, ...]:
    """t interval and one-sided one-sample t-test p of per-seed differences (seeds x tasks)."""
    seeds = differences.shape[0]
    if seeds < 2:
        nan = np.full(differences.shape[1], np.nan)
        return nan, nan, nan
    mean = differences.mean(axis=0)
    error = differences.std(axis=0, ddof=1) / math.sqrt(seeds)
    half = stats.t.ppf(0.5 + CI_LEVEL / 2, seeds - 1) * error
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / error
    tail = stats.t.sf(t, seeds - 1) if greater else stats.t.cdf(t, seeds - 1)
    return mean - half, mean + half, np.where(error > 0, tail, np.nan)
