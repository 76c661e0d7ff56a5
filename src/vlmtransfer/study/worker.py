"""Running a study's jobs for one model: the base model loaded once, questions encoded once, vision
features cached across the baseline and every adapter (imports torch).

A worker computes; it never writes the store. It does write adapters, each into its own directory
via a staged rename, so a killed job leaves either a complete adapter or none. An adapter whose
``training.json`` carries the job's training key (``study.jobs.training_key``: a hash of its effective
training settings and data) is reused instead of retrained (a run killed after finetuning but before its
results were stored only re-evaluates); so is one an earlier vlmtransfer made, where
:mod:`vlmtransfer.study.legacy` can vouch for it.

The settings come from the config's resolved settings dataclasses (``config.lora``, ``config.train``
with the job's seed, ``config.eval``): the same values the job's key was made from.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from vlmtransfer import __version__
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import path_part
from vlmtransfer.store import RunRecord
from vlmtransfer.study.config import ModelConfig, StudyConfig
from vlmtransfer.study.jobs import results_spec, spec_key, training_key
from vlmtransfer.study.legacy import legacy_compatible, legacy_training_hash
from vlmtransfer.study.plan import Job, StudyTasks, training_dir

__all__ = ["VISION_CACHE", "ModelWorker", "adapter_dir", "package_versions"]

VISION_CACHE = "vision-cache"
"""Where a study's evaluation spills the vision features that do not fit its RAM budget."""


def adapter_dir(study_dir: Path, job: Job) -> Path:
    """Where a job's adapter lives: ``adapters/<model>/<source>/seed-<k>``; a name that is not path-safe
    gets its safe form plus a hash of the original, so two names never share a directory."""
    return study_dir / "adapters" / path_part(job.model) / path_part(job.source) / f"seed-{job.seed}"


def package_versions() -> dict[str, str]:
    import peft  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    return {
        "vlmtransfer": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


class ModelWorker:
    """Runs jobs of one model of a study."""

    def __init__(self, config: StudyConfig, model: ModelConfig, tasks: StudyTasks) -> None:
        from vlmtransfer.data.dataset import collect_questions  # noqa: PLC0415
        from vlmtransfer.evaluate.engine import Evaluator  # noqa: PLC0415
        from vlmtransfer.evaluate.feature_cache import default_budget_bytes  # noqa: PLC0415
        from vlmtransfer.models.loading import LoadOptions, load_model  # noqa: PLC0415

        self.config = config
        self.model = model
        self.tasks = tasks
        try:
            self.loaded = load_model(
                model.name, LoadOptions(max_pixels=config.max_pixels, revision=model.revision)
            )
        except InputError as exc:
            where = f"models.{config.models.index(model)}.name"
            raise InputError(exc.problem, source="study config", where=where) from None
        data = config.data
        questions = collect_questions(data.dirs, data.eval_split, tasks=tasks.targets, limit=data.eval_limit)
        settings = replace(
            config.eval,
            # features past a quarter of this machine's memory spill to the study (a full-resolution
            # BLINK grid's would not fit beside a large model); resumed runs read the shards back
            cache_budget_bytes=default_budget_bytes(),
            cache_dir=config.output / VISION_CACHE,
        )
        self.evaluator = Evaluator(
            self.loaded, [q for task in tasks.targets for q in questions[task]], settings
        )
        self.legacy_training_hash = legacy_training_hash(config, model)
        self.versions = package_versions()
        # The last source's encoded training questions and image features: jobs come source by
        # source, seed by seed, so the seeds of a source share them (one source's worth in memory).
        self._training_data: tuple[str, list[Any], list[Any] | None] | None = None

    def run(self, job: Job) -> RunRecord:
        """Finetune (unless a baseline or a reusable adapter exists), evaluate, return the run."""
        from vlmtransfer.evaluate.engine import accuracy_by_task  # noqa: PLC0415

        adapter, train_seconds, train_loss = None, None, None
        if not job.is_baseline:
            adapter, train_seconds, train_loss = self._adapter(job)
        started = time.perf_counter()
        results = self.evaluator.run(adapter)
        eval_seconds = time.perf_counter() - started
        return RunRecord(
            model=job.model,
            source=job.source,
            seed=job.seed,
            results_hash=spec_key(spec := results_spec(self.config, self.tasks, job)),
            predictions=[asdict(r) for r in results],
            accuracies=accuracy_by_task(results),
            versions=self.versions,
            adapter=str(adapter.relative_to(self.config.output)) if adapter else None,
            train_seconds=train_seconds,
            eval_seconds=eval_seconds,
            train_loss=train_loss,
            kind=job.kind,
            spec=spec,
        )

    def _adapter(self, job: Job) -> tuple[Path, float | None, float | None]:
        from vlmtransfer.finetune.lora import TRAINING_CONFIG, finetune_lora  # noqa: PLC0415

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
        encoded, features = self._training_questions(job)
        result = finetune_lora(
            self.loaded.model,
            encoded,
            out,
            lora=self.config.lora,
            settings=replace(self.config.train, seed=job.seed),
            processor=self.loaded.processor,
            image_features=features,
            cache_vision=False,  # features, when the model supports them, come from _training_questions
            provenance={
                "model": self.model.name,
                "source": job.source,
                "mixture": [list(part) for part in job.mixture],
                "training_key": key,
                "train_data": train_data,  # the training files' fingerprints: data regenerated in place
                "max_pixels": self.config.max_pixels,
            },
        )
        return out, result.curve[-1].seconds, result.curve[-1].loss

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

    def _training_questions(self, job: Job) -> tuple[list[Any], list[Any] | None]:
        """The job's encoded training questions and their image features (None when LoRA adapts the
        vision tower: it trains from the images), shared by the seeds of a source (a mixture's draw
        depends on the seed, so mixtures are encoded per job)."""
        from vlmtransfer.finetune.lora import training_vision_inputs  # noqa: PLC0415
        from vlmtransfer.models.encoding import encode_question  # noqa: PLC0415

        if not job.mixture and self._training_data and self._training_data[0] == job.source:
            return self._training_data[1], self._training_data[2]
        self._training_data = None  # free the previous source's features first
        items = self._mixture_items(job) if job.mixture else self._task_items(job.source)
        processor = self.loaded.processor
        encoded = [encode_question(r, images, processor, with_answer=True) for r, images in items]
        features = training_vision_inputs(self.loaded.model, encoded, processor, self.config.lora)
        if not job.mixture:
            self._training_data = (job.source, encoded, features)
        return encoded, features

    def _task_items(self, task: str, limit: int | None = None) -> list[Any]:
        from vlmtransfer.data.dataset import load_questions  # noqa: PLC0415

        data = self.config.data
        root = training_dir(self.config, task)
        if root is None:
            raise InputError(
                f"no {data.train_split!r} split for task {task!r} in the study's data", where="data"
            )
        return load_questions(root, task, data.train_split, limit=limit or data.train_limit)

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
