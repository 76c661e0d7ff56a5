"""PGF, relative gain and the transferability/malleability formulas, pinned to hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlmtransfer.analysis import (
    TransferCube,
    gap_scores,
    malleability,
    perfection_gap_factor,
    relative_gain,
    transferability,
)
from vlmtransfer.analysis.metrics import seed_std


@pytest.mark.parametrize(
    ("base", "finetuned", "ceiling", "expected"),
    [
        (90, 93, 95, 0.60),  # paper Table 1, task A
        (40, 50, 95, 10 / 55),  # task B: 0.18
        (98, 97, 100, -0.50),  # task C with the ceiling that gives the paper's -0.50
        (98, 97, 99, -1.00),  # task C with the ceiling the table prints: the formula gives -1.00
    ],
)
def test_pgf_reproduces_the_papers_toy_example(base, finetuned, ceiling, expected):
    assert float(perfection_gap_factor(finetuned, base, ceiling)) == pytest.approx(expected, rel=1e-5)


def test_pgf_uses_the_papers_epsilon_exactly():
    assert float(perfection_gap_factor(93.0, 90.0, 95.0)) == 3.0 / (5.0 + 1e-6)
    assert float(perfection_gap_factor(91.0, 100.0, 100.0)) == -9.0 / 1e-6


def test_relative_gain_and_its_undefined_baseline():
    assert float(relative_gain(50.0, 40.0)) == pytest.approx(0.25)
    assert float(relative_gain(93.0, 90.0)) == pytest.approx(3 / 90)
    assert math.isnan(float(relative_gain(10.0, 0.0)))


def test_gap_scores_by_hand():
    # N = 4 counted, p = 2 (0.5, 0.3), n = 1 (-0.2); the exact zero counts in N only.
    positive, negative = gap_scores(np.array([0.5, -0.2, 0.0, 0.3]))
    assert positive == pytest.approx((1 - math.exp(-2 / 4)) / 2 * 0.8)
    assert negative == pytest.approx((1 - math.exp(-1 / 4)) / 1 * -0.2)


@pytest.mark.parametrize(
    ("values", "expected_positive", "expected_negative"),
    [
        ([-0.1, -0.3, 0.0], 0.0, (1 - math.exp(-2 / 3)) / 2 * -0.4),  # p = 0
        ([0.2, 0.4, 0.0], (1 - math.exp(-2 / 3)) / 2 * 0.6, 0.0),  # n = 0
        ([0.0, 0.0], 0.0, 0.0),  # p = n = 0
    ],
)
def test_gap_scores_zero_counts(values, expected_positive, expected_negative):
    positive, negative = gap_scores(np.array(values))
    assert positive == pytest.approx(expected_positive)
    assert negative == pytest.approx(expected_negative)


def test_gap_scores_with_nothing_counted_are_undefined():
    positive, negative = gap_scores(np.array([0.5, -0.5]), np.array([False, False]))
    assert math.isnan(positive)
    assert math.isnan(negative)


def test_a_source_whose_only_target_is_itself_has_undefined_transferability():
    matrix = pd.DataFrame([[0.4, 0.2]], index=["A"], columns=["A", "B"])
    assert transferability(matrix).loc["A", "positive"] == pytest.approx((1 - math.exp(-1)) * 0.2)
    malleable = malleability(matrix)
    assert malleable.loc["A"].isna().all()  # A's only source is A itself
    assert malleable.loc["B", "positive"] == pytest.approx((1 - math.exp(-1)) * 0.2)


def _square(values: list[list[float]], names: str = "ABC") -> pd.DataFrame:
    return pd.DataFrame(values, index=list(names), columns=list(names))


def test_transferability_excludes_self_transfer_by_default():
    matrix = _square([[0.9, 0.2, -0.1], [0.3, 0.9, 0.0], [-0.4, -0.2, 0.9]])
    scores = transferability(matrix)
    # source A over targets B, C (N = 2): p = 1 (0.2), n = 1 (-0.1)
    assert scores.loc["A", "positive"] == pytest.approx((1 - math.exp(-1 / 2)) * 0.2)
    assert scores.loc["A", "negative"] == pytest.approx((1 - math.exp(-1 / 2)) * -0.1)
    # source B over A, C: p = 1 (0.3); C is exactly 0
    assert scores.loc["B", "positive"] == pytest.approx((1 - math.exp(-1 / 2)) * 0.3)
    assert scores.loc["B", "negative"] == 0.0
    # source C over A, B: both negative
    assert scores.loc["C", "negative"] == pytest.approx((1 - math.exp(-2 / 2)) / 2 * -0.6)
    assert scores.loc["C", "positive"] == 0.0


def test_include_self_counts_the_diagonal():
    matrix = _square([[0.9, 0.2, -0.1], [0.3, 0.9, 0.0], [-0.4, -0.2, 0.9]])
    scores = transferability(matrix, include_self=True)
    assert scores.loc["A", "positive"] == pytest.approx((1 - math.exp(-2 / 3)) / 2 * 1.1)


def test_malleability_is_column_wise():
    matrix = _square([[0.9, 0.2, -0.1], [0.3, 0.9, 0.0], [-0.4, -0.2, 0.9]])
    scores = malleability(matrix)
    # target A from sources B (0.3) and C (-0.4)
    assert scores.loc["A", "positive"] == pytest.approx((1 - math.exp(-1 / 2)) * 0.3)
    assert scores.loc["A", "negative"] == pytest.approx((1 - math.exp(-1 / 2)) * -0.4)
    pd.testing.assert_frame_equal(scores, transferability(matrix.T))


def test_non_square_matrix_excludes_self_only_where_a_task_is_both():
    # sources A, B; targets A, V1, V2 (e.g. image sources on video targets)
    matrix = pd.DataFrame([[0.8, 0.1, 0.3], [0.2, -0.1, 0.4]], index=["A", "B"], columns=["A", "V1", "V2"])
    scores = transferability(matrix)
    assert scores.loc["A", "positive"] == pytest.approx((1 - math.exp(-2 / 2)) / 2 * 0.4)  # N = 2
    assert scores.loc["B", "positive"] == pytest.approx((1 - math.exp(-2 / 3)) / 2 * 0.6)  # N = 3
    assert scores.loc["B", "negative"] == pytest.approx((1 - math.exp(-1 / 3)) * -0.1)


def test_seed_std_is_sample_std_and_undefined_for_one_seed():
    assert seed_std(np.array([[1.0], [3.0]]))[0] == pytest.approx(math.sqrt(2))
    assert math.isnan(seed_std(np.array([[1.0]]))[0])


def test_cube_scores_are_per_seed_then_mean_and_std():
    values = np.array([[[0.0, 0.4], [0.2, 0.0]], [[0.0, 0.2], [-0.2, 0.0]]])
    cube = TransferCube(("s0", "s1"), ("A", "B"), ("A", "B"), values)
    summary = cube.transferability().summary()
    per_seed_a = np.array([(1 - math.exp(-1)) * 0.4, (1 - math.exp(-1)) * 0.2])
    assert summary.loc["A", "positive"] == pytest.approx(per_seed_a.mean())
    assert summary.loc["A", "positive_std"] == pytest.approx(per_seed_a.std(ddof=1))
    assert summary.loc["B", "negative"] == pytest.approx((1 - math.exp(-1)) * -0.2 / 2)


# --- properties -------------------------------------------------------------------------------

percent = st.floats(0, 100, allow_nan=False, allow_subnormal=False)


@given(base=percent, accuracy=percent, ceiling=st.floats(0.5, 100))
def test_pgf_never_exceeds_one_when_accuracy_is_within_the_ceiling(base, accuracy, ceiling):
    if base < ceiling and accuracy <= ceiling:
        assert perfection_gap_factor(accuracy, base, ceiling) <= 1.0


@given(base=percent, accuracy=percent)
def test_pgf_has_the_sign_of_the_accuracy_change(base, accuracy):
    if base < 100:
        assert np.sign(perfection_gap_factor(accuracy, base)) == np.sign(accuracy - base)


square_matrices = st.integers(2, 7).flatmap(
    lambda n: arrays(float, (n, n), elements=st.floats(-2, 1, allow_nan=False, allow_subnormal=False))
)


@settings(max_examples=60)
@given(values=square_matrices, data=st.data())
def test_permuting_tasks_permutes_transferability_and_malleability(values, data):
    names = [f"t{i}" for i in range(len(values))]
    matrix = pd.DataFrame(values, index=names, columns=names)
    rows = data.draw(st.permutations(names))
    cols = data.draw(st.permutations(names))
    shuffled = matrix.loc[rows, cols]
    pd.testing.assert_frame_equal(transferability(shuffled), transferability(matrix).loc[rows], atol=1e-12)
    pd.testing.assert_frame_equal(malleability(shuffled), malleability(matrix).loc[cols], atol=1e-12)


@given(
    values=arrays(
        float, st.integers(1, 12), elements=st.floats(-3, 3, allow_nan=False, allow_subnormal=False)
    )
)
def test_gap_scores_are_bounded_by_the_extreme_values(values):
    positive, negative = gap_scores(values)
    assert 0.0 <= positive <= max(values.max(), 0.0) + 1e-12
    assert min(values.min(), 0.0) - 1e-12 <= negative <= 0.0


@given(
    values=arrays(
        float, st.integers(1, 12), elements=st.floats(-3, 3, allow_nan=False, allow_subnormal=False)
    ),
    scale=st.floats(0.01, 100),
)
def test_gap_scores_scale_linearly(values, scale):
    positive, negative = gap_scores(values)
    scaled_positive, scaled_negative = gap_scores(values * scale)
    assert scaled_positive == pytest.approx(positive * scale, rel=1e-9, abs=1e-12)
    assert scaled_negative == pytest.approx(negative * scale, rel=1e-9, abs=1e-12)


@given(
    values=arrays(
        float, st.integers(1, 12), elements=st.floats(-3, 3, allow_nan=False, allow_subnormal=False)
    )
)
def test_negating_swaps_positive_and_negative(values):
    positive, negative = gap_scores(values)
    flipped_positive, flipped_negative = gap_scores(-values)
    assert flipped_positive == pytest.approx(-negative, abs=1e-12)
    assert flipped_negative == pytest.approx(-positive, abs=1e-12)
