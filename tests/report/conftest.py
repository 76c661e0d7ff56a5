"""Analyses to draw reports from, made once per session with the real analysis pipeline."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import REFERENCE_MODELS, accuracy_rows
from vlmtransfer.analysis import AnalysisOptions, analyze, load_inputs, write_analysis
from vlmtransfer.analysis.pipeline import registry_categories
from vlmtransfer.tasks import default_registry

# Task and model names a browser must show as text and never run (see test_browser.py, test_page.py).
XSS_TASKS = (
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "$\\frac{unbalanced",
    "constructor",
)
XSS_MODEL = '<b onmouseover="window.__xss=3">m&amp;</b>'
BLINK_TASKS = ("Relative_Depth", "Jigsaw", "Counting", "Art_Style")


def analyse_into(
    out: Path, inputs: Sequence[Path], labels: Sequence[str] = (), order: Sequence[str] = ()
) -> Path:
    """Run the analysis as ``vlmtransfer analyze`` would and write it to ``out``."""
    registry = default_registry()
    models = load_inputs(list(inputs), labels=list(labels), default_ceilings=registry.ceilings())
    result = analyze(models, AnalysisOptions(model_order=tuple(order)), registry_categories(registry))
    write_analysis(result, out, registry)
    return out


def write_rows(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture(scope="session")
def paper_analysis(reference_pgf_files, tmp_path_factory) -> Path:
    """The analysis of the paper's released PGF files (3B, 7B, 32B x 13 BLINK tasks x 4 seeds)."""
    out = tmp_path_factory.mktemp("paper") / "analysis"
    return analyse_into(out, reference_pgf_files, REFERENCE_MODELS, REFERENCE_MODELS)


@pytest.fixture(scope="session")
def accuracy_analysis(tmp_path_factory) -> Path:
    """Two models of accuracy tables on four BLINK tasks (so baselines, ceilings and categories exist)."""
    root = tmp_path_factory.mktemp("accuracy")
    rows = accuracy_rows(model="small", seeds=("0", "1", "2"), tasks=BLINK_TASKS)
    rows += accuracy_rows(model="large", seeds=("0", "1", "2"), tasks=BLINK_TASKS, base=60.0)[1:]
    return analyse_into(root / "analysis", [write_rows(root / "acc.csv", rows)], order=("small", "large"))


@pytest.fixture(scope="session")
def hostile_analysis(tmp_path_factory) -> Path:
    """One model whose task and model names are markup, script and mathtext."""
    root = tmp_path_factory.mktemp("hostile")
    rows = accuracy_rows(model=XSS_MODEL, seeds=("0", "1"), tasks=XSS_TASKS)
    return analyse_into(root / "analysis", [write_rows(root / "acc.csv", rows)])
