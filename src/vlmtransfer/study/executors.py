"""Executors: where a study's jobs run. One registry; the driver is always the only store writer.

- ``local``: in this process, one :class:`ModelWorker` per model (base loaded once, adapters swapped).
- ``ray``: the same jobs on Ray actors (one worker per actor, holding its model), with per-actor
  resources (``num_cpus``, ``num_gpus``) and restarts/retries on worker failure; results come back to
  the driver, which stores them. A local Ray instance is started when no address is given.

Both produce identical results for the same config and seeds (the jobs are deterministic).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Protocol

from vlmtransfer.errors import InputError
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
    """Jobs in-process, model by model."""

    def execute(
        self, config: StudyConfig, tasks: StudyTasks, jobs: Sequence[Job], on_result: OnResult
    ) -> None:
        from vlmtransfer.study.worker import ModelWorker  # noqa: PLC0415 - the scorer's imports only when running

        for model in config.models:
            model_jobs = [job for job in jobs if job.model == model.key]
            if not model_jobs:
                continue
            worker = ModelWorker(config, model, tasks)
            for job in model_jobs:
                on_result(worker.run(job))
            del worker  # never two models in memory at once
            gc.collect()


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
            )(_RayWorker)
            for model in config.models:
                model_jobs = [job for job in jobs if job.model == model.key]
                if not model_jobs:
                    continue
                actors = [
                    actor_class.remote(config, model, tasks)
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


class _RayWorker:
    """A Ray actor holding one :class:`ModelWorker`, built on first use (and again after a restart)."""

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


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def get_executor(kind: str) -> Executor:
    """The executor registered as ``kind``."""
    try:
        return EXECUTORS[kind]()
    except KeyError:
        raise ValueError(f"unknown executor {kind!r} (known: {', '.join(sorted(EXECUTORS))})") from None
