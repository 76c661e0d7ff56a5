"""`vlmtransfer finetune`, `evaluate` and `model tiny` through the CLI, and their bad-input errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmtransfer.analysis.inputs import load_inputs
from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite

TASKS = ("Syn_Relative_Depth", "Syn_Counting")


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    generate_suite(out, tasks=TASKS, n_train=8, n_val=4, seed=0)
    return out


@pytest.fixture(scope="module")
def adapter(untrained_tiny, suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapters") / "depth"
    result = run(
        "finetune", "--model", untrained_tiny, "--train", suite, "--task", TASKS[0], "--out", out,
        "--seed", 4, "--max-steps", 2, "--batch-size", 4, "--lr", 1e-3,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_finetune_writes_the_adapter_and_reports(adapter):
    training = json.loads((adapter / "training.json").read_text())
    assert training["tasks"] == {TASKS[0]: 8}
    assert training["train"]["seed"] == 4
    assert training["steps"] == 2
    assert (adapter / "adapter_model.safetensors").is_file()
    assert len((adapter / "loss_curve.csv").read_text().splitlines()) == 3


def test_evaluate_base_and_adapter_writes_records_and_an_accuracy_table(
    untrained_tiny, suite, adapter, tmp_path
):
    out, table = tmp_path / "eval.json", tmp_path / "acc.csv"
    result = run(
        "evaluate", "--model", untrained_tiny, "--data", suite, "--adapter", adapter, "--out", out,
        "--accuracy-csv", table, "--label", "tiny",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["mode"] == "loglik"
    assert document["vision_cache"] is True
    assert [r["label"] for r in document["runs"]] == ["base", "depth"]
    for run_record in document["runs"]:
        assert set(run_record["accuracy"]) == set(TASKS)
        questions = run_record["questions"]
        assert len(questions) == 8
        for q in questions:
            assert set(q) == {
                "id",
                "task",
                "answer",
                "predicted",
                "correct",
                "logprobs",
                "letter_mass",
                "text",
                "generated",
            }
            assert q["correct"] == (q["predicted"] == q["answer"])
        for task, cell in run_record["accuracy"].items():
            rows = [q for q in questions if q["task"] == task]
            assert cell == {
                "accuracy": pytest.approx(100 * sum(q["correct"] for q in rows) / len(rows)),
                "n": 4,
            }
    assert document["runs"][1]["seed"] == 4
    lines = table.read_text().splitlines()
    assert lines[0] == "model,seed,source,target,accuracy,n"
    assert {line.split(",")[2] for line in lines[1:]} == {"base", TASKS[0]}  # the finetuning task
    (model,) = load_inputs([table])  # the table is analyze's input format
    assert model.label == "tiny"
    assert model.shared_baseline


def test_evaluate_generate_mode_records_text(untrained_tiny, suite, tmp_path):
    out = tmp_path / "gen.json"
    args = ("--model", untrained_tiny, "--data", suite, "--out", out, "--mode", "generate", "--limit", 1)
    result = run("evaluate", *args, "--max-new-tokens", 3)
    assert result.exit_code == 0, result.output
    (base,) = json.loads(out.read_text())["runs"]
    assert all(isinstance(q["text"], str) and q["logprobs"] is None for q in base["questions"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lr", "-1"), "error: --lr: must be > 0, got -1.0"),
        (("--rank", "0"), "error: --rank: must be >= 1"),
        (("--task", "Syn_Nope"), "error: --task: no 'train' split for task 'Syn_Nope'"),
        (("--max-examples", "0"), "error: --max-examples: must be >= 1"),
    ],
)
def test_finetune_bad_input_is_one_line_and_exit_2(untrained_tiny, suite, tmp_path, args, message):
    result = run("finetune", "--model", untrained_tiny, "--train", suite, "--out", tmp_path / "a", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()


def test_bad_paths_are_named(untrained_tiny, suite, tmp_path):
    missing = run(
        "finetune", "--model", untrained_tiny, "--train", tmp_path / "nope", "--out", tmp_path / "a"
    )
    assert missing.exit_code == 2
    assert "nope: directory not found" in missing.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run("finetune", "--model", untrained_tiny, "--train", suite, "--out", foreign)
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: --out:")
    assert (foreign / "notes.txt").read_text() == "mine"
    not_adapter = run("evaluate", "--model", untrained_tiny, "--data", suite, "--out", tmp_path / "e.json",
                      "--adapter", foreign)  # fmt: skip
    assert not_adapter.exit_code == 2
    assert "not an adapter directory" in not_adapter.stderr
    bad_model = run(
        "evaluate", "--model", tmp_path / "no-model", "--data", suite, "--out", tmp_path / "e.json"
    )
    assert bad_model.exit_code == 2
    assert bad_model.stderr.startswith("error: --model: cannot load")
    bad_mode = run("evaluate", "--model", untrained_tiny, "--data", suite, "--out", tmp_path / "e.json",
                   "--mode", "vote")  # fmt: skip
    assert bad_mode.exit_code == 2
    assert bad_mode.stderr.startswith("error: --mode:")
    assert not (tmp_path / "e.json").exists()


@pytest.mark.parametrize(
    "case", [(command, device) for command in ("finetune", "evaluate") for device in ("cuda", "foo")]
)
def test_an_unusable_device_is_one_line_naming_the_available_ones(
    untrained_tiny, suite, tmp_path, monkeypatch, case
):
    import torch

    command, device = case
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    data = "--train" if command == "finetune" else "--data"
    result = run(command, "--model", untrained_tiny, data, suite, "--out", tmp_path / "o", "--device", device)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --device: "), result.stderr
    assert result.stderr.rstrip().endswith("available here: auto, cpu")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_evaluate_takes_a_fraction_auto_batches_a_seed_and_output_path(untrained_tiny, suite, tmp_path):
    out = tmp_path / "eval.json"
    result = run(
        "evaluate", "--model", untrained_tiny, "--data", suite, "--output-path", out, "--limit", "0.5",
        "--batch-size", "auto", "--seed", 7, "--log-samples",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "note: --batch-size auto: 4 on cpu" in result.stderr  # CPU: 8, capped by the 4 questions
    document = json.loads(out.read_text())
    assert (document["limit"], document["batch_size"], document["seed"]) == (0.5, 4, 7)
    (base,) = document["runs"]
    assert {task: cell["n"] for task, cell in base["accuracy"].items()} == dict.fromkeys(TASKS, 2)
    assert len(base["questions"]) == 4
