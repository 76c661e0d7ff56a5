"""``vlmtransfer report``: an analysis in, the paper's figures and one self-contained HTML page out."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.lists import comma_values
from vlmtransfer.errors import InputError, system_refusal

if TYPE_CHECKING:
    from vlmtransfer.report import ReportFiles, ReportOptions

__all__ = ["EXAMPLES", "report", "resolve_analysis"]

EXAMPLES = """[bold]Examples[/bold]

  [dim]# figures/ and report.html next to the analysis (from `vlmtransfer analyze ... --out out/paper`)[/dim]

  vlmtransfer report out/paper

  [dim]# a study directory: its analysis in STUDY/analysis (analysed first if there is none yet)[/dim]

  vlmtransfer report demo-out/study

  [dim]# clustered task order, PNG and SVG only, written elsewhere[/dim]

  vlmtransfer report out/paper --out paper-figures/ --order cluster --format png --format svg

  [dim]# just the HTML page, with a title, to attach to an email[/dim]

  vlmtransfer report out/paper --no-figures --title "Qwen2.5-VL transfer, run 3"
"""

ANALYSIS_FILE = "analysis.json"
FLAGS = {
    "order": "--order",
    "formats": "--format",
    "dpi": "--dpi",
    "graph_layout": "--graph-layout",
    "max_cliques": "--max-cliques",
    "html": "--no-html",
}


@reports_input_errors
def report(
    directory: Annotated[
        Path,
        typer.Argument(
            help="An analysis directory (from `vlmtransfer analyze`), its analysis.json, or a study"
            " directory.",
            metavar="DIR",
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Where to write report.html and figures/ (default: the analysis directory). Other files"
            " there are left alone; a report.html or figures/ that vlmtransfer did not write is refused.",
        ),
    ] = None,
    order: Annotated[
        str, typer.Option("--order", help="Task order of heatmaps and graphs: category, cluster or input.")
    ] = "category",
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            "-f",
            help="Figure format: png, pdf or svg. Repeatable or comma-separated (default: png and pdf).",
            callback=comma_values,
        ),
    ] = None,
    dpi: Annotated[int, typer.Option("--dpi", help="Resolution of PNG figures.")] = 200,
    title: Annotated[str | None, typer.Option("--title", help="Title of the HTML page.")] = None,
    graph_layout: Annotated[
        str, typer.Option("--graph-layout", help="Node layout of transfer graphs: circle or spring.")
    ] = "circle",
    max_cliques: Annotated[
        int, typer.Option("--max-cliques", help="Cliques drawn per sign and model (largest first).")
    ] = 3,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Write only report.html.")] = False,
    no_html: Annotated[bool, typer.Option("--no-html", help="Write only the figures.")] = False,
    no_embed: Annotated[
        bool,
        typer.Option("--no-embed", help="Leave the static figures out of report.html (smaller, faster)."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Draw the paper's figures (PNG/PDF) and an interactive HTML report that works offline.

    Heatmaps of PGF per model and side by side, transfer graphs, cliques, categories, the scale trend,
    personas, seed variability and (for accuracy inputs) baseline accuracy against the ceiling.
    """
    started = time.perf_counter()
    from vlmtransfer.report.options import OptionError, ReportOptions  # noqa: PLC0415 - slow import

    try:
        options = ReportOptions(
            order=order,
            formats=tuple(dict.fromkeys(formats or ("png", "pdf"))),
            dpi=dpi,
            title=title,
            graph_layout=graph_layout,
            max_cliques=max_cliques,
            figures=not no_figures,
            html=not no_html,
            embed_figures=not no_embed,
        )
    except OptionError as exc:
        raise InputError(exc.problem, source=FLAGS.get(exc.field, exc.field)) from None
    analysis = resolve_analysis(directory)
    files = _write(analysis, out, options, quiet)
    what = (
        [f"{len([p for p in files.figures if p.suffix != '.json'])} figure files"] if options.figures else []
    )
    what += ["report.html"] if files.html else []
    Console().print(
        f"Wrote {' and '.join(what)} to [bold]{escape(str(files.out_dir))}[/bold]"
        f" in {time.perf_counter() - started:.1f} s."
    )


def resolve_analysis(path: Path) -> Path:
    """The ``analysis.json`` that ``path`` designates, analysing a study directory that has none yet.

    Raises:
        InputError: ``path`` is neither an analysis (directory) nor a study directory.
    """
    if not path.exists():
        raise InputError("no such file or directory", source=path)
    if path.is_file() or (path / ANALYSIS_FILE).is_file():
        return path if path.is_file() else path / ANALYSIS_FILE
    from vlmtransfer.store import STORE_FILE  # noqa: PLC0415

    if not (path / STORE_FILE).is_file():
        raise InputError(
            f"holds neither {ANALYSIS_FILE} (run `vlmtransfer analyze ... --out DIR` first) nor a study"
            f" ({STORE_FILE})",
            source=path,
        )
    analysis = path / "analysis" / ANALYSIS_FILE
    if analysis.is_file():
        _warn_if_stale(path, analysis)
    else:
        from vlmtransfer.cli.analyze import analyze  # noqa: PLC0415

        typer.echo(f"note: {path} has no analysis yet; analysing it (vlmtransfer analyze {path})", err=True)
        analyze([path], out=None, quiet=True)
    return analysis


def _warn_if_stale(study: Path, analysis: Path) -> None:
    """Warn when the study's exported results changed since its analysis was written."""
    from vlmtransfer.study.runner import ACCURACY_CSV  # noqa: PLC0415

    table = study / ACCURACY_CSV
    try:
        inputs = json.loads(analysis.read_text("utf-8")).get("inputs", [])
        digest = hashlib.sha256(table.read_bytes()).hexdigest()
    except (OSError, ValueError, AttributeError):
        return  # the report's own loading names any real problem with the file
    recorded = {entry.get("sha256") for entry in inputs if Path(entry.get("path", "")).name == ACCURACY_CSV}
    if recorded and digest not in recorded:
        typer.echo(
            f"warning: {analysis.parent} is older than the study's results; run `vlmtransfer analyze {study}`"
            " to include them",
            err=True,
        )


def _write(analysis: Path, out: str | None, options: ReportOptions, quiet: bool) -> ReportFiles:
    """Write the report with a progress bar (on stderr, gone when done, so errors stay one line)."""
    from vlmtransfer.fsutil import OutputDirectoryError  # noqa: PLC0415
    from vlmtransfer.report import write_report  # noqa: PLC0415

    if out is not None and not out.strip():
        raise InputError("the output directory is empty", source="--out")
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )
    bar = progress.add_task("figures", total=None, status="")

    def on_figure(title: str, done: int, total: int) -> None:
        # Started by the first figure: the inputs and --out are checked by then, so an error
        # message is never preceded by a bar.
        if done == 1:
            progress.start()
        progress.update(bar, completed=done, total=total, status=escape(title))

    try:
        return write_report(analysis, out, options, on_figure)
    except OutputDirectoryError as exc:
        raise InputError(str(exc), source="--out") from None
    except OSError as exc:
        refusal = system_refusal(exc, source=out)
        if refusal is not None:
            raise refusal from None
        reason = exc.strerror or str(exc)
        raise InputError(f"cannot write {exc.filename or out}: {reason}", source="--out") from None
    finally:
        progress.stop()
