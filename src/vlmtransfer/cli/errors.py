"""How the CLI reports bad input: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from vlmtransfer.errors import InputError

__all__ = ["EXIT_BAD_INPUT", "reports_input_errors"]

EXIT_BAD_INPUT = 2
P = ParamSpec("P")
R = TypeVar("R")


def reports_input_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a CLI command so that :class:`InputError` becomes ``error: <message>`` and exit 2.

    Printed with ``typer.echo``, not rich, so the message is never wrapped onto several lines.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper
