"""Numeric answers: parsing the first number, and VSI-Bench's mean relative accuracy by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vlmtransfer.data.numbers import MRA_THRESHOLDS, format_number, mean_relative_accuracy, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3.0),
        ("There are 4 chairs.", 4.0),
        ("2.5 meters", 2.5),
        ("about .5 m", 0.5),
        ("-1.25", -1.25),
        ("1,200 square feet", 1200.0),
        ("three", 3.0),
        ("Three chairs", 3.0),
        ("twenty-one", 21.0),
        ("I count twenty one, maybe 22", 21.0),
        ("one hundred and five", 105.0),
        ("4 or 5", 4.0),
        ("The room is 12.75", 12.75),
    ],
)
def test_parse_number_takes_the_first_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["", None, "I cannot tell", "none", "someone"])
def test_parse_number_without_a_number(text):
    assert parse_number(text) is None


def test_thresholds_are_the_official_ten():
    assert pytest.approx(np.linspace(0.5, 0.95, 10)) == MRA_THRESHOLDS
    assert len(MRA_THRESHOLDS) == 10


@pytest.mark.parametrize(
    ("predicted", "truth", "expected"),
    [
        (10, 10, 1.0),  # exact: every threshold
        (10.4, 10, 1.0),  # 4 % off: passes 1 - 0.95 = 5 %
        (10.6, 10, 0.9),  # 6 % off: fails only θ = 0.95
        (13, 10, 0.5),  # 30 % off: θ = 0.50 ... 0.70 pass (1 - 0.70 = 0.30, inclusive)
        (7, 10, 0.5),  # the same below the truth
        (12, 10, 0.7),  # 20 % off: θ up to 0.80 (1 - 0.80 = 0.20, inclusive)
        (15, 10, 0.1),  # 50 % off: only θ = 0.50
        (16, 10, 0.0),  # 60 % off: nothing
        (0, 4, 0.0),
        (None, 4, 0.0),  # unparsable
        (float("nan"), 4, 0.0),
        (3, 4, 0.6),  # 25 % off: θ = 0.50 ... 0.75
        (-2, -2, 1.0),
    ],
)
def test_mean_relative_accuracy_by_hand(predicted, truth, expected):
    assert mean_relative_accuracy(predicted, truth) == pytest.approx(expected)


def test_mean_relative_accuracy_matches_the_official_formula_off_the_boundaries():
    rng = np.random.default_rng(0)
    thresholds = np.linspace(0.5, 0.95, 10)
    for truth, predicted in zip(rng.uniform(0.5, 20, 200), rng.uniform(0, 40, 200), strict=True):
        official = float((abs(predicted - truth) / truth <= 1 - thresholds).mean())
        assert mean_relative_accuracy(float(predicted), float(truth)) == pytest.approx(official)


def test_zero_truth_is_refused():
    with pytest.raises(ValueError, match="non-zero"):
        mean_relative_accuracy(1.0, 0.0)


def test_format_number():
    assert format_number(3.0) == "3"
    assert format_number(2.5) == "2.5"
    assert format_number(-0.125) == "-0.125"
