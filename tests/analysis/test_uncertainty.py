"""Per-cell uncertainty on simulated per-question results with known truth.

Every rate is checked against its nominal value with a tolerance of three binomial standard errors of
the simulation's size, so a test fails when a method is off by more than chance allows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tests.analysis.simulation import question_data, question_table
from vlmtransfer.analysis import AnalysisOptions, analyze
from vlmtransfer.analysis.power import detectable_pgf, pgf_power, questions_needed
from vlmtransfer.analysis.questions import models_from_question_table
from vlmtransfer.analysis.table import LINE
from vlmtransfer.analysis.uncertainty import (
    benjamini_hochberg,
    bootstrap_replicates,
    percentile_interval,
    sign_flip_p_values,
    t_interval,
)


def three_se(rate: float, count: int) -> float:
    """Three binomial standard errors of a share estimated from ``count`` draws."""
    return 3 * math.sqrt(rate * (1 - rate) / count)


def observed_pgf(questions) -> np.ndarray:
    """The per-seed PGF cube (seeds, sources, targets) of a QuestionData (ceiling 100)."""
    columns = []
    for tuned, base in zip(questions.tuned, questions.base, strict=True):
        b = 100 * base.mean(axis=1)[:, None]
        columns.append((100 * tuned.mean(axis=-1) - b) / (100 - b + 1e-6))
    return np.stack(columns, axis=-1)


def test_sign_flip_test_keeps_its_level_on_pure_noise():
    rng = np.random.default_rng(1)
    questions = question_data(1, 400, 2, 150, a=0.6, flip_rate=0.2, rng=rng)  # 400 independent cells
    p = sign_flip_p_values(questions, 1000, rng)
    cells = p.size
    assert abs((p < 0.05).mean() - 0.05) <= three_se(0.05, cells)
    assert (p > 0).all()
    assert p.max() <= 1


def test_bootstrap_intervals_cover_the_true_pgf_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    truth = np.where(np.arange(400) % 2 == 0, 0.0, 0.25)[None, :]  # 400 independent cells
    questions = question_data(1, 400, 3, 150, a=0.5, flip_rate=0.2, pgf=truth, rng=rng)
    values = observed_pgf(questions)
    replicates = bootstrap_replicates(questions, values, 1000, rng, np.ones((1, 400), bool))
    low, high = percentile_interval(replicates.mean)
    covered = (low <= truth) & (truth <= high)
    assert abs(covered.mean() - 0.95) <= three_se(0.95, truth.size)
    assert np.allclose(replicates.mean.mean(axis=0), values.mean(axis=0), atol=0.02)


def test_a_seed_effect_widens_the_interval_and_no_seed_effect_does_not():
    """The seed term resamples only the between-seed variance that questions do not explain."""
    rng = np.random.default_rng(3)
    questions = question_data(6, 4, 4, 200, rng=rng)
    values = observed_pgf(questions)
    counted = np.ones((6, 4), bool)
    plain = bootstrap_replicates(questions, values, 2000, rng, counted).mean.std(axis=0)
    shifted = values + np.array([-0.2, 0.2, -0.2, 0.2])[:, None, None]  # seeds disagree by far more
    wide = bootstrap_replicates(questions, shifted, 2000, rng, counted).mean.std(axis=0)
    assert (wide > 1.5 * plain).all()
    assert np.allclose(wide, np.sqrt(plain**2 + (0.2**2 * 4 / 3) / 4), rtol=0.25)


@pytest.mark.parametrize("flip_rate", [0.2, None])
def test_power_formula_matches_simulated_power_at_the_detectable_pgf(flip_rate):
    rng = np.random.default_rng(4)
    a, seeds, n = 0.6, 2, 150
    pgf = detectable_pgf(n, 100 * a, seeds, flip_rate=flip_rate)
    delta = pgf * (1 - a)
    tuned = a + delta
    rate = flip_rate if flip_rate is not None else a * (1 - tuned) + (1 - a) * tuned
    questions = question_data(1, 400, seeds, n, a=a, flip_rate=rate, pgf=pgf, rng=rng)
    found = (sign_flip_p_values(questions, 1000, rng) < 0.05).mean()
    assert abs(found - 0.8) <= three_se(0.8, 400)
    assert pgf_power(pgf, n, 100 * a, seeds, flip_rate=flip_rate) == pytest.approx(0.8, abs=1e-6)


def test_power_planner_is_consistent_with_itself():
    n = questions_needed(0.1, 50, 4, flip_rate=0.15)
    assert pgf_power(0.1, n, 50, 4, flip_rate=0.15) >= 0.8 > pgf_power(0.1, n - 5, 50, 4, flip_rate=0.15)
    assert detectable_pgf(4 * n, 50, 4, flip_rate=0.15) < detectable_pgf(n, 50, 4, flip_rate=0.15)
    assert math.isnan(detectable_pgf(2, 50, 1))


def test_benjamini_hochberg_matches_the_definition():
    rng = np.random.default_rng(5)
    p = rng.random(30) ** 3
    p[[3, 7]] = np.nan
    q = benjamini_hochberg(p)
    finite = p[np.isfinite(p)]
    m = len(finite)
    expected = [min(1.0, *(m * u / (finite <= u).sum() for u in finite if u >= v)) for v in finite]
    assert np.allclose(q[np.isfinite(p)], expected)
    assert np.isnan(q[[3, 7]]).all()


def test_t_interval_is_the_textbook_one():
    values = np.array([[0.1, 0.0], [0.3, 0.0], [0.2, 0.0]])
    low, high, p = t_interval(values)
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert low[0] == pytest.approx(0.2 - half)
    assert high[0] == pytest.approx(0.2 + half)
    assert p[0] == pytest.approx(stats.ttest_1samp([0.1, 0.3, 0.2], 0.0).pvalue)
    assert math.isnan(p[1])  # no spread: nothing to judge by


def load(frame, **kwargs):
    frame = frame.astype(str).assign(**{LINE: np.arange(2, len(frame) + 2)})
    return models_from_question_table(frame, "sim.csv", **kwargs)


def test_planted_cells_are_flagged_and_noise_mostly_is_not():
    rng = np.random.default_rng(6)
    tasks = [f"T{k}" for k in range(8)]
    planted = {(tasks[i], tasks[(i + 3) % 8]): 0.5 for i in range(8)}
    (model,) = load(question_table(tasks, 2, 150, flip_rate=0.15, planted=planted, rng=rng))
    result = analyze([model], AnalysisOptions(n_resamples=2000)).models["m"]
    cells = result.cells
    assert cells.uncertainty == "questions+seeds"
    index = {t: k for k, t in enumerate(model.pgf.sources)}
    planted_mask = np.zeros((8, 8), bool)
    for source, target in planted:
        planted_mask[index[source], index[target]] = True
    assert cells.significant[planted_mask].all()
    null = ~planted_mask & ~model.pgf.self_mask()
    assert cells.significant[null].mean() <= 0.05 + three_se(0.05, int(null.sum()))
    assert np.isfinite(cells.p).all()  # the diagonal too
    assert np.isfinite(cells.q).all()
    assert (cells.ci_low <= model.pgf.mean().to_numpy()).all()
    assert (model.pgf.mean().to_numpy() <= cells.ci_high).all()
    assert np.allclose(cells.resolution(), (100 / 150) / (100 - cells.base_accuracy), rtol=1e-6)
    assert np.isfinite(result.detectable).all()


def test_a_clique_made_of_noise_is_rarely_significant_and_the_paper_test_says_otherwise():
    """Over repeated pure-noise studies, the selection-aware clique test flags a clique at about its level
    (at most alpha per sign); the paper's Wilcoxon, over the same cliques, flags far more."""
    rng = np.random.default_rng(7)
    runs, honest, paper = 12, 0, 0
    tasks = [f"T{k}" for k in range(7)]
    for _ in range(runs):
        (model,) = load(question_table(tasks, 2, 100, flip_rate=0.2, rng=rng))
        result = analyze([model], AnalysisOptions(n_resamples=300)).models["m"]
        cliques = [c for sign in ("positive", "negative") for c in result.cliques[sign]]
        honest += any(c.significant for c in cliques)
        paper += any(c.wilcoxon_p_value < 0.05 for c in cliques)
    assert honest <= runs * 0.1 + 3 * math.sqrt(runs * 0.1 * 0.9)
    assert paper > honest


def test_personas_made_of_noise_are_not_significant():
    """Two models of pure noise: the paper's rule still names members (above the mean by chance in both);
    the honest test flags at most a nominal share of them."""
    rng = np.random.default_rng(8)
    tasks = [f"T{k}" for k in range(7)]
    members = flagged = 0
    for _ in range(6):
        models = [load(question_table(tasks, 2, 100, flip_rate=0.2, model=m, rng=rng))[0] for m in "ab"]
        table = analyze(models, AnalysisOptions(n_resamples=300)).persona_table
        chosen = table[table["member"]].drop_duplicates(["persona", "task"])
        members += len(chosen)
        flagged += int(chosen["significant"].sum())
    assert members > 10
    assert flagged <= members * 0.05 + 3 * math.sqrt(members * 0.05 * 0.95)


def test_a_base_run_near_its_ceiling_keeps_the_intervals_finite():
    rng = np.random.default_rng(9)
    questions = question_data(3, 2, 2, 60, a=0.97, flip_rate=0.05, rng=rng)
    base = np.ones((1, 60))
    base[0, 0] = 0.0  # 59 of 60 (the input's check refuses 60): a resample often has all 60 right
    questions = type(questions)(**{**questions.__dict__, "base": (base, base)})
    values = observed_pgf(questions)
    replicates = bootstrap_replicates(questions, values, 500, rng, np.ones((3, 2), bool))
    assert np.isfinite(replicates.mean).all()
    assert np.abs(replicates.mean).max() < 100  # at most a few questions over half a question's gap
