"""Hardening of studies against hostile input: no two names share a file, bad values fail early."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import path_part
from vlmtransfer.select.experiment import results_path
from vlmtransfer.study.config import load_study_config
from vlmtransfer.study.plan import Job, resolve_tasks
from vlmtransfer.study.worker import ModelWorker, adapter_dir


def _config(tmp_path, data_dir, **changes):
    config = {
        "output": str(tmp_path / "out"),
        "models": [{"name": "tiny"}],
        "data": {"dirs": [str(data_dir)]},
        "seeds": [0],
    } | changes
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _task(data_dir, name):
    folder = data_dir / name
    folder.mkdir(parents=True)
    for split in ("train", "val"):
        (folder / f"{split}.jsonl").write_text("")


@pytest.mark.parametrize(("a", "b"), [("Cnt A", "Cnt_A"), ("Cnt/A", "Cnt_A"), (".x", "x"), ("é?", "é_")])
def test_names_that_differ_only_in_unsafe_characters_get_different_adapter_directories(tmp_path, a, b):
    assert path_part(a) != path_part(b)
    assert adapter_dir(tmp_path, Job("m", a, 0)) != adapter_dir(tmp_path, Job("m", b, 0))
    assert adapter_dir(tmp_path, Job(a, "T", 0)) != adapter_dir(tmp_path, Job(b, "T", 0))
    assert results_path(tmp_path, a) != results_path(tmp_path, b)
    assert "/" not in path_part(a)
    assert not path_part(a).startswith(".")


def test_safe_names_keep_their_adapter_directory(tmp_path):
    assert adapter_dir(tmp_path, Job("tiny", "Syn_Counting", 3)) == (
        tmp_path / "adapters" / "tiny" / "Syn_Counting" / "seed-3"
    )


def test_tasks_that_differ_only_in_case_are_refused_at_plan_time(tmp_path):
    data = tmp_path / "data"
    _task(data, "Cnt")
    _task(data, "cnt")
    path = _config(tmp_path, data)
    with pytest.raises(InputError) as caught:
        resolve_tasks(load_study_config(path), path)
    assert caught.value.where == "data"
    assert "'Cnt' and 'cnt'" in caught.value.problem


def test_model_labels_that_differ_only_in_case_are_refused_at_plan_time(tmp_path):
    data = tmp_path / "data"
    _task(data, "T")
    path = _config(tmp_path, data, models=[{"name": "tiny", "label": "M"}, {"name": "tiny", "label": "m"}])
    with pytest.raises(InputError) as caught:
        resolve_tasks(load_study_config(path), path)
    assert caught.value.where == "models"


def test_an_adapter_of_another_source_is_never_overwritten(tmp_path):
    data = tmp_path / "data"
    _task(data, "T")
    config = load_study_config(_config(tmp_path, data))
    job = Job("tiny", "T", 0)
    out = adapter_dir(config.output, job)
    out.mkdir(parents=True)
    (out / "training.json").write_text(json.dumps({"source": "T ", "training_hash": "h"}))
    worker = ModelWorker.__new__(ModelWorker)  # no model needed: the check comes before training
    worker.config, worker.training_hash, worker.tasks = config, "h", resolve_tasks(config)
    with pytest.raises(InputError, match="refusing to overwrite"):
        worker._adapter(job)
    assert json.loads((out / "training.json").read_text())["source"] == "T "


@pytest.mark.parametrize(
    ("changes", "where", "problem"),
    [
        ({"train": {"learning_rate": float("inf")}}, "train.learning_rate", "finite number"),
        ({"train": {"learning_rate": float("nan")}}, "train.learning_rate", "finite number"),
        ({"lora": {"alpha": True}}, "lora.alpha", "valid number"),
        ({"train": {"max_steps": "3"}}, "train.max_steps", "valid integer"),
        ({"seeds": [True]}, "seeds.0", "valid integer"),
        ({"seeds": [1e23]}, "seeds.0", "valid integer"),
        ({"seeds": [10**23]}, "seeds.0", "less than or equal to 4294967295"),
        ({"seeds": [0.5]}, "seeds.0", "valid integer"),
    ],
)
def test_numbers_must_be_finite_numbers_and_seeds_sane_integers(tmp_path, changes, where, problem):
    path = _config(tmp_path, tmp_path, **changes)
    with pytest.raises(InputError) as caught:
        load_study_config(path)
    assert caught.value.where == where
    assert problem in caught.value.problem


def test_exponents_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(
        "output: out\nmodels: [{name: tiny}]\ndata: {dirs: [d]}\nseeds: [0]\ntrain: {learning_rate: 1e-3}\n"
    )
    assert load_study_config(path).train.learning_rate == pytest.approx(1e-3)


def test_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("output: out\nmodels: [{name: tiny}]\ndata: {dirs: [d]}\nseeds: [0]\nseeds: [1]\n")
    with pytest.raises(InputError) as caught:
        load_study_config(path)
    assert "duplicate key 'seeds'" in caught.value.problem
    assert caught.value.where == "line 5"


@pytest.mark.parametrize("below", [False, True])
def test_an_output_that_is_a_file_is_refused(tmp_path, below):
    (tmp_path / "taken").write_text("mine")
    output = tmp_path / "taken" / "study" if below else tmp_path / "taken"
    path = _config(tmp_path, tmp_path, output=str(output))
    with pytest.raises(InputError) as caught:
        load_study_config(path)
    assert caught.value.where == "output"
    assert "a file, not a directory" in caught.value.problem
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: output: ")


def test_a_model_that_does_not_load_leaves_no_study_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "data"
    generate_suite(data, tasks=("Syn_Counting",), n_train=2, n_val=2, seed=0)
    path = _config(tmp_path, data, models=[{"name": "no-such-org/no-such-model"}])
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert "models.0.name" in result.stderr
    assert not (tmp_path / "out").exists()


def _study_with_baseline(tmp_path):
    """A study directory whose store holds the baseline (no model run: the record is made up)."""
    from vlmtransfer.store import RunRecord, StudyStore
    from vlmtransfer.study.plan import BASE, job_results_hash
    from vlmtransfer.study.runner import CONFIG_COPY

    data = tmp_path / "data"
    _task(data, "T")
    config = load_study_config(_config(tmp_path, data, output=str(tmp_path / "original")))
    job = Job("tiny", BASE, None)
    results_hash = job_results_hash(config, resolve_tasks(config), job)
    config.output.mkdir()
    (config.output / CONFIG_COPY).write_text(config.model_dump_json())
    prediction = {"id": "0", "task": "T", "answer": "A", "predicted": "A", "correct": True}
    with StudyStore(config.output) as store:
        store.add_run(RunRecord("tiny", BASE, None, results_hash, [prediction], {"T": (100.0, 1)}, {}))
    return config.output


def test_status_of_a_copied_study_reads_the_copys_store_and_warns(tmp_path):
    original = _study_with_baseline(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "study.json").write_bytes((original / "study.json").read_bytes())  # the store not (yet) copied
    result = CliRunner().invoke(app, ["status", str(copy)])
    assert result.exit_code == 0, result.output
    assert "0 done, 2 to run" in result.stdout
    assert result.stderr.startswith(f"warning: {copy} records output {original}")
    same = CliRunner().invoke(app, ["status", str(original)])
    assert "1 done, 1 to run" in same.stdout
    assert same.stderr == ""


def test_status_of_a_damaged_config_copy_is_exit_2(tmp_path):
    (tmp_path / "study.json").write_text("{not json")
    result = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'study.json'}: not a valid study config copy")


def _fill_disk(monkeypatch):
    """Every store opened from now on is full: SQLite refuses to grow it (as on a full disk)."""
    from vlmtransfer.store import StudyStore

    opened = StudyStore._open

    def full(self):
        opened(self)
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(StudyStore, "_open", full)


class _OneBigRun:
    """An executor that 'runs' every job at once, producing more predictions than fit."""

    def execute(self, config, tasks, jobs, store_run):
        from vlmtransfer.store import RunRecord

        for job in jobs:
            predictions = [
                {"id": str(i), "task": "T", "answer": "A", "predicted": "A", "correct": True}
                for i in range(3000)
            ]
            store_run(RunRecord(job.model, job.source, job.seed, "h", predictions, {"T": (100.0, 3000)}, {}))


def test_a_full_disk_during_run_is_one_line_exit_3_and_the_store_stays_intact(tmp_path, monkeypatch):
    from vlmtransfer.store import STORE_FILE, StudyStore
    from vlmtransfer.study import runner

    study = _study_with_baseline(tmp_path)
    monkeypatch.setattr(runner, "get_executor", lambda kind: _OneBigRun())
    _fill_disk(monkeypatch)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "study.yaml")])
    assert result.exit_code == 3, result.output
    error = result.stderr.strip().splitlines()[-1]  # after the progress bar
    assert error.startswith(f"error: {study / STORE_FILE}: database or disk is full; free some space")
    assert "Traceback" not in result.output
    monkeypatch.undo()
    with StudyStore(study) as store:
        assert list(store.finished()) == ["tiny|base|"]


@pytest.mark.parametrize("command", ["status", "analyze", "run"])
def test_a_corrupt_store_is_exit_2_naming_it(tmp_path, command):
    from vlmtransfer.store import STORE_FILE

    study = _study_with_baseline(tmp_path)
    for leftover in study.glob(f"{STORE_FILE}-*"):
        leftover.unlink()
    (study / STORE_FILE).write_bytes(b"this is not an SQLite database, whatever its name says" * 100)
    target = tmp_path / "study.yaml" if command == "run" else study
    result = CliRunner().invoke(app, [command, str(target)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {study / STORE_FILE}: not a readable study store")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_full_disk_while_writing_a_report_names_the_path_and_exits_3(tmp_path, monkeypatch):
    import errno
    import os

    from tests.conftest import accuracy_rows

    table = tmp_path / "acc.csv"
    table.write_text("\n".join(",".join(map(str, row)) for row in accuracy_rows()) + "\n")
    analysis = tmp_path / "analysis"
    assert CliRunner().invoke(app, ["analyze", str(table), "--out", str(analysis), "--quiet"]).exit_code == 0

    def full(self, data):  # a write on a full disk: the OSError names no file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(analysis), "--out", str(out)])
    monkeypatch.undo()
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"error: {out}")
    assert "No space left on device; free some space and run again" in result.stderr
    assert not out.exists()


def test_the_machine_refusing_is_recognised_wherever_it_comes_from(tmp_path):
    import errno
    import sqlite3

    from safetensors import SafetensorError

    from vlmtransfer.errors import system_refusal

    full = SafetensorError(
        'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space" })'
    )
    assert "free some space" in system_refusal(full, source=tmp_path).problem
    assert system_refusal(full, source=tmp_path).source == str(tmp_path)
    denied = OSError(errno.EACCES, "Permission denied", str(tmp_path / "x"))
    assert system_refusal(denied).source == str(tmp_path / "x")
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = sqlite3.OperationalError("database or disk is full")
    assert system_refusal(wrapped) is not None
    assert system_refusal(sqlite3.OperationalError("no such table: runs")) is None
    assert system_refusal(ValueError("bad")) is None


def test_a_second_concurrent_run_refuses_before_printing_anything(tmp_path):
    import fcntl

    study = _study_with_baseline(tmp_path)
    with (study / ".lock").open("a") as first_run:
        fcntl.flock(first_run, fcntl.LOCK_EX)
        result = CliRunner().invoke(app, ["run", str(tmp_path / "study.yaml")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {study}: another vlmtransfer process is running this study\n"
    assert CliRunner().invoke(app, ["run", str(tmp_path / "study.yaml"), "--dry-run"]).exit_code == 0
