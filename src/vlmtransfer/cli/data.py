"""``vlmtransfer data``: export BLINK, generate the synthetic suite, validate MCQ datasets."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import OutputDirectoryError

__all__ = ["app"]

app = typer.Typer(
    name="data",
    help="Datasets in the MCQ format: export BLINK, generate the synthetic suite, validate.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

VALIDATE_EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer data validate data/synthetic

  vlmtransfer data validate my_task/   [dim]# a folder with train.jsonl / val.jsonl and images/[/dim]
"""

BLINK_EXAMPLES = """[bold]Examples[/bold]

  [dim]# from the Hugging Face hub, pinned to a revision[/dim]

  vlmtransfer data blink --out data/blink --revision main

  [dim]# offline, from a downloaded snapshot (<dir>/<Task>/val-00000-of-00001.parquet)[/dim]

  vlmtransfer data blink --out data/blink --source ~/snapshots/BLINK --tasks Counting --tasks Jigsaw
"""

SYNTH_EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer data synth --out data/synthetic --train 1000 --val 200 --seed 0

  vlmtransfer data synth --out data/depth --tasks Syn_Relative_Depth --tasks Syn_Multi-view_Reasoning
"""


@app.command("validate", epilog=VALIDATE_EXAMPLES)
@reports_input_errors
def validate(
    directory: Annotated[Path, typer.Argument(help="A dataset directory (every *.jsonl below it).")],
) -> None:
    """Check every record and image of an MCQ dataset; reports the first problem's file, line and field."""
    from vlmtransfer.data import validate_dataset  # noqa: PLC0415 - keep `vlmtransfer --help` fast

    summaries = validate_dataset(directory)
    table = Table(title=f"{escape(str(directory))}: valid")
    for column in ("file", "tasks", "records", "answers"):
        table.add_column(column)
    for s in summaries:
        answers = " ".join(f"{letter}:{count}" for letter, count in sorted(s.answers.items()))
        table.add_row(
            escape(str(s.path.relative_to(directory))), escape(", ".join(s.tasks)), str(s.records), answers
        )
    Console().print(table)


@app.command("blink", epilog=BLINK_EXAMPLES)
@reports_input_errors
def blink(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset directory.")],
    source: Annotated[
        Path | None,
        typer.Option("--source", help="Local snapshot laid out like the hub repository (offline)."),
    ] = None,
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", help="Tasks to export (default: the 13). Repeatable.")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="val (test answers are hidden).")] = "val",
    revision: Annotated[
        str, typer.Option("--revision", help="Hub branch, tag or commit (resolved and recorded).")
    ] = "main",
    cache_dir: Annotated[str | None, typer.Option("--cache-dir", help="datasets cache directory.")] = None,
) -> None:
    """Export BLINK (HF dataset BLINK-Benchmark/BLINK) to the MCQ format, recording the dataset revision."""
    from vlmtransfer.data.blink import BLINK_TASKS, BlinkSource, export_blink  # noqa: PLC0415

    if source is not None and not _is_dir(source):
        raise InputError(f"{source} is not a directory", source="--source")
    chosen = list(tasks or BLINK_TASKS)
    started = time.perf_counter()
    with Console().status(f"Exporting {len(chosen)} BLINK task(s)..."):
        counts = _writing(
            out, lambda: export_blink(out, chosen, split, BlinkSource(source, revision, cache_dir))
        )
    _report(counts, out, started)


@app.command("synth", epilog=SYNTH_EXAMPLES)
@reports_input_errors
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset directory.")],
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", help="Tasks to generate (default: all). Repeatable.")
    ] = None,
    train: Annotated[int, typer.Option("--train", min=0, help="Training examples per task.")] = 1000,
    val: Annotated[int, typer.Option("--val", min=0, help="Validation examples per task.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 0,
    image_size: Annotated[
        int, typer.Option("--image-size", min=56, max=1024, help="Image side in pixels.")
    ] = 112,
) -> None:
    """Generate the synthetic perception suite (procedural, deterministic by seed) in the MCQ format."""
    from vlmtransfer.data.synthetic import generate_suite  # noqa: PLC0415

    if train == 0 and val == 0:
        raise InputError("nothing to generate: both are 0", source="--train/--val")
    started = time.perf_counter()
    with Console().status("Generating the synthetic suite..."):
        counts = _writing(out, lambda: generate_suite(out, tasks or None, train, val, seed, image_size))
    _report(counts, out, started)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name too long for the filesystem
        return False


def _writing(out: Path, produce: Callable[[], dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """Run an exporter; filesystem refusals become bad input naming the path at fault."""
    try:
        return produce()
    except OutputDirectoryError as exc:
        raise InputError(str(exc), source="--out") from None
    except OSError as exc:
        raise InputError(f"{exc.strerror or exc}", source=exc.filename or "--out") from None


def _report(counts: dict[str, dict[str, int]], out: Path, started: float) -> None:
    table = Table(title=f"{escape(str(out))}")
    table.add_column("task")
    splits = sorted({split for per_task in counts.values() for split in per_task})
    for split in splits:
        table.add_column(split, justify="right")
    for task, per_task in counts.items():
        table.add_row(escape(task), *(str(per_task.get(split, 0)) for split in splits))
    console = Console()
    console.print(table)
    total = sum(n for per_task in counts.values() for n in per_task.values())
    console.print(f"Wrote {total} records in {time.perf_counter() - started:.1f} s.")
