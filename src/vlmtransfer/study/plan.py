"""The grid of a study: which tasks, and which jobs (no torch).

Per model: one baseline job (evaluate the base model on every target), then one job per (source, seed)
(finetune on the source, evaluate the adapter on every target). Jobs are independent; a job's key is
its run's key in the store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import path_part
from vlmtransfer.store import run_key
from vlmtransfer.study.config import StudyConfig

__all__ = [
    "BASE",
    "Job",
    "StudyTasks",
    "job_results_hash",
    "missing_data_dirs",
    "plan_jobs",
    "preview_tasks",
    "resolve_tasks",
    "split_fingerprint",
    "training_dir",
    "training_size",
]

BASE = "base"


@dataclass(frozen=True)
class StudyTasks:
    """Targets (evaluated) and sources (finetuned on), in the config's or sorted order, and ``data``:
    a content fingerprint of each split file the study reads (``"<task>/<split>"`` -> hash, see
    :func:`split_fingerprint`), so that results made on other data count as stale even where the
    data directory's path is the same (a dataset regenerated in place); ``models``: each model's identity
    by label (``jobs.model_identity``: a local model by its files' fingerprint), read once per plan;
    ``videos``: the ``"<task>/<split>"`` split files holding video questions (found as they are
    fingerprinted), whose results depend on the study's frame sampling."""

    targets: list[str]
    sources: list[str]
    data: dict[str, str] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    videos: frozenset[str] = frozenset()

    def fingerprint(self, task: str, split: str) -> str | None:
        return self.data.get(f"{task}/{split}")

    def has_videos(self, task: str, split: str) -> bool:
        """Whether the study's ``split`` of ``task`` has video questions."""
        return f"{task}/{split}" in self.videos


@dataclass(frozen=True)
class Job:
    """One run: the base model (``source == "base"``, no seed), a finetune on the task ``source`` with
    ``seed``, or a finetune on a ``mixture`` of tasks' training data (``(task, examples)`` pairs, drawn
    with the seed) stored under the name ``source``."""

    model: str
    source: str
    seed: int | None
    mixture: tuple[tuple[str, int], ...] = ()

    @property
    def kind(self) -> str:
        """``base``, ``task`` or ``mixture`` (mixtures are kept out of the transfer matrix)."""
        return "base" if self.is_baseline else "mixture" if self.mixture else "task"

    @property
    def key(self) -> str:
        return run_key(self.model, self.source, self.seed)

    @property
    def is_baseline(self) -> bool:
        return self.source == BASE


def training_dir(config: StudyConfig, task: str) -> Path | None:
    """The data directory holding ``task``'s training split, or None."""
    split = config.data.train_split
    return next((d for d in config.data.dirs if (d / task / f"{split}.jsonl").is_file()), None)


def training_size(config: StudyConfig, task: str) -> int | None:
    """How many training examples of ``task`` the study uses (after ``train_limit``), or None."""
    from vlmtransfer.data.dataset import load_split  # noqa: PLC0415 - reads records, not images

    directory = training_dir(config, task)
    if directory is None:
        return None
    count = len(load_split(directory, task, config.data.train_split))
    return min(count, config.data.train_limit or count)


def job_results_hash(config: StudyConfig, tasks: StudyTasks, job: Job) -> str:
    """The key a job's stored run must carry to count as done: a hash of its effective settings and
    data (:func:`vlmtransfer.study.jobs.job_key`)."""
    from vlmtransfer.study.jobs import job_key  # noqa: PLC0415 - jobs builds on this module

    return job_key(config, tasks, job)


def split_fingerprint(dirs: list[Path], task: str, split: str) -> str | None:
    """SHA-256 (16 hex digits) of the ``<task>/<split>.jsonl`` files in ``dirs`` (with each one's
    position), or None when no directory has one. The records name their images, so a split whose
    questions, answers or image files change gets another fingerprint; images rewritten in place
    under the same names with the same records do not."""
    return _read_split(dirs, task, split)[0]


def _read_split(dirs: list[Path], task: str, split: str) -> tuple[str | None, bool]:
    """:func:`split_fingerprint`, and whether any of the files has a record with videos (read in the
    same pass: a file that never says ``"videos"`` is not parsed)."""
    digest = hashlib.sha256()
    found = videos = False
    for position, directory in enumerate(dirs):
        path = directory / task / f"{split}.jsonl"
        if path.is_file():
            content = path.read_bytes()
            digest.update(f"{position}\n".encode())
            digest.update(content)
            found = True
            videos = videos or (b'"videos"' in content and _any_videos(content))
    return (digest.hexdigest()[:16] if found else None), videos


def _any_videos(content: bytes) -> bool:
    """Whether a JSONL file's records name videos (a line that does not parse is validation's to
    refuse when the questions load; here it has none)."""
    for line in content.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("videos"):
            return True
    return False


def resolve_tasks(config: StudyConfig, config_path: str | Path = "study config") -> StudyTasks:
    """The study's tasks as found in its data directories.

    Targets are ``data.targets`` or else every task with the eval split in ``data.dirs`` (sorted),
    then every one in ``data.target_dirs`` (sorted); sources are ``data.sources`` or else every task
    with the train split in ``data.dirs``, never a task of ``data.target_dirs`` (target-only).

    Raises:
        InputError: a data directory is missing, a listed task has no eval (target) or train
            (source) split in any of them, a source is target-only, or a target directory holds no
            target (none of its tasks, or one also in ``data.dirs``); the message names the key.
    """
    _check_model_paths(config, config_path)
    data = config.data
    with_eval = _tasks_with(data.dirs, data.eval_split, config_path)
    with_train = _tasks_with(data.dirs, data.train_split, config_path)
    target_only = _target_only_tasks(config, with_eval, config_path)
    if not with_eval and not target_only:
        raise InputError(f"no task has a {data.eval_split!r} split", source=config_path, where="data.dirs")
    targets = (
        _checked(data.targets, with_eval | target_only, data.eval_split, config_path, "data.targets")
        if data.targets is not None
        else [*sorted(with_eval), *sorted(target_only)]
    )
    _check_target_dirs_used(config, targets, config_path)
    _check_not_target_only(data.sources, target_only, config_path)
    sources = _checked(data.sources, with_train - target_only, data.train_split, config_path, "data.sources")
    if BASE in sources:
        raise InputError(f"{BASE!r} is reserved for the base model", source=config_path, where="data.sources")
    if not sources:
        raise InputError(
            f"no task has a {data.train_split!r} split", source=config_path, where="data.sources"
        )
    _check_distinct_paths([m.key for m in config.models], "models", "model labels", config_path)
    _check_distinct_paths(sorted({*targets, *sources}), "data", "task names", config_path)
    splits = {
        f"{task}/{split}": _read_split(dirs, task, split)
        for split, tasks, dirs in (
            (data.eval_split, with_eval | target_only, data.eval_dirs),
            (data.train_split, with_train, data.dirs),
        )
        for task in sorted(tasks)
    }
    from vlmtransfer.study.jobs import model_identity  # noqa: PLC0415 - jobs builds on this module

    data_fingerprints = {key: fingerprint for key, (fingerprint, _) in splits.items() if fingerprint}
    videos = frozenset(key for key, (_, has_videos) in splits.items() if has_videos)
    models = {model.key: model_identity(model) for model in config.models}
    return StudyTasks(targets, sources, data_fingerprints, models, videos)


def _target_only_tasks(config: StudyConfig, with_eval: set[str], config_path: str | Path) -> set[str]:
    """The tasks of ``data.target_dirs`` (those with the eval split), checked: each directory holds
    some, none is also a directory of ``data.dirs``, and no task is in both (which copy to evaluate
    would be a guess)."""
    data = config.data
    found: set[str] = set()
    for position, directory in enumerate(data.target_dirs):
        where = f"data.target_dirs.{position}"
        if directory in data.dirs:
            raise InputError(f"{directory} is also in data.dirs", source=config_path, where=where)
        tasks = _tasks_with([directory], data.eval_split, config_path, key="data.target_dirs", first=position)
        if not tasks:
            raise InputError(
                f"no task in {directory} has a {data.eval_split!r} split", source=config_path, where=where
            )
        both = sorted(tasks & (with_eval | found))
        if both:
            raise InputError(
                f"task {both[0]!r} has a {data.eval_split!r} split here and in another data directory",
                source=config_path,
                where=where,
            )
        found |= tasks
    return found


def _check_target_dirs_used(config: StudyConfig, targets: list[str], config_path: str | Path) -> None:
    """With ``data.targets`` listed, each target directory must hold a listed task (else it is unused,
    which is a mistake in the config, not a wish)."""
    data = config.data
    for position, directory in enumerate(data.target_dirs):
        tasks = set(_split_tasks_of(directory, data.eval_split))
        if not tasks & set(targets):
            raise InputError(
                f"none of its tasks ({', '.join(sorted(tasks))}) is in data.targets",
                source=config_path,
                where=f"data.target_dirs.{position}",
            )


def _check_not_target_only(listed: list[str] | None, target_only: set[str], config_path: str | Path) -> None:
    for position, task in enumerate(listed or []):
        if task in target_only:
            raise InputError(
                f"task {task!r} is target-only (in data.target_dirs), never finetuned on",
                source=config_path,
                where=f"data.sources.{position}",
            )


def _split_tasks_of(directory: Path, split: str) -> list[str]:
    """The tasks of one dataset directory with ``split`` (``<task>/<split>.jsonl``), sorted."""
    return sorted(path.parent.name for path in directory.glob(f"*/{split}.jsonl"))


def missing_data_dirs(config: StudyConfig) -> list[Path]:
    """The config's data directories (target-only ones included) that do not exist (yet: ``run --dry-run``
    previews without them)."""
    return [directory for directory in config.data.eval_dirs if not directory.is_dir()]


def preview_tasks(config: StudyConfig, config_path: str | Path = "study config") -> StudyTasks:
    """The study's tasks as its config names them, for a preview before the data exists: targets as
    listed, sources as listed or else the targets (each with a training set to come).

    Raises:
        InputError: the config does not list its targets (only the data could say what they are).
    """
    data = config.data
    if data.target_dirs and not data.sources:
        raise InputError(
            "cannot preview without the data unless data.sources lists the sources "
            "(data.target_dirs' tasks are targets only)",
            source=config_path,
            where="data.sources",
        )
    if not data.targets:
        missing = ", ".join(str(d) for d in missing_data_dirs(config))
        raise InputError(
            f"cannot preview without the data ({missing} not found) unless data.targets lists the tasks",
            source=config_path,
            where="data.targets",
        )
    return StudyTasks(list(data.targets), list(data.sources or data.targets))


def _check_distinct_paths(names: list[str], where: str, what: str, config_path: str | Path) -> None:
    """Refuse two names that would share a file or directory (adapters, selection results), even on a
    file system that ignores case."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(path_part(name).casefold(), name)
        if other != name:
            raise InputError(
                f"{what} {other!r} and {name!r} would share a directory on a case-insensitive file system; "
                "rename one",
                source=config_path,
                where=where,
            )


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


def _tasks_with(
    dirs: list[Path], split: str, config_path: str | Path, key: str = "data.dirs", first: int = 0
) -> set[str]:
    """Tasks with ``split`` in any of ``dirs`` (the config's ``key`` list, from position ``first``)."""
    found: set[str] = set()
    for position, directory in enumerate(dirs, start=first):
        if not directory.is_dir():
            raise InputError(
                f"data directory {directory} not found", source=config_path, where=f"{key}.{position}"
            )
        found.update(_split_tasks_of(directory, split))
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
