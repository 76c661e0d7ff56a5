# ruff: noqa: RUF001 - README writes the multiplication sign
"""README's benchmark numbers come from `make readme-numbers` (issue 28 item 3): every marked span renders
from benchmarks/readme-numbers.json, with the machine they were measured on."""

from __future__ import annotations

import copy
import importlib.util
import json
from types import ModuleType

import pytest

from tests.conftest import REPO

SECTIONS = {
    "analysis": [
        "reference_rows",
        "reference_load_s",
        "reference_analyze_s",
        "synthetic_rows",
        "synthetic_load_s",
        "synthetic_analyze_s",
        "synthetic_write_s",
        "synthetic_cliques",
        "scores_vectorised_s",
        "scores_loop_s",
        "cliques",
        "wilcoxon_scipy_s",
        "wilcoxon_batched_s",
        "tied_scipy_s",
        "tied_exact_s",
    ],
    "bootstrap": ["resamples", "bootstrap_s", "bootstrap_loop_s", "sign_flip_s", "analyze_s"],
    "training": ["images_per_question", "steps", "threads", "pixels_s", "cached_s", "reused_s"],
    "encoding": ["questions", "images_per_question", "full_processor_s", "encode_question_s"],
    "synthetic": ["tasks", "examples_per_task", "seconds"],
}
"""The measurements each span renders (the evaluation's are per approach)."""


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """benchmarks/readme_numbers.py (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("readme_numbers", REPO / "benchmarks" / "readme_numbers.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def results() -> dict:
    """A complete set of made-up measurements, on a made-up machine."""
    made_up: dict = {name: dict.fromkeys(keys, 3) for name, keys in SECTIONS.items()}
    approach = {"evaluations": 1080, "questions_per_s": 50.0, "speedup": 2.0, "agreement_pct": 100.0}
    made_up["evaluation"] = {name: dict(approach) for name in ("obvious", "loglik", "generate")}
    made_up["machine"] = {"cpu": "Test CPU 9000", "cores": 2, "load_at_start": 0.1, "load_at_end": 0.2,
                          "date": "2026-01-01", "commit": "abc1234", "torch": "2.x"}  # fmt: skip
    return made_up


def test_readme_spans_are_the_recorded_numbers(generator):
    """Once recorded, README shows exactly the recorded numbers (``--check``)."""
    if not generator.RESULTS.exists():
        pytest.skip("no benchmarks/readme-numbers.json yet: run `make readme-numbers` on an idle machine")
    readme = generator.README.read_text()
    recorded = json.loads(generator.RESULTS.read_text())
    assert generator.rewrite(readme, recorded) == readme, "run `make readme-numbers` (or --from-json)"


def test_every_span_renders_and_says_what_it_was_measured_on(generator, results):
    readme = generator.rewrite(generator.README.read_text(), results)
    assert readme.count("Test CPU 9000") == 3  # the analysis, evaluation and training spans
    assert "12 tasks" not in readme.split("numbers:synthetic -->")[1].split("<!--")[0]
    assert "| 50 | 2.0× |" in readme


def test_a_changed_measurement_changes_the_readme(generator, results):
    readme = generator.rewrite(generator.README.read_text(), results)
    changed = copy.deepcopy(results)
    changed["evaluation"]["obvious"]["questions_per_s"] = 73.0
    assert generator.rewrite(readme, changed) != readme
    assert generator.rewrite(readme, results) == readme  # idempotent


def test_a_lost_marker_is_an_error(generator, results):
    readme = generator.README.read_text().replace("<!-- /numbers:training -->", "", 1)
    with pytest.raises(ValueError, match="are not the rendered ones"):
        generator.rewrite(readme, results)


@pytest.mark.parametrize(
    ("value", "text"), [(0.0004, "0.4 ms"), (0.36, "360 ms"), (1.25, "1.2 s"), (59.4, "59 s")]
)
def test_durations_read_as_readme_writes_them(generator, value, text):
    assert generator.seconds(value) == text


def test_large_ratios_keep_two_significant_digits(generator):
    assert [generator.ratio(v) for v in (5.64, 49.2, 7274.0)] == ["5.6×", "49×", "7,300×"]
