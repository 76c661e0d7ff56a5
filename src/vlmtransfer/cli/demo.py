"""``vlmtransfer demo``: the whole system on the embedded default, end to end, in minutes on a CPU."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors

__all__ = ["EXAMPLES", "demo"]

EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer demo                       [dim]# writes demo-out/ (data, study, analysis, report)[/dim]

  vlmtransfer demo --out /tmp/demo       [dim]# run again: finished work is reused[/dim]
"""


@reports_input_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("demo-out"),
) -> None:
    """The whole system on the tiny Qwen2.5-VL and the synthetic suite, from data to report."""
    from vlmtransfer.cli.analyze import analyze  # noqa: PLC0415
    from vlmtransfer.cli.report import report  # noqa: PLC0415
    from vlmtransfer.cli.study import execute_study  # noqa: PLC0415
    from vlmtransfer.store import StudyStore  # noqa: PLC0415
    from vlmtransfer.study.demo import demo_config, prepare_demo_data  # noqa: PLC0415

    started = time.perf_counter()
    console = Console(stderr=True)
    out = out.resolve()
    data_dir = out / "data"
    console.log(
        "synthetic data: " + ("generated" if prepare_demo_data(data_dir) else "reused") + f" ({data_dir})"
    )
    config = demo_config(out)
    execute_study(config, Path("demo"), reset_changed=True)
    with StudyStore(config.output) as store:
        table = store.accuracy_table()
    analyze([config.output], out=str(out / "analysis"), quiet=False)
    report(out / "analysis")
    _print_matrix(table)
    console.print(
        f"demo finished in {time.perf_counter() - started:.0f} s: study store {escape(str(config.output))}, "
        f"analysis and report {escape(str(out / 'analysis'))} (open report.html)"
    )


def _print_matrix(table: object) -> None:
    """Baseline accuracy per target and the seed-mean PGF matrix (sources x targets)."""
    import pandas as pd  # noqa: PLC0415

    from vlmtransfer.analysis.metrics import perfection_gap_factor  # noqa: PLC0415

    frame: pd.DataFrame = table  # type: ignore[assignment]
    base = frame[frame["source"] == "base"].set_index("target")["accuracy"]
    tuned = frame[frame["source"] != "base"]
    mean = tuned.groupby(["source", "target"])["accuracy"].mean().unstack()
    # One shared baseline, so the PGF of the seed-mean accuracy is the seed-mean PGF.
    values = perfection_gap_factor(mean.to_numpy(), base.reindex(mean.columns).to_numpy()[None, :])
    pgf = pd.DataFrame(values, index=mean.index, columns=mean.columns)
    console = Console()
    baseline = Table(title="Baseline accuracy of the tiny model (%)", title_justify="left")
    baseline.add_column("target")
    baseline.add_column("accuracy", justify="right")
    for target, value in base.items():
        baseline.add_row(escape(str(target)), f"{value:.1f}")
    console.print(baseline)
    title = "Seed-mean PGF (rows: finetuned on, columns: evaluated on)"
    matrix = Table(title=title, title_justify="left")
    matrix.add_column("source")
    for target in pgf.columns:
        matrix.add_column(escape(str(target).removeprefix("Syn_")[:10]), justify="right")
    for source, row in pgf.iterrows():
        cells = [_cell(value) for value in row]
        matrix.add_row(escape(str(source).removeprefix("Syn_")), *cells)
    console.print(matrix)


def _cell(value: float) -> str:
    colour = "green" if value > 0 else "red" if value < 0 else "white"
    return f"[{colour}]{value:+.2f}[/{colour}]"
