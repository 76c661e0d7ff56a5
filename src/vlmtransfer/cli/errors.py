"""How the CLI reports bad input (exit code 2) and a refusing machine (exit code 3): one line on stderr,
no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import typer

from vlmtransfer.errors import InputError, SystemRefusalError, system_refusal

__all__ = ["EXIT_BAD_INPUT", "EXIT_ENVIRONMENT", "check_hub_access", "flag_for", "reports_input_errors"]

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
P = ParamSpec("P")
R = TypeVar("R")


def flag_for(field: str, flags: Mapping[str, str] | None = None) -> str:
    """The command-line flag of a library field: ``flags[field]`` where a command names it otherwise
    (``learning_rate`` is ``--lr``), else ``--`` and the field with dashes (``--max-steps``)."""
    return (flags or {}).get(field) or "--" + field.replace("_", "-")


def _for_cli(exc: InputError, flags: Mapping[str, str] | None) -> InputError:
    """A library error naming a field (and no file) is shown naming the flag that sets it."""
    if exc.field and exc.source is None and exc.where is None:
        return InputError(exc.problem, source=flag_for(exc.field, flags))
    return exc


def reports_input_errors(
    command: Callable[P, R] | None = None, *, flags: Mapping[str, str] | None = None
) -> Any:
    """Wrap a CLI command so that :class:`InputError` becomes ``error: <message>`` and exit 2, and the
    machine refusing (:class:`SystemRefusalError`, a full disk, a denied permission) ``error: <message>``
    and exit 3. An error naming a library field is shown with the command's flag for it (``flags``
    overrides :func:`flag_for`'s default): library code never names flags.

    Printed with ``typer.echo``, not rich, so the message is never wrapped onto several lines.
    Use bare (``@reports_input_errors``) or with flags (``@reports_input_errors(flags={...})``).
    """
    if command is None:
        return functools.partial(reports_input_errors, flags=flags)

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            typer.echo(f"error: {_for_cli(exc, flags)}", err=True)
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
