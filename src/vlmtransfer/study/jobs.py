"""What a job computes, in full: its effective settings, and the content-addressed keys made from them.

A job's *spec* is everything that determines its result, resolved: the model (name, revision and, for a
local directory, a fingerprint of its files), the data (fingerprints of the split files read, limits),
every LoRA, training and evaluation setting as the settings dataclasses resolve them (library defaults
included, so a changed default is a changed setting), the frame sampling where videos are read (a
training split or a target with video questions: ``video``, absent otherwise), the image cap, and the
versions of the libraries that compute it. The *key* is a hash of the spec. A stored run whose key
differs is stale, whatever changed, and the store keeps each run's spec so that ``run`` can say *what*
changed.

Two specs per job: the *training spec* (what determines an adapter: its reuse key, recorded in the
adapter's ``training.json``) and the *results spec* (the training spec, or the base model for a baseline,
plus evaluation settings and targets: the run's key in the store). Seeds, sources, the executor and the
output directory are not in a results spec beyond the job's own seed, so adding a seed or a source
extends a study; paths are not in it either (data are identified by content), so a study directory and
its data can move.

No torch here: planning, ``status`` and ``run --dry-run`` stay light (library versions come from package
metadata, not imports).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from vlmtransfer.evaluate.registry import DEFAULT_SCORER, get_scorer
from vlmtransfer.settings import result_fields
from vlmtransfer.study.config import ModelConfig, StudyConfig
from vlmtransfer.study.plan import Job, StudyTasks

__all__ = [
    "RESULTS_VERSION",
    "directory_fingerprint",
    "job_key",
    "model_identity",
    "result_versions",
    "results_spec",
    "spec_changes",
    "spec_key",
    "training_key",
    "training_spec",
]

RESULTS_VERSION = 1
"""vlmtransfer's own part of every key: bump it when a change to training or evaluation code changes
results, so that stores made before it count as stale."""

_LIBRARIES = ("torch", "transformers", "peft")
_WHOLE_FILE = 64 * 2**20
_SAMPLE = 2**20


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def result_versions(libraries: tuple[str, ...] = _LIBRARIES) -> dict[str, Any]:
    """The versions in every key: vlmtransfer's :data:`RESULTS_VERSION` and the major.minor release of
    the libraries computing results (the ``hf`` scorer's: torch, transformers and PEFT; a patch release
    keeps results, a minor one may not)."""
    versions: dict[str, Any] = {"vlmtransfer": RESULTS_VERSION}
    for library in libraries:
        try:
            versions[library] = ".".join(metadata.version(library).split(".")[:2])
        except metadata.PackageNotFoundError:
            versions[library] = None
    return versions


def directory_fingerprint(directory: Path) -> str:
    """SHA-256 (16 hex digits) of a local model directory's files: every file whole up to 64 MiB; a
    larger one (a weights shard) by its size and its first and last MiB, which retraining changes (a
    full read of a 60 GB checkpoint on every ``status`` would not be affordable)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(directory).as_posix()}\n{size}\n".encode())
        with path.open("rb") as handle:
            if size <= _WHOLE_FILE:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_SAMPLE))
                handle.seek(size - _SAMPLE)
                digest.update(handle.read(_SAMPLE))
    return digest.hexdigest()[:16]


def model_identity(model: ModelConfig) -> dict[str, Any]:
    """A model as results depend on it: its name and revision, and for a local directory (the embedded
    tiny model included) a fingerprint of its files instead of its path, so a model rebuilt in place is
    another model and a model moved elsewhere is the same one. A scorer other than the default is part
    of it (the default is implied, so keys made before scorers were named stay valid)."""
    from vlmtransfer.models.presets import find_preset  # noqa: PLC0415 - no torch there

    if model.scorer != DEFAULT_SCORER:  # not a Hugging Face model: its name is all there is
        return {"name": model.name, "revision": model.revision, "files": None, "scorer": model.scorer}
    preset = find_preset(model.name)
    local = Path(preset.hub_id if preset else model.name).expanduser()
    if local.is_dir():  # by content, wherever it lies; a preset keeps its name
        return {
            "name": preset.name if preset else None,
            "revision": None,
            "files": directory_fingerprint(local),
        }
    return {"name": model.name, "revision": model.revision, "files": None}


def _libraries(config: StudyConfig, job: Job) -> tuple[str, ...]:
    """The libraries whose releases the job's results depend on: its model's scorer's."""
    model = next(m for m in config.models if m.key == job.model)
    return get_scorer(model.scorer).libraries


def _model(config: StudyConfig, tasks: StudyTasks, job: Job) -> dict[str, Any]:
    if job.model in tasks.models:
        return tasks.models[job.model]
    return model_identity(next(m for m in config.models if m.key == job.model))


def training_spec(config: StudyConfig, tasks: StudyTasks, job: Job) -> dict[str, Any]:
    """Everything that determines a finetuned job's adapter (see the module docstring)."""
    split = config.data.train_split
    trained = [task for task, _ in job.mixture] or [job.source]
    return {
        "model": _model(config, tasks, job),
        "max_pixels": config.max_pixels,
        "data": {
            "split": split,
            "limit": config.data.train_limit,
            "files": {task: tasks.fingerprint(task, split) for task in trained},
            "mixture": [[task, n] for task, n in job.mixture],
        },
        "lora": result_fields(config.lora),
        "train": result_fields(replace(config.train, seed=job.seed)),
        "versions": result_versions(_libraries(config, job)),
    } | _video(config, tasks, trained, split)


def results_spec(config: StudyConfig, tasks: StudyTasks, job: Job) -> dict[str, Any]:
    """Everything that determines a job's stored results: its training (for a baseline, the base model),
    the evaluation settings, and the targets with their questions' fingerprints."""
    split = config.data.eval_split
    if job.is_baseline:
        produced: dict[str, Any] = {
            "base": {
                "model": _model(config, tasks, job),
                "max_pixels": config.max_pixels,
                "versions": result_versions(_libraries(config, job)),
            }
        }
    else:
        produced = {"training": training_spec(config, tasks, job)}
    return (
        produced
        | {
            "eval": result_fields(config.eval),
            "targets": {
                "split": split,
                "limit": config.data.eval_limit,
                "files": {task: tasks.fingerprint(task, split) for task in sorted(tasks.targets)},
            },
        }
        | _video(config, tasks, tasks.targets, split)
    )


def _video(config: StudyConfig, tasks: StudyTasks, read: list[str], split: str) -> dict[str, Any]:
    """``{"video": <the frame sampling>}`` when ``split`` of one of the tasks ``read`` has video
    questions, else nothing: the sampling changes only video questions' answers, so an image-only study
    keeps the keys it had before videos were sampled as configured."""
    if any(tasks.has_videos(task, split) for task in read):
        return {"video": result_fields(config.video)}
    return {}


def spec_key(spec: dict[str, Any]) -> str:
    """A spec's key: SHA-256 (16 hex digits) of its canonical JSON."""
    return _hash(spec)


def training_key(config: StudyConfig, tasks: StudyTasks, job: Job) -> str:
    """The adapter's reuse key: a hash of :func:`training_spec`."""
    return spec_key(training_spec(config, tasks, job))


def job_key(config: StudyConfig, tasks: StudyTasks, job: Job) -> str:
    """The key a stored run must carry to count as done: a hash of :func:`results_spec`."""
    return spec_key(results_spec(config, tasks, job))


def spec_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """What differs between two specs, one ``path: old -> new`` line per leaf (``training.train.
    max_grad_norm: 1.0 -> 0.5``), in sorted order."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for name in sorted(set(old) | set(new)):
            path = f"{prefix}.{name}" if prefix else name
            lines += spec_changes(old.get(name, "(absent)"), new.get(name, "(absent)"), path)
        return lines
    return [] if old == new else [f"{prefix}: {json.dumps(old)} -> {json.dumps(new)}"]
