"""Running a study's jobs for one model: the base model loaded once (as the model's scorer,
``evaluate.registry``), questions prepared once, and (with the ``hf`` scorer) vision features cached
across the baseline and every adapter.

A job is the pipeline of :mod:`vlmtransfer.pipeline`, the one ``finetune`` and ``evaluate`` run:
finetune (unless a baseline or a reusable adapter exists), then evaluate on every target. This module
imports no torch; the ``hf`` scorer does when it loads, the ``dummy`` scorer never.

A worker computes; it never writes the store. It does write adapters, each into its own directory
via a staged rename, so a killed job leaves either a complete adapter or none. An adapter whose
``training.json`` carries the job's training key (``study.jobs.training_key``: a hash of its effective
training settings and data) is reused instead of retrained (a run killed after finetuning but before its
results were stored only re-evaluates); so is one an earlier vlmtransfer made, where
:mod:`vlmtransfer.study.legacy` can vouch for it.

The settings come from the config's resolved settings dataclasses (``config.lora``, ``config.train``
with the job's seed, ``config.eval``, and ``config.video`` for the frames of every video question read):
the same values the job's key was made from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.feature_cache import default_budget_bytes
from vlmtransfer.evaluate.registry import ScorerOptions, get_scorer
from vlmtransfer.evaluate.scorer import Request, TrainableScorer
from vlmtransfer.finetune.record import TRAINING_CONFIG
from vlmtransfer.fsutil import path_part
from vlmtransfer.pipeline import evaluate, finetune
from vlmtransfer.store import RunRecord
from vlmtransfer.study.config import ModelConfig, StudyConfig
from vlmtransfer.study.jobs import results_spec, spec_key, training_key
from vlmtransfer.study.legacy import legacy_compatible, legacy_training_hash
from vlmtransfer.study.plan import Job, StudyTasks, training_dir

__all__ = ["VISION_CACHE", "ModelWorker", "adapter_dir", "load_worker_scorer", "model_gpus"]

VISION_CACHE = "vision-cache"
"""Where a study's evaluation spills the vision features that do not fit its RAM budget."""


def adapter_dir(study_dir: Path, job: Job) -> Path:
    """Where a job's adapter lives: ``adapters/<model>/<source>/seed-<k>``; a name that is not path-safe
    gets its safe form plus a hash of the original, so two names never share a directory."""
    return study_dir / "adapters" / path_part(job.model) / path_part(job.source) / f"seed-{job.seed}"


def model_gpus(config: StudyConfig, model: ModelConfig) -> int:
    """GPUs one worker of ``model`` holds, as a whole number: its ``gpus``, else the executor's
    ``num_gpus`` (a fraction of a GPU, or none, is one device: the model is not split)."""
    gpus = model.gpus if model.gpus is not None else config.executor.num_gpus
    return max(1, int(gpus))


def load_worker_scorer(config: StudyConfig, model: ModelConfig) -> TrainableScorer:
    """The study's ``model`` loaded as its scorer, with the study's evaluation settings: features past
    a quarter of this machine's memory spill to the study's vision cache (a full-resolution BLINK grid's
    would not fit beside a large model; resumed runs read the shards back).

    Raises:
        InputError: the model does not load (naming the study config's key).
    """
    settings = replace(
        config.eval, cache_budget_bytes=default_budget_bytes(), cache_dir=config.output / VISION_CACHE
    )
    options = ScorerOptions(
        max_pixels=config.max_pixels, revision=model.revision, eval=settings, gpus=model_gpus(config, model)
    )
    try:
        return get_scorer(model.scorer).load(model.name, options)
    except InputError as exc:
        key = "gpus" if exc.field == "gpus" else "name"  # more GPUs asked for than this worker sees
        where = f"models.{config.models.index(model)}.{key}"
        raise InputError(exc.problem, source="study config", where=where) from None


class ModelWorker:
    """Runs jobs of one model of a study."""

    def __init__(self, config: StudyConfig, model: ModelConfig, tasks: StudyTasks) -> None:
        from vlmtransfer.data.dataset import collect_questions  # noqa: PLC0415

        self.config = config
        self.model = model
        self.tasks = tasks
        self.scorer = load_worker_scorer(config, model)
        data = config.data
        questions = collect_questions(
            data.eval_dirs, data.eval_split, tasks=tasks.targets, limit=data.eval_limit, sampling=config.video
        )
        self.requests = [Request(*item) for task in tasks.targets for item in questions[task]]
        self.legacy_training_hash = legacy_training_hash(config, model)
        self.versions = self.scorer.versions()

    def run(self, job: Job) -> RunRecord:
        """Finetune (unless a baseline or a reusable adapter exists), evaluate, return the run."""
        adapter, train_seconds, train_loss = None, None, None
        if not job.is_baseline:
            adapter, train_seconds, train_loss = self._adapter(job)
        evaluated = evaluate(self.scorer, self.requests, mode=self.config.eval.mode, adapter=adapter)
        return RunRecord(
            model=job.model,
            source=job.source,
            seed=job.seed,
            results_hash=spec_key(spec := results_spec(self.config, self.tasks, job)),
            predictions=[asdict(r) for r in evaluated.results],
            accuracies=evaluated.accuracies,
            versions=self.versions,
            adapter=str(adapter.relative_to(self.config.output)) if adapter else None,
            train_seconds=train_seconds,
            eval_seconds=evaluated.seconds,
            train_loss=train_loss,
            kind=job.kind,
            spec=spec,
        )

    def _adapter(self, job: Job) -> tuple[Path, float | None, float | None]:
        out = adapter_dir(self.config.output, job)
        reusable = _recorded(out / TRAINING_CONFIG)
        split = self.config.data.train_split
        trained = [task for task, _ in job.mixture] or [job.source]
        train_data = {f"{task}/{split}": self.tasks.fingerprint(task, split) for task in trained}
        mixture = [list(part) for part in job.mixture]
        key = training_key(self.config, self.tasks, job)
        if reusable.get("source") == job.source and (
            reusable.get("training_key") == key or self._legacy_reusable(reusable, job, mixture, train_data)
        ):
            return out, reusable.get("seconds"), reusable.get("final_loss")
        if reusable.get("source") not in (None, job.source):
            raise InputError(
                f"holds the adapter of source {reusable['source']!r}, not {job.source!r}; "
                "refusing to overwrite it (rename one of the tasks)",
                source=out,
            )
        items = self._mixture_items(job) if job.mixture else self._task_items(job.source)
        trained_adapter = finetune(
            self.scorer,
            [Request(*item) for item in items],
            out,
            lora=self.config.lora,
            settings=replace(self.config.train, seed=job.seed),
            provenance={
                "model": self.model.name,
                "source": job.source,
                "mixture": [list(part) for part in job.mixture],
                "training_key": key,
                "train_data": train_data,  # the training files' fingerprints: data regenerated in place
                "max_pixels": self.config.max_pixels,
            },
            # the seeds of a source share its prepared questions (a mixture's draw depends on the seed)
            reuse=None if job.mixture else job.source,
        )
        return out, trained_adapter.seconds, trained_adapter.final_loss

    def _legacy_reusable(
        self, recorded: dict[str, Any], job: Job, mixture: list[list[Any]], train_data: dict[str, Any]
    ) -> bool:
        """An adapter an earlier vlmtransfer trained for this job under the current settings."""
        return (
            "training_key" not in recorded
            and recorded.get("training_hash") == self.legacy_training_hash
            and recorded.get("train", {}).get("seed") == job.seed
            and recorded.get("mixture") == mixture
            and recorded.get("train_data") == train_data
            and legacy_compatible(self.config, recorded.get("versions"))
        )

    def _task_items(self, task: str, limit: int | None = None) -> list[Any]:
        from vlmtransfer.data.dataset import load_questions  # noqa: PLC0415

        data = self.config.data
        root = training_dir(self.config, task)
        if root is None:
            raise InputError(
                f"no {data.train_split!r} split for task {task!r} in the study's data", where="data"
            )
        return load_questions(
            root, task, data.train_split, limit=limit or data.train_limit, sampling=self.config.video
        )

    def _mixture_items(self, job: Job) -> list[Any]:
        """Each mixture part drawn from its task's training split with the job's seed.

        Raises:
            InputError: a part asks for more examples than its task has.
        """
        items = []
        for task, n in job.mixture:
            available = self._task_items(task)
            if n > len(available):
                raise InputError(f"the mixture needs {n} examples of {task}, which has {len(available)}")
            items += _draw(available, n, f"{job.source}|{task}|{job.seed}")
        return items


def _draw(items: list[Any], n: int, key: str) -> list[Any]:
    """``n`` of ``items`` without replacement, the same for the same ``key`` in any process."""
    import random  # noqa: PLC0415

    return random.Random(key).sample(items, n)


def _recorded(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
