"""``vlmtransfer model``: the embedded tiny Qwen2.5-VL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.errors import InputError

__all__ = ["app"]

app = typer.Typer(
    name="model", help="The embedded tiny Qwen2.5-VL.", no_args_is_help=True, rich_markup_mode="rich"
)

TINY_EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer model tiny --out models/tiny            [dim]# copy the shipped, pretrained checkpoint[/dim]

  vlmtransfer model tiny --out models/tiny --rebuild  [dim]# pretrain from scratch (~1.5 h on 2 cores)[/dim]

  vlmtransfer model tiny --out models/tiny-kl --rebuild --keep-last  [dim]# keep every stage[/dim]

  [dim]# regenerate the checkpoint shipped in the package[/dim]

  vlmtransfer model tiny --rebuild --out src/vlmtransfer/assets/tiny-qwen2.5-vl
"""


@app.command("tiny", epilog=TINY_EXAMPLES)
@reports_input_errors
def tiny(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output model directory.")],
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild", help="Build and pretrain from scratch instead of copying the shipped model."
        ),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of everything (with --rebuild).")] = 0,
    stage_steps: Annotated[
        int | None,
        typer.Option("--stage-steps", help="Most pretraining steps per curriculum stage (with --rebuild)."),
    ] = None,
    examples_per_task: Annotated[
        int | None,
        typer.Option("--examples-per-task", help="Pretraining questions per task (with --rebuild)."),
    ] = None,
    keep_best: Annotated[
        bool | None,
        typer.Option(
            "--keep-best/--keep-last",
            help="End every stage at its best held-out check and undo stages that gain too little (the"
            " default), or keep every stage's last weights (with --rebuild; docs/synthetic-suite.md).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """A small real Qwen2.5-VL, pretrained on the synthetic suite; loads with AutoModelForImageTextToText."""
    from vlmtransfer.fsutil import OutputDirectoryError, check_replaceable, staged_directory  # noqa: PLC0415
    from vlmtransfer.models.presets import EMBEDDED_TINY  # noqa: PLC0415

    marker = "pretraining.json"
    try:
        check_replaceable(out, marker)
    except OutputDirectoryError as exc:
        raise InputError(str(exc), source="--out") from None
    if not rebuild and (seed or stage_steps or examples_per_task or keep_best is not None):
        raise InputError(
            "--seed, --stage-steps, --examples-per-task and --keep-best/--keep-last need --rebuild",
            source="--rebuild",
        )
    console = Console(stderr=True)
    if rebuild:
        report = _rebuild(out, seed, stage_steps, examples_per_task, console, keep_best=keep_best)
    else:
        if not (EMBEDDED_TINY / marker).is_file():
            raise InputError(f"the shipped tiny model is missing ({EMBEDDED_TINY}); use --rebuild")
        if out.resolve() != EMBEDDED_TINY:
            with staged_directory(out, marker) as staging:
                for file in sorted(EMBEDDED_TINY.iterdir()):
                    shutil.copy2(file, staging / file.name)
        report = json.loads((EMBEDDED_TINY / marker).read_text())
    _print_report(report, out)


def _rebuild(
    out: Path,
    seed: int,
    steps: int | None,
    examples: int | None,
    console: Console,
    *,
    keep_best: bool | None,
) -> dict:
    from dataclasses import replace  # noqa: PLC0415

    from vlmtransfer.cli.progress import quiet_ml_libraries, step_progress, training_callback  # noqa: PLC0415
    from vlmtransfer.recipes.tiny_pretrain import PretrainRecipe, pretrain_tiny  # noqa: PLC0415

    recipe = PretrainRecipe(seed=seed)
    if keep_best is not None:
        recipe = replace(recipe, keep_best=keep_best)
    if steps is not None:
        if steps < 1:
            raise InputError("must be >= 1", source="--stage-steps")
        recipe = replace(recipe, stage_max_steps=steps)
    if examples is not None:
        if examples < 1:
            raise InputError("must be >= 1", source="--examples-per-task")
        recipe = replace(recipe, examples_per_task=examples)
    quiet_ml_libraries()
    with step_progress(console) as progress:
        on_step = training_callback(progress, "pretrain")
        return pretrain_tiny(out, recipe, on_stage=console.log, on_step=on_step)


def _print_report(report: dict, out: Path) -> None:
    table = Table(title=f"tiny Qwen2.5-VL -> {escape(str(out))} ({report['parameters']:,} parameters)")
    for column in ("task", "val accuracy %", "chance %"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task, accuracy in report["accuracy"].items():
        table.add_row(escape(task), f"{accuracy:.1f}", f"{report['chance'][task]:.1f}")
    Console().print(table)
