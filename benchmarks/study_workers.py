"""A study on one process against the same study on two worker processes (``executor.workers``).

(a) obvious: ``executor: {kind: local}``: every job in this process, torch using all cores;
(b) vlmtransfer with ``workers: 2``: the jobs shared by two spawned processes, each with half the cores.
A small model does not keep several cores busy, so (b) finishes more jobs per minute on a CPU.

Same study (the demo's budget on a few synthetic tasks, vision LoRA, one seed), from scratch both ways;
prints the wall time of each, the speed-up and how many accuracy cells differ (floating-point sums over
a different number of threads can flip a borderline question). Asserts nothing about time.
Run: ``python benchmarks/study_workers.py [--tasks 6] [--seeds 2] [--val 200] [--steps 128]`` (the
defaults: the demo's budget on 6 of its tasks; spawning a worker costs a few seconds, so a study of a
few short jobs gains nothing).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = (
    "Syn_Counting",
    "Syn_Object_Localization",
    "Syn_Relative_Depth",
    "Syn_Relative_Reflectance",
    "Syn_Visual_Similarity",
    "Syn_Multi-view_Reasoning",
)


def _study(root: Path, data: Path, name: str, steps: int, workers: int, seeds: int) -> Path:  # noqa: PLR0917
    import yaml

    config = {
        "name": name,
        "output": str(root / name),
        "models": [{"name": "tiny"}],
        "data": {"dirs": [str(data)]},
        "seeds": list(range(seeds)),
        "lora": {"rank": 16, "alpha": 32, "vision": True},
        "train": {"learning_rate": 3e-3, "max_steps": steps, "batch_size": 8},
        "eval": {"batch_size": 32},
        "executor": {"kind": "local", "workers": workers},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def measure(tasks: int = 6, val: int = 200, steps: int = 128, seeds: int = 2) -> dict[str, float]:
    """Wall seconds of the study with one and with two workers, and the accuracy cells that differ."""
    import pandas as pd

    from vlmtransfer.data.synthetic import generate_suite

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_suite(root / "data", tasks=TASKS[:tasks], n_train=256, n_val=val, seed=0)
        seconds = {}
        for workers in (1, 2):
            config = _study(root, root / "data", f"w{workers}", steps, workers, seeds)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "vlmtransfer", "run", str(config)], check=True, capture_output=True
            )
            seconds[workers] = time.perf_counter() - started
        one, two = (pd.read_csv(root / f"w{w}" / "accuracy.csv") for w in (1, 2))
        differing = int((one["accuracy"] != two["accuracy"]).sum())
    return {"one": seconds[1], "two": seconds[2], "cells": float(len(one)), "differing": float(differing)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--steps", type=int, default=128)
    args = parser.parse_args()
    result = measure(args.tasks, args.val, args.steps, args.seeds)
    print(
        f"study of {args.tasks} tasks (baseline, {args.tasks} x {args.seeds} finetunes of {args.steps} steps,"
        f" vision LoRA, {args.val} val questions per task):"
    )
    print(f"  one process:      {result['one']:6.1f} s")
    print(f"  two workers:      {result['two']:6.1f} s   ({result['one'] / result['two']:.2f}x)")
    print(f"  accuracy cells differing: {int(result['differing'])} of {int(result['cells'])}")


if __name__ == "__main__":
    main()
