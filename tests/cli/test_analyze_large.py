"""The benchmark-sized input (100 tasks x 5 seeds x 3 models) through the CLI, checked for consistency."""

from __future__ import annotations

import json
import sys

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from vlmtransfer.analysis import analysis_schema
from vlmtransfer.cli.main import app

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_analysis import synthetic_accuracy_table


@pytest.mark.slow
def test_large_synthetic_study_end_to_end(tmp_path):
    path = tmp_path / "large.csv"
    n_rows = synthetic_accuracy_table(path, tasks=100, seeds=5, models=3)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", str(path), "--out", str(out), "--model-order", "M2,M0,M1"])
    assert result.exit_code == 0, result.stderr
    document = json.loads((out / "analysis.json").read_text())
    jsonschema.validate(document, analysis_schema())
    assert document["model_order"] == ["M2", "M0", "M1"]
    assert n_rows == 3 * (100 + 5 * 100 * 100)
    for model in document["models"].values():
        stack = np.array(list(model["pgf_per_seed"].values()))
        assert stack.shape == (5, 100, 100)
        assert np.allclose(model["pgf_mean"], stack.mean(axis=0))
        assert len(model["cliques"]["positive"]) > 0
        assert all(0 <= c["p_value"] <= 1 for c in model["cliques"]["positive"])
