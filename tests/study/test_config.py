"""Study configs: validation with the key named, path resolution, hashes, the plan."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.errors import InputError
from vlmtransfer.study.config import load_study_config
from vlmtransfer.study.plan import BASE, plan_jobs, resolve_tasks

TASKS = ("Syn_Counting", "Syn_Jigsaw")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    generate_suite(out, tasks=TASKS, n_train=4, n_val=2, seed=0)
    return out


def write(tmp_path, **changes):
    config = {
        "name": "t",
        "output": "out",
        "models": [{"name": "tiny"}],
        "data": {"dirs": [str(tmp_path / "data")]},
        "seeds": [0, 1],
    }
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def study_dir(tmp_path, data_dir):
    (tmp_path / "data").symlink_to(data_dir)
    return tmp_path


def test_plan_has_a_baseline_then_sources_by_seeds(study_dir):
    config = load_study_config(write(study_dir))
    assert config.output == (study_dir / "out").resolve()
    tasks = resolve_tasks(config)
    assert tasks.targets == tasks.sources == list(TASKS)
    jobs = plan_jobs(config, tasks)
    assert [(j.source, j.seed) for j in jobs] == [
        (BASE, None), ("Syn_Counting", 0), ("Syn_Counting", 1), ("Syn_Jigsaw", 0), ("Syn_Jigsaw", 1),
    ]  # fmt: skip
    assert len({j.key for j in jobs}) == 5


def test_results_hash_ignores_seeds_and_sources_but_not_training(study_dir):
    base = load_study_config(write(study_dir))
    more_seeds = load_study_config(write(study_dir, seeds=[0, 1, 2]))
    other_lr = load_study_config(write(study_dir, train={"learning_rate": 1e-3}))
    model = base.models[0]
    assert base.results_hash(model, list(TASKS)) == more_seeds.results_hash(model, list(TASKS))
    assert base.results_hash(model, list(TASKS)) != other_lr.results_hash(model, list(TASKS))
    assert base.results_hash(model, list(TASKS), baseline=True) == other_lr.results_hash(
        model, list(TASKS), baseline=True
    )
    assert base.results_hash(model, list(TASKS)) != base.results_hash(model, ["Syn_Counting"])


def test_vision_lora_is_in_the_hashes_only_when_set(study_dir):
    """Studies made before ``lora.vision`` existed keep their hashes (and so their stored runs)."""
    base = load_study_config(write(study_dir))
    off = load_study_config(write(study_dir, lora={"vision": False}))
    on = load_study_config(write(study_dir, lora={"vision": True}))
    model = base.models[0]
    assert "vision" not in base.lora.hashed()
    assert base.training_hash(model) == off.training_hash(model) != on.training_hash(model)
    assert base.results_hash(model, list(TASKS)) != on.results_hash(model, list(TASKS))


@pytest.mark.parametrize(
    ("changes", "where", "problem"),
    [
        ({"seeds": []}, "seeds", "at least 1 item"),
        ({"seeds": [0, -1]}, "seeds.1", "greater than or equal to 0"),
        ({"seeds": [1, 1]}, "seeds", "seeds must be distinct"),
        ({"seeds": "zero"}, "seeds", "valid list"),
        ({"seeds": None}, "seeds", "Field required"),
        ({"modles": []}, "modles", "unknown key"),
        ({"train": {"learning_rate": 0}}, "train.learning_rate", "greater than 0"),
        ({"eval": {"mode": "vote"}}, "eval.mode", "'loglik', 'generate' or 'both'"),
        ({"executor": {"kind": "slurm"}}, "executor.kind", "'local' or 'ray'"),
        ({"models": [{"name": "a"}, {"name": "a"}]}, "(top level)", "labels must be distinct"),
    ],
)
def test_invalid_configs_name_the_key(study_dir, changes, where, problem):
    path = write(study_dir, **changes)
    with pytest.raises(InputError) as caught:
        load_study_config(path)
    assert caught.value.where == where
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {where}: ")


@pytest.mark.parametrize(
    ("changes", "where", "problem"),
    [
        ({"data": {"dirs": ["missing"]}}, "data.dirs.0", "not found"),
        (
            {"data": {"dirs": ["data"], "targets": ["Syn_Counting", "Syn_Nope"]}},
            "data.targets.1",
            "'Syn_Nope'",
        ),
        (
            {"data": {"dirs": ["data"], "sources": ["Counting"]}},
            "data.sources.0",
            "'Counting' has no 'train'",
        ),
        ({"models": [{"name": "/no/such/model"}]}, "models.0.name", "not found"),
    ],
)
def test_tasks_data_and_model_paths_are_checked_against_the_disk(study_dir, changes, where, problem):
    path = write(study_dir, **changes)
    with pytest.raises(InputError) as caught:
        resolve_tasks(load_study_config(path), path)
    assert caught.value.where == where
    assert problem in caught.value.problem


def test_cli_reports_bad_configs_with_exit_2(study_dir):
    path = write(study_dir, data={"dirs": ["data"], "targets": ["Syn_Nope"]})
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: data.targets.0: task 'Syn_Nope'")
    bad_yaml = study_dir / "bad.yaml"
    bad_yaml.write_text("models: [\n")
    result = CliRunner().invoke(app, ["run", str(bad_yaml)])
    assert result.exit_code == 2
    assert "invalid YAML" in result.stderr
    assert not (study_dir / "out").exists()


def test_dry_run_prints_the_plan_size(study_dir):
    result = CliRunner().invoke(app, ["run", str(write(study_dir)), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "5 jobs: 0 done, 5 to run (4 finetunes)" in result.stdout
    assert not (study_dir / "out").exists()


def test_shipped_configs_validate():
    from tests.conftest import REPO
    from vlmtransfer.study.demo import demo_config

    paper = load_study_config(REPO / "configs" / "paper.yaml")
    assert [m.key for m in paper.models] == ["3B", "7B", "32B"]
    assert len(paper.data.targets) == 13
    assert paper.seeds == [0, 1, 2, 3]
    demo = load_study_config(REPO / "configs" / "demo.yaml")
    expected = demo_config(REPO / "demo-out")
    assert demo.model_dump(exclude={"name", "data"}) == expected.model_dump(exclude={"name", "data"})
    assert demo.data.dirs == expected.data.dirs
