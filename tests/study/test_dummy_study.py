"""The study machinery with the dummy scorer, in the default suite and without torch (issue 29 item 5):
running, resuming after an interruption, stale settings, Ray, ``select --run``; and one pipeline (item
3): ``finetune`` and ``evaluate`` make exactly the adapters and answers the study's worker makes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.dataset import collect_questions
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.evaluate.dummy import DummyScorer
from vlmtransfer.pipeline import evaluate, flat_requests
from vlmtransfer.store import StudyStore
from vlmtransfer.study.config import load_study_config
from vlmtransfer.study.jobs import results_spec
from vlmtransfer.study.plan import plan_jobs, resolve_tasks

TASKS = ("Syn_Spatial_Relation", "Syn_Object_Localization", "Syn_Art_Style")
HEAVY = ("torch", "transformers", "peft", "accelerate", "safetensors")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    generate_suite(out, tasks=TASKS, n_train=12, n_val=8, seed=0)
    return out


def study(tmp_path, data_dir, name="study", file=None, **changes):
    """A study config (written to ``file``, default ``<name>.yaml``) of the dummy model ``toy``."""
    config = {
        "name": name,
        "output": str(tmp_path / name),
        "models": [{"name": "toy", "scorer": "dummy"}],
        "data": {"dirs": [str(data_dir)]},
        "seeds": [0, 1],
        "train": {"max_steps": 3, "batch_size": 4},
    } | changes
    path = tmp_path / (file or f"{name}.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def invoke(*args, code=0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def table(study_dir):
    return pd.read_csv(study_dir / "accuracy.csv", keep_default_na=False)


def test_a_study_with_the_dummy_scorer_runs_and_resumes_without_importing_torch(tmp_path, data_dir):
    """In a fresh interpreter: run, run again (nothing to do), add a seed, status, and the finetune and
    evaluate verbs: no ML library is ever imported."""
    config = study(tmp_path, data_dir)
    more = study(tmp_path, data_dir, file="more.yaml", seeds=[0, 1, 2])
    code = f"""
import json, sys
from typer.testing import CliRunner
from vlmtransfer.cli.main import app

def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout

outputs = [
    invoke("run", {str(config)!r}),
    invoke("run", {str(config)!r}),
    invoke("run", {str(more)!r}),
    invoke("status", {str(tmp_path / "study")!r}),
    invoke("finetune", "--scorer", "dummy", "--model", "toy", "--train", {str(data_dir)!r},
           "--task", "Syn_Art_Style", "--out", {str(tmp_path / "adapter")!r}, "--max-steps", "2"),
    invoke("evaluate", "--scorer", "dummy", "--model", "toy", "--data", {str(data_dir)!r},
           "--adapter", {str(tmp_path / "adapter")!r}, "--out", {str(tmp_path / "eval.json")!r},
           "--batch-size", "auto"),
]
print(json.dumps({{"outputs": outputs, "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    first, again, more_seeds, status = report["outputs"][:4]
    assert "7 jobs: 0 done, 7 to run (6 finetunes)" in first
    assert "7 jobs: 7 done, 0 to run" in again
    assert "10 jobs: 7 done, 3 to run (3 finetunes)" in more_seeds
    assert "10 jobs: 10 done, 0 to run" in status
    assert len(table(tmp_path / "study")) == len(TASKS) * (1 + 3 * 3)
    document = json.loads((tmp_path / "eval.json").read_text())
    assert [run["label"] for run in document["runs"]] == ["base", "adapter"]
    assert (document["scorer"], document["vision_cache"]) == ("dummy", False)
    assert document["batch_size"] == len(TASKS) * 8  # auto: one batch of every question


def test_the_study_stores_what_the_finetune_and_evaluate_pipeline_computes(tmp_path, data_dir):
    """One pipeline: the study's adapters and answers are those of the verbs given the same settings."""
    out = tmp_path / "study"
    invoke("run", study(tmp_path, data_dir))
    with StudyStore(out) as store:
        runs = store.runs()
        predictions = store.predictions()
    source = "Syn_Art_Style"
    adapter = out / runs[(runs["source"] == source) & (runs["seed"] == 1)]["adapter"].iloc[0]
    invoke(
        "finetune", "--scorer", "dummy", "--model", "toy", "--train", data_dir, "--task", source,
        "--out", tmp_path / "verb-adapter", "--seed", 1, "--max-steps", 3, "--batch-size", 4,
    )  # fmt: skip
    made = tmp_path / "verb-adapter"
    assert (made / "adapter_config.json").read_text() == (adapter / "adapter_config.json").read_text()
    invoke(
        "evaluate", "--scorer", "dummy", "--model", "toy", "--data", data_dir, "--adapter", made,
        "--out", tmp_path / "eval.json", "--accuracy-csv", tmp_path / "verb.csv", "--label", "toy",
    )  # fmt: skip
    verb = pd.read_csv(tmp_path / "verb.csv", keep_default_na=False)
    mine = table(out)
    for frame in (verb, mine):
        frame["seed"] = frame["seed"].astype(str)
    keep = mine[mine["source"].isin(["base", source]) & mine["seed"].isin(["", "1"])]
    pd.testing.assert_frame_equal(
        verb.drop(columns="n").sort_values(["source", "target"]).reset_index(drop=True),
        keep.drop(columns="n").sort_values(["source", "target"]).reset_index(drop=True),
    )
    # and the stored answers are the library pipeline's, exactly
    requests = flat_requests(collect_questions([data_dir], "val", tasks=list(TASKS)))
    expected = evaluate(DummyScorer("toy"), requests, mode="loglik", adapter=adapter).results
    stored = predictions[(predictions["source"] == source) & (predictions["seed"] == 1)]
    stored = stored.set_index(["target", "question_id"])
    for result in expected:
        row = stored.loc[(result.task, result.id)]
        assert row["predicted"] == result.predicted
        assert json.loads(row["logprobs"]) == list(result.logprobs)


class KilledError(Exception):
    """The process dying mid-job."""


def test_an_interrupted_study_resumes_to_the_same_table(tmp_path, data_dir, monkeypatch):
    """KilledError after the fourth job's finetune, before its run was stored: the rerun does the four
    missing jobs, reuses that adapter, and ends with the table of an uninterrupted study."""
    from vlmtransfer.study import worker

    invoke("run", study(tmp_path, data_dir, name="reference"))
    run = worker.ModelWorker.run
    done = []

    def dying(self, job):
        record = run(self, job)
        done.append(record)
        if len(done) == 4:
            raise KilledError
        return record

    monkeypatch.setattr(worker.ModelWorker, "run", dying)
    config = study(tmp_path, data_dir, name="interrupted")
    with pytest.raises(KilledError):
        CliRunner().invoke(app, ["run", str(config)], catch_exceptions=False)
    with StudyStore(tmp_path / "interrupted") as store:
        assert len(store.runs()) == 3
    trained = tmp_path / "interrupted" / done[-1].adapter / "adapter_config.json"
    stamp = trained.stat().st_mtime_ns
    monkeypatch.setattr(worker.ModelWorker, "run", run)
    assert "4 to run" in invoke("run", config, "--dry-run").stdout
    invoke("run", config)
    assert trained.stat().st_mtime_ns == stamp  # finetuned before the kill: reused, not retrained
    pd.testing.assert_frame_equal(table(tmp_path / "interrupted"), table(tmp_path / "reference"))


def test_changed_settings_are_stale_and_only_changed_training_retrains(tmp_path, data_dir):
    invoke("run", study(tmp_path, data_dir))
    adapters = sorted((tmp_path / "study" / "adapters").rglob("adapter_config.json"))
    trained = {path: path.read_text() for path in adapters}
    stamps = {path: path.stat().st_mtime_ns for path in adapters}

    generate = study(tmp_path, data_dir, eval={"mode": "generate"})
    refused = invoke("run", generate, code=2)
    assert "7 stored runs" in refused.stderr
    assert 'eval.mode: "loglik" -> "generate"' in refused.stderr
    invoke("run", generate, "--reset-changed")
    assert {path: path.stat().st_mtime_ns for path in adapters} == stamps  # evaluation only: reused
    with StudyStore(tmp_path / "study") as store:
        assert store.predictions()["text"].notna().all()

    slower = study(tmp_path, data_dir, eval={"mode": "generate"}, train={"max_steps": 3, "batch_size": 4,
                                                                       "learning_rate": 1e-3})  # fmt: skip
    assert "6 to run (6 finetunes)" in invoke("status", slower).stdout  # the baseline does not train
    invoke("run", slower, "--reset-changed")
    assert all(path.read_text() != trained[path] for path in adapters)  # retrained: another key


def test_a_changed_library_default_is_a_changed_setting(tmp_path, data_dir, monkeypatch):
    from vlmtransfer.settings import TrainSettings

    config = study(tmp_path, data_dir, seeds=[0])
    invoke("run", config)
    names = [field.name for field in dataclasses.fields(TrainSettings)]
    defaults = list(TrainSettings.__init__.__defaults__)
    defaults[names.index("weight_decay")] = 0.1
    monkeypatch.setattr(TrainSettings.__init__, "__defaults__", tuple(defaults))
    assert "3 to run (3 finetunes)" in invoke("status", config).stdout
    refused = invoke("run", config, code=2)
    assert "training.train.weight_decay: 0.0 -> 0.1" in refused.stderr


def test_dummy_keys_name_the_scorer_and_no_ml_library(tmp_path, data_dir):
    config = load_study_config(study(tmp_path, data_dir))
    tasks = resolve_tasks(config)
    base, finetune = plan_jobs(config, tasks)[:2]
    spec = results_spec(config, tasks, finetune)
    assert spec["training"]["model"] == {"name": "toy", "revision": None, "files": None, "scorer": "dummy"}
    assert spec["training"]["versions"] == {"vlmtransfer": 1}
    assert results_spec(config, tasks, base)["base"]["versions"] == {"vlmtransfer": 1}


def test_an_unknown_scorer_is_refused_naming_the_key(tmp_path, data_dir):
    config = study(tmp_path, data_dir, models=[{"name": "toy", "scorer": "dumy"}])
    result = invoke("run", config, code=2)
    assert f"{config}: models.0.scorer: unknown scorer 'dumy' (did you mean 'dummy'?" in result.stderr


def test_ray_runs_the_dummy_study_to_the_local_table(tmp_path, data_dir):
    pytest.importorskip("ray")
    invoke("run", study(tmp_path, data_dir, name="local", seeds=[0]))
    ray = study(tmp_path, data_dir, name="ray", seeds=[0], executor={"kind": "ray", "workers": 2})
    invoke("run", ray)
    pd.testing.assert_frame_equal(table(tmp_path / "ray"), table(tmp_path / "local"))


def test_select_run_tests_a_recipe_with_the_dummy_scorer(tmp_path, data_dir):
    config = study(tmp_path, data_dir)
    invoke("run", config)
    invoke("analyze", tmp_path / "study", "--quiet", "--bootstrap", "100")
    analysis = tmp_path / "study" / "analysis"
    target = "Syn_Art_Style"
    args = ["select", "--analysis", analysis, "--model", "toy", "--target", target, "--top-k", "1",
            "--run", config, "--draws", "2", "--json"]  # fmt: skip
    document = json.loads(invoke(*args).stdout)
    assert document == json.loads((tmp_path / "study" / "selection" / f"{target}.json").read_text())
    arms = {arm["name"]: arm for arm in document["arms"]}
    assert list(arms) == ["base", "pgf", "random-0", "random-1", "direct"]
    assert arms["direct"]["position"] == pytest.approx(1)
    assert set(arms["pgf"]["per_seed"]) == {"0", "1"}
    with StudyStore(tmp_path / "study") as store:
        assert (store.runs()["kind"] == "mixture").sum() == 3 * 2
    assert json.loads(invoke(*args).stdout) == document  # nothing rerun, the same numbers


def test_local_worker_processes_give_the_in_process_table_and_never_import_torch(tmp_path, data_dir):
    """``executor.workers`` spreads the jobs over spawned processes, which inherit the environment: with
    every ML library made unimportable there, the dummy study still runs, to the in-process table."""
    invoke("run", study(tmp_path, data_dir, name="one"))
    blocked = tmp_path / "blocked"
    for name in HEAVY:
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} imported')\n")
    two = study(tmp_path, data_dir, name="two", executor={"kind": "local", "workers": 2})
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "vlmtransfer", "run", str(two)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pd.testing.assert_frame_equal(table(tmp_path / "two"), table(tmp_path / "one"))
