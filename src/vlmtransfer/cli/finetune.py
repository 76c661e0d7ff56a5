"""``vlmtransfer finetune``: train one LoRA adapter on one task (or a mixture) of an MCQ dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.lists import comma_paths, comma_values
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.registry import DEFAULT_SCORER
from vlmtransfer.settings import LoraSettings, TrainSettings

__all__ = ["EXAMPLES", "finetune"]

EXAMPLES = """[bold]Examples[/bold]

  [dim]# the embedded tiny model on one synthetic task[/dim]

  vlmtransfer finetune --model tiny --train data/synthetic --task Syn_Counting \\
      --out adapters/counting --seed 0

  [dim]# Qwen2.5-VL-7B on a BLINK training set, reference LoRA settings, effective batch 16[/dim]

  vlmtransfer finetune --model qwen2.5-vl-7b --train data/blink-train --task Counting \\
      --out adapters/7b-counting \\
      --batch-size 4 --grad-accum 4 --lr 1e-4 --epochs 1 --max-pixels 401408
"""


FLAGS = {"learning_rate": "--lr", "tasks": "--task"}
"""Settings whose flag is not the field's name with dashes."""


@reports_input_errors(flags=FLAGS)
def finetune(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Preset (tiny, qwen2.5-vl-7b ...), hub id or path.")
    ],
    train: Annotated[
        list[Path],
        typer.Option(
            "--train", help="Dataset directory (repeatable or comma-separated).", callback=comma_paths
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Adapter output directory.")],
    seed: Annotated[int, typer.Option("--seed", help="Data order and LoRA initialisation.")] = 0,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            help="Task to train on (repeatable or comma-separated; default: every task).",
            callback=comma_values,
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split to train on.")] = "train",
    max_examples: Annotated[
        int | None, typer.Option("--max-examples", help="Use at most this many questions per task.")
    ] = None,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank.")] = LoraSettings.rank,
    alpha: Annotated[float, typer.Option("--alpha", help="LoRA alpha.")] = LoraSettings.alpha,
    dropout: Annotated[float, typer.Option("--dropout", help="LoRA dropout.")] = LoraSettings.dropout,
    target_modules: Annotated[
        list[str] | None,
        typer.Option(
            "--target-modules",
            help="Language-model linear layers to adapt (comma-separated; default: every projection).",
            callback=comma_values,
        ),
    ] = None,
    vision: Annotated[
        bool,
        typer.Option(
            "--vision/--language-only",
            help="Also adapt the vision tower and merger (images are then encoded at every step).",
        ),
    ] = LoraSettings.vision,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = TrainSettings.learning_rate,
    schedule: Annotated[
        str, typer.Option("--schedule", help="After warm-up: linear or cosine decay to 0, or constant.")
    ] = TrainSettings.schedule,
    epochs: Annotated[float, typer.Option("--epochs", help="Passes over the data.")] = TrainSettings.epochs,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Optimiser steps (overrides --epochs).")
    ] = TrainSettings.max_steps,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Questions per forward pass.")
    ] = TrainSettings.batch_size,
    grad_accum: Annotated[
        int, typer.Option("--grad-accum", help="Forward passes per optimiser step.")
    ] = TrainSettings.grad_accum,
    warmup_ratio: Annotated[
        float, typer.Option("--warmup-ratio", help="Fraction of the steps spent warming up.")
    ] = TrainSettings.warmup_ratio,
    weight_decay: Annotated[
        float, typer.Option("--weight-decay", help="AdamW weight decay.")
    ] = TrainSettings.weight_decay,
    max_grad_norm: Annotated[
        float, typer.Option("--max-grad-norm", help="Gradient clipping norm (0: none).")
    ] = TrainSettings.max_grad_norm,
    max_pixels: Annotated[int | None, typer.Option("--max-pixels", help="Cap on pixels per image.")] = None,
    scorer: Annotated[
        str, typer.Option("--scorer", help="How the model runs: hf (Hugging Face + PEFT) or dummy (tests).")
    ] = DEFAULT_SCORER,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    dtype: Annotated[
        str, typer.Option("--dtype", help="auto (bf16 on GPU, fp32 on CPU) or a dtype.")
    ] = "auto",
) -> None:
    """Train a LoRA adapter (on the language model, or with --vision on the vision tower too; loss on the
    answer) and save it in PEFT's format."""
    from vlmtransfer import pipeline  # noqa: PLC0415
    from vlmtransfer.cli.progress import step_progress, training_callback  # noqa: PLC0415
    from vlmtransfer.data.dataset import collect_questions  # noqa: PLC0415
    from vlmtransfer.evaluate.registry import ScorerOptions, load_scorer, prepare_scorer  # noqa: PLC0415

    modules = {"target_modules": tuple(target_modules)} if target_modules else {}
    lora = LoraSettings(rank=rank, alpha=alpha, dropout=dropout, vision=vision, **modules)
    settings = TrainSettings(
        learning_rate=lr,
        schedule=schedule,  # type: ignore[arg-type] - checked by TrainSettings
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,
        seed=seed,
    )
    if max_examples is not None and max_examples < 1:
        raise InputError("must be >= 1", source="--max-examples")
    pipeline.check_adapter_output(out)
    options = ScorerOptions(device=device, dtype=dtype, max_pixels=max_pixels)
    note = prepare_scorer(scorer, model, options, source="--model")
    if note:
        typer.echo(f"note: {note}", err=True)
    requests = pipeline.flat_requests(collect_questions(train, split, tasks=task, limit=max_examples))
    loaded = load_scorer(scorer, model, options)
    provenance = {
        "model": model,
        "model_source": loaded.source,
        "data": [str(path) for path in train],
        "split": split,
        "max_pixels": max_pixels,
    }
    console = Console(stderr=True)
    trained_tasks = ", ".join(dict.fromkeys(record.task for record, _ in requests))
    with step_progress(console) as progress:
        result = pipeline.finetune(
            loaded,
            requests,
            out,
            lora=lora,
            settings=settings,
            provenance=provenance,
            on_step=training_callback(progress, f"finetune {trained_tasks}"),
        )
    console.print(
        f"adapter -> {escape(str(out))}: {result.examples} questions, {result.steps} steps, "
        f"loss {result.first_loss:.4f} -> {result.final_loss:.4f}, "
        f"{result.trainable_parameters:,} trainable parameters, {result.seconds:.1f} s"
    )
