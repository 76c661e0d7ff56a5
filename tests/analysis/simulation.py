"""Per-question results with known truth: answers flipped at random around a shared base run.

On each target the base run answers question q correctly with probability ``a`` (drawn once). A
finetuned run (source i, seed s) keeps each base outcome except for flips, independent per question
and seed: a right answer turns wrong with probability f1, a wrong one right with f0, where
``(1 - a) f0 = (r + delta) / 2`` and ``a f1 = (r - delta) / 2`` for a flip rate ``r`` and a gain
``delta = pgf * (1 - a)``. The expected PGF of the cell is then exactly ``pgf`` (ceiling 100).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from vlmtransfer.analysis.questions import QuestionData


def flip_outcomes(
    base: np.ndarray, pgf: np.ndarray, a: float, flip_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Finetuned outcomes (..., n) from base outcomes (n,) and a true PGF per leading index."""
    delta = np.asarray(pgf, dtype=float)[..., None] * (1 - a)
    f0 = (flip_rate + delta) / (2 * (1 - a))
    f1 = (flip_rate - delta) / (2 * a)
    u = rng.random((*np.shape(pgf), base.shape[-1]))
    return np.where(base == 1, (u >= f1).astype(float), (u < f0).astype(float))


def question_data(
    sources: int,
    targets: int,
    seeds: int,
    n: int,
    *,
    a: float = 0.5,
    flip_rate: float = 0.2,
    pgf: np.ndarray | float = 0.0,
    rng: np.random.Generator,
) -> QuestionData:
    """A :class:`QuestionData` of ``sources`` x ``targets`` cells (no task is both), true PGF ``pgf``.

    The cells of one target share its base run, so they are not independent: simulations that count
    cells as independent draws use one source and many targets.
    """
    truth = np.broadcast_to(np.asarray(pgf, dtype=float), (sources, targets))
    base, tuned = [], []
    for j in range(targets):
        b = (rng.random(n) < a).astype(float)
        base.append(b[None, :])
        tuned.append(flip_outcomes(b, np.broadcast_to(truth[:, j], (seeds, sources)), a, flip_rate, rng))
    return QuestionData(
        tuple(str(s) for s in range(seeds)),
        tuple(f"S{i:02d}" for i in range(sources)),
        tuple(f"T{j:02d}" for j in range(targets)),
        tuple(tuple(f"q{k:03d}" for k in range(n)) for _ in range(targets)),
        tuple(base),
        tuple(tuned),
        np.full(targets, 100.0),
    )


def question_table(
    tasks: list[str],
    seeds: int,
    n: int,
    *,
    a: float = 0.5,
    flip_rate: float = 0.2,
    planted: Mapping[tuple[str, str], float] | None = None,
    model: str = "m",
    rng: np.random.Generator,
) -> pd.DataFrame:
    """A per-question table (columns of the input format) of a square study on ``tasks``: every cell is
    noise except ``planted`` ``{(source, target): pgf}``; one shared base run per target."""
    planted = dict(planted or {})
    frames = []
    for target in tasks:
        base = (rng.random(n) < a).astype(int)
        ids = [f"{target}-{k:03d}" for k in range(n)]
        frames.append(_rows((model, "", "base", target), ids, base))
        for source in tasks:
            truth = np.full(seeds, planted.get((source, target), 0.0))
            outcomes = flip_outcomes(base, truth, a, flip_rate, rng).astype(int)
            for s in range(seeds):
                frames.append(_rows((model, str(s), source, target), ids, outcomes[s]))
    return pd.concat(frames, ignore_index=True)


def _rows(run: tuple[str, str, str, str], ids: list[str], correct: np.ndarray) -> pd.DataFrame:
    model, seed, source, target = run
    return pd.DataFrame(
        {
            "model": model,
            "seed": seed,
            "source": source,
            "target": target,
            "question_id": ids,
            "correct": correct,
        }
    )
