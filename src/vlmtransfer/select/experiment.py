"""Testing a recipe: finetune on the PGF mixture, on random mixtures of the same size, and directly on
the target; evaluate all on the target; place each between the base model and direct finetuning.

The experiment's runs are ordinary study jobs (stored in the study store as ``mixture`` runs, kept out
of the transfer matrix), so they are resumable, run on any executor, and are never repeated.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vlmtransfer.fsutil import path_part
from vlmtransfer.select.recipe import Recipe
from vlmtransfer.study.config import StudyConfig
from vlmtransfer.study.plan import BASE, Job, StudyTasks

__all__ = ["Arm", "ArmResult", "selection_arms", "summarize_arms"]


@dataclass(frozen=True)
class Arm:
    """One way of choosing training data for the target, run once per seed."""

    name: str
    sources: tuple[str, ...]
    jobs: tuple[Job, ...]


@dataclass(frozen=True)
class ArmResult:
    """An arm's accuracy on the target across seeds, and where it lands between base (0) and direct (1)."""

    name: str
    sources: tuple[str, ...]
    accuracy: float
    accuracy_std: float | None
    per_seed: dict[int | None, float]
    position: float | None


def selection_arms(
    config: StudyConfig, tasks: StudyTasks, recipe: Recipe, model: str, *, draws: int = 3
) -> list[Arm]:
    """The base model, the PGF mixture, ``draws`` random mixtures of as many sources with the same
    example counts, and (when the target has training data in the study) direct finetuning."""
    seeds = config.seeds
    counts = tuple(recipe.examples or ())
    target = recipe.target
    arms = [Arm("base", (), (Job(model, BASE, None),))]
    arms.append(
        _mixture_arm(f"select:{target}:pgf", "pgf", tuple(recipe.sources), counts, model=model, seeds=seeds)
    )
    pool = sorted(c.task for c in recipe.ranking if c.task in tasks.sources)  # tasks with training data
    for draw in range(draws):
        chosen = tuple(random.Random(f"{target}|random|{draw}").sample(pool, len(recipe.sources)))
        name = f"select:{target}:random-{draw}"
        arms.append(_mixture_arm(name, f"random-{draw}", chosen, counts, model=model, seeds=seeds))
    if target in tasks.sources:
        arms.append(Arm("direct", (target,), tuple(Job(model, target, seed) for seed in seeds)))
    return arms


def _mixture_arm(
    source: str, name: str, tasks: tuple[str, ...], counts: tuple[int, ...], *, model: str, seeds: list[int]
) -> Arm:
    mixture = tuple((task, n) for task, n in zip(tasks, counts, strict=True) if n > 0)
    return Arm(name, tasks, tuple(Job(model, source, seed, mixture) for seed in seeds))


def summarize_arms(arms: list[Arm], accuracy: pd.DataFrame, target: str) -> list[ArmResult]:
    """Per arm: mean/std over seeds of the target accuracy (from the store's accuracy table, mixtures
    included) and its position ``(acc - base) / (direct - base)`` when there is a direct arm."""
    on_target = accuracy[accuracy["target"] == target]
    results = []
    for arm in arms:
        per_seed = {}
        for job in arm.jobs:
            rows = on_target[(on_target["source"] == job.source) & _same_seed(on_target["seed"], job.seed)]
            if len(rows):
                per_seed[job.seed] = float(rows["accuracy"].iloc[0])
        values = list(per_seed.values())
        mean = statistics.fmean(values) if values else float("nan")
        std = statistics.stdev(values) if len(values) > 1 else None
        results.append(ArmResult(arm.name, arm.sources, mean, std, per_seed, None))
    base = next(r.accuracy for r in results if r.name == "base")
    direct = next((r.accuracy for r in results if r.name == "direct"), None)
    if direct is None or direct == base:
        return results
    return [
        ArmResult(
            r.name, r.sources, r.accuracy, r.accuracy_std, r.per_seed, (r.accuracy - base) / (direct - base)
        )
        for r in results
    ]


def _same_seed(column: pd.Series, seed: int | None) -> pd.Series:
    return column.isna() if seed is None else column == seed


def results_path(study_dir: Path, target: str) -> Path:
    """Where ``select --run`` records an experiment's summary in the study directory."""
    return study_dir / "selection" / f"{path_part(target)}.json"
