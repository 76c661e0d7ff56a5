"""``vlmtransfer tasks``: the tasks vlmtransfer knows, from the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.lists import comma_paths
from vlmtransfer.errors import InputError
from vlmtransfer.tasks import TaskSpec, default_registry

__all__ = ["EXAMPLES", "tasks"]

EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer tasks --suite blink

  vlmtransfer tasks --json | jq '.[] | select(.level == "low") | .name'

  vlmtransfer tasks --tasks my_tasks.yaml --suite all
"""


@reports_input_errors
def tasks(
    suite: Annotated[
        str, typer.Option("--suite", help="blink, synthetic, a suite of your own, or all.")
    ] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
    task_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--tasks",
            help="Also load tasks from this YAML/JSON file. Repeatable or comma-separated.",
            callback=comma_paths,
        ),
    ] = None,
) -> None:
    """List the known tasks with their abbreviation, perceptual level, granularity, choices and suite."""
    registry = default_registry()
    for path in task_files or ():
        registry.add_file(path, replace=True)
    suites = sorted({spec.suite for spec in registry})
    if suite != "all" and suite not in suites:
        raise InputError(f"unknown suite {suite!r} (known: {', '.join(suites)}, all)", source="--suite")
    specs = [s for s in registry if suite in ("all", s.suite)]
    if as_json:
        typer.echo(json.dumps([_as_dict(s) for s in specs], indent=2))
    else:
        Console().print(_table(specs))


def _as_dict(spec: TaskSpec) -> dict[str, object]:
    fields = (
        "name",
        "abbreviation",
        "level",
        "granularity",
        "choices",
        "images",
        "ceiling",
        "suite",
        "default",
    )
    return {name: getattr(spec, name) for name in fields}


def _table(specs: list[TaskSpec]) -> Table:
    table = Table(title=f"{len(specs)} tasks", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    for column in ("abbr", "level", "gran.", "ch.", "img.", "ceil.", "suite", "dflt"):
        table.add_column(column, no_wrap=True)
    for s in specs:
        table.add_row(
            escape(s.name),
            escape(s.abbreviation),
            s.level or "-",
            s.granularity or "-",
            str(s.choices),
            str(s.images),
            f"{s.ceiling:g}",
            escape(s.suite),
            "yes" if s.default else "no",
        )
    return table
