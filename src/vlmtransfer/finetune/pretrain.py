"""Pretraining the embedded tiny Qwen2.5-VL on a mixture of the synthetic suite.

The point is a base model that behaves like a real VLM on BLINK: above chance on most tasks, below the
ceiling on all, so that finetuning on one task has room to help or hurt another. The pretraining data is
the synthetic suite's ``pretrain`` split, drawn from its own random streams, so it never overlaps the
``train`` split that LoRA finetuning uses or the ``val`` split that evaluation uses.

All parameters train (vision tower, merger and language model). The recipe and the measured per-task
accuracy of the result are saved beside the weights in ``pretraining.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from vlmtransfer import __version__
from vlmtransfer.finetune.trainer import LossPoint, TrainSettings, train
from vlmtransfer.fsutil import staged_directory
from vlmtransfer.models.tiny import TinyModelConfig

__all__ = ["PRETRAINING_REPORT", "PretrainRecipe", "pretrain_tiny"]

PRETRAINING_REPORT = "pretraining.json"


@dataclass(frozen=True)
class PretrainRecipe:
    """Everything that determines the pretrained tiny model (with the package version).

    Attributes:
        seed: tokenizer corpus, initialisation, pretraining data and data order.
        tasks: synthetic tasks in the mixture (equal shares).
        examples_per_task: pretraining examples per task.
        steps, learning_rate, batch_size, warmup_ratio: the optimisation.
        eval_examples_per_task: ``val`` questions per task for the accuracy report.
        model: the architecture's sizes.
    """

    seed: int = 0
    tasks: tuple[str, ...] | None = None
    examples_per_task: int = 3000
    steps: int = 6000
    learning_rate: float = 2e-3
    batch_size: int = 32
    warmup_ratio: float = 0.05
    eval_examples_per_task: int = 200
    model: TinyModelConfig = field(default_factory=TinyModelConfig)


def pretrain_tiny(
    out_dir: str | Path,
    recipe: PretrainRecipe | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
    on_step: Callable[[LossPoint, int], None] | None = None,
) -> dict[str, Any]:
    """Build the tiny model, pretrain it per ``recipe``, measure it, and save it to ``out_dir``.

    All or nothing: ``out_dir`` appears only when everything succeeded. Returns the report written to
    ``pretraining.json`` (recipe, per-task accuracy and chance level, loss curve summary).
    """
    from vlmtransfer.data.synthetic import SYNTHETIC_TASKS, generate_examples  # noqa: PLC0415
    from vlmtransfer.evaluate.engine import accuracy_by_task, score_questions  # noqa: PLC0415
    from vlmtransfer.models.encoding import encode_question  # noqa: PLC0415
    from vlmtransfer.models.loading import LoadOptions, load_model  # noqa: PLC0415
    from vlmtransfer.models.tiny import build_tiny_model  # noqa: PLC0415

    recipe = recipe or PretrainRecipe()
    tasks = recipe.tasks or SYNTHETIC_TASKS
    stage = on_stage or (lambda _message: None)
    out_dir = Path(out_dir)
    with staged_directory(out_dir, PRETRAINING_REPORT) as staging:
        stage("building the model and tokenizer")
        build_tiny_model(staging / "init", seed=recipe.seed, config=recipe.model)
        # CPU and fp32 wherever it runs: the shipped checkpoint must not depend on the machine's GPU.
        loaded = load_model(str(staging / "init"), LoadOptions(device="cpu", dtype="float32"))
        stage(f"rendering {recipe.examples_per_task} pretraining questions for each of {len(tasks)} tasks")
        questions = [
            encode_question(record, images, loaded.processor, with_answer=True)
            for task in tasks
            for record, images in generate_examples(task, "pretrain", recipe.examples_per_task, recipe.seed)
        ]
        settings = TrainSettings(
            learning_rate=recipe.learning_rate,
            max_steps=recipe.steps,
            batch_size=recipe.batch_size,
            warmup_ratio=recipe.warmup_ratio,
            seed=recipe.seed,
        )
        stage("pretraining")
        curve = train(loaded.model, questions, settings, processor=loaded.processor, on_step=on_step)
        stage("measuring accuracy on the val split")
        val = [
            item
            for task in tasks
            for item in generate_examples(task, "val", recipe.eval_examples_per_task, recipe.seed)
        ]
        accuracy = accuracy_by_task(score_questions(loaded, val, batch_size=32))
        chance = {record.task: 100.0 / len(record.choices) for record, _ in val}
        loaded.model.save_pretrained(staging)
        loaded.processor.save_pretrained(staging)
        for leftover in sorted((staging / "init").iterdir()):
            leftover.unlink()
        (staging / "init").rmdir()
        report = {
            "recipe": _jsonable(asdict(recipe)),
            "tasks": list(tasks),
            "accuracy": {task: round(accuracy[task][0], 2) for task in tasks},
            "chance": {task: round(chance[task], 2) for task in tasks},
            "eval_questions_per_task": recipe.eval_examples_per_task,
            "final_loss": curve[-1].loss,
            "seconds": round(curve[-1].seconds, 1),
            "parameters": sum(p.numel() for p in loaded.model.parameters()),
            "versions": {"vlmtransfer": __version__, "torch": torch.__version__},
        }
        (staging / PRETRAINING_REPORT).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value
