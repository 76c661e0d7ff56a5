"""Reading a multiple-choice answer off a model: letter log-probabilities or parsed generated text.

Log-likelihood mode: the prompt is the evaluation prompt (chat template with the generation prompt)
followed by whatever BLINK's answer form ``(B)`` starts with before the answers differ (see
:class:`AnswerPosition`); the model's next-token distribution there, restricted to the choices' tokens,
is the answer. How the tokenizer splits the answers is derived and checked per tokenizer, not assumed.
Generate mode: greedy decoding, then the data layer's parser (the paper's protocol).
Numeric questions (``answer_type: number``) are always answered by generation: the first number of the
text (``data.numbers.parse_number``), scored by VSI-Bench's mean relative accuracy.

No torch here (a tensor is only indexed): results are made the same way whatever scored them, the
Hugging Face evaluator or another :class:`~vlmtransfer.evaluate.scorer.Scorer`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmtransfer.data.numbers import format_number, mean_relative_accuracy, parse_number
from vlmtransfer.data.parsing import parse_choice
from vlmtransfer.data.records import MCQRecord

if TYPE_CHECKING:
    import torch

__all__ = [
    "AnswerPosition",
    "QuestionResult",
    "accuracy_by_task",
    "answer_position",
    "from_letter_logprobs",
    "from_logprobs",
    "from_number",
    "from_text",
    "letter_token_ids",
]


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
        text: the generated answer (generate and both modes).
        generated: the letter parsed from ``text`` (None when it commits to no single option). In
            ``both`` mode ``predicted`` is the log-likelihood choice and ``generated`` the generated one,
            from the same evaluation of the same run, so the two protocols can be compared per question.
        score: a numeric question's mean relative accuracy in [0, 1] (None for a multiple-choice one);
            ``predicted`` and ``generated`` then hold the parsed number as text, ``answer`` the true one,
            and ``correct`` says whether the number is within 5 % (MRA 1).
    """

    id: str
    task: str
    answer: str
    predicted: str | None
    correct: bool
    logprobs: tuple[float, ...] | None = None
    letter_mass: float | None = None
    text: str | None = None
    generated: str | None = None
    score: float | None = None

    @property
    def points(self) -> float:
        """What the question adds to its task's accuracy: its MRA for a numeric question, else 0 or 1."""
        return float(self.correct) if self.score is None else self.score


@dataclass(frozen=True)
class AnswerPosition:
    """Where a tokenizer puts the choice: ``prefix`` is appended to the prompt, and the next token is
    ``ids[k]`` for the k-th letter.

    BLINK's answer form is ``(B)``. A tokenizer that splits it as ``(``, ``B``, ``)`` (the tiny model's)
    gives prefix ``"("`` and the letter tokens; one that merges ``(B`` into one token (byte-level BPEs
    whose pre-tokenizer glues punctuation to letters, like Qwen2's) gives prefix ``""`` and the ``(A``,
    ``(B`` ... tokens. Either way the scored token is the first one in which the answers differ, exactly
    as the model emits it when trained on ``(B)``.
    """

    prefix: str
    ids: tuple[int, ...]


@functools.lru_cache(maxsize=64)
def answer_position(tokenizer: Any, letters: str) -> AnswerPosition:
    """The scoring position for ``letters`` (derived once per tokenizer and letters).

    Raises:
        ValueError: the answers do not differ in one distinct token after a common prefix (scoring one
            token would then be wrong), or the prefix does not tokenise back to itself.
    """
    sequences = [tokenizer(f"({letter})", add_special_tokens=False)["input_ids"] for letter in letters]
    common = _common_prefix(sequences)
    if any(len(sequence) <= len(common) for sequence in sequences):
        raise ValueError(
            f"answers {[f'({x})' for x in letters]} tokenise as prefixes of each other: {sequences}"
        )
    ids = tuple(sequence[len(common)] for sequence in sequences)
    if len(set(ids)) != len(ids):
        raise ValueError(f"answer letters {letters!r} share their first distinct token: {sequences}")
    prefix = tokenizer.decode(common) if common else ""
    if tokenizer(prefix, add_special_tokens=False)["input_ids"] != common:
        raise ValueError(f"the answers' common prefix {prefix!r} does not tokenise back to {common}")
    return AnswerPosition(prefix, ids)


def _common_prefix(sequences: list[list[int]]) -> list[int]:
    common: list[int] = []
    for tokens in zip(*sequences, strict=False):
        if len(set(tokens)) != 1:
            break
        common.append(tokens[0])
    return common


def letter_token_ids(tokenizer: Any, letters: str) -> list[int]:
    """The token scored for each answer letter (see :class:`AnswerPosition`)."""
    return list(answer_position(tokenizer, letters).ids)


def from_logprobs(record: MCQRecord, logprobs: torch.Tensor, ids: Sequence[int]) -> QuestionResult:
    """The result from the answer position's log-softmax over the vocabulary."""
    return from_letter_logprobs(record, tuple(float(logprobs[i]) for i in ids))


def from_letter_logprobs(record: MCQRecord, values: Sequence[float]) -> QuestionResult:
    """The result from each choice letter's log-probability over the whole vocabulary (choice order):
    the most likely letter is the answer, and the letters' total probability is kept beside it."""
    values = tuple(float(v) for v in values)
    if len(values) != len(record.letters):
        raise ValueError(f"{record.id}: {len(values)} log-probabilities for {len(record.letters)} choices")
    best = max(range(len(values)), key=lambda k: values[k])
    predicted = record.letters[best]
    mass = sum(math.exp(v) for v in values)
    return QuestionResult(
        record.id, record.task, record.answer, predicted, predicted == record.answer, values, mass
    )


def from_text(record: MCQRecord, text: str) -> QuestionResult:
    """The result from a generated answer, parsed (None when it commits to no single option, or, for a
    numeric question, states no number)."""
    if record.is_numeric:
        return from_number(record, text)
    predicted = parse_choice(text, list(record.choices))
    return QuestionResult(
        record.id,
        record.task,
        record.answer,
        predicted,
        predicted == record.answer,
        text=text,
        generated=predicted,
    )


def from_number(record: MCQRecord, text: str) -> QuestionResult:
    """A numeric question's result: the first number of ``text`` and its MRA against the answer."""
    number = parse_number(text)
    score = mean_relative_accuracy(number, record.numeric_answer)
    predicted = None if number is None else format_number(number)
    return QuestionResult(
        record.id,
        record.task,
        record.answer,
        predicted,
        score == 1.0,
        text=text,
        generated=predicted,
        score=score,
    )


def accuracy_by_task(results: Sequence[QuestionResult]) -> dict[str, tuple[float, int]]:
    """Per task: (accuracy in percent, number of questions), tasks in first-seen order. A numeric
    question counts its mean relative accuracy (so a task's accuracy is the mean score x 100)."""
    counts: dict[str, list[float]] = {}
    for result in results:
        correct_total = counts.setdefault(result.task, [0, 0])
        correct_total[0] += result.points
        correct_total[1] += 1
    return {task: (100.0 * correct / total, total) for task, (correct, total) in counts.items()}
