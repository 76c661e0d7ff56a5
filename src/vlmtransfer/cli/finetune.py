"""``vlmtransfer finetune``: train one LoRA adapter on one task (or a mixture) of an MCQ dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from vlmtransfer.cli.errors import check_hub_access, reports_input_errors
from vlmtransfer.cli.lists import comma_paths, comma_values
from vlmtransfer.errors import InputError
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
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    dtype: Annotated[
        str, typer.Option("--dtype", help="auto (bf16 on GPU, fp32 on CPU) or a dtype.")
    ] = "auto",
) -> None:
    """Train a LoRA adapter (on the language model, or with --vision on the vision tower too; loss on the
    answer) and save it in PEFT's format."""
    from vlmtransfer.cli.progress import quiet_ml_libraries, step_progress, training_callback  # noqa: PLC0415
    from vlmtransfer.data.dataset import collect_questions  # noqa: PLC0415
    from vlmtransfer.devices import check_device  # noqa: PLC0415
    from vlmtransfer.finetune.lora import ADAPTER_CONFIG, finetune_lora  # noqa: PLC0415
    from vlmtransfer.fsutil import OutputDirectoryError, check_replaceable  # noqa: PLC0415
    from vlmtransfer.models.encoding import encode_question  # noqa: PLC0415
    from vlmtransfer.models.loading import LoadOptions, load_model  # noqa: PLC0415

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
    try:
        check_replaceable(out, ADAPTER_CONFIG)
    except OutputDirectoryError as exc:
        raise InputError(str(exc), source="--out") from None
    check_device(device)
    check_hub_access(model)
    quiet_ml_libraries()
    questions = collect_questions(train, split, tasks=task, limit=max_examples)
    loaded = load_model(model, LoadOptions(dtype=dtype, device=device, max_pixels=max_pixels))
    encoded = [
        encode_question(record, images, loaded.processor, with_answer=True)
        for items in questions.values()
        for record, images in items
    ]
    provenance = {
        "model": model,
        "model_source": loaded.source,
        "data": [str(path) for path in train],
        "split": split,
        "max_pixels": max_pixels,
    }
    console = Console(stderr=True)
    with step_progress(console) as progress:
        result = finetune_lora(
            loaded.model,
            encoded,
            out,
            lora=lora,
            settings=settings,
            processor=loaded.processor,
            provenance=provenance,
            on_step=training_callback(progress, f"finetune {', '.join(questions)}"),
        )
    first, last = result.curve[0], result.curve[-1]
    console.print(
        f"adapter -> {escape(str(out))}: {len(encoded)} questions, {len(result.curve)} steps, "
        f"loss {first.loss:.4f} -> {last.loss:.4f}, {result.trainable_parameters:,} trainable parameters, "
        f"{last.seconds:.1f} s"
    )
