"""Stores made before job keys covered every setting (store schema 1): recognising what they still hold.

Until issue 29 a run's key hashed the study YAML's sections (with data paths) rather than the settings
used, and training settings a study could not set (LoRA ``target_modules``, the ``schedule``,
``weight_decay``, ``max_grad_norm``) were not in it. Such a run is taken over, its key rewritten to the
content-addressed one of :mod:`vlmtransfer.study.jobs`, only when all of this holds:

- its stored hash is the one that code computes for the *current* config (same YAML values, same data
  paths, same split fingerprints, same targets);
- every setting it could not record is at the value that code used (the defaults below), in the
  current effective settings;
- it was computed with the same torch, transformers and PEFT minor releases (recorded with each run).

Anything else is stale and redone only with ``--reset-changed``. The formulas below are frozen copies
of that code (``StudyConfig.training_hash``/``results_hash`` and ``plan.job_results_hash`` at 210bfe3):
never edit them; a test checks them against a store that code wrote.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from vlmtransfer.study.config import ModelConfig, StudyConfig
from vlmtransfer.study.jobs import result_versions
from vlmtransfer.study.plan import Job, StudyTasks

__all__ = [
    "LEGACY_SCHEMA",
    "legacy_compatible",
    "legacy_results_hash",
    "legacy_training_hash",
]

LEGACY_SCHEMA = "1"
_UNRECORDED = {
    "lora": {
        "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "vision": False,  # schema 1 adapted the language model only
    },
    "train": {"schedule": "linear", "weight_decay": 0.0, "max_grad_norm": 1.0},
}
_FLOATS = {"alpha", "dropout", "learning_rate", "epochs", "warmup_ratio"}  # schema 1 stored them as floats
_LORA = ("rank", "alpha", "dropout")
_TRAIN = ("learning_rate", "epochs", "max_steps", "batch_size", "grad_accum", "warmup_ratio")
_EVAL = ("mode", "batch_size", "max_new_tokens")


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _model(model: ModelConfig) -> dict[str, Any]:
    return {"name": model.name, "label": model.label, "revision": model.revision}


def _section(settings: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: float(getattr(settings, name)) if name in _FLOATS else getattr(settings, name) for name in names
    }


def legacy_training_hash(config: StudyConfig, model: ModelConfig) -> str:
    """``StudyConfig.training_hash`` as schema 1 computed it."""
    return _hash(
        {
            "model": _model(model),
            "dirs": [str(d) for d in config.data.dirs],
            "split": config.data.train_split,
            "limit": config.data.train_limit,
            "lora": _section(config.lora, _LORA),
            "train": _section(config.train, _TRAIN),
            "max_pixels": config.max_pixels,
        }
    )


def legacy_results_hash(config: StudyConfig, tasks: StudyTasks, job: Job) -> str:
    """``plan.job_results_hash`` as schema 1 computed it."""
    model = next(m for m in config.models if m.key == job.model)
    evaluated = {"model": _model(model), "dirs": [str(d) for d in config.data.dirs]}
    value = _hash(
        {
            "training": evaluated | {"max_pixels": config.max_pixels}
            if job.is_baseline
            else legacy_training_hash(config, model),
            "targets": sorted(tasks.targets),
            "split": config.data.eval_split,
            "limit": config.data.eval_limit,
            "eval": _section(config.eval, _EVAL),
        }
    )
    if job.mixture:
        composition = ",".join(f"{task}={n}" for task, n in job.mixture)
        value = hashlib.sha256(f"{value}|{composition}".encode()).hexdigest()[:16]
    if tasks.data:
        split = config.data.eval_split
        used = {f"{t}/{split}": tasks.fingerprint(t, split) for t in tasks.targets}
        if not job.is_baseline:
            trained = [task for task, _ in job.mixture] or [job.source]
            split = config.data.train_split
            used |= {f"{t}/{split}": tasks.fingerprint(t, split) for t in trained}
        data = json.dumps(used, sort_keys=True)
        value = hashlib.sha256(f"{value}|{data}".encode()).hexdigest()[:16]
    return value


def legacy_compatible(config: StudyConfig, versions: dict[str, Any] | None) -> bool:
    """Whether the current effective settings are those schema-1 code used for what it did not record,
    and ``versions`` (a run's recorded package versions) are the current minor releases."""
    for section, expected in _UNRECORDED.items():
        settings = getattr(config, section)
        if any(getattr(settings, name) != value for name, value in expected.items()):
            return False
    current = result_versions()
    for library in ("torch", "transformers", "peft"):
        recorded = (versions or {}).get(library)
        if recorded is None or ".".join(str(recorded).split(".")[:2]) != current[library]:
            return False
    return True
