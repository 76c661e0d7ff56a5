"""Testing a recipe: finetune on the PGF mixture, on random mixtures of the same size, and directly on
the target; evaluate all on the target; place each between the base model and direct finetuning.

The experiment's runs are ordinary study jobs (stored in the study store as ``mixture`` runs, kept out
of the transfer matrix), so they are resumable, run on any executor and with any scorer, and are never
repeated: :func:`run_selection` is ``select --run`` whole, through the study runner and its worker.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import path_part
from vlmtransfer.select.recipe import Candidate, Recipe, SelectionRule
from vlmtransfer.store import RunRecord
from vlmtransfer.study.config import StudyConfig
from vlmtransfer.study.plan import BASE, Job, StudyTasks

__all__ = [
    "Arm",
    "ArmResult",
    "Selection",
    "results_path",
    "run_selection",
    "selection_arms",
    "summarize_arms",
]


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


@dataclass(frozen=True)
class Selection:
    """A finished experiment: the recipe tested, each arm's result, and the summary document written
    to the study and the analysis (``recipe``, ``arms``, ``seeds``)."""

    recipe: Recipe
    arms: list[ArmResult]
    document: dict[str, Any]


def run_selection(
    config_path: Path,
    analysis: Path,
    model: str,
    target: str,
    *,
    ranking: list[Candidate],
    rule: SelectionRule,
    budget: int | None = None,
    draws: int = 3,
    reset_changed: bool = False,
    on_start: Callable[[list[Arm], list[Job]], None] | None = None,
    on_result: Callable[[RunRecord, int, int], None] | None = None,
) -> Selection:
    """Test the recipe ``rule`` picks from ``ranking`` for ``target`` with the study of ``config_path``:
    run every arm's jobs (finished ones are reused), summarise the arms on the target, and write the
    summary into the study (``selection/<target>.json``) and the analysis directory (the report shows
    it). ``budget`` defaults to the target's own training-set size in the study; ``on_start(arms,
    jobs)`` is called once everything is checked, ``on_result`` as each run finishes.

    Raises:
        InputError: the study lacks the model, the target or a source's training data (named by the
            config's key), or a mixture needs more examples than its task has (field ``budget``).
    """
    from vlmtransfer.fsutil import atomic_write_bytes  # noqa: PLC0415
    from vlmtransfer.select.recipe import choose_recipe  # noqa: PLC0415
    from vlmtransfer.store import StudyStore  # noqa: PLC0415
    from vlmtransfer.study.config import load_study_config  # noqa: PLC0415
    from vlmtransfer.study.plan import resolve_tasks  # noqa: PLC0415
    from vlmtransfer.study.runner import run_study  # noqa: PLC0415

    config = load_study_config(config_path)
    if model not in {m.key for m in config.models}:
        raise InputError(f"the study has no model labelled {model!r}", source=config_path, where="models")
    tasks = resolve_tasks(config, config_path)
    budget = budget or _target_budget(config, target)
    recipe = choose_recipe(model, target, ranking, rule, budget)
    if target not in tasks.targets:
        raise InputError(f"the study does not evaluate {target!r}", source=config_path, where="data.targets")
    missing = [task for task in recipe.sources if task not in tasks.sources]
    if missing:
        raise InputError(
            f"the study has no training data for {missing[0]!r}", source=config_path, where="data"
        )
    arms = selection_arms(config, tasks, recipe, model, draws=draws)
    _check_mixture_sizes(config, arms)
    jobs = [job for arm in arms for job in arm.jobs]
    if on_start:
        on_start(arms, jobs)
    run_study(config, config_path, only=jobs, reset_changed=reset_changed, on_result=on_result)
    with StudyStore(config.output) as store:
        table = store.accuracy_table(mixtures=True)
    results = summarize_arms(arms, table, target)
    document = {"recipe": recipe.to_dict(), "arms": [_arm_dict(r) for r in results], "seeds": config.seeds}
    summary = (json.dumps(document, indent=2) + "\n").encode()
    atomic_write_bytes(results_path(config.output, target), summary)
    atomic_write_bytes(results_path(analysis, target), summary)  # the report shows it with the analysis
    return Selection(recipe, results, document)


def _check_mixture_sizes(config: StudyConfig, arms: list[Arm]) -> None:
    """Every mixture part must fit in its task's training split; checked before any run starts."""
    from vlmtransfer.study.plan import training_size  # noqa: PLC0415

    sizes: dict[str, int] = {}
    for arm in arms:
        for job in arm.jobs:
            for task, n in job.mixture:
                if task not in sizes:
                    sizes[task] = training_size(config, task) or 0
                if n > sizes[task]:
                    raise InputError(
                        f"the {arm.name} mixture needs {n} examples of {task}, which has {sizes[task]}",
                        field="budget",
                    )


def _target_budget(config: StudyConfig, target: str) -> int:
    """Direct finetuning's budget: the target's training examples in the study (after its limit)."""
    from vlmtransfer.study.plan import training_size  # noqa: PLC0415

    size = training_size(config, target)
    if size is not None:
        return size
    raise InputError(f"{target!r} has no training data to match; give a budget", field="budget")


def _arm_dict(result: ArmResult) -> dict[str, Any]:
    value = asdict(result)
    value["per_seed"] = {("" if k is None else str(k)): v for k, v in result.per_seed.items()}
    return value
