"""Executors: where a study's jobs run. One registry; the driver is always the only store writer.

- ``local``: on this machine, one :class:`ModelWorker` per model (base loaded once, adapters swapped):
  in this process, or with ``workers: N`` in N processes sharing the CPU cores (a small model does
  not keep several cores busy, so two single-threaded processes finish more jobs than one
  two-threaded one: 1.7x on the demo's finetunes, 2 cores, docs/benchmarks.md).
- ``ray``: the same jobs on Ray actors (one worker per actor, holding its model), with per-actor
  resources (``num_cpus``, ``num_gpus``; a model's own ``gpus`` overrides ``num_gpus`` for its actors,
  which then split it over those GPUs) and restarts/retries on worker failure; results come back to
  the driver, which stores them. A local Ray instance is started when no address is given.

Every executor runs the same deterministic jobs; the results are identical for the same config, seeds
and threads per process (floating-point sums taken over a different number of threads can differ in the
last bits, so ``workers`` can flip a borderline answer).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Protocol

from vlmtransfer.errors import InputError
from vlmtransfer.registry import Registry
from vlmtransfer.store import RunRecord
from vlmtransfer.study.config import ModelConfig, StudyConfig
from vlmtransfer.study.plan import Job, StudyTasks

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "get_executor"]

OnResult = Callable[[RunRecord], None]


class Executor(Protocol):
    """Runs jobs and hands each finished run to ``on_result`` (in the calling thread)."""

    def execute(
        self, config: StudyConfig, tasks: StudyTasks, jobs: Sequence[Job], on_result: OnResult
    ) -> None: ...


class LocalExecutor:
    """Jobs on this machine, model by model: in this process, or in ``config.executor.workers``
    processes, each with its share of the CPU threads."""

    def execute(
        self, config: StudyConfig, tasks: StudyTasks, jobs: Sequence[Job], on_result: OnResult
    ) -> None:
        for model in config.models:
            model_jobs = [job for job in jobs if job.model == model.key]
            if not model_jobs:
                continue
            processes = min(config.executor.workers, len(model_jobs))
            if processes > 1:
                _run_in_processes(config, model, tasks, model_jobs, on_result, processes)
                continue
            from vlmtransfer.study.worker import ModelWorker  # noqa: PLC0415 - the scorer's imports only when running

            worker = ModelWorker(config, model, tasks)
            for job in model_jobs:
                on_result(worker.run(job))
            del worker  # never two models in memory at once
            gc.collect()


def _run_in_processes(  # noqa: PLR0917 - private helper, called once
    config: StudyConfig,
    model: ModelConfig,
    tasks: StudyTasks,
    jobs: Sequence[Job],
    on_result: OnResult,
    processes: int,
) -> None:
    """``jobs`` on ``processes`` fresh (spawned) processes, each holding its own :class:`ModelWorker`;
    results come back here in the order they finish. On an error the jobs not started are cancelled
    and the error is raised here, as the in-process path would raise it."""
    threads = max(1, (os.cpu_count() or 1) // processes)
    with ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),  # fork after torch's threads start can hang
        initializer=_start_process_worker,
        initargs=(config, model, tasks, threads),
    ) as pool:
        futures = [pool.submit(_run_in_process_worker, job) for job in jobs]
        try:
            for future in as_completed(futures):
                on_result(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


_PROCESS_WORKER: list[_QuietWorker] = []
"""The worker of this process when it is one of a local pool's processes (set by the pool's
initializer, which is how ``concurrent.futures`` gives a process state); empty elsewhere."""


def _start_process_worker(config: StudyConfig, model: ModelConfig, tasks: StudyTasks, threads: int) -> None:
    # Before any ML library loads (a spawned process starts bare, and a scorer without torch, such as
    # the dummy, must not import it): torch and its BLAS take their thread count from these.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    _PROCESS_WORKER[:] = [_QuietWorker(config, model, tasks)]


def _run_in_process_worker(job: Job) -> RunRecord:
    return _PROCESS_WORKER[0].run(job)


class RayExecutor:
    """Jobs as Ray actor calls; ``config.executor`` gives the address, actor count and resources."""

    def execute(
        self, config: StudyConfig, tasks: StudyTasks, jobs: Sequence[Job], on_result: OnResult
    ) -> None:
        try:
            import ray  # noqa: PLC0415 - optional dependency
            from ray.util import ActorPool  # noqa: PLC0415
        except ImportError:
            raise InputError(
                "Ray is not installed (pip install 'vlmtransfer[ray]')", where="executor.kind"
            ) from None

        settings = config.executor
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=settings.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        try:
            actor_class = ray.remote(
                num_cpus=settings.num_cpus,
                num_gpus=settings.num_gpus,
                max_restarts=settings.max_retries,
                max_task_retries=settings.max_retries,
            )(_QuietWorker)
            for model in config.models:
                model_jobs = [job for job in jobs if job.model == model.key]
                if not model_jobs:
                    continue
                model_class = actor_class
                if model.gpus is not None:  # this model's workers hold their own GPU count (a split model)
                    model_class = actor_class.options(num_gpus=model.gpus)
                actors = [
                    model_class.remote(config, model, tasks)
                    for _ in range(min(settings.workers, len(model_jobs)))
                ]
                try:
                    for record in ActorPool(actors).map_unordered(
                        lambda actor, job: actor.run.remote(job), model_jobs
                    ):
                        on_result(record)
                except ray.exceptions.RayTaskError as exc:
                    # The user's mistakes (a bad model path, too few examples) come back wrapped in a
                    # remote traceback; report them like local ones.
                    if isinstance(exc.cause, InputError):
                        raise exc.cause from None
                    raise
                for actor in actors:
                    ray.kill(actor)
        finally:
            if started_here:
                ray.shutdown()


class _QuietWorker:
    """A :class:`ModelWorker` built on first use (and again after a Ray restart), with its scorer's
    library logging and progress bars off: it runs away from the terminal the driver reports to."""

    def __init__(self, config: StudyConfig, model: ModelConfig, tasks: StudyTasks) -> None:
        self._args = (config, model, tasks)
        self._worker = None

    def run(self, job: Job) -> RunRecord:
        if self._worker is None:
            from vlmtransfer.evaluate.registry import get_scorer  # noqa: PLC0415
            from vlmtransfer.study.worker import ModelWorker  # noqa: PLC0415

            kind = get_scorer(self._args[1].scorer)
            if kind.quiet:  # nobody reads a worker's library logging and progress bars
                kind.quiet()
            self._worker = ModelWorker(*self._args)
        return self._worker.run(job)


EXECUTORS: Registry[Callable[[], Executor]] = Registry(
    "executor", [("local", LocalExecutor), ("ray", RayExecutor)], where="executor.kind"
)


def get_executor(kind: str) -> Executor:
    """The executor registered as ``kind``.

    Raises:
        InputError: an unknown kind, with its near matches and the known kinds.
    """
    return EXECUTORS.get(kind)()
