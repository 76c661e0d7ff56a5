"""A study model too big for one GPU (issue 25 item 4): ``models[].gpus`` gives its workers that many GPUs
(Ray actors with ``num_gpus`` = that count) and splits the model over them, without changing any job key.
No GPU here: Ray is replaced by a stand-in that records the actors' options and runs them in-process."""

from __future__ import annotations

import sys
import types

import pytest
import yaml

from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.study.config import load_study_config
from vlmtransfer.study.executors import RayExecutor
from vlmtransfer.study.jobs import job_key
from vlmtransfer.study.plan import plan_jobs, resolve_tasks
from vlmtransfer.study.worker import load_worker_scorer, model_gpus

TASKS = ("Syn_Spatial_Relation", "Syn_Art_Style")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    generate_suite(out, tasks=TASKS, n_train=8, n_val=4, seed=0)
    return out


def _config(tmp_path, data_dir, models, **changes):
    document = {
        "output": str(tmp_path / "study"),
        "models": models,
        "data": {"dirs": [str(data_dir)]},
        "seeds": [0],
        "train": {"max_steps": 2, "batch_size": 4},
    } | changes
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_study_config(path)


def test_gpus_leave_every_job_key_as_it_was(tmp_path, data_dir):
    keys = []
    for model in ({"name": "toy", "scorer": "dummy"}, {"name": "toy", "scorer": "dummy", "gpus": 2}):
        config = _config(tmp_path, data_dir, [model])
        tasks = resolve_tasks(config)
        keys.append([job_key(config, tasks, job) for job in plan_jobs(config, tasks)])
    assert keys[0] == keys[1]
    assert len(keys[0]) == 1 + len(TASKS)


def test_a_worker_holds_its_models_gpus_else_the_executors(tmp_path, data_dir):
    ray = {"kind": "ray", "num_gpus": 0.5}
    models = [{"name": "a", "scorer": "dummy", "gpus": 2}, {"name": "b", "scorer": "dummy"}]
    config = _config(tmp_path, data_dir, models, executor=ray)
    assert [model_gpus(config, m) for m in config.models] == [2, 1]  # half a GPU: one device, no split
    config = _config(tmp_path, data_dir, [{"name": "b", "scorer": "dummy"}], executor={"num_gpus": 4})
    assert model_gpus(config, config.models[0]) == 4


def test_gpus_must_be_a_whole_number_of_at_least_one(tmp_path, data_dir):
    from vlmtransfer.errors import InputError

    with pytest.raises(InputError, match=r"models\.0\.gpus"):
        _config(tmp_path, data_dir, [{"name": "a", "scorer": "dummy", "gpus": 0}])
    with pytest.raises(InputError, match=r"models\.0\.gpus"):
        _config(tmp_path, data_dir, [{"name": "a", "scorer": "dummy", "gpus": 1.5}])


def test_the_worker_asks_its_scorer_for_the_models_gpus(tmp_path, data_dir):
    from vlmtransfer.evaluate import registry

    seen = []
    kind = registry.get_scorer("dummy")
    registry.SCORERS.register(
        "dummy", type(kind)(**{**vars(kind), "load": lambda m, o: seen.append(o.gpus)}), replace=True
    )
    try:
        config = _config(tmp_path, data_dir, [{"name": "a", "scorer": "dummy", "gpus": 3}])
        load_worker_scorer(config, config.models[0])
    finally:
        registry.SCORERS.register("dummy", kind, replace=True)
    assert seen == [3]


class _FakeRay(types.ModuleType):
    """What RayExecutor uses of Ray: actors are built and run in this process; their options recorded."""

    def __init__(self) -> None:
        super().__init__("ray")
        self.actors: list[dict] = []
        self.exceptions = types.SimpleNamespace(RayTaskError=type("RayTaskError", (Exception,), {}))
        self.util = types.ModuleType("ray.util")
        self.util.ActorPool = _ActorPool

    def is_initialized(self) -> bool:
        return True

    def remote(self, **options):
        return lambda cls: _ActorClass(self, cls, options)

    def kill(self, actor) -> None:
        pass


class _ActorClass:
    def __init__(self, ray: _FakeRay, cls: type, options: dict) -> None:
        self.ray, self.cls, self.options_ = ray, cls, options

    def options(self, **changes):
        return _ActorClass(self.ray, self.cls, self.options_ | changes)

    def remote(self, *args):
        self.ray.actors.append({"model": args[1].key, **self.options_})
        instance = self.cls(*args)
        return types.SimpleNamespace(run=types.SimpleNamespace(remote=instance.run))


class _ActorPool:
    def __init__(self, actors: list) -> None:
        self.actors = actors

    def map_unordered(self, call, jobs):
        return (call(self.actors[k % len(self.actors)], job) for k, job in enumerate(jobs))


def test_ray_actors_of_a_split_model_request_its_gpus(tmp_path, data_dir, monkeypatch):
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setitem(sys.modules, "ray.util", fake.util)
    executor = {"kind": "ray", "workers": 2, "num_gpus": 1, "num_cpus": 4}
    models = [{"name": "big", "scorer": "dummy", "gpus": 2}, {"name": "small", "scorer": "dummy"}]
    config = _config(tmp_path, data_dir, models, executor=executor)
    tasks = resolve_tasks(config)
    jobs = plan_jobs(config, tasks)
    records = []
    RayExecutor().execute(config, tasks, jobs, records.append)
    assert sorted((r.model, r.source) for r in records) == sorted((j.model, j.source) for j in jobs)
    requested = {(actor["model"], actor["num_gpus"], actor["num_cpus"]) for actor in fake.actors}
    assert requested == {("big", 2, 4), ("small", 1, 4)}
    assert len(fake.actors) == 4  # two workers per model


def test_a_worker_without_the_gpus_says_so_naming_the_key(tmp_path, data_dir):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.device_count() >= 2:
        pytest.skip("this machine has two GPUs")
    from vlmtransfer.errors import InputError

    config = _config(tmp_path, data_dir, [{"name": "tiny", "gpus": 2}])
    with pytest.raises(InputError, match=r"models\.0\.gpus.*split over 2 GPUs, but \d are visible here"):
        load_worker_scorer(config, config.models[0])
