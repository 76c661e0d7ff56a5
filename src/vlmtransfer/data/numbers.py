"""Numeric answers: reading a number off a generated answer, and VSI-Bench's mean relative accuracy.

A numeric question (``answer_type: number``, e.g. "How many chairs are in this room?") has no options to
pick from; the model's free text is read as a number and scored by how close it is:

- :func:`parse_number` takes the *first* number the text states, as digits (``3``, ``-2.5``, ``1,200``,
  ``.5``) or as an English number word (``three``, ``twenty-one``, ``a dozen`` is not one). The first,
  not the last: a short-answer prompt ("a single word or phrase") is answered number-first, and the
  official VSI-Bench scorer reads the reply's first token. None when the text states no number.
- :func:`mean_relative_accuracy` is VSI-Bench's MRA: the share of the thresholds θ in
  {0.50, 0.55, ..., 0.95} (ten, as ``np.linspace(.5, .95, 10)`` in the official code) for which the
  relative error ``|pred - gt| / gt`` is at most ``1 - θ``. An exact answer scores 1, one 30 % off
  scores 0.5 (θ = 0.50 ... 0.70 pass), one 50 % or more off scores 0; an unparsable answer scores 0.

A task's accuracy is the mean score x 100, so PGF works unchanged with ceiling 100.
"""

from __future__ import annotations

import math
import re

__all__ = ["MRA_THRESHOLDS", "format_number", "mean_relative_accuracy", "parse_number"]

MRA_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))
"""The ten confidence thresholds θ of MRA (the official code's ``np.linspace(0.5, 0.95, 10)``)."""

_TOLERANCE = 1e-9
"""Boundaries are inclusive in exact arithmetic: an answer exactly 45 % off passes θ = 0.55. (The official
code compares against floating-point ``1 - θ``, where 0.45 and 0.2 come out a hair low, so an answer
exactly on those two boundaries fails there; no real model answer lands on them.)"""

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_WORD = "|".join(sorted([*_UNITS, *_TENS, "hundred"], key=len, reverse=True))
_NUMBER = re.compile(
    rf"(?P<digits>[-+]?(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?|[-+]?\.\d+)"
    rf"|(?P<words>\b(?:{_WORD})(?:[\s-]+(?:and[\s-]+)?(?:{_WORD}))*\b)",
    re.IGNORECASE,
)


def parse_number(text: str | None) -> float | None:
    """The first number ``text`` states (digits or English number words), or None."""
    if not text:
        return None
    match = _NUMBER.search(text)
    if match is None:
        return None
    if match.group("digits") is not None:
        return float(match.group("digits").replace(",", ""))
    return float(_words_value(match.group("words")))


def _words_value(phrase: str) -> int:
    """``twenty-one`` -> 21, ``three hundred and five`` -> 305, ``one two`` -> 1 (the first number only)."""
    total, seen = 0, None
    for word in re.split(r"[\s-]+", phrase.lower()):
        if word == "and":
            continue
        if word == "hundred":
            total = (total or 1) * 100
            seen = "hundred"
            continue
        value = _UNITS.get(word, _TENS.get(word, 0))
        if seen == "unit" or (seen == "tens" and word in _TENS):
            break  # "one two": a second number starts here
        total += value
        seen = "tens" if word in _TENS and value >= 20 else "unit"
    return total


def mean_relative_accuracy(predicted: float | None, truth: float) -> float:
    """VSI-Bench's MRA of ``predicted`` against ``truth`` (see the module docstring); 0 for None.

    Raises:
        ValueError: ``truth`` is zero or not finite (relative error is undefined there; validation
            refuses such answers in the data).
    """
    if not math.isfinite(truth) or truth == 0:
        raise ValueError(f"MRA needs a finite, non-zero ground truth, got {truth!r}")
    if predicted is None or not math.isfinite(predicted):
        return 0.0
    error = abs(predicted - truth) / abs(truth)
    return sum(error <= 1 - theta + _TOLERANCE for theta in MRA_THRESHOLDS) / len(MRA_THRESHOLDS)


def format_number(value: float) -> str:
    """A number as the records and results write it: ``3`` for integers, else the shortest repr."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
