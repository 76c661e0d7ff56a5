"""How the CLI reports bad input (exit code 2) and a refusing machine (exit code 3): one line on stderr,
no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from vlmtransfer.errors import InputError, SystemRefusalError, system_refusal

__all__ = ["EXIT_BAD_INPUT", "EXIT_ENVIRONMENT", "check_hub_access", "reports_input_errors"]

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
P = ParamSpec("P")
R = TypeVar("R")


def reports_input_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a CLI command so that :class:`InputError` becomes ``error: <message>`` and exit 2, and the
    machine refusing (:class:`SystemRefusalError`, a full disk, a denied permission) ``error: <message>``
    and exit 3.

    Printed with ``typer.echo``, not rich, so the message is never wrapped onto several lines.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except SystemRefusalError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_ENVIRONMENT) from None
        except Exception as exc:
            failure = system_refusal(exc)
            if failure is None:
                raise
            typer.echo(f"error: {failure}", err=True)
            raise typer.Exit(EXIT_ENVIRONMENT) from None

    return wrapper


def check_hub_access(model: str, source: str = "--model") -> None:
    """Before a model loads: an unreachable hub is one line now (exit 3 when the model is not cached),
    not ~50 s of retries; a cached model is used offline, with a ``note:`` line (``vlmtransfer.hub``)."""
    from vlmtransfer.hub import prepare_model_access  # noqa: PLC0415

    note = prepare_model_access(model, source=source)
    if note:
        typer.echo(f"note: {note}", err=True)
