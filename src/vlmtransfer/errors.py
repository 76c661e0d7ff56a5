"""The exception types that mean "the user's input is wrong" or "the machine refused", not "vlmtransfer
has a bug".

The CLI turns an :class:`InputError` into a single line on stderr and exit code 2, an
:class:`SystemRefusalError` (disk full, permission denied) into a single line and exit code 3; any other
exception is a bug (exit code 1, with traceback). Library code raises them only after it has identified
the file, row or field at fault, so the message alone lets the user act.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["InputError", "SystemRefusalError", "system_refusal"]


class InputError(ValueError):
    """Bad user input, described in one line.

    Args:
        problem: what is wrong, e.g. ``"accuracy 104 is outside 0-100"``.
        source: the file at fault; prefixed to the message when given.
        where: the location inside it, e.g. ``"line 7"`` or ``"column 'accuracy'"``.
        field: the setting or argument at fault, by its Python name (``learning_rate``). Library code
            names fields, never CLI flags: the CLI maps a field to its flag (``cli.errors``), a study
            config to its key. Shown as the location when ``where`` is not given.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | Path | None = None,
        where: str | None = None,
        field: str | None = None,
    ):
        self.problem = " ".join(str(problem).split())
        self.source = " ".join(str(source).split()) if source is not None else None
        self.where = where
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        prefix = ": ".join(part for part in (self.source, self.where or self.field) if part)
        return f"{prefix}: {self.problem}" if prefix else self.problem


class SystemRefusalError(Exception):
    """The machine refused (disk full, permission denied, read-only file system, I/O error): neither bad
    input nor a bug. Whatever was written before stays intact, so rerunning once it is fixed resumes.

    Args:
        problem: what the system said and what to do.
        source: the file or directory that could not be written or read.
    """

    def __init__(self, problem: str, *, source: str | Path | None = None):
        self.problem = " ".join(str(problem).split())
        self.source = " ".join(str(source).split()) if source is not None else None
        super().__init__(f"{self.source}: {self.problem}" if self.source else self.problem)


_ADVICE = {
    errno.ENOSPC: "free some space and run again",
    errno.EDQUOT: "free some space (disk quota) and run again",
    errno.EROFS: "the file system is read-only; choose a writable location",
    errno.EACCES: "fix the permissions and run again",
    errno.EPERM: "fix the permissions and run again",
    errno.EIO: "check the disk and run again",
    errno.EMFILE: "raise the open-file limit (ulimit -n) and run again",
    errno.ENFILE: "too many open files on the system; run again later",
}
_SQLITE_REFUSALS = {
    "database or disk is full": errno.ENOSPC,
    "disk i/o error": errno.EIO,
    "attempt to write a readonly database": errno.EACCES,
    "unable to open database file": errno.EACCES,
}
_SAFETENSORS_REFUSALS = {
    "storagefull": errno.ENOSPC,
    "os error 28": errno.ENOSPC,
    "permissiondenied": errno.EACCES,
}


def system_refusal(exc: BaseException, source: str | Path | None = None) -> SystemRefusalError | None:
    """``exc`` (or an exception it was raised from) as an :class:`SystemRefusalError` when it is the
    machine refusing (an ``OSError`` such as ENOSPC, SQLite's "database or disk is full", safetensors'
    ``StorageFull``), naming ``exc``'s file or else ``source``; None for anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SystemRefusalError):
            return current
        code = _refusal_code(current)
        if code is not None:
            filename = getattr(current, "filename", None) if isinstance(current, OSError) else None
            reason = current.strerror if isinstance(current, OSError) and current.strerror else str(current)
            return SystemRefusalError(f"{reason}; {_ADVICE[code]}", source=filename or source)
        current = current.__cause__ or current.__context__
    return None


def _refusal_code(exc: BaseException) -> int | None:
    if isinstance(exc, OSError):
        return exc.errno if exc.errno in _ADVICE else None
    text = str(exc).lower()
    kind = type(exc).__name__
    if kind == "OperationalError":  # sqlite3, without importing it
        return next((code for phrase, code in _SQLITE_REFUSALS.items() if phrase in text), None)
    if kind == "SafetensorError":
        return next((code for phrase, code in _SAFETENSORS_REFUSALS.items() if phrase in text), None)
    return None
