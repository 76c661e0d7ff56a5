"""The grid of a study: which tasks, and which jobs (no torch).

Per model: one baseline job (evaluate the base model on every target), then one job per (source, seed)
(finetune on the source, evaluate the adapter on every target). Jobs are independent; a job's key is
its run's key in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.errors import InputError
from vlmtransfer.store import run_key
from vlmtransfer.study.config import StudyConfig

__all__ = ["BASE", "Job", "StudyTasks", "plan_jobs", "resolve_tasks"]

BASE = "base"


@dataclass(frozen=True)
class StudyTasks:
    """Targets (evaluated) and sources (finetuned on), in the config's or sorted order."""

    targets: list[str]
    sources: list[str]


@dataclass(frozen=True)
class Job:
    """One run: the base model (``source == "base"``, no seed) or a finetune on ``source`` with ``seed``."""

    model: str
    source: str
    seed: int | None

    @property
    def key(self) -> str:
        return run_key(self.model, self.source, self.seed)

    @property
    def is_baseline(self) -> bool:
        return self.source == BASE


def resolve_tasks(config: StudyConfig, config_path: str | Path = "study config") -> StudyTasks:
    """The study's tasks as found in its data directories.

    Raises:
        InputError: a data directory is missing, or a listed task has no eval (target) or train
            (source) split in any of them; the message names the key.
    """
    _check_model_paths(config, config_path)
    data = config.data
    with_eval = _tasks_with(data.dirs, data.eval_split, config_path)
    with_train = _tasks_with(data.dirs, data.train_split, config_path)
    if not with_eval:
        raise InputError(f"no task has a {data.eval_split!r} split", source=config_path, where="data.dirs")
    targets = _checked(data.targets, with_eval, data.eval_split, config_path, "data.targets")
    sources = _checked(data.sources, with_train, data.train_split, config_path, "data.sources")
    if BASE in sources:
        raise InputError(f"{BASE!r} is reserved for the base model", source=config_path, where="data.sources")
    if not sources:
        raise InputError(
            f"no task has a {data.train_split!r} split", source=config_path, where="data.sources"
        )
    return StudyTasks(targets, sources)


def _check_model_paths(config: StudyConfig, config_path: str | Path) -> None:
    """A model given as a local path must exist (hub ids are checked when loaded)."""
    for position, model in enumerate(config.models):
        path = Path(model.name).expanduser()
        if path.is_absolute() and not path.exists():
            where = f"models.{position}.name"
            raise InputError(f"model path {path} not found", source=config_path, where=where)


def plan_jobs(config: StudyConfig, tasks: StudyTasks) -> list[Job]:
    """Every job of the study, model by model: the baseline first, then sources x seeds."""
    jobs = []
    for model in config.models:
        jobs.append(Job(model.key, BASE, None))
        jobs.extend(Job(model.key, source, seed) for source in tasks.sources for seed in config.seeds)
    return jobs


def _tasks_with(dirs: list[Path], split: str, config_path: str | Path) -> set[str]:
    found: set[str] = set()
    for position, directory in enumerate(dirs):
        if not directory.is_dir():
            raise InputError(
                f"data directory {directory} not found", source=config_path, where=f"data.dirs.{position}"
            )
        found.update(path.parent.name for path in directory.glob(f"*/{split}.jsonl"))
    return found


def _checked(
    listed: list[str] | None, available: set[str], split: str, config_path: str | Path, key: str
) -> list[str]:
    if listed is None:
        return sorted(available)
    for position, task in enumerate(listed):
        if task not in available:
            raise InputError(
                f"task {task!r} has no {split!r} split in the data directories",
                source=config_path,
                where=f"{key}.{position}",
            )
    if len(set(listed)) != len(listed):
        raise InputError("tasks must be distinct", source=config_path, where=key)
    return list(listed)
