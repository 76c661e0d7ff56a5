"""The ``dummy`` scorer: deterministic answers from hashes, no model and no torch.

What it is for: running the machinery around models (the study runner, resume, stale detection, the
executors, ``finetune``/``evaluate``/``select --run``) in tests and on machines without torch, with
outcomes a test can compute exactly. It is a real scorer: it answers every request, its adapters are
written and attached like real ones (``finetune.record``'s layout, all or nothing), and what it answers
depends on exactly what a real model's answers depend on. It learns nothing.

The answers. ``u(...)`` is a number in [0, 1) from SHA-256 of its arguments. For a question (task
``t``, id ``i``, answer letter ``y``) asked of model ``m``, each choice letter ``l`` gets the logit::

    SPREAD * u(m, t, i, l)                         the base model's fixed guess
    + SPREAD * u(k, t, i, l)                       with an adapter of key k: every answer moves
    + (GAIN-weighted transfer to t if l == y)      and its targets get easier or harder

The transfer of an adapter to target ``t`` is the mean, weighted by its training examples, over its
training tasks ``s`` of ``GAIN`` when ``s == t`` and ``GAIN * (u(m, s, t) - 0.5)`` otherwise: fixed per
model and (source, target) pair, so seeds agree on it while the key (which holds the seed) adds noise.
Log-probabilities are over the letters and one more "token" of logit 0 (what the model wanted to say
instead), so the letters' mass is below 1. Generation answers ``(l)`` for the letter of highest logit,
and a numeric question ``answer * (1 + ERROR * (u - 0.5))`` (the error halved by an adapter trained on
its task).

Training writes an adapter whose key is a hash of everything a real adapter depends on: the model, the
examples (task, id and answer of each), the LoRA and training settings, the seed among them. Its loss
curve is synthetic, shaped like a real one: it starts near the log of the choices' count and falls,
with the learning rate the schedule gives at each step.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlmtransfer import __version__
from vlmtransfer.data.records import MCQRecord
from vlmtransfer.errors import InputError, system_refusal
from vlmtransfer.evaluate.scorer import OnStep, Request, TrainedAdapter
from vlmtransfer.finetune.record import (
    ADAPTER_CONFIG,
    LOSS_CURVE,
    TRAINING_CONFIG,
    LossPoint,
    curve_csv,
    learning_rate_factor,
    total_steps,
    warmup_steps,
)
from vlmtransfer.fsutil import staged_directory
from vlmtransfer.settings import EvalSettings, LoraSettings, TrainSettings, result_fields

__all__ = ["ERROR", "GAIN", "PEFT_TYPE", "SPREAD", "DummyAdapter", "DummyScorer", "read_dummy_adapter"]

PEFT_TYPE = "DUMMY"
"""``adapter_config.json``'s ``peft_type`` for the dummy's adapters (a Hugging Face scorer refuses them)."""
SPREAD = 2.0
"""Width of each hashed logit term."""
GAIN = 2.0
"""Logit added to the correct letter of an adapter's own task (and the scale of its transfers)."""
ERROR = 0.8
"""Width of the base model's relative error on numeric questions."""


def _unit(*parts: object) -> float:
    """A number in [0, 1), fixed for ``parts``."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DummyAdapter:
    """What an adapter directory of the dummy scorer holds: its model, key and training examples."""

    model: str
    key: str
    tasks: dict[str, int]

    def transfer(self, target: str) -> float:
        """The logit this adapter adds to the correct letter of ``target``'s questions."""
        total = sum(self.tasks.values())
        return sum(
            n * (GAIN if source == target else GAIN * (_unit(self.model, source, target) - 0.5))
            for source, n in self.tasks.items()
        ) / max(total, 1)


def read_dummy_adapter(path: Path, model: str | None = None) -> DummyAdapter:
    """The adapter in ``path``, checked (and, with ``model``, checked to be that model's).

    Raises:
        InputError: no such directory, no or an unreadable ``adapter_config.json``, an adapter of
            another scorer or of another dummy model.
    """
    path = Path(path)
    if not path.is_dir():
        raise InputError("adapter directory not found", source=path)
    config_path = path / ADAPTER_CONFIG
    if not config_path.is_file():
        raise InputError(f"not an adapter directory (no {ADAPTER_CONFIG})", source=path)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"unreadable adapter config ({exc})", source=config_path) from None
    if not isinstance(config, dict) or config.get("peft_type") != PEFT_TYPE:
        kind = config.get("peft_type") if isinstance(config, dict) else None
        raise InputError(
            f"peft_type {kind!r} is not the dummy scorer's ({PEFT_TYPE!r}): an adapter of another scorer",
            source=config_path,
        )
    owner, key, tasks = config.get("base_model_name_or_path"), config.get("key"), config.get("tasks")
    if not (isinstance(owner, str) and isinstance(key, str) and isinstance(tasks, dict)):
        raise InputError(
            "incomplete dummy adapter config (base_model_name_or_path, key, tasks)", source=config_path
        )
    if model is not None and owner != model:
        raise InputError(f"an adapter of dummy model {owner!r}, not of {model!r}", source=config_path)
    return DummyAdapter(owner, key, {str(task): int(n) for task, n in tasks.items()})


class DummyScorer:
    """The dummy model ``model`` as a :class:`~vlmtransfer.evaluate.scorer.TrainableScorer` (see the
    module docstring for what it answers). Evaluation settings are accepted and have no effect: its
    answers do not depend on batches."""

    device = "cpu"
    """Where it runs: in Python, on the CPU."""
    caches_vision = False
    """It never looks at images, so it has no vision features to cache."""

    def __init__(self, model: str, settings: EvalSettings | None = None) -> None:
        self.model = model
        self.source = f"dummy:{model}"
        self.settings = settings or EvalSettings()
        self._adapter: DummyAdapter | None = None

    def versions(self) -> dict[str, str]:
        return {"vlmtransfer": __version__}

    def fit_batch_size(self, requests: Sequence[Request]) -> int:
        """``batch_size: auto``: nothing limits a batch here, so all the requests (at least 1)."""
        from dataclasses import replace  # noqa: PLC0415

        self.settings = replace(self.settings, batch_size=max(1, len(requests)))
        return self.settings.batch_size

    def close(self) -> None:
        """Nothing is held between runs."""

    def attach(self, adapter: Path) -> None:
        if self._adapter is not None:
            raise ValueError("an adapter is attached already (detach it first)")
        self._adapter = read_dummy_adapter(adapter, self.model)

    def detach(self) -> None:
        self._adapter = None

    def score_choices(self, requests: Sequence[Request]) -> list[tuple[float, ...]]:
        results = []
        for record, _ in requests:
            logits = self._logits(record)
            norm = math.log(sum(math.exp(v) for v in logits) + 1.0)  # + the rest of the vocabulary
            results.append(tuple(v - norm for v in logits))
        return results

    def generate(self, requests: Sequence[Request]) -> list[str]:
        texts = []
        for record, _ in requests:
            if record.is_numeric:
                texts.append(f"{self._number(record):.6g}")
            else:
                logits = self._logits(record)
                texts.append(f"({record.letters[max(range(len(logits)), key=logits.__getitem__)]})")
        return texts

    def _logits(self, record: MCQRecord) -> list[float]:
        logits = [SPREAD * _unit(self.model, record.task, record.id, letter) for letter in record.letters]
        adapter = self._adapter
        if adapter is not None:
            gain = adapter.transfer(record.task)
            for k, letter in enumerate(record.letters):
                logits[k] += SPREAD * _unit(adapter.key, record.task, record.id, letter)
                logits[k] += gain if letter == record.answer else 0.0
        return logits

    def _number(self, record: MCQRecord) -> float:
        adapter = self._adapter
        if adapter is None:
            error = ERROR * (_unit(self.model, record.task, record.id, "number") - 0.5)
        else:
            shrink = 0.5 if record.task in adapter.tasks else 1.0
            error = shrink * ERROR * (_unit(adapter.key, record.task, record.id, "number") - 0.5)
        return record.numeric_answer * (1.0 + error)

    def train_adapter(
        self,
        requests: Sequence[Request],
        out: Path,
        *,
        lora: LoraSettings,
        settings: TrainSettings,
        provenance: dict[str, Any] | None = None,
        on_step: OnStep | None = None,
        reuse: str | None = None,
    ) -> TrainedAdapter:
        """Write the adapter these requests and settings make (``reuse`` changes nothing: there is
        nothing to prepare).

        Raises:
            ValueError: no requests, or an adapter is attached.
        """
        if not requests:
            raise ValueError("no training questions")
        if self._adapter is not None:
            raise ValueError("an adapter is attached for evaluation (detach it before training)")
        started = time.perf_counter()
        records = [record for record, _ in requests]
        examples = sorted([record.task, record.id, record.answer] for record in records)
        tasks = dict(sorted(Counter(record.task for record in records).items()))
        key = _digest(
            {
                "model": self.model,
                "examples": examples,
                "lora": result_fields(lora),
                "train": result_fields(settings),
            }
        )
        curve = self._curve(records, settings, key, started, on_step)
        config = {"peft_type": PEFT_TYPE, "base_model_name_or_path": self.model, "key": key, "tasks": tasks}
        record = {
            **(provenance or {}),
            "lora": asdict(lora),
            "train": asdict(settings),
            "examples": len(records),
            "tasks": tasks,
            "data_fingerprint": _digest(examples),
            "steps": len(curve),
            "final_loss": curve[-1].loss,
            "seconds": round(curve[-1].seconds, 3),
            "trainable_parameters": 0,
            "versions": self.versions(),
        }
        out = Path(out)
        try:
            with staged_directory(out, ADAPTER_CONFIG) as staging:
                (staging / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
                (staging / TRAINING_CONFIG).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
                (staging / LOSS_CURVE).write_text(curve_csv(curve))
        except OSError as exc:
            refusal = system_refusal(exc, source=out)
            if refusal is not None:
                raise refusal from None
            raise
        first, last = curve[0], curve[-1]
        return TrainedAdapter(out, len(records), len(curve), first.loss, last.loss, last.seconds, 0)

    @staticmethod
    def _curve(
        records: list[MCQRecord], settings: TrainSettings, key: str, started: float, on_step: OnStep | None
    ) -> list[LossPoint]:
        steps = total_steps(len(records), settings)
        warmup = warmup_steps(settings, steps)
        choices = sum(max(len(record.letters), 2) for record in records) / len(records)
        curve = []
        for step in range(1, steps + 1):
            progress = step / steps
            loss = math.log(choices) * (1.0 - 0.6 * progress) * (0.9 + 0.2 * _unit(key, "loss", step))
            rate = settings.learning_rate * learning_rate_factor(step - 1, warmup, steps, settings.schedule)
            examples = step * settings.batch_size * settings.grad_accum
            point = LossPoint(step, examples, loss, rate, time.perf_counter() - started)
            curve.append(point)
            if on_step:
                on_step(point, steps)
        return curve
