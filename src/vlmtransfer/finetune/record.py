"""What a finetune leaves beside its adapter, whoever trained it (no torch).

An adapter directory holds ``adapter_config.json`` (its marker: what kind of adapter it is, PEFT's
``peft_type``), the scorer's weights, ``training.json`` (settings, data, provenance, versions; a study
reads its ``training_key`` to reuse the adapter) and ``loss_curve.csv`` (one row per optimiser step).
The Hugging Face trainer (``finetune.lora``) and the dummy scorer (``evaluate.dummy``) write the same
layout, so the study worker, ``finetune`` and ``evaluate`` treat their adapters alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.settings import Schedule, TrainSettings

__all__ = [
    "ADAPTER_CONFIG",
    "LOSS_CURVE",
    "TRAINING_CONFIG",
    "LossPoint",
    "curve_csv",
    "learning_rate_factor",
    "read_loss_curve",
    "total_steps",
    "warmup_steps",
]

ADAPTER_CONFIG = "adapter_config.json"
TRAINING_CONFIG = "training.json"
LOSS_CURVE = "loss_curve.csv"


@dataclass(frozen=True)
class LossPoint:
    """The loss of one optimiser step (mean over its target tokens) and where training was."""

    step: int
    examples: int
    loss: float
    learning_rate: float
    seconds: float


def total_steps(n_questions: int, settings: TrainSettings) -> int:
    """Optimiser steps a run takes: ``max_steps``, else enough for ``epochs`` passes (at least 1)."""
    if settings.max_steps is not None:
        return settings.max_steps
    per_step = settings.batch_size * settings.grad_accum
    return max(1, math.ceil(settings.epochs * n_questions / per_step))


def warmup_steps(settings: TrainSettings, steps: int) -> int:
    """The warm-up's length in steps: ``warmup_ratio`` of ``steps``, rounded down."""
    return math.floor(settings.warmup_ratio * steps + 1e-9)  # 0.02 * 1000 must not floor to 19


def learning_rate_factor(step: int, warmup: int, steps: int, schedule: Schedule = "linear") -> float:
    """The learning rate's multiplier at ``step`` (0-based): linear warm-up over ``warmup`` steps, then
    the schedule over the remaining ``steps - warmup``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    remaining = max(0.0, (steps - step) / max(1, steps - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 - math.cos(math.pi * remaining))
    return remaining


def curve_csv(curve: list[LossPoint]) -> str:
    """``loss_curve.csv``'s text: a header, then one row per step."""
    lines = ["step,examples,loss,learning_rate,seconds"]
    lines += [f"{p.step},{p.examples},{p.loss:.6f},{p.learning_rate:.6g},{p.seconds:.3f}" for p in curve]
    return "\n".join(lines) + "\n"


def read_loss_curve(adapter_dir: str | Path) -> list[LossPoint]:
    """The loss curve saved with an adapter."""
    rows = (Path(adapter_dir) / LOSS_CURVE).read_text().splitlines()[1:]
    points = []
    for row in rows:
        step, examples, loss, learning_rate, seconds = row.split(",")
        points.append(LossPoint(int(step), int(examples), float(loss), float(learning_rate), float(seconds)))
    return points
