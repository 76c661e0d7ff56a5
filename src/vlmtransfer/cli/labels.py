"""Short forms for terminal tables: task abbreviations and compact numbers (light: no pandas, no numpy,
so the modules that print them load fast for ``--help``)."""

from __future__ import annotations

__all__ = ["compact_number", "short_task"]


def short_task(name: str) -> str:
    """The task's abbreviation where the registry knows it (the matrix must fit a terminal)."""
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415 - reads the task files on first use

    spec = default_registry().find(str(name))
    return spec.abbreviation if spec else str(name)[:6]


def compact_number(value: float) -> str:
    """``+0.42`` -> ``+.42`` (and ``-1.20`` stays): two decimals in five characters."""
    text = f"{value:+.2f}"
    return text[0] + text[2:] if text[1:3] == "0." else text
