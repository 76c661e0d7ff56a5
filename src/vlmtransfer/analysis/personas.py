"""Task personas across models: donors, pirates, sponges and sieves (paper §4.4).

A persona is a behaviour that holds in *every* model analysed together, e.g. a donor's positive
transferability is above that model's mean in all of them. Each membership comes with a per-model
Welch t-test of the task's per-seed values against the other tasks' per-seed values.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vlmtransfer.analysis.cube import SeedScores

__all__ = ["PERSONAS", "Persona", "persona_table", "personas"]


@dataclass(frozen=True)
class Persona:
    """How a persona is read off the scores.

    Attributes:
        name: ``donor``, ``pirate``, ``sponge`` or ``sieve``.
        role: ``transferability`` (the task as source) or ``malleability`` (as target).
        sign: which score: ``positive`` (D+/Theta+) or ``negative`` (D-/Theta-).
        direction: ``greater`` (above the model mean) or ``less`` (below, i.e. more negative);
            also the alternative of the one-sided Welch test.
    """

    name: str
    role: str
    sign: str
    direction: str


PERSONAS: tuple[Persona, ...] = (
    Persona("donor", "transferability", "positive", "greater"),
    Persona("pirate", "transferability", "negative", "less"),
    Persona("sponge", "malleability", "positive", "greater"),
    Persona("sieve", "malleability", "negative", "less"),
)


def persona_table(
    transferability: Mapping[str, SeedScores], malleability: Mapping[str, SeedScores]
) -> pd.DataFrame:
    """Every candidate (persona, task, model) with its evidence.

    Candidates are the tasks present (in the persona's role, with defined scores) in every model;
    tasks with undefined scores are also left out of the model means. Columns:
    ``persona, task, model, value`` (seed mean), ``model_mean`` (mean of ``value`` over the model's
    tasks), ``qualifies`` (beyond the mean in this model), ``member`` (qualifies in every model),
    ``t_statistic, p_value`` (one-sided Welch test; NaN when a side has fewer than 2 values).
    """
    by_role = {"transferability": transferability, "malleability": malleability}
    frames = [_persona_rows(persona, by_role[persona.role]) for persona in PERSONAS]
    table = pd.concat(frames, ignore_index=True)
    table["member"] = table.groupby(["persona", "task"])["qualifies"].transform("all")
    return table


def personas(table: pd.DataFrame) -> dict[str, list[str]]:
    """``{persona: [member tasks]}`` from a :func:`persona_table`, tasks sorted by name."""
    members = table[table["member"]]
    return {p.name: sorted(members.loc[members["persona"] == p.name, "task"].unique()) for p in PERSONAS}


def _persona_rows(persona: Persona, scores: Mapping[str, SeedScores]) -> pd.DataFrame:
    common = set.intersection(*(_defined_tasks(s) for s in scores.values())) if scores else set()
    rows = []
    for model, model_scores in scores.items():
        defined = model_scores.defined()
        values = model_scores.values(persona.sign)[:, defined]
        tasks = [t for t, ok in zip(model_scores.tasks, defined, strict=True) if ok]
        seed_mean = values.mean(axis=0)
        model_mean = float(seed_mean.mean()) if tasks else float("nan")
        t_stats, p_values = _welch_each_against_rest(values, persona.direction)
        for k, task in enumerate(tasks):
            if task in common:
                beyond = _beyond(seed_mean[k], model_mean, persona.direction)
                rows.append(
                    (
                        persona.name,
                        task,
                        model,
                        float(seed_mean[k]),
                        model_mean,
                        beyond,
                        t_stats[k],
                        p_values[k],
                    )
                )
    columns = ["persona", "task", "model", "value", "model_mean", "qualifies", "t_statistic", "p_value"]
    return pd.DataFrame(rows, columns=columns)


def _defined_tasks(scores: SeedScores) -> set[str]:
    return {t for t, ok in zip(scores.tasks, scores.defined(), strict=True) if ok}


def _beyond(value: float, mean: float, direction: str) -> bool:
    """Strictly beyond the mean, where values equal up to rounding (all tasks tied) are not."""
    if np.isclose(value, mean, rtol=1e-9, atol=1e-12):
        return False
    return bool(value > mean) if direction == "greater" else bool(value < mean)


def _welch_each_against_rest(values: np.ndarray, direction: str) -> tuple[list[float], list[float]]:
    """Welch t-test of each task's per-seed values (a column of ``values``, seeds x tasks) against
    all other tasks' per-seed values; NaN where a side has fewer than 2 values or no variance.

    All columns have the same sample sizes, so scipy tests them in one vectorised call.
    """
    seeds, tasks = values.shape
    if seeds < 2 or seeds * (tasks - 1) < 2:
        return [float("nan")] * tasks, [float("nan")] * tasks
    own = values.T
    rest = np.stack([np.delete(values, k, axis=1).reshape(-1) for k in range(tasks)])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # constant samples: scipy warns and returns NaN, which we keep
        result = stats.ttest_ind(own, rest, axis=1, equal_var=False, alternative=direction)
    return np.asarray(result.statistic, float).tolist(), np.asarray(result.pvalue, float).tolist()
