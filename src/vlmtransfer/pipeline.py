"""The pipelines, once: finetune an adapter, evaluate the base model or an adapter (no torch here).

The study worker (:mod:`vlmtransfer.study.worker`) and the ``finetune`` and ``evaluate`` verbs run
these functions on a scorer from :mod:`vlmtransfer.evaluate.registry`, and ``select --run`` runs its
arms through the study runner, so a verb and a study given the same settings compute the same
adapters and answers. The CLI only parses its flags into settings, calls these, and prints.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.scorer import (
    OnStep,
    Request,
    Scorer,
    TrainableScorer,
    TrainedAdapter,
    evaluate_requests,
)
from vlmtransfer.evaluate.scoring import QuestionResult, accuracy_by_task
from vlmtransfer.finetune.record import ADAPTER_CONFIG
from vlmtransfer.settings import LoraSettings, Mode, TrainSettings

__all__ = ["EvaluatedRun", "check_adapter_output", "evaluate", "finetune", "flat_requests"]


def flat_requests(questions: dict[str, list[tuple[Any, list[Any]]]]) -> list[Request]:
    """``data.dataset.collect_questions``'s questions by task as one request list, task by task."""
    return [Request(record, media) for items in questions.values() for record, media in items]


def check_adapter_output(out: Path) -> None:
    """Refuse, before anything loads, an output that :func:`finetune` could not replace: a file, or a
    non-empty directory that holds no adapter (someone's folder).

    Raises:
        InputError: naming the field ``out``.
    """
    from vlmtransfer.fsutil import OutputDirectoryError, check_replaceable  # noqa: PLC0415

    try:
        check_replaceable(out, ADAPTER_CONFIG)
    except OutputDirectoryError as exc:
        raise InputError(str(exc), field="out") from None


def finetune(
    scorer: TrainableScorer,
    requests: Sequence[Request],
    out: Path,
    *,
    lora: LoraSettings,
    settings: TrainSettings,
    provenance: dict[str, Any] | None = None,
    on_step: OnStep | None = None,
    reuse: str | None = None,
) -> TrainedAdapter:
    """Train an adapter of ``scorer``'s base model on ``requests`` into ``out`` (all or nothing).

    ``provenance`` (what the adapter was made from: model, data, a study's training key) is recorded in
    its ``training.json``; ``reuse`` lets the seeds of one source share their prepared data.

    Raises:
        InputError: no requests (field ``tasks``), or ``out`` cannot be replaced (field ``out``).
    """
    if not requests:
        raise InputError("no training questions", field="tasks")
    check_adapter_output(out)
    return scorer.train_adapter(
        list(requests),
        Path(out),
        lora=lora,
        settings=settings,
        provenance=provenance,
        on_step=on_step,
        reuse=reuse,
    )


@dataclass(frozen=True)
class EvaluatedRun:
    """One evaluation: the base model (``adapter`` None) or an adapter, on every request.

    Attributes:
        results: per request, in request order.
        accuracies: per task, (accuracy in percent, questions), tasks in first-seen order.
        seconds: wall time of the evaluation.
    """

    adapter: Path | None
    results: list[QuestionResult]
    accuracies: dict[str, tuple[float, int]]
    seconds: float


def evaluate(
    scorer: Scorer, requests: Sequence[Request], *, mode: Mode, adapter: Path | None = None
) -> EvaluatedRun:
    """Every request answered by ``scorer``'s base model or with ``adapter`` attached (then detached).

    Raises:
        InputError: the adapter cannot be attached (naming its file).
    """
    started = time.perf_counter()
    results = evaluate_requests(scorer, requests, mode, adapter)
    return EvaluatedRun(adapter, results, accuracy_by_task(results), time.perf_counter() - started)
