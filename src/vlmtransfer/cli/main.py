"""The ``vlmtransfer`` command: one Typer app, one module per verb."""

from __future__ import annotations

import typer

from vlmtransfer import __version__
from vlmtransfer.cli import analyze

__all__ = ["app", "main"]

app = typer.Typer(
    name="vlmtransfer",
    help="Measure and use task transfer in vision-language models (PGF analysis, finetuning, evaluation).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command(name="analyze", epilog=analyze.EXAMPLES)(analyze.analyze)


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


def main() -> None:
    """Console-script entry point."""
    app()
