"""Results and stores from before issue 29 (one settings schema, content-addressed job keys).

``fixtures/regression`` was made by main at 210bfe3 (``make_fixture.py``): a small study on a copy of the
tiny model with default settings (LoRA, eval batch size) and its accuracy table and store. The same study
run by this code must give the same table and the same per-question log-probabilities; a store written by
that code is migrated where its runs can be vouched for, and refused with a clear message where not.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.store import STORE_FILE, StudyStore
from vlmtransfer.study.config import StudyConfig, load_study_config
from vlmtransfer.study.legacy import legacy_results_hash
from vlmtransfer.study.plan import plan_jobs, resolve_tasks

FIXTURE = Path(__file__).parent / "fixtures" / "regression"
LEGACY = FIXTURE / "legacy-study"


def _config(tmp_path: Path, output: str = "out") -> Path:
    """The fixture's study, run into ``tmp_path/output`` (model and data read in place)."""
    text = (FIXTURE / "study.yaml").read_text()
    text = text.replace("./model", str(FIXTURE / "model")).replace("./data", str(FIXTURE / "data"))
    path = tmp_path / "study.yaml"
    path.write_text(text.replace("./out", str(tmp_path / output)))
    return path


def _invoke(*args: object) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _stored_predictions(study_dir: Path) -> pd.DataFrame:
    with sqlite3.connect(study_dir / STORE_FILE) as db:
        frame = pd.read_sql_query(
            "SELECT r.key, p.target, p.question_id, p.predicted, p.logprobs FROM predictions p"
            " JOIN runs r ON r.id = p.run_id ORDER BY r.key, p.target, p.question_id",
            db,
        )
    frame["logprobs"] = frame["logprobs"].map(json.loads)
    return frame


@pytest.fixture(scope="module")
def rerun(tmp_path_factory) -> Path:
    """The fixture's study run by this code."""
    tmp_path = tmp_path_factory.mktemp("rerun")
    _invoke("run", _config(tmp_path))
    return tmp_path / "out"


def test_unchanged_settings_give_the_same_accuracy_table_as_before(rerun):
    before = pd.read_csv(FIXTURE / "accuracy.csv", keep_default_na=False)
    after = pd.read_csv(rerun / "accuracy.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(after, before)


def test_unchanged_settings_give_the_same_log_probabilities_as_before(rerun):
    before, after = _stored_predictions(LEGACY), _stored_predictions(rerun)
    pd.testing.assert_frame_equal(after.drop(columns="logprobs"), before.drop(columns="logprobs"))
    for old, new in zip(before["logprobs"], after["logprobs"], strict=True):
        assert new == pytest.approx(old, abs=1e-5)


def test_the_legacy_formulas_reproduce_the_hashes_that_code_stored(tmp_path):
    """study.legacy's frozen formulas, applied to the config that code recorded (with its paths), give
    exactly the hashes in its store: what makes migrating by them safe."""
    recorded = StudyConfig.model_validate(json.loads((LEGACY / "study.json").read_text()))
    tasks = resolve_tasks(_with_fixture_paths(recorded))  # the same files, where they are now
    with StudyStore(_copy_legacy(tmp_path)) as store:
        stored = store.finished()
    expected = {job.key: legacy_results_hash(recorded, tasks, job) for job in plan_jobs(recorded, tasks)}
    assert stored == expected


def test_a_legacy_store_whose_runs_match_is_migrated_and_nothing_reruns(tmp_path):
    config_path = _config(tmp_path, output="legacy")
    config = load_study_config(config_path)
    study_dir = _copy_legacy(tmp_path, "legacy")
    tasks = resolve_tasks(config)
    with sqlite3.connect(study_dir / STORE_FILE) as db:  # as that code would have stored for these paths
        for job in plan_jobs(config, tasks):
            hashed = legacy_results_hash(config, tasks, job)
            db.execute("UPDATE runs SET results_hash = ? WHERE key = ?", (hashed, job.key))
    assert "0 to run" in _invoke("status", config_path)
    _invoke("run", config_path)
    with StudyStore(study_dir) as store:
        assert store.schema_version() == "2"
        assert all(spec is not None for spec in store.specs().values())
    before = pd.read_csv(FIXTURE / "accuracy.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(pd.read_csv(study_dir / "accuracy.csv", keep_default_na=False), before)
    assert "0 to run" in _invoke("status", config_path)


def test_a_legacy_store_made_elsewhere_is_refused_with_a_clear_message(tmp_path):
    """Its data paths differ from this config's, so nothing vouches for its runs: stale, not reused."""
    config_path = _config(tmp_path, output="legacy")
    shutil.copytree(FIXTURE / "data", tmp_path / "data")  # the same files, at another path
    config_path.write_text(config_path.read_text().replace(str(FIXTURE / "data"), str(tmp_path / "data")))
    _copy_legacy(tmp_path, "legacy")
    result = CliRunner().invoke(app, ["run", str(config_path)])
    assert result.exit_code == 2
    assert "5 stored runs" in result.stderr
    assert "by an earlier vlmtransfer" in result.stderr
    assert "--reset-changed" in result.stderr


def _copy_legacy(tmp_path: Path, name: str = "legacy") -> Path:
    target = tmp_path / name
    shutil.copytree(LEGACY, target)
    return target


def _with_fixture_paths(config: StudyConfig) -> StudyConfig:
    """The recorded config with its model and data where the fixture is now (it recorded the absolute
    paths of the checkout that made it)."""
    data = config.data.model_copy(update={"dirs": [FIXTURE / "data"]})
    models = [m.model_copy(update={"name": str(FIXTURE / "model")}) for m in config.models]
    return config.model_copy(update={"data": data, "models": models})
