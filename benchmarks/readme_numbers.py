# ruff: noqa: RUF001 - these strings render README text, which writes the multiplication sign
"""The numbers README.md quotes from benchmarks, regenerated together by one command (issue 28 item 3).

``make readme-numbers`` (``python benchmarks/readme_numbers.py``) re-measures them (the benchmarks'
``measure`` functions: analysis, bootstrap, evaluation and training throughput, question encoding,
synthetic suite generation), writes them with the machine they were measured on to
``benchmarks/readme-numbers.json``, and rewrites README's marked spans (``<!-- numbers:NAME -->`` ...
``<!-- /numbers:NAME -->``) from that file. ``--check`` measures nothing: it exits 1 if a span differs
from what the JSON file renders (a test runs it), so README's numbers are the recorded ones.
``--from-json`` rewrites the spans from the JSON file without measuring.

Left out on purpose: the ``make demo`` section's results and timing (the demo's PGF values, q-values,
its run time), which come from the demo's own run and change with the demo; and the paper-PGF values of
``make demo-paper`` (an analysis result, not a measurement). The default run takes about 4-5 minutes on
2 cores; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "readme-numbers.json"
SPAN = re.compile(
    r"(<!-- numbers:(?P<name>[a-z-]+) -->)(?P<body>.*?)(<!-- /numbers:(?P=name) -->)", re.DOTALL
)
"""A marked README span: its opening marker, the generated text, its closing marker."""


# --- measuring ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, load at the start, versions, date, commit."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    import numpy
    import torch

    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_at_start": round(os.getloadavg()[0], 2),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "os": platform.platform(terse=True),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "commit": commit,
    }


def synthetic_generation() -> dict[str, float]:
    """Seconds to render the whole synthetic suite, 12 tasks x (1,000 train + 200 val) at 112 px."""
    from vlmtransfer.data.synthetic import generate_suite

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        counts = generate_suite(Path(tmp) / "suite", n_train=1000, n_val=200, seed=0)
        seconds = time.perf_counter() - started
    return {"tasks": len(counts), "examples_per_task": 1200, "seconds": seconds}


def measure(log: Callable[[str], None]) -> dict[str, Any]:
    """Every measurement README quotes, by span name, with the machine."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_analysis
    import bench_bootstrap
    import bench_encoding
    import eval_throughput
    import train_throughput

    steps: dict[str, Callable[[], Any]] = {
        "analysis": lambda: bench_analysis.measure(repeats=3),
        "bootstrap": lambda: bench_bootstrap.measure(repeats=3),
        "evaluation": eval_throughput.measure,
        "training": train_throughput.measure,
        "encoding": bench_encoding.measure,
        "synthetic": synthetic_generation,
    }
    results: dict[str, Any] = {"machine": machine()}
    for name, step in steps.items():
        started = time.perf_counter()
        results[name] = step()
        log(f"{name}: measured in {time.perf_counter() - started:.0f} s")
    results["machine"]["load_at_end"] = round(os.getloadavg()[0], 2)  # other work on the cores shows here
    return results


# --- rendering ------------------------------------------------------------------------------------


def seconds(value: float) -> str:
    """A duration as README writes it: ms below a second, s above, two or three significant digits."""
    if value < 0.01:
        return f"{value * 1e3:.1f} ms"
    if value < 1:
        return f"{value * 1e3:.0f} ms"
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def ratio(value: float) -> str:
    """A speed-up: one decimal below 10, whole numbers with thousands separators above."""
    if value >= 100:
        value = round(value, 2 - len(str(int(value))))  # two significant digits: 7,274 -> 7,300
    return f"{value:.1f}×" if value < 10 else f"{value:,.0f}×"


def measured_on(m: dict[str, Any]) -> str:
    return (
        f"measured on {m['cpu']}, {m['cores']} cores (load {m['load_at_start']} at the start,"
        f" {m.get('load_at_end', '?')} at the end),"
        f" {m['date']}, commit {m['commit']}, torch {m['torch']}"
    )


def render_analysis(r: dict[str, Any]) -> str:
    a, b = r["analysis"], r["bootstrap"]
    rows = [
        (
            f"the three reference files ({a['reference_rows']:,} rows): load + validate / analyse (with t"
            " intervals and the clique null, 1,000 draws per sign and model)",
            f"{seconds(a['reference_load_s'])} / {seconds(a['reference_analyze_s'])}",
        ),
        (
            f"synthetic 100 tasks × 5 seeds × 3 models ({a['synthetic_rows']:,} rows): load + validate /"
            f" analyse (the clique null: 100 draws of ~1,000 cliques each) / write",
            f"{seconds(a['synthetic_load_s'])} / {seconds(a['synthetic_analyze_s'])}"
            f" / {seconds(a['synthetic_write_s'])}",
        ),
        (
            f"{b['resamples']:,} bootstrap resamples of 13 × 13 cells × 4 seeds × 150 questions"
            " (PGF, D±, Θ±), vectorised vs a per-cell Python loop (PGF only;"
            " `benchmarks/bench_bootstrap.py`)",
            f"{seconds(b['bootstrap_s'])} vs {seconds(b['bootstrap_loop_s'])}"
            f" ({ratio(b['bootstrap_loop_s'] / b['bootstrap_s'])})",
        ),
        (
            f"sign-flip p-values of those 169 cells, {b['resamples']:,} flips / the whole `analyze` of that"
            " study from per-question data",
            f"{seconds(b['sign_flip_s'])} / {seconds(b['analyze_s'])}",
        ),
        (
            "transferability + malleability of a 100 × 100 × 5 cube vs per-cell Python loops",
            f"{seconds(a['scores_vectorised_s'])} vs {seconds(a['scores_loop_s'])}"
            f" ({ratio(a['scores_loop_s'] / a['scores_vectorised_s'])})",
        ),
        (
            f"Wilcoxon tests of {a['cliques']:,} cliques, batched vs one `scipy.stats.wilcoxon` call each",
            f"{seconds(a['wilcoxon_batched_s'])} vs {seconds(a['wilcoxon_scipy_s'])}"
            f" ({ratio(a['wilcoxon_scipy_s'] / a['wilcoxon_batched_s'])})",
        ),
        (
            "10 tied samples of 12 values (2 seeds, 3-task cliques) vs scipy's permutation test",
            f"{seconds(a['tied_exact_s'])} vs {seconds(a['tied_scipy_s'])}"
            f" (~{ratio(a['tied_scipy_s'] / a['tied_exact_s'])})",
        ),
    ]
    table = "\n".join(f"| {what} | {value} |" for what, value in rows)
    return (
        "\n`make bench` / `make readme-numbers` (medians; `benchmarks/bench_analysis.py` and"
        f" `bench_bootstrap.py`;\n{measured_on(r['machine'])}):\n\n| what | time |\n|---|---|\n{table}\n"
    )


def render_evaluation(r: dict[str, Any]) -> str:
    e = r["evaluation"]
    rows = [
        ("obvious", "obvious: reload + merge + generate + parse"),
        ("loglik", "vlmtransfer `loglik`: one base, swapped adapters, cached vision features, batched"
                   " one-pass scoring"),
        ("generate", "vlmtransfer `generate`: the same, greedy decoding + parser"),
    ]  # fmt: skip
    table = "\n".join(
        f"| {label} | {e[name]['questions_per_s']:.0f} | {e[name]['speedup']:.1f}× |" for name, label in rows
    )
    agreement = min(e[name]["agreement_pct"] for name, _ in rows)
    return (
        "\nEvaluation (`benchmarks/eval_throughput.py`): the tiny model, 6 tasks × 20 questions × (base + 8"
        " real\nLoRA adapters), against the obvious approach (per model: load the base, merge the adapter,"
        f" generate and\nparse one question at a time); predictions agree {agreement:.0f} %\n"
        f"({measured_on(r['machine'])}):\n\n"
        f"| approach | questions/s | speed-up |\n|---|---|---|\n{table}\n"
    )


def render_training(r: dict[str, Any]) -> str:
    t = r["training"]
    rate = {key: t["steps"] / t[f"{key}_s"] for key in ("pixels", "cached", "reused")}
    return (
        "\nFinetuning (`benchmarks/train_throughput.py`): LoRA never touches the vision tower, so each"
        " training\nquestion's image features are computed once, not at every step, and a study's seeds of"
        f" one source share\nthem. On the tiny model (forensics, {t['images_per_question']} images per"
        f" question, {t['steps']} steps of 8, {t['threads']} threads) the step\nrate goes from"
        f" {rate['pixels']:.1f} to {rate['cached']:.1f} steps/s with the features' computation counted"
        f" ({ratio(rate['cached'] / rate['pixels'])}) and to {rate['reused']:.1f} steps/s\nwhen an earlier"
        f" seed computed them ({ratio(rate['reused'] / rate['pixels'])}); the adapters are identical.\n"
        "The tiny vision tower is a small share of a step; a real model's tower, which encodes ~1,000"
        f" patches\nper image, is a larger one ({measured_on(r['machine'])}).\n"
    )


def render_encoding(r: dict[str, Any]) -> str:
    e = r["encoding"]
    return (
        "Encoding a question no longer makes its pixels only to count its image tokens (the\ncount per image"
        " size is learnt from one full processor call and checked against it):"
        f" {e['questions']} forensics\nquestions encoded in {seconds(e['encode_question_s'])} instead of"
        f" {seconds(e['full_processor_s'])}"
        f" ({ratio(e['full_processor_s'] / e['encode_question_s'])}, `benchmarks/bench_encoding.py`)."
    )


def render_synthetic(r: dict[str, Any]) -> str:
    s = r["synthetic"]
    return f"{s['tasks']} tasks × {s['examples_per_task']:,} examples take ~{s['seconds']:.0f} s"


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "analysis": render_analysis,
    "evaluation": render_evaluation,
    "training": render_training,
    "encoding": render_encoding,
    "synthetic": render_synthetic,
}


def rewrite(readme: str, results: dict[str, Any]) -> str:
    """``readme`` with every marked span rendered from ``results``.

    Raises:
        ValueError: a span names no renderer, or a renderer has no span (README lost a marker).
    """
    found = {match["name"] for match in SPAN.finditer(readme)}
    if found != set(RENDERERS):
        raise ValueError(f"README spans {sorted(found)} are not the rendered ones {sorted(RENDERERS)}")
    return SPAN.sub(lambda m: m.group(1) + RENDERERS[m["name"]](results) + m.group(4), readme)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if README differs from the JSON file")
    mode.add_argument("--from-json", action="store_true", help="rewrite README from the JSON file only")
    args = parser.parse_args()
    if args.check or args.from_json:
        results = json.loads(RESULTS.read_text())
    else:
        results = measure(lambda line: print(line, file=sys.stderr, flush=True))
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    readme = README.read_text()  # read after measuring: README may have been edited meanwhile
    expected = rewrite(readme, results)
    if args.check:
        if expected != readme:
            print(f"README.md's numbers differ from {RESULTS.name}: run make readme-numbers", file=sys.stderr)
            return 1
        return 0
    README.write_text(expected)
    print(f"wrote {RESULTS.relative_to(REPO)} and README.md's {len(RENDERERS)} number spans")
    return 0


if __name__ == "__main__":
    sys.exit(main())
