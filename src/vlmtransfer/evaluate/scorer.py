"""The scorer contract: what evaluation and finetuning need from a model, and nothing more (no torch).

A :class:`Scorer` is a base model that answers :class:`Request` s (a question's record and its loaded
images or videos) with at most one adapter attached:

- :meth:`~Scorer.score_choices`: each choice letter's log-probability over the whole vocabulary at the
  answer position (the log-likelihood protocol);
- :meth:`~Scorer.generate`: its greedy answer as text (the paper's protocol, and numeric questions);
- :meth:`~Scorer.attach` / :meth:`~Scorer.detach`: swap an adapter in and out, leaving the base as it was.

Everything else is done once, here, for every scorer: which questions go to which protocol
(:func:`answers_by`), reading the letter or number off the answers, and ``both`` mode's merging
(:func:`evaluate_requests`). So a scorer cannot get the protocol wrong, and a scorer other than the
Hugging Face one (``evaluate.engine.Evaluator``) gives results of the same form; the dummy scorer of
:mod:`vlmtransfer.evaluate.dummy` lets the study runner be tested without torch.

A study also finetunes: a :class:`TrainableScorer` trains an adapter on its own base model
(:meth:`~TrainableScorer.train_adapter`, writing the layout of :mod:`vlmtransfer.finetune.record`) and
says which library versions its results depend on. Scorers are named in :mod:`.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from vlmtransfer.data.records import MCQRecord
from vlmtransfer.evaluate.scoring import QuestionResult, from_letter_logprobs, from_text
from vlmtransfer.finetune.record import LossPoint
from vlmtransfer.settings import LoraSettings, Mode, TrainSettings

__all__ = [
    "PROTOCOLS",
    "OnStep",
    "Request",
    "Scorer",
    "TrainableScorer",
    "TrainedAdapter",
    "answers_by",
    "evaluate_requests",
]

PROTOCOLS = ("loglik", "generate")
"""How a question can be answered: letter log-probabilities, or greedy generation."""

OnStep = Callable[[LossPoint, int], None]
"""Called after each optimiser step with the step's loss point and the total number of steps."""


class Request(NamedTuple):
    """One question to answer: its record and its media (PIL images, or the image files and video clips
    ``data.dataset.load_questions`` gives, decoded when a batch needs them), as a ``(record, media)``
    pair."""

    record: MCQRecord
    media: Sequence[Any]


@runtime_checkable
class Scorer(Protocol):
    """A base model answering requests, with at most one adapter attached at a time.

    Results come back in request order. Scoring the same requests again (under another adapter) may
    reuse whatever the scorer prepared from them the first time (tokens, batches, vision features).
    """

    def score_choices(self, requests: Sequence[Request]) -> list[tuple[float, ...]]:
        """Per request: each choice letter's log-probability over the whole vocabulary, in choice
        order (so they may sum to less than 1: the rest is what the model wanted to say instead)."""
        ...

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """Per request: the greedy answer's text."""
        ...

    def attach(self, adapter: Path) -> None:
        """Answer with ``adapter`` from now on, until :meth:`detach`.

        Raises:
            InputError: the adapter directory is incomplete, unreadable or made for another model
                (checked before the base model is touched).
            ValueError: an adapter is attached already.
        """
        ...

    def detach(self) -> None:
        """Answer as the untouched base model again (a no-op when no adapter is attached)."""
        ...


@dataclass(frozen=True)
class TrainedAdapter:
    """An adapter a :class:`TrainableScorer` wrote, and how its training went."""

    path: Path
    examples: int
    steps: int
    first_loss: float
    final_loss: float
    seconds: float
    trainable_parameters: int


@runtime_checkable
class TrainableScorer(Scorer, Protocol):
    """A scorer that can also finetune its own base model: what a study's worker and ``finetune`` run.

    Attributes:
        source: where the base model came from (a directory, a hub id), recorded with adapters.
    """

    source: str

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
        """Train an adapter on ``requests`` (with their answers) and write it to ``out``, all or
        nothing (``finetune.record``'s layout; ``provenance`` goes into ``training.json``). The base
        model is as it was afterwards. ``reuse`` names these requests: a later call with the same name
        may reuse what was prepared from them (a study's seeds of one source share their encoding)."""
        ...

    def versions(self) -> dict[str, str]:
        """The versions of the libraries computing results (recorded with every run)."""
        ...

    def close(self) -> None:
        """Free what the scorer holds between runs (caches); it stays usable."""
        ...


def answers_by(record: MCQRecord, mode: Mode, protocol: str) -> bool:
    """Whether ``record`` is answered with ``protocol`` in ``mode``: a numeric question always by
    generation (it has no letters to score, in ``loglik`` mode too), a multiple-choice one by the
    mode's protocol (both in ``both`` mode)."""
    if record.is_numeric:
        return protocol == "generate"
    return mode in (protocol, "both")


def evaluate_requests(
    scorer: Scorer,
    requests: Sequence[Request | tuple[MCQRecord, Sequence[Any]]],
    mode: Mode,
    adapter: Path | None = None,
) -> list[QuestionResult]:
    """Every request's result under ``adapter`` (None: the base model), in request order.

    The adapter is attached once for both protocols and detached afterwards, whatever happens. In
    ``both`` mode a multiple-choice result is the log-likelihood one, with the greedy answer beside it
    (``text`` and ``generated``), so the two protocols can be compared per question.

    Raises:
        InputError: the adapter cannot be attached (see :meth:`Scorer.attach`).
    """
    requests = [Request(*request) for request in requests]
    chosen = {
        protocol: [i for i, request in enumerate(requests) if answers_by(request.record, mode, protocol)]
        for protocol in PROTOCOLS
    }
    scored: dict[int, QuestionResult] = {}
    greedy: dict[int, QuestionResult] = {}
    if adapter is not None:
        scorer.attach(Path(adapter))
    try:
        if chosen["loglik"]:
            values = scorer.score_choices([requests[i] for i in chosen["loglik"]])
            for i, letter_logprobs in zip(chosen["loglik"], values, strict=True):
                scored[i] = from_letter_logprobs(requests[i].record, letter_logprobs)
        if chosen["generate"]:
            texts = scorer.generate([requests[i] for i in chosen["generate"]])
            for i, text in zip(chosen["generate"], texts, strict=True):
                greedy[i] = from_text(requests[i].record, text)
    finally:
        if adapter is not None:
            scorer.detach()
    results = []
    for i in range(len(requests)):
        if i not in scored:  # generate mode, or a numeric question
            results.append(greedy[i])
        elif i not in greedy:  # loglik mode
            results.append(scored[i])
        else:  # both modes: the log-likelihood choice, with the greedy answer beside it
            results.append(replace(scored[i], text=greedy[i].text, generated=greedy[i].generated))
    return results
