"""Running a study to completion: plan, skip what is stored, refuse stale results, execute, export.

Resumable and idempotent: a run is stored whole or not at all (see :mod:`vlmtransfer.store`), so
running again does exactly the missing jobs, and a finished study does nothing. Results made under other
effective settings (their key, ``study.jobs``, differs: the config, a library default, the data, the
model's files or a library's minor version changed) are refused, naming what changed, unless
``reset_changed``, which forgets and redoes them (reusing adapters whose training did not change).
A store written before keys covered every setting is migrated where :mod:`vlmtransfer.study.legacy`
can vouch for its runs; its other runs are stale.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vlmtransfer.analysis.table import csv_text
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import atomic_write_bytes, remove_abandoned_staging
from vlmtransfer.store import SCHEMA_VERSION, STORE_FILE, RunRecord, StudyStore
from vlmtransfer.study.config import StudyConfig
from vlmtransfer.study.executors import get_executor
from vlmtransfer.study.jobs import results_spec, spec_changes, spec_key
from vlmtransfer.study.legacy import LEGACY_SCHEMA, legacy_compatible, legacy_results_hash
from vlmtransfer.study.plan import Job, StudyTasks, plan_jobs, resolve_tasks

__all__ = [
    "ACCURACY_CSV",
    "CONFIG_COPY",
    "StudyPlan",
    "check_not_running",
    "check_stale",
    "export_results",
    "make_plan",
    "prepare_models",
    "read_config_copy",
    "run_study",
]

CONFIG_COPY = "study.json"
LOCK_FILE = ".lock"
ACCURACY_CSV = "accuracy.csv"
ACCURACY_PARQUET = "accuracy.parquet"
PREDICTIONS_PARQUET = "predictions.parquet"


@dataclass(frozen=True)
class StudyPlan:
    """A study's jobs and how far it is: ``todo`` are missing, ``stale`` were made under other settings
    (``changes``: per stale run key, what differs, when the store knows), ``migrate``: runs of an older
    store that count as done once their keys are rewritten (key -> (new key, spec))."""

    tasks: StudyTasks
    jobs: list[Job]
    done: list[Job]
    todo: list[Job]
    stale: list[Job] = field(default_factory=list)
    changes: dict[str, list[str]] = field(default_factory=dict)
    migrate: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)


def make_plan(
    config: StudyConfig, config_path: str | Path = "study config", *, only: Sequence[Job] | None = None
) -> StudyPlan:
    """The plan against the store (read only): the study's grid, or just the jobs ``only``."""
    tasks = resolve_tasks(config, config_path)
    grid = plan_jobs(config, tasks)
    jobs = grid if only is None else list(only)
    specs = {job.key: results_spec(config, tasks, job) for job in [*grid, *jobs]}
    expected = {key: spec_key(spec) for key, spec in specs.items()}
    finished: dict[str, str] = {}
    stored: dict[str, dict[str, Any] | None] = {}
    migrate: dict[str, tuple[str, dict[str, Any]]] = {}
    if (config.output / STORE_FILE).is_file():  # planning never creates the study directory
        with StudyStore(config.output) as store:
            finished = store.finished()
            stored = store.specs()
            if store.schema_version() == LEGACY_SCHEMA:
                versions = store.run_versions()
                migrate = {
                    job.key: (expected[job.key], specs[job.key])
                    for job in {j.key: j for j in [*grid, *jobs]}.values()
                    if job.key in finished
                    and finished[job.key] == legacy_results_hash(config, tasks, job)
                    and legacy_compatible(config, versions.get(job.key))
                }
                finished |= {key: value for key, (value, _) in migrate.items()}
    done = [job for job in jobs if finished.get(job.key) == expected[job.key]]
    stale = [job for job in jobs if job.key in finished and finished[job.key] != expected[job.key]]
    todo = [job for job in jobs if job.key not in finished or job in stale]
    changes = {
        job.key: spec_changes(stored[job.key], specs[job.key]) if stored.get(job.key) else [] for job in stale
    }
    return StudyPlan(tasks, jobs, done, todo, stale, changes, migrate, specs)


def run_study(
    config: StudyConfig,
    config_path: str | Path = "study config",
    *,
    reset_changed: bool = False,
    on_result: Callable[[RunRecord, int, int], None] | None = None,
    only: Sequence[Job] | None = None,
) -> StudyPlan:
    """Run every missing job, storing each run as it finishes; then export the accuracy table.

    ``on_result(run, finished, total)`` follows progress; ``only`` restricts the run to those jobs (data
    selection experiments). Returns the plan as it was before running.

    Raises:
        InputError: stored results are stale and ``reset_changed`` is false.
    """
    plan = make_plan(config, config_path, only=only)
    check_stale(plan, config_path, reset_changed=reset_changed)
    created = not config.output.exists()
    config.output.mkdir(parents=True, exist_ok=True)
    with study_lock(config.output):
        try:
            return _run_locked(config, plan, on_result=on_result)
        except Exception:
            if created:
                _remove_if_untouched(config.output)
            raise


def _remove_if_untouched(study_dir: Path) -> None:
    """Remove a study directory this run created when the run failed before it made anything (an
    unknown hub id, a model that does not load): a refused run leaves no ``study.json`` or empty store.
    Anything else in it (a stored run, an adapter) is kept for the next run to resume from."""
    bookkeeping = {CONFIG_COPY, LOCK_FILE, STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm"}
    if any(entry.name not in bookkeeping for entry in study_dir.iterdir()):
        return
    if (study_dir / STORE_FILE).is_file():
        try:
            with StudyStore(study_dir) as store:
                if store.finished():
                    return
        except Exception:
            return  # an unreadable store is left for the user to inspect
    shutil.rmtree(study_dir, ignore_errors=True)


def _run_locked(
    config: StudyConfig,
    plan: StudyPlan,
    *,
    on_result: Callable[[RunRecord, int, int], None] | None,
) -> StudyPlan:
    remove_abandoned_staging(config.output)  # what a killed run was writing; we hold the lock
    atomic_write_bytes(config.output / CONFIG_COPY, (config.model_dump_json(indent=2) + "\n").encode())
    with StudyStore(config.output) as store:
        if store.schema_version() != SCHEMA_VERSION:  # an older store: its vouched-for runs take new keys
            store.migrate_keys(plan.migrate, SCHEMA_VERSION)
        if plan.stale:
            store.delete_runs([job.key for job in plan.stale])
        finished = len(plan.done)

        def store_run(run: RunRecord) -> None:
            nonlocal finished
            if run.key in plan.specs:  # the driver's key: a Ray worker may see other library versions
                spec = plan.specs[run.key]
                run = replace(run, results_hash=spec_key(spec), spec=spec)
            store.add_run(run)
            finished += 1
            if on_result:
                on_result(run, finished, len(plan.jobs))

        if plan.todo:
            get_executor(config.executor.kind).execute(config, plan.tasks, plan.todo, store_run)
        export_results(store, config.output)
    return plan


@contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """Hold the study directory's lock: one writer at a time (``run`` and ``select --run`` both write).

    The OS releases it when the process dies, so a killed run never leaves the study locked.

    Raises:
        InputError: another process holds it.
    """
    import fcntl  # noqa: PLC0415 - POSIX only, like the rest of the runner's file handling

    with (study_dir / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError("another vlmtransfer process is running this study", source=study_dir) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_not_running(study_dir: Path) -> None:
    """Refuse early, before printing a plan, when another process holds the study's lock (the lock
    itself is taken by :func:`run_study`; this only looks, and creates nothing).

    Raises:
        InputError: another process holds it.
    """
    import fcntl  # noqa: PLC0415

    try:
        fd = os.open(study_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return  # no study yet, or no lock file: nobody is running it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InputError("another vlmtransfer process is running this study", source=study_dir) from None
    finally:
        os.close(fd)


def prepare_models(config: StudyConfig, config_path: str | Path = "study config") -> list[str]:
    """Each model's scorer's early checks (``evaluate.registry``), where its workers will run: in this
    process with the local executor (a device that is not there, a hub that cannot be reached, named by
    the config's key), nowhere with Ray (its workers may see another network than this driver).
    Returns the notes to show (a cached model used offline).

    Raises:
        InputError: a check refused (the model's key named).
        SystemRefusalError: the hub is unreachable and a model is not cached.
    """
    from vlmtransfer.evaluate.registry import ScorerOptions, prepare_scorer  # noqa: PLC0415

    if config.executor.kind != "local":
        return []
    notes = []
    for position, model in enumerate(config.models):
        options = ScorerOptions(max_pixels=config.max_pixels, revision=model.revision)
        note = prepare_scorer(
            model.scorer, model.name, options, source=f"{config_path}: models.{position}.name"
        )
        if note:
            notes.append(note)
    return notes


def check_stale(plan: StudyPlan, config_path: str | Path, *, reset_changed: bool) -> None:
    """Refuse to mix results made under different settings, unless asked to redo them.

    Raises:
        InputError: stale runs exist and ``reset_changed`` is false.
    """
    if plan.stale and not reset_changed:
        example = plan.stale[0].key
        changed = plan.changes.get(example) or []
        what = (
            f"changed: {'; '.join(changed[:3])}{' ...' if len(changed) > 3 else ''}"
            if changed
            else "by an earlier vlmtransfer, or with other settings, data, model files or library versions"
        )
        raise InputError(
            f"{len(plan.stale)} stored runs (e.g. {example}) were made with different settings ({what}); "
            "rerun with --reset-changed to redo them, or choose another output directory",
            source=config_path,
        )


def export_results(store: StudyStore, study_dir: Path) -> Path:
    """Write the accuracy table as CSV (analyze's input) and Parquet, and every prediction as Parquet,
    into the study directory."""
    table = store.accuracy_table()
    csv_path = study_dir / ACCURACY_CSV
    atomic_write_bytes(csv_path, csv_text(table).encode())
    atomic_write_bytes(study_dir / ACCURACY_PARQUET, table.to_parquet(index=False))
    predictions = store.predictions()
    atomic_write_bytes(study_dir / PREDICTIONS_PARQUET, predictions.to_parquet(index=False))
    return csv_path


def read_config_copy(study_dir: Path) -> StudyConfig:
    """The config a study directory was last run with.

    Raises:
        InputError: the directory holds no study, or its copy of the config is damaged.
    """
    path = study_dir / CONFIG_COPY
    try:
        return StudyConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError:
        raise InputError(f"not a study directory (no {CONFIG_COPY})", source=study_dir) from None
    except ValueError as exc:  # not JSON, not UTF-8, or not a study config
        problem = str(exc).splitlines()[0]
        raise InputError(f"not a valid study config copy ({problem})", source=path) from None
