"""The ``vlmtransfer`` command: one Typer app, one module per verb."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperOption

from vlmtransfer import __version__
from vlmtransfer.cli import (
    analyze,
    data,
    demo,
    diagnostics,
    evaluate,
    finetune,
    model,
    power,
    predict,
    report,
    select,
    study,
    tasks,
)

__all__ = ["app", "main"]


def _show_flags_plainly() -> None:
    """Flags appear in ``--help`` as ``--dry-run``, not ``--dry-run <bool>``.

    Typer 0.29's rich help prints every option's type, flags included, which tells users to type
    ``--dry-run true`` — which click then rejects. Its own plain-text help already skips the type of a
    flag; this makes the rich panel agree, for every command (``--help`` included), in one place.
    """
    display = TyperOption.display_type_rich
    if getattr(display, "_plain_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: typer.Context) -> str | None:
        return None if self.is_flag and not self.count else display(self, ctx)

    display_type_rich._plain_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_show_flags_plainly()

app = typer.Typer(
    name="vlmtransfer",
    help="Measure and use task transfer in vision-language models (PGF analysis, finetuning, evaluation).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command(name="analyze", epilog=analyze.EXAMPLES)(analyze.analyze)
app.command(name="report", epilog=report.EXAMPLES)(report.report)
app.command(name="power", epilog=power.EXAMPLES)(power.power)
app.command(name="prior", epilog=diagnostics.PRIOR_EXAMPLES)(diagnostics.prior)
app.command(name="similarity", epilog=diagnostics.SIMILARITY_EXAMPLES)(diagnostics.similarity)
app.command(name="predict", epilog=predict.EXAMPLES)(predict.predict)
app.command(name="tasks", epilog=tasks.EXAMPLES)(tasks.tasks)
app.command(name="finetune", epilog=finetune.EXAMPLES)(finetune.finetune)
app.command(name="evaluate", epilog=evaluate.EXAMPLES)(evaluate.evaluate)
app.command(name="run", epilog=study.RUN_EXAMPLES)(study.run)
app.command(name="status", epilog=study.STATUS_EXAMPLES)(study.status)
app.command(name="select", epilog=select.EXAMPLES)(select.select)
app.command(name="demo", epilog=demo.EXAMPLES)(demo.demo)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vlmtransfer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Measure and use task transfer in vision-language models."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    Runs the app outside click's standalone mode so that usage errors (a missing option, a value
    of the wrong type) are reported like every other bad input: one line on stderr, exit code 2.
    """
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.TyperException as exc:  # click usage errors derive from it
        command = exc.ctx.command_path if getattr(exc, "ctx", None) else "vlmtransfer"
        typer.echo(f"error: {' '.join(exc.format_message().split())} (see '{command} --help')", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
