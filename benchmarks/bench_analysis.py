"""Benchmark `vlmtransfer analyze`: real reference files, a large synthetic study, and the
vectorised metric core against the obvious per-cell Python loop.

Run: ``make bench`` (or ``python benchmarks/bench_analysis.py [--repeats N]``). Prints a table;
times are the median of N runs on this machine. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vlmtransfer.analysis import AnalysisOptions, TransferCube, analyze, load_inputs, write_analysis
from vlmtransfer.analysis.graph import one_sided_wilcoxon

REPO = Path(__file__).resolve().parents[1]
REFERENCE = [REPO / "examples" / "paper-pgf" / f"qwen2.5-vl-{s}.csv" for s in ("3B", "7B", "32B")]


def synthetic_accuracy_table(
    path: Path, tasks: int = 100, seeds: int = 5, models: int = 3, seed: int = 0
) -> int:
    """A study-shaped accuracy table: per-source and per-target effects plus seed noise."""
    rng = np.random.default_rng(seed)
    names = [f"task_{i:03d}" for i in range(tasks)]
    frames = []
    for m in range(models):
        base = rng.uniform(30, 80, tasks)
        source_effect = rng.normal(0, 3, tasks)[:, None]
        target_effect = rng.normal(0, 2, tasks)[None, :]
        pair = rng.normal(0, 4, (tasks, tasks))
        frames.append(
            pd.DataFrame({"model": f"M{m}", "seed": "", "source": "base", "target": names, "accuracy": base})
        )
        for s in range(seeds):
            acc = np.clip(
                base[None, :] + source_effect + target_effect + pair + rng.normal(0, 1, pair.shape), 0, 99
            )
            np.fill_diagonal(acc, np.minimum(base + 15, 99.5))
            frames.append(
                pd.DataFrame(
                    {
                        "model": f"M{m}",
                        "seed": str(s),
                        "source": np.repeat(names, tasks),
                        "target": np.tile(names, tasks),
                        "accuracy": acc.reshape(-1),
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(path, index=False)
    return len(table)


def naive_scores(cube: TransferCube) -> tuple[list, list]:
    """The obvious implementation: Python loops over seeds, rows and cells, one formula at a time."""

    def score(row: list[float]) -> tuple[float, float]:
        pos = [v for v in row if v > 0]
        neg = [v for v in row if v < 0]
        n = len(row)
        dp = (1 - math.exp(-len(pos) / n)) / len(pos) * sum(pos) if pos else 0.0
        dn = (1 - math.exp(-len(neg) / n)) / len(neg) * sum(neg) if neg else 0.0
        return dp, dn

    transfer, malleable = [], []
    for s in range(len(cube.seeds)):
        matrix = cube.values[s].tolist()
        for i, source in enumerate(cube.sources):
            transfer.append(score([matrix[i][j] for j, t in enumerate(cube.targets) if t != source]))
        for j, target in enumerate(cube.targets):
            malleable.append(score([matrix[i][j] for i, s_ in enumerate(cube.sources) if s_ != target]))
    return transfer, malleable


def wilcoxon_times(cube: TransferCube, cliques: list, repeats: int) -> dict[str, float]:
    """Clique tests: one scipy call per clique (the obvious way) vs vlmtransfer's batched test, and tied
    samples: scipy's permutation test vs exact enumeration. Seconds, and the number of cliques."""
    samples = []
    for clique in cliques[:2000]:
        idx = [cube.sources.index(t) for t in clique.tasks]
        block = cube.values[:, idx][:, :, idx]
        samples.append(block[:, ~np.eye(len(idx), dtype=bool)].reshape(-1))
    by_length: dict[int, list] = {}
    for sample in samples:
        by_length.setdefault(len(sample), []).append(sample)

    def per_clique() -> None:
        for sample in samples:
            stats.wilcoxon(sample, alternative="greater")

    def batched() -> None:
        for group in by_length.values():
            one_sided_wilcoxon(np.array(group), "positive")

    t_scipy = median_time(per_clique, max(1, repeats // 2))
    t_batched = median_time(batched, repeats)
    # Two seeds and 3-task cliques give 12 values with ties: scipy runs a permutation test.
    rng = np.random.default_rng(0)
    small = np.round(rng.normal(0.05, 0.1, size=(10, 12)), 2)
    t_small_scipy = median_time(lambda: [stats.wilcoxon(r, alternative="greater") for r in small], 1)
    t_small_ours = median_time(lambda: one_sided_wilcoxon(small, "positive"), repeats)
    return {
        "cliques": len(samples),
        "wilcoxon_scipy_s": t_scipy,
        "wilcoxon_batched_s": t_batched,
        "tied_scipy_s": t_small_scipy,
        "tied_exact_s": t_small_ours,
    }


def wilcoxon_rows(times: dict[str, float]) -> list[tuple[str, str]]:
    """The printed rows of :func:`wilcoxon_times`."""
    t_scipy, t_batched = times["wilcoxon_scipy_s"], times["wilcoxon_batched_s"]
    t_small_scipy, t_small_ours = times["tied_scipy_s"], times["tied_exact_s"]
    return [
        (f"Wilcoxon tests of {times['cliques']:,} cliques: one scipy call each", f"{t_scipy:.2f} s"),
        ("  ... batched by length (vlmtransfer)", f"{t_batched * 1e3:.1f} ms"),
        ("  ... speed-up", f"{t_scipy / t_batched:.0f}x"),
        ("10 tied samples of 12 (2 seeds, 3-cliques): scipy permutation test", f"{t_small_scipy:.2f} s"),
        ("  ... exact sign-flip enumeration (vlmtransfer)", f"{t_small_ours * 1e3:.1f} ms"),
        ("  ... speed-up", f"{t_small_scipy / t_small_ours:.0f}x"),
    ]


def median_time(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(repeats: int = 5) -> dict[str, float]:
    """Median seconds (of ``repeats`` runs; half as many for the slow ones) of everything the table
    shows, with the sizes measured on: what ``main`` prints and ``readme_numbers.py`` records."""
    reference_models = load_inputs(REFERENCE, labels=["3B", "7B", "32B"])
    options = AnalysisOptions(model_order=("3B", "7B", "32B"))
    times: dict[str, float] = {
        "reference_rows": sum(len(pd.read_csv(path)) for path in REFERENCE),
        "reference_load_s": median_time(lambda: load_inputs(REFERENCE, labels=["3B", "7B", "32B"]), repeats),
        "reference_analyze_s": median_time(lambda: analyze(reference_models, options), repeats),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.csv"
        times["synthetic_rows"] = synthetic_accuracy_table(path)
        half = max(1, repeats // 2)
        times["synthetic_load_s"] = median_time(lambda: load_inputs([path]), half)
        models = load_inputs([path])
        times["synthetic_analyze_s"] = median_time(lambda: analyze(models), half)
        result = analyze(models)
        times["synthetic_write_s"] = median_time(lambda: write_analysis(result, Path(tmp) / "out"), half)
        times["synthetic_cliques"] = sum(
            len(m.cliques[s]) for m in result.models.values() for s in ("positive", "negative")
        )
        cube = models[0].pgf

        def vectorised() -> None:
            cube.transferability()
            cube.malleability()

        times["scores_vectorised_s"] = median_time(vectorised, repeats)
        times["scores_loop_s"] = median_time(lambda: naive_scores(cube), half)
        fast = cube.transferability().positive.reshape(-1)
        slow = np.array([p for p, _ in naive_scores(cube)[0]])
        assert np.allclose(fast, slow), "vectorised and naive transferability disagree"
        times |= wilcoxon_times(cube, result.models["M0"].cliques["positive"], repeats)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    t = measure(args.repeats)
    rows = [
        (
            f"reference (3 files, {t['reference_rows']:,} rows): load + validate",
            f"{t['reference_load_s'] * 1e3:.1f} ms",
        ),
        ("reference: analyze (all metrics, cliques, tests)", f"{t['reference_analyze_s'] * 1e3:.1f} ms"),
        (
            f"synthetic 100 tasks x 5 seeds x 3 models ({t['synthetic_rows']:,} rows): load + validate",
            f"{t['synthetic_load_s']:.2f} s",
        ),
        (
            f"synthetic: analyze ({t['synthetic_cliques']:,} maximal cliques tested)",
            f"{t['synthetic_analyze_s']:.2f} s",
        ),
        ("synthetic: write analysis.json + CSV tables", f"{t['synthetic_write_s']:.2f} s"),
        (
            "D+/D-/Theta+/Theta- of one 100x100x5 cube: naive Python loops",
            f"{t['scores_loop_s'] * 1e3:.1f} ms",
        ),
        ("  ... vectorised numpy (vlmtransfer)", f"{t['scores_vectorised_s'] * 1e3:.2f} ms"),
        ("  ... speed-up (naive / vectorised)", f"{t['scores_loop_s'] / t['scores_vectorised_s']:.0f}x"),
        *wilcoxon_rows(t),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
