"""Shared fixtures: the real reference PGF files and small accuracy tables written on the fly."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_PGF = REPO.parent / "shared" / "reference" / "paper-pgf"
EXAMPLE_PGF = REPO / "examples" / "paper-pgf"
REFERENCE_MODELS = ("3B", "7B", "32B")


SHARED = REPO.parent / "shared"
REQUIRE_SHARED = "VLMTRANSFER_REQUIRE_SHARED"
"""Set (by .ci/run) where ../shared must be there: its tests then fail, naming it, instead of skipping."""


def require_shared(path: Path, what: str) -> None:
    """Skip a test whose ``path`` under ../shared is missing, or fail it in CI (``REQUIRE_SHARED`` set),
    where a skip would hide that the test never ran."""
    if path.exists():
        return
    message = f"{what} not found at {path} (needs ../shared beside the checkout)"
    if os.environ.get(REQUIRE_SHARED) == "1":
        pytest.fail(f"{message}; CI must check out ../shared (or set VLMTRANSFER_ALLOW_NO_SHARED=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def reference_pgf_files() -> list[Path]:
    """The paper's released PGF files (3B, 7B, 32B): from ../shared/reference, else the repo's copy."""
    directory = SHARED_PGF if SHARED_PGF.is_dir() else EXAMPLE_PGF
    return [directory / f"qwen2.5-vl-{size}.csv" for size in REFERENCE_MODELS]


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write rows (header first) to ``tmp_path/name`` and return the path."""

    def write(name: str, rows: Iterable[Sequence[object]]) -> Path:
        path = tmp_path / name
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)
        return path

    return write


def accuracy_rows(
    model: str = "m",
    seeds: Sequence[str] = ("0", "1"),
    tasks: Sequence[str] = ("A", "B", "C"),
    base: float = 50.0,
    per_seed_base: bool = False,
) -> list[list[object]]:
    """A complete, valid accuracy table: deterministic accuracies that differ per cell and seed."""
    rows: list[list[object]] = [["model", "seed", "source", "target", "accuracy"]]
    base_seeds = seeds if per_seed_base else [""]
    for seed in base_seeds:
        for j, target in enumerate(tasks):
            rows.append([model, seed, "base", target, base + j + (seeds.index(seed) if seed else 0)])
    for s, seed in enumerate(seeds):
        for i, source in enumerate(tasks):
            for j, target in enumerate(tasks):
                rows.append([model, seed, source, target, base + ((3 * i + 5 * j + 7 * s) % 11) - 4])
    return rows


@pytest.fixture(scope="session")
def untrained_tiny(tmp_path_factory) -> Path:
    """The tiny Qwen2.5-VL as built (random weights): for mechanics that do not need a trained model."""
    from vlmtransfer.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)
