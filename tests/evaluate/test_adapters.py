"""Broken or foreign adapters fail with one line naming the file, before they touch the base model."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_examples, generate_suite
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate import EvalSettings, Evaluator
from vlmtransfer.finetune.lora import LoraSettings, finetune_lora
from vlmtransfer.finetune.trainer import TrainSettings
from vlmtransfer.models import load_model
from vlmtransfer.models.encoding import encode_question

WEIGHTS = "adapter_model.safetensors"


@pytest.fixture(scope="module")
def loaded(untrained_tiny):
    return load_model(str(untrained_tiny))


@pytest.fixture(scope="module")
def adapter(loaded, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter") / "counting"
    items = generate_examples("Syn_Counting", "train", 4, seed=0)
    encoded = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items]
    settings = TrainSettings(learning_rate=3e-2, max_steps=1, batch_size=4, warmup_ratio=0.0, seed=0)
    finetune_lora(
        loaded.model, encoded, out, lora=LoraSettings(), settings=settings, processor=loaded.processor
    )
    return out


def _truncate(path):
    weights = path / WEIGHTS
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return weights


def _garbage(path):
    (path / WEIGHTS).write_bytes(b"\x00not a safetensors file at all")
    return path / WEIGHTS


def _missing(path):
    (path / WEIGHTS).unlink()
    return path


def _peft_type(path):
    config = json.loads((path / "adapter_config.json").read_text())
    (path / "adapter_config.json").write_text(json.dumps(config | {"peft_type": "NOPE"}))
    return path / "adapter_config.json"


def _bad_config(path):
    (path / "adapter_config.json").write_text("{not json")
    return path / "adapter_config.json"


def _other_shapes(path):
    weights = load_file(path / WEIGHTS)
    key = next(k for k in weights if k.endswith("lora_A.weight"))
    weights[key] = weights[key][:, :-3].copy()  # another model's hidden size
    save_file(weights, path / WEIGHTS)
    return path / WEIGHTS


def _other_modules(path):
    weights = load_file(path / WEIGHTS)
    key = next(k for k in weights if k.endswith("lora_A.weight"))
    weights[key.replace("layers.0.", "layers.99.")] = weights.pop(key)
    save_file(weights, path / WEIGHTS)
    return path / WEIGHTS


BREAKAGES = {
    "truncated": (_truncate, "not a complete safetensors file"),
    "garbage": (_garbage, "not a complete safetensors file"),
    "missing weights": (_missing, "weights are missing"),
    "unknown peft_type": (_peft_type, "peft_type 'NOPE' is not supported"),
    "config not JSON": (_bad_config, "unreadable adapter config"),
    "another model's shapes": (_other_shapes, "(an adapter of another model?)"),
    "another model's modules": (_other_modules, "which the base model lacks"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_adapter_names_its_file_and_leaves_the_base_model_alone(
    loaded, adapter, tmp_path, monkeypatch, breakage
):
    import huggingface_hub

    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was asked about a local adapter")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_hub)
    broken = tmp_path / "broken"
    shutil.copytree(adapter, broken)
    damage, problem = BREAKAGES[breakage]
    culprit = damage(broken)
    questions = generate_examples("Syn_Counting", "val", 2, seed=1)
    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=2))
    before = [r.logprobs for r in evaluator.run()]
    with pytest.raises(InputError) as caught:
        evaluator.run(broken)
    assert caught.value.source == str(culprit)
    assert problem in caught.value.problem
    assert "peft_config" not in vars(loaded.model)
    assert [r.logprobs for r in evaluator.run()] == before
    evaluator.run(adapter)  # a good adapter still attaches


def test_the_cli_refuses_a_truncated_adapter_with_exit_2_before_loading(untrained_tiny, adapter, tmp_path):
    data = tmp_path / "data"
    generate_suite(data, tasks=("Syn_Counting",), n_train=2, n_val=2, seed=0)
    broken = tmp_path / "broken"
    shutil.copytree(adapter, broken)
    _truncate(broken)
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(untrained_tiny),
            "--data",
            str(data),
            "--adapter",
            str(broken),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {broken / WEIGHTS}: not a complete safetensors file")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
