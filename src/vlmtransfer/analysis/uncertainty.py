"""How sure are we of each PGF value? Per-cell intervals, p-values, q-values and the noise floor.

Two sources of uncertainty, used according to what the input holds (see docs/statistics.md):

* ``"questions+seeds"`` (per-question input): a paired bootstrap over questions - the same resampled
  questions for the base run and every finetuned run on a target, in every seed - plus a seed-level
  random effect resampled from the observed seed deviations, shrunk to the part of the between-seed
  variance that question sampling does not explain. p-values come from a sign-flip test on the
  per-question paired differences (averaged over seeds): exact under symmetric noise, and
  asymptotically a paired test on the mean difference otherwise.
* ``"seeds"`` (accuracy or PGF tables only): across-seed t intervals and one-sample t-tests; one seed
  gives none (``"none"``).

Everything is vectorised over cells and resamples: a target's resamples are one matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vlmtransfer.analysis.cube import SeedScores, TransferCube
from vlmtransfer.analysis.metrics import PGF_EPSILON, gap_scores
from vlmtransfer.analysis.questions import QuestionData

__all__ = [
    "CI_LEVEL",
    "CellStats",
    "Replicates",
    "benjamini_hochberg",
    "bootstrap_replicates",
    "cell_statistics",
    "resolution",
    "seed_replicates",
    "sign_flip_p_values",
    "t_interval",
]

CI_LEVEL = 0.95
"""Confidence level of every interval."""
_CHUNK_VALUES = 4_000_000
"""Resamples are processed in chunks of about this many per-seed values, to bound memory."""


@dataclass(frozen=True, eq=False)
class Replicates:
    """Resampled statistics of one model, one row per resample.

    Attributes:
        mean: (R, sources, targets) seed-mean PGF.
        transfer_positive, transfer_negative: (R, sources) seed-mean D+ and D-.
        malleable_positive, malleable_negative: (R, targets) seed-mean Theta+ and Theta-.
    """

    mean: np.ndarray
    transfer_positive: np.ndarray
    transfer_negative: np.ndarray
    malleable_positive: np.ndarray
    malleable_negative: np.ndarray

    def scores(self, role: str, sign: str) -> np.ndarray:
        """(R, tasks) replicates of transferability or malleability, ``positive`` or ``negative``."""
        prefix = "transfer" if role == "transferability" else "malleable"
        return getattr(self, f"{prefix}_{sign}")


@dataclass(frozen=True, eq=False)
class CellStats:
    """Per-cell uncertainty of one model (arrays are sources x targets unless noted).

    Attributes:
        uncertainty: ``"questions+seeds"``, ``"seeds"`` or ``"none"`` (one seed, no questions).
        ci_low, ci_high: the 95 % interval of the seed-mean PGF (NaN when unknown).
        p: two-sided p-value against PGF = 0.
        q: Benjamini-Hochberg q-value, over the off-diagonal cells of the model (self-transfer cells
            form their own family).
        significant: ``q < alpha``.
        n_questions: per target, questions evaluated (NaN when unknown).
        base_accuracy: per target, base accuracy in percent (NaN for PGF inputs).
        ceiling: per target, ``U_j`` (NaN for PGF inputs).
        flip_rate: per target, the measured share of changed outcomes (per-question inputs), else NaN.
    """

    uncertainty: str
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray
    n_questions: np.ndarray
    base_accuracy: np.ndarray
    ceiling: np.ndarray
    flip_rate: np.ndarray

    def resolution(self) -> np.ndarray:
        """Per target: one question's worth of PGF, ``(100 / n) / (U - a)``."""
        return resolution(self.n_questions, self.base_accuracy, self.ceiling)


def resolution(n_questions: np.ndarray, base_accuracy: np.ndarray, ceiling: np.ndarray) -> np.ndarray:
    """How much one question moves a PGF value: ``(100 / n) / (U - a)`` (accuracies in percent)."""
    n, a, u = (np.asarray(x, dtype=float) for x in (n_questions, base_accuracy, ceiling))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (100.0 / n) / (u - a + PGF_EPSILON)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (adjusted p-values) of a family; NaN p-values stay NaN and are not
    counted in the family size."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    m = int(finite.sum())
    if m == 0:
        return q
    values = p[finite]
    order = np.argsort(values, kind="stable")
    ranked = values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    q[finite] = out
    return q


def t_interval(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Across-seed t interval (95 %) of the mean and the two-sided one-sample t-test p-value.

    NaN with fewer than 2 seeds, and p is NaN where the seeds agree exactly (no spread to judge by).
    """
    values = np.asarray(values, dtype=float)
    count = values.shape[axis]
    shape = np.delete(values.shape, axis)
    if count < 2:
        return np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    mean = values.mean(axis=axis)
    error = values.std(axis=axis, ddof=1) / math.sqrt(count)
    half = stats.t.ppf(0.5 + CI_LEVEL / 2, count - 1) * error
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / error
    p = np.where(error > 0, 2 * stats.t.sf(np.abs(t), count - 1), np.nan)
    return mean - half, mean + half, p


def percentile_interval(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The central 95 % of replicates along axis 0."""
    tail = 100 * (1 - CI_LEVEL) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return low, high


# --- questions + seeds --------------------------------------------------------------------------


def _per_question_differences(questions: QuestionData, j: int, scale: np.ndarray) -> np.ndarray:
    """(seeds, sources, n) PGF contributions of each question on target ``j``: the seed-mean PGF is
    their mean over questions and seeds. ``scale`` (seeds,) is 100 / (U - base accuracy) per seed."""
    tuned, base = questions.tuned[j], questions.base[j]
    return (tuned - base[:, None, :]) * scale[:, None, None]


def _pgf_scale(questions: QuestionData, j: int) -> np.ndarray:
    base = 100.0 * questions.base[j].mean(axis=1)
    scale = 100.0 / (questions.ceilings[j] - base + PGF_EPSILON)
    return np.broadcast_to(scale, (len(questions.seeds),)) if len(scale) == 1 else scale


def sign_flip_p_values(questions: QuestionData, n_flips: int, rng: np.random.Generator) -> np.ndarray:
    """Two-sided sign-flip p-values of every cell (sources x targets) against PGF = 0.

    The statistic is the sum over questions of the per-question paired difference (finetuned minus base,
    averaged over seeds, in PGF units); under the null the sign of each question's difference is a fair
    coin. One draw of signs serves every source on a target (a matrix product). The Monte Carlo p-value
    ``(1 + #{|T*| > |T|} + #{|T*| = |T|} / 2) / (n_flips + 1)`` is never 0; the statistic takes few values
    (0/1 outcomes), and counting ties by half (mid-p) keeps the level near nominal where counting them
    whole made it about 0.03 at 150 questions (docs/statistics.md).
    """
    p = np.empty((len(questions.sources), len(questions.targets)))
    for j in range(len(questions.targets)):
        differences = _per_question_differences(questions, j, _pgf_scale(questions, j)).mean(axis=0)
        observed = differences.sum(axis=1)
        signs = rng.integers(0, 2, size=(n_flips, differences.shape[1]), dtype=np.int8) * 2 - 1
        null = signs.astype(float) @ differences.T
        tolerance = 1e-9 * np.maximum(1.0, np.abs(observed))
        beyond = (np.abs(null) > np.abs(observed) + tolerance).sum(axis=0)
        tied = (np.abs(null) >= np.abs(observed) - tolerance).sum(axis=0) - beyond
        p[:, j] = (1 + beyond + 0.5 * tied) / (n_flips + 1)
    return p


def _question_weights(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, n) bootstrap multiplicities of n questions (each row sums to n)."""
    draws = rng.integers(0, n, size=(count, n)) + n * np.arange(count)[:, None]
    return np.bincount(draws.ravel(), minlength=count * n).reshape(count, n).astype(float)


def _seed_effect_scale(questions: QuestionData, values: np.ndarray) -> np.ndarray:
    """(sources, targets) shrinkage of the observed seed deviations to the seed-level random effect.

    The observed across-seed variance of a cell is the seed effect's variance plus the part that
    question-level noise alone produces, ``sum_q var_s(x_sq) / n**2``; only the excess (method of
    moments, floored at 0) is resampled, so per-question noise is not counted twice.
    """
    seeds = len(questions.seeds)
    if seeds < 2:
        return np.zeros(values.shape[1:])
    observed = values.var(axis=0, ddof=1)
    noise = np.empty_like(observed)
    for j in range(len(questions.targets)):
        x = _per_question_differences(questions, j, _pgf_scale(questions, j))
        noise[:, j] = x.var(axis=0, ddof=1).sum(axis=-1) / x.shape[-1] ** 2
    excess = np.maximum(observed - noise, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(observed > 0, np.sqrt(excess / observed), 0.0)
    return shrink * math.sqrt(seeds / (seeds - 1))  # the bootstrap of S values shrinks variance by (S-1)/S


def bootstrap_replicates(
    questions: QuestionData,
    values: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
    counted: np.ndarray,
) -> Replicates:
    """Resampled seed-mean PGF, D+/D- and Theta+/Theta- from questions and seeds.

    Each resample draws questions with replacement per target (the same draw for the base run and
    every finetuned run on that target, in every seed: the pairing is kept) and, per seed slot, a
    seed whose (shrunk) deviation from the seed mean is added. Per-seed scores are computed on the
    resampled per-seed matrices and averaged over seeds, like the estimates themselves.

    Args:
        questions: per-question outcomes.
        values: the observed per-seed PGF cube (seeds, sources, targets).
        n_resamples: number of resamples.
        rng: the random generator.
        counted: (sources, targets) cells that transferability and malleability count.
    """
    seeds, sources, targets = values.shape
    deviations = (values - values.mean(axis=0)) * _seed_effect_scale(questions, values)
    chunk = max(1, _CHUNK_VALUES // max(1, seeds * sources * targets))
    parts = [
        _replicate_chunk(questions, deviations, count, rng, counted) for count in _chunks(n_resamples, chunk)
    ]
    return Replicates(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


def _chunks(total: int, size: int) -> Iterator[int]:
    for start in range(0, total, size):
        yield min(size, total - start)


def _replicate_chunk(
    questions: QuestionData,
    deviations: np.ndarray,
    count: int,
    rng: np.random.Generator,
    counted: np.ndarray,
) -> tuple[np.ndarray, ...]:
    seeds, sources, targets = deviations.shape
    per_seed = np.empty((count, seeds, sources, targets))
    for j in range(targets):
        weights = _question_weights(len(questions.question_ids[j]), count, rng)
        n = weights.shape[1]
        tuned = weights @ questions.tuned[j].reshape(seeds * sources, n).T * (100.0 / n)
        base = weights @ questions.base[j].T * (100.0 / n)
        base = base[:, :, None] if base.shape[1] == seeds else base[:, :1, None]
        # A resample can put a base run near its ceiling at or above it (e.g. 97 % of 60 questions); the
        # gap is floored at half a question so that one resample cannot blow PGF up to 1e6.
        gap = np.maximum(questions.ceilings[j] - base, 50.0 / n) + PGF_EPSILON
        per_seed[..., j] = (tuned.reshape(count, seeds, sources) - base) / gap
    if seeds > 1:
        drawn = rng.integers(0, seeds, size=(count, seeds))
        per_seed += deviations[drawn]
    return _summaries(per_seed, counted)


def _summaries(per_seed: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, ...]:
    """Seed means of the matrix and of the per-seed scores of a (R, seeds, sources, targets) stack."""
    positive, negative = gap_scores(per_seed, counted)
    m_positive, m_negative = gap_scores(per_seed.transpose(0, 1, 3, 2), counted.T)
    with np.errstate(invalid="ignore"):
        return (
            per_seed.mean(axis=1),
            positive.mean(axis=1),
            negative.mean(axis=1),
            m_positive.mean(axis=1),
            m_negative.mean(axis=1),
        )


# --- seeds only ---------------------------------------------------------------------------------


def seed_replicates(
    values: np.ndarray, n_resamples: int, rng: np.random.Generator, counted: np.ndarray
) -> Replicates:
    """Resampled seed means of a per-seed cube by drawing seeds with replacement (seeds-only inputs).

    Used as a null distribution (centred), for clique and persona tests whose unit is the seed.
    """
    seeds = values.shape[0]
    positive, negative = gap_scores(values, counted)
    m_positive, m_negative = gap_scores(values.transpose(0, 2, 1), counted.T)
    counts = np.zeros((n_resamples, seeds))
    drawn = rng.integers(0, seeds, size=(n_resamples, seeds))
    np.add.at(counts, (np.arange(n_resamples)[:, None], drawn), 1.0)
    weights = counts / seeds

    def mix(array: np.ndarray) -> np.ndarray:
        flat = np.nan_to_num(array.reshape(seeds, -1))
        mixed = weights @ flat
        return mixed.reshape(n_resamples, *array.shape[1:])

    return Replicates(mix(values), mix(positive), mix(negative), mix(m_positive), mix(m_negative))


def score_intervals(scores: SeedScores, replicates: Replicates | None, role: str) -> pd.DataFrame:
    """95 % intervals of a role's scores (``transferability`` or ``malleability``), indexed by task with
    columns ``positive_ci_low, positive_ci_high, negative_ci_low, negative_ci_high``: percentiles of the
    bootstrap replicates where there are some, else the seeds' t interval; NaN for undefined scores."""
    columns = {}
    for sign in ("positive", "negative"):
        if replicates is not None:
            low, high = percentile_interval(replicates.scores(role, sign))
        else:
            low, high, _ = t_interval(scores.values(sign))
        undefined = ~scores.defined()
        columns[f"{sign}_ci_low"] = np.where(undefined, np.nan, low)
        columns[f"{sign}_ci_high"] = np.where(undefined, np.nan, high)
    return pd.DataFrame(columns, index=pd.Index(scores.tasks, name="task"))


# --- per cell -----------------------------------------------------------------------------------


def cell_statistics(
    cube: TransferCube,
    questions: QuestionData | None,
    replicates: Replicates | None,
    p_values: np.ndarray | None,
    *,
    alpha: float,
    known: dict[str, np.ndarray],
) -> CellStats:
    """Intervals, p, q and the significance flag of every cell of one model.

    Args:
        cube: the per-seed PGF cube.
        questions: per-question outcomes, when the input had them.
        replicates: bootstrap replicates (with ``questions``).
        p_values: sign-flip p-values (with ``questions``).
        alpha: the false discovery rate at which cells are flagged.
        known: per target ``n_questions``, ``base_accuracy`` and ``ceiling`` when the input gives them
            (NaN arrays otherwise).
    """
    if questions is not None and replicates is not None and p_values is not None:
        low, high = percentile_interval(replicates.mean)
        kind, p = "questions+seeds", p_values
        flips = questions.flip_rate()
    else:
        low, high, p = t_interval(cube.values)
        kind = "seeds" if len(cube.seeds) > 1 else "none"
        flips = np.full(len(cube.targets), np.nan)
    diagonal = cube.self_mask()
    q = np.full(p.shape, np.nan)
    q[~diagonal] = benjamini_hochberg(p[~diagonal])
    q[diagonal] = benjamini_hochberg(p[diagonal])
    significant = np.nan_to_num(q, nan=1.0) < alpha
    return CellStats(
        kind,
        low,
        high,
        p,
        q,
        significant,
        known["n_questions"],
        known["base_accuracy"],
        known["ceiling"],
        flips,
    )
