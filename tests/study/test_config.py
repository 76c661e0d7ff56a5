"""Study configs: validation with the key named, path resolution, hashes, the plan."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.errors import InputError
from vlmtransfer.settings import EvalSettings, LoraSettings, TrainSettings
from vlmtransfer.study.config import load_study_config
from vlmtransfer.study.jobs import job_key
from vlmtransfer.study.plan import BASE, Job, StudyTasks, plan_jobs, preview_tasks, resolve_tasks

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


def test_job_keys_ignore_seeds_and_sources_but_not_training(study_dir):
    base = load_study_config(write(study_dir))
    more_seeds = load_study_config(write(study_dir, seeds=[0, 1, 2]))
    other_lr = load_study_config(write(study_dir, train={"learning_rate": 1e-3}))
    tasks = resolve_tasks(base)
    finetune, baseline = Job("tiny", "Syn_Counting", 0), Job("tiny", BASE, None)
    assert job_key(base, tasks, finetune) == job_key(more_seeds, tasks, finetune)
    assert job_key(base, tasks, finetune) != job_key(other_lr, tasks, finetune)
    assert job_key(base, tasks, baseline) == job_key(other_lr, tasks, baseline)
    fewer_targets = StudyTasks(["Syn_Counting"], tasks.sources, tasks.data, tasks.models)
    assert job_key(base, tasks, finetune) != job_key(base, fewer_targets, finetune)


def test_every_result_changing_setting_is_settable_and_in_the_key(study_dir):
    """Issue 29: schedule, weight_decay, max_grad_norm and target_modules could not be set from a study
    and were not in the results hash."""
    base = load_study_config(write(study_dir))
    tasks = resolve_tasks(base)
    job = Job("tiny", "Syn_Counting", 0)
    changes = {
        "lora": {"target_modules": ["q_proj", "v_proj"], "vision": True},
        "train": {"schedule": "cosine", "weight_decay": 0.1, "max_grad_norm": 0.5},
        "eval": {"batch_size": 8},
    }
    for section, values in changes.items():
        for key, value in values.items():
            changed = load_study_config(write(study_dir, **{section: {key: value}}))
            resolved = getattr(changed, section)
            assert getattr(resolved, key) == (tuple(value) if isinstance(value, list) else value)
            assert job_key(changed, tasks, job) != job_key(base, tasks, job), (section, key)


def test_the_study_resolves_into_the_library_settings_and_their_defaults(study_dir):
    config = load_study_config(write(study_dir, lora={"rank": 4, "alpha": 8}))
    assert config.lora == LoraSettings(rank=4, alpha=8.0)
    assert config.train == TrainSettings()
    assert config.eval == EvalSettings()  # one default: a study and `evaluate` use the same batch size
    assert isinstance(config.lora.alpha, float)


def test_a_vision_lora_study_never_reuses_runs_of_an_earlier_vlmtransfer(study_dir):
    """Schema-1 stores hold language-model adapters only: a study with ``lora.vision`` is not them."""
    from vlmtransfer.study.jobs import result_versions
    from vlmtransfer.study.legacy import legacy_compatible

    versions = result_versions()
    assert legacy_compatible(load_study_config(write(study_dir)), versions)
    assert not legacy_compatible(load_study_config(write(study_dir, lora={"vision": True})), versions)


@pytest.mark.parametrize(
    ("changes", "where", "problem"),
    [
        ({"seeds": []}, "seeds", "at least 1 item"),
        ({"seeds": [0, -1]}, "seeds.1", "greater than or equal to 0"),
        ({"seeds": [1, 1]}, "seeds", "seeds must be distinct"),
        ({"seeds": "zero"}, "seeds", "valid list"),
        ({"seeds": None}, "seeds", "Field required"),
        ({"modles": []}, "modles", "unknown key"),
        ({"train": {"learning_rate": 0}}, "train.learning_rate", "must be > 0, got 0"),
        ({"train": {"schedule": "step"}}, "train.schedule", "'linear', 'constant' or 'cosine'"),
        ({"train": {"batch_size": True}}, "train.batch_size", "valid integer"),
        ({"train": {"seed": 3}}, "train.seed", "top-level seeds"),
        ({"train": {"lr": 1e-3}}, "train.lr", "unknown key"),
        ({"lora": {"alpha": "16"}}, "lora.alpha", "valid number"),
        ({"lora": {"target_modules": []}}, "lora.target_modules", "leaf names"),
        ({"lora": {"dropout": 1.0}}, "lora.dropout", "in [0, 1)"),
        ({"eval": {"cache_dir": "/tmp/x"}}, "eval.cache_dir", "set by the study"),
        ({"eval": {"batch_size": 0}}, "eval.batch_size", "must be >= 1"),
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
    vsi = load_study_config(REPO / "configs" / "paper-vsi.yaml")  # §5.3: image sources, video targets
    assert [m.key for m in vsi.models] == ["3B", "7B"]
    assert vsi.data.target_dirs == [(REPO / "data" / "vsibench").resolve()]
    assert len(vsi.data.sources) == 13
    assert vsi.data.targets[:13] == vsi.data.sources
    assert all(t.startswith("VSI_") for t in vsi.data.targets[13:])
    assert preview_tasks(vsi).sources == vsi.data.sources  # a dry run works before the data exists
    demo = load_study_config(REPO / "configs" / "demo.yaml")
    expected = demo_config(REPO / "demo-out")
    assert demo.model_dump(exclude={"name", "data"}) == expected.model_dump(exclude={"name", "data"})
    assert demo.data.dirs == expected.data.dirs
    assert demo.data.target_dirs == expected.data.target_dirs  # the video targets
    both = load_study_config(REPO / "configs" / "demo-format.yaml")  # the demo, evaluated both ways
    assert both.eval.mode == "both"
    assert both.model_dump(exclude={"name", "output", "eval"}) == demo.model_dump(
        exclude={"name", "output", "eval"}
    )
