"""Predicted PGF rows: exact on a linear signal, self-transfer out of the fits, chance-level scores on
noise, and the leave-one-source-out bookkeeping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmtransfer.analysis.prediction import cosine_matrix, fit_rows, loso_rows, prediction_quality

TASKS = [f"T{i}" for i in range(8)]


def frame(values):
    return pd.DataFrame(values, index=TASKS, columns=TASKS)


def test_a_linear_signal_is_predicted_exactly_even_with_a_wild_diagonal():
    rng = np.random.default_rng(0)
    signal = frame(rng.normal(size=(8, 8)))
    values = 0.3 * signal.to_numpy() - 0.05
    np.fill_diagonal(values, 5.0)  # self-transfer: must not enter any fit
    pgf = frame(values)
    new = pd.DataFrame(rng.normal(size=(2, 8)), index=["N1", "N2"], columns=TASKS)
    predicted = fit_rows(signal, pgf, new)
    np.testing.assert_allclose(predicted.to_numpy(), (0.3 * new - 0.05).to_numpy(), atol=1e-12)
    loso = loso_rows(signal, pgf)
    off = ~np.eye(8, dtype=bool)
    np.testing.assert_allclose(loso.to_numpy()[off], pgf.to_numpy()[off], atol=1e-12)
    quality = prediction_quality(signal, pgf)
    assert quality["row_spearman"] == pytest.approx(1.0)
    assert quality["top3_recovery"] == pytest.approx(1.0)
    assert quality["top3_chance"] == pytest.approx(3 / 7)


def test_noise_scores_near_chance():
    rng = np.random.default_rng(1)
    rows, recoveries = [], []
    for _ in range(40):
        quality = prediction_quality(frame(rng.normal(size=(8, 8))), frame(rng.normal(size=(8, 8))))
        rows.append(quality["row_spearman"])
        recoveries.append(quality["top3_recovery"])
    assert abs(np.mean(rows)) < 0.15
    assert np.mean(recoveries) == pytest.approx(3 / 7, abs=0.08)


def test_leave_one_out_does_not_see_the_held_out_source():
    rng = np.random.default_rng(2)
    signal = frame(rng.normal(size=(8, 8)))
    pgf = 0.3 * signal
    changed = pgf.copy()
    changed.loc["T3"] = 9.0  # only the held-out row changes: its own prediction must not
    np.testing.assert_allclose(loso_rows(signal, pgf).loc["T3"], loso_rows(signal, changed).loc["T3"])


def test_cosine_matrix_and_degenerate_cases():
    sources = {"a": np.array([1.0, 0.0]), "z": np.zeros(2)}
    targets = {"x": np.array([1.0, 1.0])}
    cosine = cosine_matrix(sources, targets)
    assert cosine.loc["a", "x"] == pytest.approx(1 / np.sqrt(2))
    assert np.isnan(cosine.loc["z", "x"])
    constant = frame(np.ones((8, 8)))
    pgf = frame(np.arange(64.0).reshape(8, 8))
    predicted = fit_rows(constant, pgf, constant.iloc[:1])
    column_means = [pgf[t].drop(t).mean() for t in TASKS]  # no slope to fit: the mean, self left out
    np.testing.assert_allclose(predicted.iloc[0].to_numpy(), column_means)
