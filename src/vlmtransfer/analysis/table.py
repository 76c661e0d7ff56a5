"""Reading user CSV files strictly, keeping each row's line number for error messages.

The stdlib ``csv`` reader is used instead of ``pandas.read_csv`` because it reports the physical
line of every record (pandas silently skips blank lines and renumbers), and line numbers are what
make an error message actionable.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vlmtransfer.errors import InputError
from vlmtransfer.registry import near_matches

__all__ = [
    "LINE",
    "check_columns",
    "csv_text",
    "neutralise_cell",
    "nonempty_strings",
    "numbers",
    "read_csv_strict",
    "reject_duplicates",
]

LINE = "_line"
"""Column holding the 1-based physical line of each row in its file (the header is line 1)."""


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to a spreadsheet (CSV injection)."""


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+1``, ``@SUM``), prefixed
    with ``'`` so it shows as text (OWASP's advice); numbers and other text are returned unchanged.
    :func:`read_csv_strict` removes the prefix again, so exported tables read back as written."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """``frame.to_csv`` with every text cell, index label and column name neutralised (see
    :func:`neutralise_cell`): task and model names come from users and end up in spreadsheets."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column].dtype):
            safe[column] = safe[column].map(neutralise_cell)
    safe.columns = [neutralise_cell(c) for c in safe.columns]
    if index:
        safe.index = safe.index.map(neutralise_cell)
    return safe.to_csv(index=index)


def _restored(cell: str) -> str:
    """Undo :func:`neutralise_cell`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) else cell


def read_csv_strict(path: str | Path) -> pd.DataFrame:
    """All cells as stripped strings, plus :data:`LINE`; blank lines skipped.

    A header without rows gives an empty frame: callers check the columns first, so that a file
    that is not a results table at all is reported as such (see :func:`require_rows`).

    Raises:
        InputError: missing file, a directory, empty file, non-text bytes, malformed CSV,
            duplicate header names, or rows with the wrong number of fields.
    """
    path = Path(path)
    data = _read_bytes(path)
    text = _decode(data, path)
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        header = [_restored(name.strip()) for name in next(reader)]
        records = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", source=path, where=f"line {reader.line_num}") from None
    _check_header(header, path)
    for line, row in records:
        if len(row) != len(header):
            raise InputError(
                f"expected {len(header)} fields like the header, found {len(row)}",
                source=path,
                where=f"line {line}",
            )
    frame = pd.DataFrame(
        [[_restored(cell.strip()) for cell in row] for _, row in records], columns=header, dtype=object
    )
    frame[LINE] = [line for line, _ in records]
    frame.attrs["sha256"] = hashlib.sha256(data).hexdigest()
    return frame


def require_rows(frame: pd.DataFrame, path: str | Path) -> None:
    """At least one data row."""
    if frame.empty:
        raise InputError("has a header but no data rows", source=path)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputError("file not found", source=path)
    if path.is_dir():
        raise InputError("is a directory, expected a CSV file", source=path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", source=path) from None


def _decode(data: bytes, path: Path) -> str:
    if b"\x00" in data:
        raise InputError("not a CSV file (binary content)", source=path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not a CSV file (not UTF-8 text)", source=path) from None
    if not text.strip():
        raise InputError("file is empty", source=path)
    return text


def _check_header(header: list[str], path: Path) -> None:
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise InputError(
            f"header has an empty column name at position {blank[0]}", source=path, where="line 1"
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(f"column {name!r} appears twice in the header", source=path, where="line 1")
        seen.add(name)


def check_columns(
    frame: pd.DataFrame, required: Sequence[str], optional: Sequence[str], path: str | Path
) -> None:
    """Every required column present; an unknown column that looks like a misspelt known one is an error.

    Other unknown columns are allowed (users keep notes next to their numbers).
    """
    present = [c for c in frame.columns if c != LINE]
    known = [*required, *optional]
    unknown = [c for c in present if c not in known]
    for column in required:
        if column not in present:
            raise InputError(
                f"missing column {column!r}{_suggestion(column, unknown)}",
                source=path,
                where="line 1",
            )
    for column in unknown:
        close = near_matches(column, known, n=1, cutoff=0.8)
        if close:
            raise InputError(
                f"unknown column {column!r} (did you mean {close[0]!r}?)",
                source=path,
                where="line 1",
            )


def _suggestion(column: str, candidates: Sequence[str]) -> str:
    close = near_matches(column, candidates, n=1, cutoff=0.6)
    if not close:
        close = [c for c in candidates if c.lower() == column.lower()]
    return f" (found {close[0]!r}: misspelt?)" if close else ""


def nonempty_strings(
    frame: pd.DataFrame, column: str, path: str | Path, rows: pd.Series | None = None
) -> None:
    """Every cell of ``column`` (restricted to ``rows`` when given) is non-empty."""
    cells = frame[column] if rows is None else frame.loc[rows, column]
    empty = cells[cells == ""]
    if len(empty):
        line = frame.loc[empty.index[0], LINE]
        raise InputError(f"empty {column!r}", source=path, where=f"line {line}")


def numbers(
    frame: pd.DataFrame,
    column: str,
    path: str | Path,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    allow_empty: bool = False,
) -> pd.Series:
    """``column`` parsed as finite floats, checked against an optional range.

    Empty cells are an error unless ``allow_empty`` (then NaN).
    """
    text = frame[column]
    empty = text == ""
    values = pd.to_numeric(text.where(~empty), errors="coerce").astype(float)
    finite = np.isfinite(values)
    below = (values < low if low_inclusive else values <= low) if low is not None else False
    above = values > high if high is not None else False
    bad = (empty & (not allow_empty)) | (~empty & ~finite) | (finite & (below | above))
    if bad.any():
        index = bad.idxmax()
        bounds = {"low": low, "high": high, "low_inclusive": low_inclusive}
        problem = _number_problem(values[index], text[index], column, **bounds)
        raise InputError(problem, source=path, where=f"line {frame.loc[index, LINE]}")
    return values


def _number_problem(
    value: float, raw: str, column: str, *, low: float | None, high: float | None, low_inclusive: bool
) -> str:
    """Describe why one cell failed :func:`numbers` (called only for a failing cell)."""
    if raw == "":
        return f"empty {column!r}"
    if np.isnan(value):
        return f"{column!r} is {raw!r}, not a number"
    if not np.isfinite(value):
        return f"{column!r} is {raw!r}, not a finite number"
    below = low is not None and (value < low if low_inclusive else value <= low)
    above = high is not None and value > high
    if below or above:
        opening = "[" if low_inclusive else "("
        lower = "-inf" if low is None else f"{low:g}"
        upper = "inf" if high is None else f"{high:g}"
        return f"{column!r} is {raw}, outside {opening}{lower}, {upper}]"
    return f"{column!r} is {raw!r}, rejected"


def reject_duplicates(frame: pd.DataFrame, key: Sequence[str], path: str | Path) -> None:
    """No two rows share ``key``; the error cites both lines."""
    duplicated = frame.duplicated(subset=list(key), keep=False)
    if not duplicated.any():
        return
    first_key = tuple(frame.loc[duplicated].iloc[0][list(key)])
    same = frame[(frame[list(key)] == pd.Series(first_key, index=list(key))).all(axis=1)]
    lines = same[LINE].tolist()
    described = ", ".join(f"{k}={v!r}" for k, v in zip(key, first_key, strict=True))
    raise InputError(f"duplicates line {lines[0]} ({described})", source=path, where=f"line {lines[1]}")
