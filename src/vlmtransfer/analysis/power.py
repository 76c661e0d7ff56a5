"""Power and the noise floor: the smallest PGF a study can tell from zero, and what it takes to see one.

The model (derived in docs/statistics.md): on a target with ``n`` questions and base accuracy ``a``
(a fraction), each finetuned run changes the outcome of a share ``r`` of the questions (the *flip rate*),
independently per seed and question; a gain ``delta = PGF * (U - a)`` means that of the flipped
questions, ``(r + delta) / 2`` of all questions turn right and ``(r - delta) / 2`` turn wrong. With
``S`` seeds sharing one base run, the per-question difference ``d = mean_s Y_s - X`` has mean ``delta``
and variance::

    V = [a f1 (1 - f1) + (1 - a) f0 (1 - f0)] / S + a (1 - a) (f0 + f1)^2,
    f0 = (r + delta) / (2 (1 - a)),  f1 = (r - delta) / (2 a)

The sign-flip test of ``sum_q d_q`` (the one :mod:`vlmtransfer.analysis.uncertainty` runs) compares it
with its randomisation spread ``sqrt(n E[d^2]) = sqrt(n (V + delta^2))``, so its power is about::

    power = Phi((sqrt(n) delta - z_{1 - alpha/2} sqrt(V + delta^2)) / sqrt(V))

Without a measured flip rate the outcomes are taken as independent of the base run's
(``r = a (1 - a') + (1 - a) a'``, ``a' = a + delta``): the most pessimistic pairing, and the right one
before anything was measured.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["DEFAULT_POWER", "detectable_pgf", "pgf_power", "questions_needed", "seeds_needed"]

DEFAULT_POWER = 0.8
_NORMAL = NormalDist()  # the standard normal (the stdlib's: no scipy import for `run --dry-run`)
_MAX_SEEDS = 1000


def _variance(delta: float, a: float, seeds: int, flip_rate: float | None) -> float:
    """Variance of the per-question paired difference (accuracy fractions) under the flip model."""
    if flip_rate is None:
        tuned = a + delta
        flip_rate = a * (1 - tuned) + (1 - a) * tuned
    r = max(flip_rate, abs(delta))  # a gain of delta needs at least delta of the answers to change
    f0 = min(1.0, (r + delta) / (2 * (1 - a))) if a < 1 else 0.0
    f1 = min(1.0, (r - delta) / (2 * a)) if a > 0 else 0.0
    within = (a * f1 * (1 - f1) + (1 - a) * f0 * (1 - f0)) / seeds
    return within + a * (1 - a) * (f0 + f1) ** 2


def _check(base_accuracy: float, ceiling: float, seeds: int, alpha: float) -> tuple[float, float]:
    if not 0 <= base_accuracy < ceiling <= 100:
        raise ValueError(f"need 0 <= base accuracy < ceiling <= 100, got {base_accuracy:g} and {ceiling:g}")
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha:g}")
    return base_accuracy / 100, ceiling / 100


def pgf_power(
    pgf: float,
    n_questions: float,
    base_accuracy: float,
    seeds: int = 1,
    *,
    ceiling: float = 100.0,
    alpha: float = 0.05,
    flip_rate: float | None = None,
) -> float:
    """Probability that the two-sided sign-flip test at level ``alpha`` finds a true ``pgf`` on a
    target of ``n_questions`` with ``base_accuracy`` (percent) and ``seeds`` finetunes."""
    a, u = _check(base_accuracy, ceiling, seeds, alpha)
    delta = pgf * (u - a)
    if delta == 0:
        return alpha
    variance = _variance(delta, a, seeds, flip_rate)
    if variance <= 0:
        return 1.0
    z = _NORMAL.inv_cdf(1 - alpha / 2)
    shift = math.sqrt(n_questions) * abs(delta) - z * math.sqrt(variance + delta**2)
    return float(_NORMAL.cdf(shift / math.sqrt(variance)))


def detectable_pgf(
    n_questions: float,
    base_accuracy: float,
    seeds: int = 1,
    *,
    ceiling: float = 100.0,
    alpha: float = 0.05,
    power: float = DEFAULT_POWER,
    flip_rate: float | None = None,
) -> float:
    """The smallest positive PGF found with probability ``power``; NaN if even PGF = 1 is not."""
    if not (n_questions > 0 and math.isfinite(n_questions)):
        return math.nan
    _check(base_accuracy, ceiling, seeds, alpha)
    if (
        pgf_power(1.0, n_questions, base_accuracy, seeds, ceiling=ceiling, alpha=alpha, flip_rate=flip_rate)
        < power
    ):
        return math.nan
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        found = pgf_power(
            middle, n_questions, base_accuracy, seeds, ceiling=ceiling, alpha=alpha, flip_rate=flip_rate
        )
        low, high = (low, middle) if found >= power else (middle, high)
    return high


def questions_needed(
    pgf: float,
    base_accuracy: float,
    seeds: int = 1,
    *,
    ceiling: float = 100.0,
    alpha: float = 0.05,
    power: float = DEFAULT_POWER,
    flip_rate: float | None = None,
) -> int:
    """Questions per target for the test to find ``pgf`` with probability ``power``."""
    a, u = _check(base_accuracy, ceiling, seeds, alpha)
    delta = abs(pgf) * (u - a)
    if delta == 0:
        raise ValueError("pgf must be non-zero")
    variance = _variance(math.copysign(delta, pgf), a, seeds, flip_rate)
    z_alpha, z_power = _NORMAL.inv_cdf(1 - alpha / 2), _NORMAL.inv_cdf(power)
    root = (z_alpha * math.sqrt(variance + delta**2) + z_power * math.sqrt(variance)) / delta
    return max(1, math.ceil(root**2))


def seeds_needed(
    pgf: float,
    n_questions: float,
    base_accuracy: float,
    *,
    ceiling: float = 100.0,
    alpha: float = 0.05,
    power: float = DEFAULT_POWER,
    flip_rate: float | None = None,
) -> int | None:
    """Fewest seeds for the test to find ``pgf`` with probability ``power`` on ``n_questions``; None when
    no number of seeds will do (the base run's own noise is shared by every seed and stays)."""
    for seeds in range(1, _MAX_SEEDS + 1):
        found = pgf_power(
            pgf, n_questions, base_accuracy, seeds, ceiling=ceiling, alpha=alpha, flip_rate=flip_rate
        )
        if found >= power:
            return seeds
    return None
