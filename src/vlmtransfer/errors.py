"""The one exception type that means "the user's input is wrong", not "vlmtransfer has a bug".

The CLI turns an :class:`InputError` into a single line on stderr and exit code 2; any other
exception is a bug (exit code 1, with traceback). Library code raises ``InputError`` only after
it has identified the file, row or field at fault, so the message alone lets the user fix it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input, described in one line.

    Args:
        problem: what is wrong, e.g. ``"accuracy 104 is outside 0-100"``.
        source: the file (or option) at fault; prefixed to the message when given.
        where: the location inside it, e.g. ``"line 7"`` or ``"column 'accuracy'"``.
    """

    def __init__(self, problem: str, *, source: str | Path | None = None, where: str | None = None):
        self.problem = " ".join(str(problem).split())
        self.source = " ".join(str(source).split()) if source is not None else None
        self.where = where
        super().__init__(self._render())

    def _render(self) -> str:
        prefix = ": ".join(part for part in (self.source, self.where) if part)
        return f"{prefix}: {self.problem}" if prefix else self.problem
