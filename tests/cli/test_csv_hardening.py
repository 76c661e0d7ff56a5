"""CSV hardening: names a spreadsheet would run as formulas are neutralised in every CSV export
and read back as they were."""

from __future__ import annotations

import csv
import json

import pandas as pd
from typer.testing import CliRunner

from tests.conftest import accuracy_rows
from vlmtransfer.analysis.table import csv_text, read_csv_strict
from vlmtransfer.cli.main import app

MODEL = '=HYPERLINK("http://evil.example","click")'
TASKS = ("+Cnt", "-Depth", "@Jig")
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cells(path):
    with path.open(newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_analysis_csvs_neutralise_formula_names(write_csv, tmp_path):
    table = write_csv("acc.csv", accuracy_rows(model=MODEL, tasks=TASKS))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", str(table), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    names = {MODEL, *TASKS}
    csvs = sorted(out.rglob("*.csv"))
    assert csvs
    prefixed = set()
    for path in csvs:
        for cell in _cells(path):
            text = cell.lstrip(" ")
            assert not text.startswith(FORMULA) or _is_number(text), (path, cell)
            if text.startswith("'"):
                prefixed.add(text[1:])
    assert prefixed <= names
    assert {"+Cnt", MODEL} <= prefixed
    document = json.loads((out / "analysis.json").read_text())
    assert list(document["models"]) == [MODEL]  # the names themselves are unchanged


def test_neutralised_csv_reads_back_as_written(tmp_path):
    frame = pd.DataFrame({"model": [MODEL, "plain"], "target": ["-x", "y"], "accuracy": [-1.5, 2.0]})
    text = csv_text(frame)
    assert "'=HYPERLINK" in text
    assert "'-x" in text
    assert ",-1.5" in text  # numbers are not text: untouched
    path = tmp_path / "t.csv"
    path.write_text(text)
    back = read_csv_strict(path)
    assert back["model"].tolist() == [MODEL, "plain"]
    assert back["target"].tolist() == ["-x", "y"]
    assert back["accuracy"].tolist() == ["-1.5", "2.0"]


def test_the_exported_accuracy_table_of_a_study_round_trips(tmp_path):
    from vlmtransfer.store import RunRecord, StudyStore
    from vlmtransfer.study.runner import export_results

    prediction = {"id": "0", "task": "+Cnt", "answer": "A", "predicted": "A", "correct": True}
    with StudyStore(tmp_path) as store:
        store.add_run(RunRecord(MODEL, "base", None, "h", [prediction], {"+Cnt": (100.0, 1)}, {}))
        path = export_results(store, tmp_path)
    raw = path.read_text()
    assert "'=HYPERLINK" in raw
    assert "'+Cnt" in raw
    back = read_csv_strict(path)
    assert back["model"].tolist() == [MODEL]
    assert back["target"].tolist() == ["+Cnt"]


def test_a_question_count_beyond_any_benchmark_is_refused_with_its_line(write_csv, tmp_path):
    rows = accuracy_rows(tasks=("A", "B"))
    rows[0].append("n")
    for row in rows[1:]:
        row.append(150)
    rows[2][-1] = "1e23"
    table = write_csv("acc.csv", rows)
    result = CliRunner().invoke(app, ["analyze", str(table), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {table}: line 3: 'n' is 1e23, outside [1, 1e+09]")


def test_question_counts_are_written_as_whole_numbers(write_csv, tmp_path):
    rows = accuracy_rows(tasks=("A", "B"))
    rows[0].append("n")
    for row in rows[1:]:
        row.append("150")
    table = write_csv("acc.csv", rows)
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["analyze", str(table), "--out", str(out), "--quiet"]).exit_code == 0
    assert read_csv_strict(out / "power.csv")["n_questions"].tolist() == ["150", "150"]
    document = json.loads((out / "analysis.json").read_text())
    counts = document["models"]["m"]["n_questions"]
    assert counts == {"A": 150, "B": 150}
    assert all(isinstance(v, int) for v in counts.values())


def test_a_seed_typed_differently_in_base_and_finetuned_rows_is_refused_with_its_line(write_csv, tmp_path):
    rows = accuracy_rows(tasks=("A", "B"), per_seed_base=True)  # base rows per seed "0" and "1"
    for row in rows[1:]:
        if row[2] != "base" and row[1] == "1":
            row[1] = "1.0"
    table = write_csv("acc.csv", rows)
    first = next(number for number, row in enumerate(rows, start=1) if row[1] == "1.0" and row[3] == "A")
    result = CliRunner().invoke(app, ["analyze", str(table), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {table}: model 'm': line {first}: no base accuracy for seed '1.0' on target 'A'\n"
    )
