"""Personas, category-level transfer and the scale trend on hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vlmtransfer.analysis import (
    SeedScores,
    TransferCube,
    category_scores,
    persona_table,
    personas,
    scale_trend,
)
from vlmtransfer.analysis.metrics import gap_scores


def _scores(positive, negative, tasks=("A", "B", "C")) -> SeedScores:
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    seeds = tuple(f"s{i}" for i in range(positive.shape[0]))
    return SeedScores(seeds, tuple(tasks), positive, negative)


def test_a_donor_must_be_above_the_model_mean_in_every_model():
    # model m1: A is the strongest donor; model m2: A above mean too, B only above in m1.
    m1 = _scores([[0.5, 0.35, 0.0], [0.6, 0.35, 0.1]], [[-0.1, -0.1, -0.1]] * 2)
    m2 = _scores([[0.4, 0.1, 0.2], [0.5, 0.0, 0.2]], [[-0.1, -0.1, -0.1]] * 2)
    table = persona_table({"m1": m1, "m2": m2}, {"m1": m1, "m2": m2})
    members = personas(table)
    assert members["donor"] == ["A"]
    assert members["sponge"] == ["A"]  # same scores passed as malleability
    donor_rows = table[(table["persona"] == "donor") & (table["task"] == "B")]
    assert donor_rows.set_index("model")["qualifies"].to_dict() == {"m1": True, "m2": False}


def test_pirates_and_sieves_are_below_the_mean_of_negative_scores():
    m = _scores([[0.1, 0.1, 0.1]] * 2, [[-0.5, -0.1, -0.2], [-0.4, -0.1, -0.1]])
    members = personas(persona_table({"m": m}, {"m": m}))
    assert members["pirate"] == ["A"]
    assert members["sieve"] == ["A"]
    assert members["donor"] == []  # all equal: nobody strictly above the mean


def test_persona_p_value_is_a_one_sided_welch_test_against_the_other_tasks():
    positive = [[0.5, 0.3, 0.0], [0.6, 0.2, 0.1], [0.55, 0.25, 0.05]]
    m = _scores(positive, [[-0.1, -0.2, -0.3]] * 3)
    table = persona_table({"m": m}, {"m": m})
    row = table[(table["persona"] == "donor") & (table["task"] == "A")].iloc[0]
    values = np.array(positive)
    expected = stats.ttest_ind(
        values[:, 0], values[:, 1:].reshape(-1), equal_var=False, alternative="greater"
    )
    assert row["p_value"] == pytest.approx(expected.pvalue)
    assert row["t_statistic"] == pytest.approx(expected.statistic)
    assert row["value"] == pytest.approx(values[:, 0].mean())
    assert row["model_mean"] == pytest.approx(values.mean())


def test_persona_p_value_is_undefined_with_a_single_seed():
    m = _scores([[0.5, 0.3, 0.0]], [[-0.1, -0.2, -0.3]])
    table = persona_table({"m": m}, {"m": m})
    assert table["p_value"].isna().all()
    assert personas(table)["donor"] == ["A", "B"]  # 0.5 and 0.3 are above the mean 0.267


def test_personas_consider_only_tasks_present_in_every_model():
    m1 = _scores([[0.9, 0.1, 0.1]], [[0, 0, 0]], tasks=("A", "B", "C"))
    m2 = _scores([[0.1, 0.1, 0.9]], [[0, 0, 0]], tasks=("B", "C", "D"))
    table = persona_table({"m1": m1, "m2": m2}, {"m1": m1, "m2": m2})
    assert set(table["task"]) == {"B", "C"}


def test_category_transferability_by_hand():
    names = ("a", "b", "c")
    values = np.array([[[0.9, 0.4, -0.2], [0.2, 0.9, 0.6], [-0.3, 0.1, 0.9]]])
    cube = TransferCube(("s",), names, names, values)
    table = category_scores(cube, {"a": "low", "b": "low", "c": "high"}, order=("low", "mid", "high"))
    t = table[table["kind"] == "transferability"].set_index(["source_category", "target_category"])
    # low -> low: a over {b} and b over {a} (self excluded), mean of the two
    low_low = np.mean([gap_scores(np.array([0.4]))[0], gap_scores(np.array([0.2]))[0]])
    assert t.loc[("low", "low"), "positive"] == pytest.approx(low_low)
    assert t.loc[("low", "low"), "n_tasks"] == 2
    # high -> high: c's only partner is itself, so no source counts
    assert t.loc[("high", "high"), "n_tasks"] == 0
    assert math.isnan(t.loc[("high", "high"), "positive"])
    # low -> high: a over {c} = -0.2, b over {c} = 0.6
    assert t.loc[("low", "high"), "negative"] == pytest.approx(gap_scores(np.array([-0.2]))[1] / 2)
    assert t.loc[("low", "high"), "positive"] == pytest.approx(gap_scores(np.array([0.6]))[0] / 2)
    # "all" marginal equals the mean of the sources' overall transferability
    overall = cube.transferability().summary()
    assert t.loc[("low", "all"), "positive"] == pytest.approx(overall.loc[["a", "b"], "positive"].mean())
    assert list(dict.fromkeys(table["source_category"])) == ["low", "high"]


def test_category_malleability_by_hand():
    names = ("a", "b", "c")
    values = np.array([[[0.9, 0.4, -0.2], [0.2, 0.9, 0.6], [-0.3, 0.1, 0.9]]])
    cube = TransferCube(("s",), names, names, values)
    table = category_scores(cube, {"a": "low", "b": "low", "c": "high"})
    m = table[table["kind"] == "malleability"].set_index(["source_category", "target_category"])
    # high targets (c) from low sources (a: -0.2, b: 0.6): one target, Theta over 2 sources
    positive, negative = gap_scores(np.array([-0.2, 0.6]))
    assert m.loc[("low", "high"), "positive"] == pytest.approx(positive)
    assert m.loc[("low", "high"), "negative"] == pytest.approx(negative)


def test_uncategorised_tasks_are_left_out_of_category_tables():
    names = ("a", "x")
    cube = TransferCube(("s",), names, names, np.array([[[0.0, 0.5], [0.5, 0.0]]]))
    table = category_scores(cube, {"a": "low"})
    assert set(table["source_category"]) == {"low"}
    assert set(table["target_category"]) == {"low", "all"}


def test_scale_trend_follows_the_given_order_with_seed_std():
    small = _scores([[0.1, 0.2, 0.3], [0.2, 0.3, 0.4]], [[-0.1, 0.0, 0.0]] * 2)
    large = _scores([[0.5, 0.5, 0.5]] * 2, [[-0.3, 0.0, 0.0]] * 2)
    trend = scale_trend({"L": large, "S": small}, {"L": large, "S": small}, ["S", "L"])
    assert trend["model"].tolist() == ["S", "L"]
    assert trend.loc[0, "mean_positive_transferability"] == pytest.approx(0.25)
    assert trend.loc[0, "mean_positive_transferability_std"] == pytest.approx(pd.Series([0.2, 0.3]).std())
    assert trend.loc[1, "mean_negative_malleability"] == pytest.approx(-0.1)
    assert trend.loc[1, "mean_negative_malleability_std"] == pytest.approx(0.0)


def test_tasks_tied_up_to_rounding_are_no_personas():
    names = tuple(f"t{i}" for i in range(7))
    cube = TransferCube(("0", "1", "2"), names, names, np.full((3, 7, 7), -0.1234567))
    scores = cube.transferability()
    members = personas(persona_table({"m": scores}, {"m": cube.malleability()}))
    assert members == {"donor": [], "pirate": [], "sponge": [], "sieve": []}


def test_undefined_scores_are_left_out_of_means_and_personas():
    # sources A, B; targets A, C: B -> C defined, A -> C defined, but target A's only source
    # other than itself is B; make a target whose only source is itself: target A from source A only.
    cube = TransferCube(("0", "1"), ("A",), ("A", "C"), np.array([[[0.9, 0.3]], [[0.8, 0.1]]]))
    malleable = cube.malleability()
    assert malleable.defined().tolist() == [False, True]
    trend = scale_trend({"m": cube.transferability()}, {"m": malleable}, ["m"])
    expected = np.mean([(1 - math.exp(-1)) * 0.3, (1 - math.exp(-1)) * 0.1])
    assert trend.loc[0, "mean_positive_malleability"] == pytest.approx(expected)
    table = persona_table({"m": cube.transferability()}, {"m": malleable})
    assert "A" not in set(table.loc[table["persona"] == "sponge", "task"])


def test_vectorised_welch_equals_one_scipy_call_per_task():
    rng = np.random.default_rng(3)
    positive = rng.normal(0.1, 0.05, size=(4, 6))
    m = SeedScores(("a", "b", "c", "d"), tuple("ABCDEF"), positive, -positive)
    table = persona_table({"m": m}, {"m": m}).set_index(["persona", "task"])
    for k, task in enumerate("ABCDEF"):
        rest = np.delete(positive, k, axis=1).reshape(-1)
        donor = stats.ttest_ind(positive[:, k], rest, equal_var=False, alternative="greater")
        pirate = stats.ttest_ind(-positive[:, k], -rest, equal_var=False, alternative="less")
        assert table.loc[("donor", task), "p_value"] == pytest.approx(donor.pvalue, rel=1e-12)
        assert table.loc[("pirate", task), "t_statistic"] == pytest.approx(pirate.statistic, rel=1e-12)
