"""Multiple choice in one forward pass: the log-probability of each answer letter.

The prompt is the evaluation prompt (chat template with the generation prompt) followed by ``(``, the
first token of BLINK's answer form ``(B)``; the model's next-token distribution at that position,
restricted to the choices' letters, is the answer. One forward pass per question, logits computed
for the last position only (``logits_to_keep=1``), questions batched by length with left padding so
the last position is every row's answer position, and results returned in input order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vlmtransfer.data.prompts import render_prompt
from vlmtransfer.data.records import MCQRecord
from vlmtransfer.models.loading import LoadedModel

__all__ = ["ANSWER_PREFIX", "ChoiceScores", "letter_token_ids", "score_questions"]

ANSWER_PREFIX = "("
"""Appended after the generation prompt, so the next token is the answer letter of ``(B)``."""


@dataclass(frozen=True)
class ChoiceScores:
    """One question's scores.

    Attributes:
        id: the record id.
        task: the record's task.
        logprobs: log-probability of each choice's letter (over the whole vocabulary), in choice order.
        predicted: the letter with the highest log-probability.
        correct: whether ``predicted`` is the record's answer.
        letter_mass: total probability on the valid letters; low values mean the model wanted to say
            something else, which accuracy alone hides.
    """

    id: str
    task: str
    logprobs: tuple[float, ...]
    predicted: str
    correct: bool
    letter_mass: float


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


def score_questions(
    loaded: LoadedModel,
    items: Sequence[tuple[MCQRecord, Sequence[Any]]],
    *,
    batch_size: int = 8,
) -> list[ChoiceScores]:
    """Score every question (record with its PIL images); results in input order."""
    texts = [render_prompt(record, loaded.processor) + ANSWER_PREFIX for record, _ in items]
    # Batch similar lengths together (less padding). Characters plus image tokens are a close enough
    # proxy for token counts, and tokenising here would do the processor's work twice.
    lengths = [len(text) + 64 * len(images) for text, (_, images) in zip(texts, items, strict=True)]
    order = sorted(range(len(items)), key=lambda i: (lengths[i], i))
    results: list[ChoiceScores | None] = [None] * len(items)
    for batch in _chunks(order, batch_size):
        for index, scores in zip(
            batch, _score_batch(loaded, [items[i] for i in batch], [texts[i] for i in batch]), strict=True
        ):
            results[index] = scores
    return [r for r in results if r is not None]


def _chunks(indices: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield indices[start : start + size]


@torch.inference_mode()
def _score_batch(
    loaded: LoadedModel, items: Sequence[tuple[MCQRecord, Sequence[Any]]], texts: list[str]
) -> list[ChoiceScores]:
    processor = loaded.processor
    processor.tokenizer.padding_side = "left"  # the answer position must be the last column of every row
    images = [image for _, record_images in items for image in record_images]
    batch = processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(loaded.device)
    logits = loaded.model(**batch, logits_to_keep=1).logits[:, -1, :].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return [
        _scores(record, logprobs[row], _letter_ids(processor.tokenizer, record.letters))
        for row, (record, _) in enumerate(items)
    ]


@functools.lru_cache(maxsize=64)
def _letter_ids(tokenizer: Any, letters: str) -> tuple[int, ...]:
    """Letter token ids per (tokenizer, letters), derived once instead of once per question."""
    return tuple(letter_token_ids(tokenizer, letters))


def _scores(record: MCQRecord, logprobs: torch.Tensor, ids: Sequence[int]) -> ChoiceScores:
    values = tuple(float(logprobs[i]) for i in ids)
    best = max(range(len(values)), key=lambda k: values[k])
    predicted = record.letters[best]
    mass = sum(math.exp(v) for v in values)
    return ChoiceScores(record.id, record.task, values, predicted, predicted == record.answer, mass)
