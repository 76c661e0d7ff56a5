"""Hardening of studies against hostile input: no two names share a file, bad values fail early."""

from __future__ import annotations

import json

import pytest
import yaml

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
    worker.config, worker.training_hash = config, "h"
    with pytest.raises(InputError, match="refusing to overwrite"):
        worker._adapter(job)
    assert json.loads((out / "training.json").read_text())["source"] == "T "
