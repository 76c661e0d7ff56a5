"""``vlmtransfer data``: export BLINK and VSI-Bench, build BLINK training sets, generate the synthetic suite,
validate."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.lists import comma_values, one_task
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import OutputDirectoryError

if TYPE_CHECKING:
    from vlmtransfer.data.builders import BuildReport

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    name="data",
    help="MCQ datasets: export BLINK and VSI-Bench, build BLINK's training sets, generate the synthetic"
    " suite, validate.",
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

VSIBENCH_EXAMPLES = """[bold]Examples[/bold]

  [dim]# the paper's five video tasks, from the Hugging Face hub, pinned to a revision[/dim]

  vlmtransfer data vsibench --out data/vsibench --revision main

  [dim]# offline, from a copy in the hub's layout (test-00000-of-00001.parquet, <dataset>.zip)[/dim]

  vlmtransfer data vsibench --out data/vsibench --source ~/snapshots/VSI-Bench

  [dim]# other question types (numeric ones are scored by mean relative accuracy)[/dim]

  vlmtransfer data vsibench --out data/vsi-sizes --source ~/snapshots/VSI-Bench \\
      --question-types object_size_estimation,room_size_estimation
"""

BUILD_EXAMPLES = """[bold]Examples[/bold]

  [dim]# 1,000 Relative_Depth questions from DIW's train split; prompts and leakage guard from BLINK[/dim]

  vlmtransfer data build Relative_Depth --source ~/data/DIW --out data/blink-train --n 1000 \\
      --blink ~/snapshots/BLINK

  [dim]# every task into the same directory, one build at a time; then check it[/dim]

  vlmtransfer data build Counting --source ~/data/tallyqa --out data/blink-train --n 1000

  vlmtransfer data validate data/blink-train

  [dim]# what each task's builder reads, where to download it, its license[/dim]

  vlmtransfer data sources
"""

SOURCES_EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer data sources

  vlmtransfer data sources Visual_Correspondence
"""

SYNTH_EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer data synth --out data/synthetic --train 1000 --val 200 --seed 0

  vlmtransfer data synth --out data/depth --tasks Syn_Relative_Depth --tasks Syn_Multi-view_Reasoning

  vlmtransfer data synth --out data/video --tasks Syn_Video_Object_Counting --train 0 --val 40
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
        list[str] | None,
        typer.Option(
            "--tasks",
            help="Tasks to export (default: the 13). Repeatable or comma-separated.",
            callback=comma_values,
        ),
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
    if source is None:
        _check_blink_hub(revision)
    started = time.perf_counter()
    with Console().status(f"Exporting {len(chosen)} BLINK task(s)..."):
        counts = _writing(
            out, lambda: export_blink(out, chosen, split, BlinkSource(source, revision, cache_dir))
        )
    _report(counts, out, started)


@app.command("vsibench", epilog=VSIBENCH_EXAMPLES)
@reports_input_errors(flags={"types": "--question-types"})
def vsibench(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset directory.")],
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="Local copy laid out like the hub repository (the config's parquet, <dataset>.zip"
            " archives or their extracted <dataset>/ folders): offline.",
        ),
    ] = None,
    config: Annotated[str, typer.Option("--config", help="full, or debiased (VSI-Bench-Debiased).")] = "full",
    question_types: Annotated[
        list[str] | None,
        typer.Option(
            "--question-types",
            help="VSI-Bench question types (default: the paper's five; object_rel_direction is its three"
            " difficulties). Repeatable or comma-separated.",
            callback=comma_values,
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Name of the JSONL written per task (val: what evaluate reads).")
    ] = "val",
    revision: Annotated[
        str, typer.Option("--revision", help="Hub branch, tag or commit (resolved and recorded).")
    ] = "main",
    cache_dir: Annotated[str | None, typer.Option("--cache-dir", help="Hub cache directory.")] = None,
) -> None:
    """Export VSI-Bench (HF dataset nyu-visionx/VSI-Bench) as video questions with their videos, recording
    the dataset revision."""
    from vlmtransfer.data import vsibench as vsi  # noqa: PLC0415 - keeps `vlmtransfer --help` fast

    if source is not None and not _is_dir(source):
        raise InputError(f"{source} is not a directory", source="--source")
    if not re.fullmatch(r"[A-Za-z0-9_]+", split):
        raise InputError(f"{split!r} is not a split name", source="--split")
    chosen = vsi.question_types(question_types)
    if source is None:
        from vlmtransfer.hub import prepare_hub_access  # noqa: PLC0415

        note = prepare_hub_access(vsi.VSI_DATASET, repo_type="dataset", revision=revision, source="--source")
        if note:
            typer.echo(f"note: {note}", err=True)
    started = time.perf_counter()
    with Console(stderr=True).status(
        f"Exporting {len(chosen)} VSI-Bench question type(s) with their videos..."
    ):
        counts = _writing(
            out,
            lambda: vsi.export_vsibench(
                out, vsi.VsiSource(source, revision, config, cache_dir), types=chosen, split=split
            ),
        )
    _report(counts, out, started)


@app.command("build", epilog=BUILD_EXAMPLES)
@reports_input_errors
def build(
    task: Annotated[
        str,
        typer.Argument(help="A BLINK task, e.g. Relative_Depth (see `data sources`).", callback=one_task),
    ],
    source: Annotated[
        Path,
        typer.Option("--source", help="The task's source dataset, laid out as `data sources TASK` shows."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory (one per study; tasks accumulate in it).")
    ],
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="At most this many questions (default: all, balanced).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed: same seed, same dataset.")] = 0,
    blink: Annotated[
        Path | None,
        typer.Option(
            "--blink",
            help="Local BLINK copy (<dir>/<Task>/val-*.parquet): BLINK's prompt wording, and drop training"
            " images that are near-duplicates of any BLINK val/test image.",
        ),
    ] = None,
    image_format: Annotated[str, typer.Option("--image-format", help="jpeg (quality 95) or png.")] = "jpeg",
    max_side: Annotated[
        int, typer.Option("--max-side", min=0, help="Longest image side in pixels (0: keep the source size).")
    ] = 1024,
) -> None:
    """Build a BLINK task's training set from the train split of the dataset BLINK built it from."""
    from vlmtransfer.data.builders import BuildOptions, build_training_set  # noqa: PLC0415 - keeps --help fast

    if max_side and max_side < 64:
        raise InputError(f"must be 0 or at least 64 pixels, not {max_side}", source="--max-side")
    # Absolute from here on: builders join image paths read from the source's own files to the source
    # folder, which a relative --source would prefix twice (DIW/DIW/...).
    source = source.expanduser().absolute()
    blink = blink.expanduser().absolute() if blink else None
    options = BuildOptions(
        n=n, seed=seed, blink=blink, image_format=image_format.lower(), max_side=max_side or None
    )
    bars = _Bars()
    try:
        report = _writing(out, lambda: build_training_set(task, source, out, options, bars.update))
    finally:
        bars.close()
    _build_summary(report)


@app.command("sources", epilog=SOURCES_EXAMPLES)
@reports_input_errors
def sources(
    task: Annotated[str | None, typer.Argument(help="One task (default: all 13).", callback=one_task)] = None,
) -> None:
    """What each BLINK task's training-set builder reads: files, download, license, split."""
    from vlmtransfer.data.builders import BUILDERS, get_builder  # noqa: PLC0415

    builders = [get_builder(task)] if task else list(BUILDERS.values())
    console = Console()
    for builder in builders:
        info = builder.source
        console.rule(f"[bold]{escape(builder.task)}[/bold]  {escape(info.dataset)}")
        for line in info.files:
            console.print(f"  {escape(line)}")
        console.print(f"  [dim]download[/dim] {escape(info.download)}")
        console.print(f"  [dim]license[/dim]  {escape(info.license)}")
        console.print(f"  [dim]split[/dim]    {escape(info.split)}")


class _Bars:
    """Progress bars on stderr, shown from the first update and cleared when closed (the summary
    follows), so that input errors found before any work stay a single line."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def update(self, description: str, completed: int, total: int | None) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
        if description not in self._tasks:
            self._tasks[description] = self._progress.add_task(description, total=total)
        self._progress.update(self._tasks[description], completed=completed, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _build_summary(report: BuildReport) -> None:
    console = Console()
    table = Table(
        title=f"{escape(report.task)} from {escape(report.dataset)}", title_justify="left", show_header=False
    )
    table.add_column(style="bold")
    table.add_column()
    answers = " ".join(f"{letter}:{count}" for letter, count in sorted(report.answers.items()))
    rows = [
        ("written", f"{report.built} questions to {report.out / report.task}"),
        ("answers", answers),
        ("candidates", f"{report.candidates} questions the source offers"),
        ("prompt", report.prompt_origin),
    ]
    if report.blink_images is not None:
        rows.append(
            (
                "leakage guard",
                f"{report.near_duplicates} dropped as near-duplicates of {report.blink_images} BLINK images",
            )
        )
    rows += [("skipped: " + reason, str(count)) for reason, count in report.skipped.most_common()]
    rows += [("left out: " + reason, str(count)) for reason, count in report.excluded.most_common()]
    for key, value in rows:
        table.add_row(escape(key), escape(value))
    console.print(table)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    console.print(f"Built in {report.seconds:.1f} s.")


@app.command("synth", epilog=SYNTH_EXAMPLES)
@reports_input_errors
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset directory.")],
    tasks: Annotated[
        list[str] | None,
        typer.Option(
            "--tasks",
            help="Tasks to generate (default: every image task; the Syn_Video_* tasks by name)."
            " Repeatable or comma-separated.",
            callback=comma_values,
        ),
    ] = None,
    train: Annotated[int, typer.Option("--train", min=0, help="Training examples per task.")] = 1000,
    val: Annotated[int, typer.Option("--val", min=0, help="Validation examples per task.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 0,
    image_size: Annotated[
        int, typer.Option("--image-size", min=56, max=1024, help="Image side in pixels.")
    ] = 112,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace a different dataset already in --out (reruns need not)."),
    ] = False,
) -> None:
    """Generate the synthetic perception suite (procedural, deterministic by seed) in the MCQ format."""
    from vlmtransfer.data.synthetic import SYNTHETIC_TASKS, generate_suite  # noqa: PLC0415

    if train == 0 and val == 0:
        raise InputError("nothing to generate: both are 0", source="--train/--val")
    if not overwrite:
        names = tasks or list(SYNTHETIC_TASKS)
        expected = {
            "kind": "synthetic",
            "tasks": {name: {"train": train, "val": val} for name in names},
            "seed": seed,
            "image_size": image_size,
        }
        _refuse_other_dataset(out, expected)
    started = time.perf_counter()
    with Console().status("Generating the synthetic suite..."):
        counts = _writing(out, lambda: generate_suite(out, tasks or None, train, val, seed, image_size))
    _report(counts, out, started)


def _check_blink_hub(revision: str) -> None:
    """An unreachable hub is one line now, not a minute of retries (``vlmtransfer.hub``)."""
    from vlmtransfer.data.blink import BLINK_DATASET  # noqa: PLC0415
    from vlmtransfer.hub import prepare_hub_access  # noqa: PLC0415

    note = prepare_hub_access(BLINK_DATASET, repo_type="dataset", revision=revision, source="--source")
    if note:
        typer.echo(f"note: {note}", err=True)


def _refuse_other_dataset(out: Path, expected: dict[str, object]) -> None:
    """A different dataset in ``out`` is replaced only with ``--overwrite``; the same one (a rerun) is
    written again, byte for byte."""
    from vlmtransfer.data.overwrite import dataset_conflict  # noqa: PLC0415

    there = dataset_conflict(out, expected)
    if there is not None:
        raise InputError(
            f"{out} already holds {there}; pass --overwrite to replace it, or choose another --out",
            source="--out",
        )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name too long for the filesystem
        return False


def _writing(out: Path, produce: Callable[[], T]) -> T:
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
