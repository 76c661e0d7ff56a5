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
    _print_own_task_effects(table, out / "analysis" / "analysis.json")
    console.print(
        f"demo finished in {time.perf_counter() - started:.0f} s: study store {escape(str(config.output))}, "
        f"analysis and report {escape(str(out / 'analysis'))} (open report.html)"
    )


def _print_own_task_effects(table: object, analysis_json: Path) -> None:
    """Baseline accuracy per target and what finetuning on a task did to that same task, with its
    interval and q-value from the analysis (the off-diagonal matrix is in the analysis summary above)."""
    import json  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    frame: pd.DataFrame = table  # type: ignore[assignment]
    base = frame[frame["source"] == "base"].set_index("target")["accuracy"]
    model = next(iter(json.loads(analysis_json.read_text())["models"].values()))
    sources, targets = model["sources"], model["targets"]
    effects = Table(
        title="Finetuning on a task, evaluated on that task (seed-mean PGF, 95 % interval, q)",
        title_justify="left",
    )
    for column in ("task", "baseline %", "PGF", "interval", "q", ""):
        effects.add_column(column, justify="left" if column == "task" else "right")
    gains = []
    for target in targets:
        if target not in sources:
            continue
        i, j = sources.index(target), targets.index(target)
        value, q = model["pgf_mean"][i][j], model["pgf_q"][i][j]
        low, high = model["pgf_ci_low"][i][j], model["pgf_ci_high"][i][j]
        significant = bool(model["pgf_significant"][i][j])
        gains.append((value, significant))
        effects.add_row(
            escape(target),
            f"{base.get(target, float('nan')):.1f}",
            _cell(value),
            f"[{low:+.2f}, {high:+.2f}]" if low is not None and high is not None else "-",
            f"{q:.3f}" if q is not None else "-",
            "*" if significant else "",
        )
    console = Console()
    console.print(effects)
    if gains:
        mean = sum(value for value, _ in gains) / len(gains)
        rises = sum(1 for value, significant in gains if significant and value > 0)
        console.print(
            f"mean own-task PGF {mean:+.2f}; {rises} of {len(gains)} tasks significantly improved by "
            "finetuning on themselves"
        )


def _cell(value: float) -> str:
    colour = "green" if value > 0 else "red" if value < 0 else "white"
    return f"[{colour}]{value:+.2f}[/{colour}]"
