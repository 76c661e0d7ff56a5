"""Options with several values take them repeated, comma-separated (lm-evaluation-harness style), or both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import accuracy_rows
from vlmtransfer.cli.lists import comma_paths, comma_values
from vlmtransfer.cli.main import app


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_synth_tasks_comma_separated_equal_repeated(tmp_path):
    commas = run(
        "data",
        "synth",
        "--out",
        tmp_path / "a",
        "--tasks",
        "Syn_Counting,Syn_Jigsaw",
        "--train",
        1,
        "--val",
        1,
    )
    assert commas.exit_code == 0, commas.output
    repeated = run(
        "data",
        "synth",
        "--out",
        tmp_path / "b",
        "--tasks",
        "Syn_Counting",
        "--tasks",
        "Syn_Jigsaw",
        "--train",
        1,
        "--val",
        1,
    )
    assert repeated.exit_code == 0, repeated.output
    assert sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_dir()) == ["Syn_Counting", "Syn_Jigsaw"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        p.name for p in (tmp_path / "b").iterdir()
    )


def test_analyze_ceilings_comma_separated_equal_repeated(write_csv, tmp_path):
    table = write_csv("acc.csv", accuracy_rows(tasks=("A", "B", "C")))
    for name, args in (
        ("commas", ["--ceiling", "A=95, B=90"]),
        ("repeated", ["--ceiling", "A=95", "--ceiling", "B=90"]),
    ):
        result = run("analyze", table, "--out", tmp_path / name, "--quiet", *args)
        assert result.exit_code == 0, result.output
    documents = [
        json.loads((tmp_path / name / "analysis.json").read_text()) for name in ("commas", "repeated")
    ]
    assert documents[0]["models"] == documents[1]["models"]
    baseline = documents[0]["models"]["m"]["baseline"]
    assert {task: cell["ceiling"] for task, cell in baseline.items()} == {"A": 95.0, "B": 90.0, "C": 100.0}


def test_an_empty_part_is_refused_by_name(write_csv, tmp_path):
    table = write_csv("acc.csv", accuracy_rows())
    result = run("analyze", table, "--out", tmp_path / "out", "--ceiling", "A=95,,B=90")
    assert result.exit_code == 2
    assert result.stderr == "error: --ceiling: expected TASK=VALUE with VALUE in (0, 100], got ''\n"
    assert not (tmp_path / "out").exists()


def test_comma_values_and_paths(tmp_path):
    assert comma_values(["Counting,Jigsaw", "Depth"]) == ["Counting", "Jigsaw", "Depth"]
    assert comma_values(None) is None
    assert comma_values(["A,"]) == ["A", ""]  # refused by the command, which names the option
    odd = tmp_path / "a,b"
    odd.mkdir()
    assert comma_paths([odd]) == [odd]  # an existing path is never split
    assert comma_paths([Path("no/such/a,no/such/b")]) == [Path("no/such/a"), Path("no/such/b")]


def test_report_formats_comma_separated(write_csv, tmp_path):
    from tests.report.conftest import BLINK_TASKS

    table = write_csv("acc.csv", accuracy_rows(tasks=BLINK_TASKS[:3]))
    assert run("analyze", table, "--out", tmp_path / "analysis", "--quiet").exit_code == 0
    out = tmp_path / "report"
    fast = ("--dpi", "40", "--max-cliques", "1", "--no-embed", "--quiet")
    result = run("report", tmp_path / "analysis", "--out", out, "--format", "png,svg", *fast)
    assert result.exit_code == 0, result.output
    assert {p.suffix for p in (out / "figures").rglob("*.*") if p.name != "figures.json"} == {".png", ".svg"}


def test_options_of_one_task_refuse_a_list_at_parse_time(tmp_path, capsys):
    """``--target A,B`` is refused before anything is read (the analysis folder does not exist)."""
    from vlmtransfer.cli.main import main

    for argv, name in [
        (["select", "--analysis", str(tmp_path / "none"), "--model", "m", "--target", "A,B"], "'--target'"),
        (["data", "build", "A,B", "--source", str(tmp_path), "--out", str(tmp_path / "o")], "'task'"),
        (["data", "sources", "A, B"], "'task'"),
    ]:
        with pytest.raises(SystemExit) as excinfo:
            main(argv)
        assert excinfo.value.code == 2
        stderr = capsys.readouterr().err
        assert stderr.startswith(f"error: Invalid value for {name}: takes one task, got 2 (A, B)"), stderr
        assert stderr.count("\n") == 1
