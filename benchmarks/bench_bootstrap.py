"""Benchmark per-cell uncertainty: the vectorised paired bootstrap and sign-flip test against the obvious
per-cell loop, on a BLINK-sized study (13 sources x 13 targets x 4 seeds x 150 questions per target).

Run: ``make bench`` (or ``python benchmarks/bench_bootstrap.py [--resamples N] [--loop-resamples M]``).
The loop is timed on M resamples and scaled linearly to N (it is linear in the number of resamples);
both compute the same intervals, checked at the end. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from vlmtransfer.analysis import AnalysisOptions, analyze
from vlmtransfer.analysis.cube import TransferCube
from vlmtransfer.analysis.inputs import ModelData
from vlmtransfer.analysis.questions import QuestionData
from vlmtransfer.analysis.uncertainty import (
    _seed_effect_scale,
    bootstrap_replicates,
    percentile_interval,
    sign_flip_p_values,
)


def study(tasks: int = 13, seeds: int = 4, n: int = 150, seed: int = 0) -> tuple[QuestionData, np.ndarray]:
    """Per-question outcomes of a square study (answers flipped at random around a shared base run) and
    its per-seed PGF cube."""
    rng = np.random.default_rng(seed)
    base, tuned = [], []
    for _ in range(tasks):
        b = (rng.random(n) < rng.uniform(0.3, 0.8)).astype(float)
        flips = rng.random((seeds, tasks, n)) < rng.uniform(0.05, 0.25, (1, tasks, 1))
        base.append(b[None, :])
        tuned.append(np.where(flips, 1 - b, b))
    names = tuple(f"T{k:02d}" for k in range(tasks))
    questions = QuestionData(
        tuple(str(s) for s in range(seeds)),
        names,
        names,
        tuple(tuple(f"q{k}" for k in range(n)) for _ in range(tasks)),
        tuple(base),
        tuple(tuned),
        np.full(tasks, 100.0),
    )
    values = np.stack(
        [
            (100 * t.mean(axis=-1) - 100 * b.mean()) / (100 - 100 * b.mean())
            for t, b in zip(tuned, base, strict=True)
        ],
        axis=-1,
    )
    return questions, values


def per_cell_loop(questions: QuestionData, values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """The obvious implementation of the same estimator: for every cell, for every resample, draw the
    questions (shared by the base and the finetuned runs) and a seed per seed slot, recompute the per-seed
    PGF and add the drawn seeds' shrunk deviations; then the percentile interval. (sources, targets, 2)."""
    rng = np.random.default_rng(seed)
    seeds, sources, targets = values.shape
    deviations = (values - values.mean(axis=0)) * _seed_effect_scale(questions, values)
    out = np.empty((sources, targets, 2))
    for i in range(sources):
        for j in range(targets):
            n = len(questions.question_ids[j])
            draws = np.empty(resamples)
            for r in range(resamples):
                picked = rng.integers(0, n, n)
                chosen = rng.integers(0, seeds, seeds)
                base = 100 * questions.base[j][0, picked].mean()
                tuned = 100 * questions.tuned[j][:, i][:, picked].mean(axis=1)
                pgf = (tuned - base) / (100 - base + 1e-6)
                draws[r] = pgf.mean() + deviations[chosen, i, j].mean()
            out[i, j] = np.percentile(draws, [2.5, 97.5])
    return out


def median_time(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(resamples: int = 10_000, loop_resamples: int = 200, repeats: int = 3) -> dict[str, float]:
    """Median seconds of the vectorised bootstrap, the sign-flip test and the whole ``analyze`` on
    ``resamples``; the per-cell loop timed on ``loop_resamples`` and scaled to ``resamples``; and the
    median distance of the two methods' interval ends (both estimate the same intervals)."""
    questions, values = study()
    counted = ~np.eye(13, dtype=bool)
    rng = np.random.default_rng(0)

    def vectorised() -> np.ndarray:
        return bootstrap_replicates(questions, values, resamples, rng, counted).mean

    t_boot = median_time(vectorised, repeats)
    t_flip = median_time(lambda: sign_flip_p_values(questions, resamples, rng), repeats)
    t_loop = median_time(lambda: per_cell_loop(questions, values, loop_resamples, 1), 1)
    model = ModelData(
        "m", TransferCube(questions.seeds, questions.sources, questions.targets, values), None, None, "bench"
    )
    model = _with_questions(model, questions)
    t_analyze = median_time(lambda: analyze([model], AnalysisOptions(n_resamples=resamples)), repeats)
    low, high = percentile_interval(vectorised())
    loop = per_cell_loop(questions, values, 2000, 2)
    return {
        "resamples": resamples,
        "bootstrap_s": t_boot,
        "bootstrap_loop_s": t_loop * resamples / loop_resamples,
        "sign_flip_s": t_flip,
        "analyze_s": t_analyze,
        "interval_agreement": float(np.median(np.abs(np.stack([low, high], axis=-1) - loop))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--loop-resamples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    t = measure(args.resamples, args.loop_resamples, args.repeats)
    print(f"13 x 13 cells x 4 seeds x 150 questions, {args.resamples:,} resamples (median of {args.repeats})")
    print(f"{'what':<62}{'time':>12}")
    print(f"{'bootstrap: PGF, D+/D-, Theta+/Theta- replicates (vectorised)':<62}{t['bootstrap_s']:>11.2f}s")
    print(f"{'bootstrap: per-cell Python loop, PGF intervals only':<62}{t['bootstrap_loop_s']:>11.1f}s")
    print(f"{'  ratio':<62}{t['bootstrap_loop_s'] / t['bootstrap_s']:>11.0f}x")
    print(f"{'sign-flip p-values of every cell (vectorised)':<62}{t['sign_flip_s']:>11.2f}s")
    print(f"{'whole analyze() of the study from per-question data':<62}{t['analyze_s']:>11.2f}s")
    print(
        f"(loop timed on {args.loop_resamples} resamples and scaled; the same estimator: median |difference|"
        f" of the interval ends vs the loop at 2,000 resamples {t['interval_agreement']:.4f} PGF,"
        " Monte Carlo noise)"
    )


def _with_questions(model: ModelData, questions: QuestionData) -> ModelData:
    from dataclasses import replace

    return replace(model, questions=questions)


if __name__ == "__main__":
    main()
