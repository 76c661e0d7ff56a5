"""Options that take several values accept them repeated or comma-separated (``--tasks A,B``, as
lm-evaluation-harness users type), or both (``--tasks A,B --tasks C``)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["batch_size_value", "comma_paths", "comma_values", "one_task", "question_limit"]


def comma_values(values: list[str] | None) -> list[str] | None:
    """A typer callback: each value split at commas, spaces around a part dropped. An empty part
    (``A,,B``) is kept, so that the command refuses it by name like any other bad value."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",")]


def comma_paths(values: list[Path] | None) -> list[Path] | None:
    """:func:`comma_values` for paths; a path that exists as given is never split (its name may hold a
    comma), nor one with an empty part (it is then reported as not found, as typed)."""
    if values is None:
        return None
    paths: list[Path] = []
    for value in values:
        parts = [part.strip() for part in str(value).split(",")]
        if len(parts) == 1 or value.exists() or not all(parts):
            paths.append(value)
        else:
            paths.extend(Path(part) for part in parts)
    return paths


def one_task(value: str | None) -> str | None:
    """A typer callback for options and arguments that take exactly one task (``select --target``,
    ``data build TASK``): a comma-separated list is refused while the command line is parsed, naming the
    tasks given, instead of being looked up as one task called ``'A,B'``.

    Raises:
        typer.BadParameter: the value holds a comma (exit 2, one line, through ``vlmtransfer.cli.main``).
    """
    if value is None or "," not in value:
        return value
    parts = [part.strip() for part in value.split(",") if part.strip()]
    raise typer.BadParameter(f"takes one task, got {len(parts)} ({', '.join(parts)}); run once per task")


def question_limit(value: str | None) -> int | float | None:
    """A typer callback for ``--limit``: a whole number of questions per task (``50``), or a fraction
    of each task's questions below 1 (``0.1``), as lm-evaluation-harness reads it.

    Raises:
        typer.BadParameter: anything else (``0``, ``1.5``, ``-3``, ``ten``), while parsing.
    """
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if 0 < number < 1:
        return number
    if number >= 1 and number.is_integer():
        return int(number)
    raise typer.BadParameter(
        f"{value!r} is neither a number of questions (>= 1) nor a fraction of them (between 0 and 1)"
    )


def batch_size_value(value: str) -> int | str:
    """A typer callback for ``--batch-size``: a whole number >= 1, or ``auto``.

    Raises:
        typer.BadParameter: anything else, while parsing.
    """
    if value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise typer.BadParameter(f"{value!r} is neither a whole number >= 1 nor 'auto'")
    return number
