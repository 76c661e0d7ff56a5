"""`vlmtransfer tasks` and `vlmtransfer data ...` through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.data.test_blink import snapshot  # noqa: F401 - pytest fixture
from tests.data.test_records import GOOD, _dataset
from vlmtransfer.cli.main import app, main


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_tasks_json_lists_blink_with_metadata():
    result = run("tasks", "--suite", "blink", "--json")
    assert result.exit_code == 0, result.stderr
    tasks = {t["name"]: t for t in json.loads(result.stdout)}
    assert len(tasks) == 14
    assert tasks["Relative_Depth"] == {
        "name": "Relative_Depth",
        "abbreviation": "RD",
        "level": "low",
        "granularity": "pixel",
        "choices": 2,
        "images": 1,
        "ceiling": 100.0,
        "suite": "blink",
        "default": True,
    }
    assert tasks["IQ_Test"]["default"] is False


def test_tasks_with_a_user_file_and_a_bad_suite(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("suite: video\ntasks:\n  - {name: Temporal_Order, abbreviation: TO, level: mid}\n")
    result = run("tasks", "--tasks", path, "--suite", "video", "--json")
    assert [t["name"] for t in json.loads(result.stdout)] == ["Temporal_Order"]
    bad = run("tasks", "--suite", "videos")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --suite: unknown suite 'videos'")


def test_data_validate_reports_a_valid_dataset(tmp_path):
    _dataset(tmp_path, [GOOD])
    result = run("data", "validate", tmp_path / "ds")
    assert result.exit_code == 0, result.stderr
    assert "T/val.jsonl" in result.stdout
    assert "B:1" in result.stdout


def test_data_validate_names_file_line_and_field(tmp_path):
    path = _dataset(tmp_path, [GOOD, {**GOOD, "id": "q2", "answer": "E"}])
    result = run("data", "validate", tmp_path / "ds")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {path}: line 2: field 'answer': 'E' is not one of the choice letters A, B"
    )


def test_data_blink_exports_a_local_snapshot(snapshot, tmp_path):  # noqa: F811
    out = tmp_path / "mcq"
    result = run(
        "data",
        "blink",
        "--out",
        out,
        "--source",
        snapshot,
        "--tasks",
        "Counting",
        "--cache-dir",
        tmp_path / "c",
    )
    assert result.exit_code == 0, result.stderr
    assert (out / "Counting" / "val.jsonl").is_file()
    assert json.loads((out / "manifest.json").read_text())["tasks"] == {"Counting": {"val": 3}}
    assert run("data", "validate", out).exit_code == 0


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--split", "test", "--tasks", "Jigsaw"], "is not a choice letter"),
        (["--tasks", "Art_Style"], "no val parquet for task 'Art_Style'"),
    ],
)
def test_data_blink_bad_input_leaves_nothing(snapshot, tmp_path, extra, fragment):  # noqa: F811
    out = tmp_path / "mcq"
    result = run("data", "blink", "--out", out, "--source", snapshot, "--cache-dir", tmp_path / "c", *extra)
    assert result.exit_code == 2, result.exception
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_tasks_lists_the_synthetic_suite():
    result = run("tasks", "--suite", "synthetic", "--json")
    tasks = json.loads(result.stdout)
    assert len(tasks) >= 10
    assert all(t["suite"] == "synthetic" and t["level"] and t["granularity"] for t in tasks)


def test_data_synth_is_deterministic_and_valid(tmp_path):
    args = ["--tasks", "Syn_Counting", "--tasks", "Syn_Relative_Depth", "--train", "6", "--val", "4"]
    for name in ("a", "b"):
        result = run("data", "synth", "--out", tmp_path / name, "--seed", "7", *args)
        assert result.exit_code == 0, result.stderr
    first = {
        p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()
    }
    second = {
        p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()
    }
    assert first == second
    assert run("data", "validate", tmp_path / "a").exit_code == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["tasks"] == {
        "Syn_Counting": {"train": 6, "val": 4},
        "Syn_Relative_Depth": {"train": 6, "val": 4},
    }


def test_data_synth_replaces_another_suite_only_with_overwrite(tmp_path):
    out = tmp_path / "out"
    two = ("--tasks", "Syn_Counting,Syn_Jigsaw", "--train", "2", "--val", "1")
    assert run("data", "synth", "--out", out, *two).exit_code == 0
    before = (out / "manifest.json").read_bytes()
    assert run("data", "synth", "--out", out, *two).exit_code == 0  # a rerun: the same suite again
    assert (out / "manifest.json").read_bytes() == before
    for other in (
        ("--tasks", "Syn_Counting", "--train", "2", "--val", "1"),
        (*two, "--seed", "1"),
        (*two[:3], "3", "--val", "1"),
    ):
        refused = run("data", "synth", "--out", out, *other)
        assert refused.exit_code == 2, refused.output
        assert refused.stderr == (
            f"error: --out: {out} already holds a synthetic dataset of 2 tasks (Syn_Counting, Syn_Jigsaw;"
            " train 2, val 1 each; seed 0); pass --overwrite to replace it, or choose another --out\n"
        )
        assert (out / "manifest.json").read_bytes() == before
    one = ("--tasks", "Syn_Counting", "--train", "2", "--val", "1", "--overwrite")
    assert run("data", "synth", "--out", out, *one).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["Syn_Counting", "manifest.json"]


def test_data_synth_unknown_task_is_bad_input(tmp_path):
    result = run("data", "synth", "--out", tmp_path / "out", "--tasks", "Syn_Countng")
    assert result.exit_code == 2
    assert "Syn_Counting" in result.stderr  # near match offered
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--train", "0", "--val", "0"], "nothing to generate"),
        (["--image-size", "1000000"], "--image-size"),
        (["--image-size", "40"], "--image-size"),
    ],
)
def test_data_synth_rejects_impossible_requests(tmp_path, capsys, args, fragment):
    with pytest.raises(SystemExit) as excinfo:
        main(["data", "synth", "--out", str(tmp_path / "out"), *args])
    assert excinfo.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ")
    assert fragment in stderr
    assert stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_hostile_task_file_is_bad_input(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("tasks: " + "[" * 20_000 + "]" * 20_000 + "\n")
    result = run("tasks", "--tasks", path)
    assert result.exit_code == 2
    assert "cannot read task file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
