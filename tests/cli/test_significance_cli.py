"""Significance from the command line: per-question tables, study directories, `power`, `run --dry-run`."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.analysis.simulation import question_table
from vlmtransfer.analysis import analysis_schema
from vlmtransfer.cli.main import app
from vlmtransfer.store import RunRecord, StudyStore

TASKS = ["Syn_Counting", "Syn_Jigsaw", "Syn_Relative_Depth", "Syn_Art_Style"]
PLANTED = {("Syn_Counting", "Syn_Jigsaw"): 0.6, ("Syn_Jigsaw", "Syn_Counting"): -0.6}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return question_table(TASKS, 2, 120, flip_rate=0.15, planted=PLANTED, rng=np.random.default_rng(0))


def test_a_per_question_csv_gives_intervals_q_values_and_flags_for_every_cell(table, tmp_path):
    path = tmp_path / "questions.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    result = run("analyze", path, "--out", out, "--bootstrap", 1000, "--random-state", 3)
    assert result.exit_code == 0, result.stderr
    assert "off-diagonal cells are significant (q < 0.05)" in result.stdout
    assert "questions+seeds" in result.stdout
    assert "Noise floor per target" in result.stdout
    document = json.loads((out / "analysis.json").read_text())
    jsonschema.validate(document, analysis_schema())
    model = document["models"]["m"]
    assert model["uncertainty"] == "questions+seeds"
    sources, targets = model["sources"], model["targets"]
    for (source, target), _ in PLANTED.items():
        assert model["pgf_significant"][sources.index(source)][targets.index(target)]
    diagonal_q = [model["pgf_q"][k][targets.index(t)] for k, t in enumerate(sources)]
    assert all(q is not None for q in diagonal_q)  # self-transfer cells: their own BH family
    assert model["resolution"]["Syn_Counting"] == pytest.approx(
        (100 / 120) / (100 - model["baseline"]["Syn_Counting"]["accuracy"]), rel=1e-6
    )
    summary = pd.read_csv(out / "pgf_summary.csv")
    assert {"ci_low", "ci_high", "p", "q", "significant", "resolution", "self"} <= set(summary.columns)
    assert summary["q"].notna().all()
    again = tmp_path / "again"
    assert run("analyze", path, "--out", again, "--bootstrap", 1000, "--random-state", 3).exit_code == 0
    assert (again / "analysis.json").read_bytes() == (out / "analysis.json").read_bytes()


def test_significant_only_keeps_only_significant_edges(table, tmp_path):
    path = tmp_path / "questions.parquet"
    table.to_parquet(path, index=False)
    out = tmp_path / "out"
    result = run("analyze", path, "--out", out, "--bootstrap", 500, "--significant-only", "-q")
    assert result.exit_code == 0, result.stderr
    document = json.loads((out / "analysis.json").read_text())
    assert document["options"]["significant_only"] is True
    edges = document["models"]["m"]["edges"]
    assert edges
    assert all(edge["significant"] for edge in edges)


def test_a_bad_per_question_table_exits_2_and_writes_nothing(table, tmp_path):
    path = tmp_path / "questions.csv"
    table.assign(correct=table["correct"].replace({1: 3})).to_csv(path, index=False)
    out = tmp_path / "out"
    result = run("analyze", path, "--out", out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: line ")
    assert "column 'correct'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def _store_study(table: pd.DataFrame, study) -> None:
    with StudyStore(study) as store:
        for (source, seed), rows in table.groupby(["source", "seed"], sort=False):
            predictions = [
                {
                    "id": r.question_id,
                    "task": r.target,
                    "answer": "A",
                    "predicted": "A" if r.correct else "B",
                    "correct": bool(r.correct),
                }
                for r in rows.itertuples()
            ]
            accuracies = {
                target: (100 * float(g["correct"].mean()), len(g)) for target, g in rows.groupby("target")
            }
            store.add_run(
                RunRecord("tiny", source, None if seed == "" else int(seed), "h", predictions, accuracies, {})
            )


def test_a_study_directory_is_analysed_from_its_predictions(table, tmp_path):
    study = tmp_path / "study"
    _store_study(table, study)
    result = run("analyze", study, "--bootstrap", 500, "-q")
    assert result.exit_code == 0, result.stderr
    assert (study / "predictions.parquet").is_file()
    document = json.loads((study / "analysis" / "analysis.json").read_text())
    model = document["models"]["tiny"]
    assert model["uncertainty"] == "questions+seeds"
    assert model["n_questions"] == dict.fromkeys(model["targets"], 120)
    assert model["significant_cells"]["self"] == 4
    cells = pd.read_csv(study / "analysis" / "pgf_summary.csv")
    diagonal = cells[cells["self"]]
    assert len(diagonal) == 4
    assert diagonal[["ci_low", "ci_high", "p", "q"]].notna().all().all()


def test_power_answers_how_many_questions_or_seeds():
    result = run("power", "--questions", 150, "--base-accuracy", 50, "--seeds", 4, "--pgf", 0.1)
    assert result.exit_code == 0, result.stderr
    for fragment in ("smallest PGF detected with 80% power", "questions per target", "seeds for 80% power"):
        assert fragment in result.stdout
    assert "one question's worth of PGF: 0.013" in result.stdout


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--questions", 0, "--base-accuracy", 50], "--questions"),
        (["--questions", 10, "--base-accuracy", 100], "--base-accuracy"),
        (["--questions", 10, "--base-accuracy", 50, "--flip-rate", 2], "--flip-rate"),
        (["--questions", 10, "--base-accuracy", 50, "--pgf", 0], "--pgf"),
    ],
)
def test_power_refuses_bad_sizes_with_exit_2(args, where):
    result = run("power", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {where}: ")


def test_dry_run_prints_the_noise_floor_per_target(tmp_path):
    from vlmtransfer.data.synthetic import generate_suite

    generate_suite(tmp_path / "data", tasks=("Syn_Counting", "Syn_Jigsaw"), n_train=4, n_val=6, seed=0)
    config = {
        "name": "t",
        "output": "out",
        "models": [{"name": "tiny"}],
        "data": {"dirs": [str(tmp_path / "data")]},
        "seeds": [0, 1],
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run("run", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Noise floor" in result.stdout
    assert "(assumed)" in result.stdout
    assert not (tmp_path / "out").exists()
