"""Running studies on the embedded tiny model: resume, idempotence, kill-and-resume, Ray = local."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.store import STORE_FILE, StudyStore

# Tasks the shipped tiny model has not learnt: on 6 val questions a learnt one can sit at its ceiling,
# where PGF is undefined.
TASKS = ("Syn_Spatial_Relation", "Syn_Art_Style")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    generate_suite(out, tasks=TASKS, n_train=12, n_val=6, seed=0)
    return out


def study(tmp_path, data_dir, name="study", **changes):
    config = {
        "name": name,
        "output": str(tmp_path / name),
        "models": [{"name": "tiny"}],
        "data": {"dirs": [str(data_dir)]},
        "seeds": [0, 1],
        "train": {"learning_rate": 5e-3, "max_steps": 3, "batch_size": 4},
        "eval": {"batch_size": 16},
    } | changes
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def table(study_dir):
    return pd.read_csv(study_dir / "accuracy.csv", keep_default_na=False)


def test_a_study_runs_resumes_and_is_idempotent(tmp_path, data_dir):
    config = study(tmp_path, data_dir)
    log = run("run", config)
    assert "[5/5] tiny " in log.output  # no terminal here: a plain line per finished job
    out = tmp_path / "study"
    first = table(out)
    assert len(first) == len(TASKS) * (1 + 2 * 2)
    assert set(first["source"]) == {"base", *TASKS}
    assert (first[first["source"] == "base"]["seed"] == "").all()
    with StudyStore(out) as store:
        runs = store.runs()
        predictions = store.predictions()
    assert len(runs) == 5
    assert len(predictions) == 5 * len(TASKS) * 6
    assert runs["adapter"].dropna().str.startswith("adapters/tiny/").all()

    again = run("run", config)
    assert "0 to run" in again.stdout
    with StudyStore(out) as store:
        assert store.runs()["finished_at"].tolist() == runs["finished_at"].tolist()
    pd.testing.assert_frame_equal(table(out), first)

    more = study(tmp_path, data_dir, seeds=[0, 1, 2])
    assert "2 to run (2 finetunes)" in run("run", more, "--dry-run").stdout
    run("run", more)
    assert len(table(out)) == len(TASKS) * (1 + 2 * 3)
    pd.testing.assert_frame_equal(table(out).merge(first).sort_index(axis=1), first.sort_index(axis=1))

    analysis = run("analyze", out, "--quiet")
    assert (out / "analysis" / "analysis.json").is_file(), analysis.output


def test_a_study_with_vision_lora_scores_each_adapter_with_its_own_vision_tower(tmp_path, data_dir):
    """The worker shares preprocessed pixels between seeds and adapters; the stored answers must be
    those of a plain evaluation (images encoded by the adapted tower, nothing cached)."""
    from safetensors.torch import load_file

    from vlmtransfer.data.dataset import load_questions
    from vlmtransfer.evaluate import EvalSettings, Evaluator
    from vlmtransfer.models import load_model

    out = tmp_path / "study"
    run("run", study(tmp_path, data_dir, seeds=[0], lora={"vision": True}))
    with StudyStore(out) as store:
        runs = store.runs()
        predictions = store.predictions()
    tuned = runs[runs["source"] == TASKS[0]].iloc[0]
    adapter = out / tuned["adapter"]
    weights = load_file(adapter / "adapter_model.safetensors")
    assert any("visual" in key for key in weights)
    questions = [item for task in TASKS for item in load_questions(data_dir, task, "val")]
    expected = Evaluator(load_model("tiny"), questions, EvalSettings(cache_vision=False)).run(adapter)
    stored = predictions[predictions["source"] == TASKS[0]].set_index(["target", "question_id"])
    for result in expected:
        row = stored.loc[(result.task, result.id)]
        assert row["predicted"] == result.predicted
        assert json.loads(row["logprobs"]) == pytest.approx(list(result.logprobs), abs=1e-4)


NUMERIC = "Syn_Count"


def _numeric_task(root):
    """A val-only numeric task (a target, not a source): image questions answered by a number."""
    from PIL import Image

    from vlmtransfer.data.dataset import image_bytes, write_split
    from vlmtransfer.data.records import MCQRecord

    items = []
    for k in range(4):
        record = MCQRecord(
            f"n{k}",
            NUMERIC,
            (f"images/val_{k}.png",),
            "How many squares are in the image?",
            (),
            str(k + 2),
            {},
            answer_type="number",
        )
        items.append((record, [image_bytes(Image.new("RGB", (56, 56), (40 * k, 200 - 30 * k, 90)))]))
    write_split(root, NUMERIC, "val", items)
    return root


def test_a_numeric_target_is_stored_and_tabled_by_its_scores(tmp_path, data_dir, monkeypatch):
    """A study whose data has a numeric task keeps each answer's MRA: the store holds the evaluator's
    scores, the accuracy table is their mean x 100, and analysis reads them as the outcomes."""
    import re

    from vlmtransfer.analysis import load_inputs
    from vlmtransfer.data.dataset import load_questions
    from vlmtransfer.data.numbers import parse_number
    from vlmtransfer.evaluate import EvalSettings, Evaluator, scoring
    from vlmtransfer.models import load_model

    def reading(text):  # the tiny model answers "(D)", never a number: read a letter as its position
        letter = re.search(r"\(([A-Z])\)", text or "")
        return parse_number(text) if letter is None else float(ord(letter[1]) - ord("A") + 1)

    monkeypatch.setattr(scoring, "parse_number", reading)
    numeric_dir = _numeric_task(tmp_path / "numeric")
    out = tmp_path / "study"
    run("run", study(tmp_path, data_dir, seeds=[0], data={"dirs": [str(data_dir), str(numeric_dir)]}))
    with StudyStore(out) as store:
        runs = store.runs().set_index("source")
        predictions = store.predictions()
    accuracy = table(out)
    assert set(accuracy["target"]) == {*TASKS, NUMERIC}
    assert set(runs.index) == {"base", *TASKS}

    questions = [item for task in TASKS for item in load_questions(data_dir, task, "val")]
    questions += load_questions(numeric_dir, NUMERIC, "val")
    evaluator = Evaluator(load_model("tiny"), questions, EvalSettings(cache_vision=False))
    scores = []
    for source in ("base", TASKS[0]):
        adapter = None if source == "base" else out / runs.loc[source, "adapter"]
        expected = [r for r in evaluator.run(adapter) if r.task == NUMERIC]
        stored = predictions[(predictions["source"] == source) & (predictions["target"] == NUMERIC)]
        assert stored["score"].tolist() == [r.score for r in expected]
        assert stored["correct"].tolist() == [int(r.correct) for r in expected]
        scores += [r.score for r in expected]
    assert len(set(scores)) > 1, scores  # not all 0: the table below tells MRA from 0/1

    numeric = predictions[predictions["target"] == NUMERIC]
    means = numeric.groupby("source")["score"].mean()
    tabled = accuracy[accuracy["target"] == NUMERIC].set_index("source")["accuracy"]
    assert tabled.to_dict() == pytest.approx((100 * means).to_dict())
    assert predictions[predictions["target"] != NUMERIC]["score"].isna().all()  # multiple choice: none

    (model,) = load_inputs([out / "predictions.parquet"])  # what `analyze <study>` reads
    j = model.questions.targets.index(NUMERIC)
    base = numeric[numeric["source"] == "base"].sort_values("question_id")
    assert model.questions.base[j][0].tolist() == base["score"].tolist()
    analysis = run("analyze", out, "--quiet", "--bootstrap", "200")
    assert (out / "analysis" / "analysis.json").is_file(), analysis.output


def test_a_changed_setting_is_refused_then_redone_reusing_nothing_stale(tmp_path, data_dir):
    run("run", study(tmp_path, data_dir, seeds=[0]))
    changed = study(
        tmp_path, data_dir, seeds=[0], train={"learning_rate": 1e-3, "max_steps": 3, "batch_size": 4}
    )
    refused = CliRunner().invoke(app, ["run", str(changed)])
    assert refused.exit_code == 2
    assert "2 stored runs" in refused.stderr
    assert "--reset-changed" in refused.stderr
    run("run", changed, "--reset-changed")
    with StudyStore(tmp_path / "study") as store:
        assert len(store.runs()) == 3


def test_data_regenerated_in_place_makes_its_runs_stale_and_its_adapters_retrain(tmp_path):
    """The data directory's path is the same, its files are not: results and adapters made on the old
    files must not count as done (a demo whose val split grew once reused every earlier result)."""
    data = tmp_path / "data"
    generate_suite(data, tasks=TASKS, n_train=12, n_val=6, seed=0)
    config = study(tmp_path, data, seeds=[0])
    run("run", config)
    assert "0 to run" in run("run", config, "--dry-run").stdout
    adapter = next((tmp_path / "study" / "adapters").rglob("training.json"))
    trained = adapter.read_text()

    generate_suite(data, tasks=TASKS, n_train=12, n_val=8, seed=0)  # val grows, train is the same
    refused = CliRunner().invoke(app, ["run", str(config)])
    assert refused.exit_code == 2
    assert "3 stored runs" in refused.stderr
    run("run", config, "--reset-changed")
    assert adapter.read_text() == trained  # the training data did not change: adapters are reused
    assert len(table(tmp_path / "study")) == len(TASKS) * 3
    assert set(table(tmp_path / "study")["n"]) == {8}

    generate_suite(data, tasks=TASKS, n_train=10, n_val=8, seed=0)  # now the training split changes
    run("run", config, "--reset-changed")
    assert adapter.read_text() != trained


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_table(tmp_path, data_dir):
    slower = {"train": {"learning_rate": 5e-3, "max_steps": 40, "batch_size": 4}}  # time to kill mid-way
    reference = study(tmp_path, data_dir, name="reference", **slower)
    run("run", reference)
    killed = study(tmp_path, data_dir, name="killed", **slower)
    process = subprocess.Popen(
        [sys.executable, "-m", "vlmtransfer", "run", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    store_path = tmp_path / "killed" / STORE_FILE
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if store_path.is_file():
            with sqlite3.connect(store_path) as db:
                if db.execute("SELECT count(*) FROM runs").fetchone()[0] >= 2:
                    break
        time.sleep(0.2)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    with StudyStore(tmp_path / "killed") as store:
        assert 2 <= len(store.runs()) < 5
    run("run", killed)
    pd.testing.assert_frame_equal(table(tmp_path / "killed"), table(tmp_path / "reference"))
    leftovers = [p for p in (tmp_path / "killed").rglob(".*") if p.name.endswith((".staging", ".old"))]
    assert leftovers == []


@pytest.mark.slow
def test_ray_executor_gives_the_local_table(tmp_path, data_dir):
    pytest.importorskip("ray")
    run("run", study(tmp_path, data_dir, name="local", seeds=[0]))
    ray_study = study(tmp_path, data_dir, name="ray", seeds=[0], executor={"kind": "ray", "workers": 2})
    run("run", ray_study)
    pd.testing.assert_frame_equal(table(tmp_path / "ray"), table(tmp_path / "local"))


def _with_default(monkeypatch, kind, name, value):
    """The library's default of ``kind.name`` becomes ``value`` (as a release changing it would)."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(kind)]
    defaults = list(kind.__init__.__defaults__)
    defaults[names.index(name)] = value
    monkeypatch.setattr(kind.__init__, "__defaults__", tuple(defaults))


def test_a_changed_library_default_makes_the_runs_it_affects_stale(tmp_path, data_dir, monkeypatch):
    """Issue 29: keys hash the effective settings, so a default the YAML never mentions still counts."""
    from vlmtransfer.settings import TrainSettings

    config = study(tmp_path, data_dir, seeds=[0])
    run("run", config)
    assert "0 to run" in run("run", config, "--dry-run").stdout
    _with_default(monkeypatch, TrainSettings, "max_grad_norm", 0.5)
    assert TrainSettings().max_grad_norm == 0.5
    status = run("status", config).stdout
    assert "2 to run (2 finetunes)" in status  # the baseline does not train: still done
    refused = CliRunner().invoke(app, ["run", str(config)])
    assert refused.exit_code == 2
    assert "2 stored runs" in refused.stderr
    assert "training.train.max_grad_norm: 1.0 -> 0.5" in refused.stderr
    adapter = next((tmp_path / "study" / "adapters").rglob("training.json"))
    before = adapter.read_text()
    run("run", config, "--reset-changed")
    assert adapter.read_text() != before  # retrained under the new default, not reused
    assert '"max_grad_norm": 0.5' in adapter.read_text()
    assert "0 to run" in run("run", config, "--dry-run").stdout


def test_local_worker_processes_give_the_in_process_table(tmp_path, data_dir):
    run("run", study(tmp_path, data_dir, name="one", seeds=[0]))
    two = study(tmp_path, data_dir, name="two", seeds=[0], executor={"kind": "local", "workers": 2})
    run("run", two)
    pd.testing.assert_frame_equal(table(tmp_path / "two"), table(tmp_path / "one"))
    with StudyStore(tmp_path / "two") as store:
        assert len(store.runs()) == 1 + len(TASKS)


def test_an_error_in_a_worker_process_is_reported_like_one_in_process(tmp_path, data_dir):
    not_a_model = tmp_path / "not-a-model"  # exists, so planning passes it; loading it fails
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{}")
    outputs = []
    for workers in (1, 2):
        config = study(
            tmp_path,
            data_dir,
            name=f"bad{workers}",
            seeds=[0],
            models=[{"name": str(not_a_model)}],
            executor={"kind": "local", "workers": workers},
        )
        result = CliRunner().invoke(app, ["run", str(config)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        outputs.append(result.output.splitlines()[-1])
    assert outputs[0] == outputs[1]
    assert "models.0.name: cannot load local path" in outputs[1]
