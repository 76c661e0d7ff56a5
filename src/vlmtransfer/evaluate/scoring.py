"""Reading a multiple-choice answer off a model: letter log-probabilities or parsed generated text.

Log-likelihood mode: the prompt is the evaluation prompt (chat template with the generation prompt)
followed by ``(``, the first token of BLINK's answer form ``(B)``; the model's next-token distribution
at that position, restricted to the choices' letters, is the answer. That each letter is one token
after ``(`` is checked per tokenizer, not assumed. Generate mode: greedy decoding, then the data
layer's parser (the paper's protocol).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vlmtransfer.data.parsing import parse_choice
from vlmtransfer.data.records import MCQRecord

__all__ = ["ANSWER_PREFIX", "QuestionResult", "from_logprobs", "from_text", "letter_ids", "letter_token_ids"]

ANSWER_PREFIX = "("
"""Appended after the generation prompt, so the next token is the answer letter of ``(B)``."""


@dataclass(frozen=True)
class QuestionResult:
    """One question's outcome.

    Attributes:
        id: the record id.
        task: the record's task.
        answer: the correct letter.
        predicted: the chosen letter; None when a generated answer named no single option.
        correct: whether ``predicted`` is ``answer``.
        logprobs: log-probability of each choice's letter over the whole vocabulary, in choice order
            (log-likelihood mode; None in generate mode).
        letter_mass: total probability on the valid letters; low values mean the model wanted to say
            something else, which accuracy alone hides (log-likelihood mode).
        text: the generated answer (generate mode).
    """

    id: str
    task: str
    answer: str
    predicted: str | None
    correct: bool
    logprobs: tuple[float, ...] | None = None
    letter_mass: float | None = None
    text: str | None = None


def letter_token_ids(tokenizer: Any, letters: str) -> list[int]:
    """Token ids of the answer letters, each of which must be a single token after ``(``.

    Raises:
        ValueError: a letter is not one token in this context (the scoring would be wrong).
    """
    ids = []
    prefix = tokenizer(ANSWER_PREFIX, add_special_tokens=False)["input_ids"]
    for letter in letters:
        tokens = tokenizer(ANSWER_PREFIX + letter, add_special_tokens=False)["input_ids"]
        if tokens[: len(prefix)] != prefix or len(tokens) != len(prefix) + 1:
            raise ValueError(
                f"answer letter {letter!r} is not a single token after {ANSWER_PREFIX!r}: {tokens}"
            )
        ids.append(tokens[-1])
    return ids


@functools.lru_cache(maxsize=64)
def letter_ids(tokenizer: Any, letters: str) -> tuple[int, ...]:
    """:func:`letter_token_ids`, derived once per (tokenizer, letters) instead of once per question."""
    return tuple(letter_token_ids(tokenizer, letters))


def from_logprobs(record: MCQRecord, logprobs: torch.Tensor, ids: Sequence[int]) -> QuestionResult:
    """The result from the answer position's log-softmax over the vocabulary."""
    values = tuple(float(logprobs[i]) for i in ids)
    best = max(range(len(values)), key=lambda k: values[k])
    predicted = record.letters[best]
    mass = sum(math.exp(v) for v in values)
    return QuestionResult(
        record.id, record.task, record.answer, predicted, predicted == record.answer, values, mass
    )


def from_text(record: MCQRecord, text: str) -> QuestionResult:
    """The result from a generated answer, parsed (None when it commits to no single option)."""
    predicted = parse_choice(text, list(record.choices))
    return QuestionResult(
        record.id, record.task, record.answer, predicted, predicted == record.answer, text=text
    )
