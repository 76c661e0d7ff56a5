"""The multiple-choice question (MCQ) record: the one data format every stage reads (DESIGN.md §3.1).

A dataset directory holds one folder per task, each with a JSONL file per split and its images::

    DIR/manifest.json                      provenance (written by vlmtransfer's exporters)
    DIR/<Task>/train.jsonl, val.jsonl      one record per line
    DIR/<Task>/images/...                  image files; records name them relative to the JSONL

A record::

    {"id": "val_Counting_1", "task": "Counting", "images": ["images/val_Counting_1_0.png"],
     "prompt": "How many blue floats are there?\\nSelect from the following choices.\\n(A) 0\\n(B) 3 ...",
     "choices": ["0", "3", "2", "1"], "answer": "B", "meta": {...}}

``prompt`` is the full question shown to the model, choices included (BLINK's ``prompt`` field).
"""

from __future__ import annotations

import difflib
import json
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import atomic_write_bytes

__all__ = [
    "LETTERS",
    "MANIFEST",
    "MAX_IMAGE_PIXELS",
    "MCQRecord",
    "letter_index",
    "read_records",
    "record_from_dict",
    "records_to_jsonl",
    "write_records",
]

LETTERS = "ABCDE"
"""Answer letters, in choice order (BLINK uses at most five options)."""

MAX_IMAGE_PIXELS = 50_000_000
"""Largest image accepted (width x height): 50 megapixels, above any camera photo a benchmark ships; a
larger one is refused by validation rather than decoded (a 12000 x 12000 PNG would take ~0.5 GB)."""

MANIFEST = "manifest.json"
"""File at the root of every dataset directory vlmtransfer writes: provenance, and proof of ownership."""

_FIELDS = ("id", "task", "images", "prompt", "choices", "answer", "meta")
_REQUIRED = _FIELDS[:-1]


@dataclass(frozen=True)
class MCQRecord:
    """One multiple-choice question.

    Attributes:
        id: unique within its task and split.
        task: the task name (a registry name for known tasks).
        images: image paths relative to the JSONL file, in the order the model sees them.
        prompt: the full question text, choices included.
        choices: the option texts; option k is answered by ``LETTERS[k]``.
        answer: the correct letter.
        meta: free-form provenance (source dataset, revision, generator parameters...).
    """

    id: str
    task: str
    images: tuple[str, ...]
    prompt: str
    choices: tuple[str, ...]
    answer: str
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def answer_index(self) -> int:
        """Index of the correct choice."""
        return letter_index(self.answer)

    @property
    def letters(self) -> str:
        """The valid answer letters of this question, e.g. ``"ABCD"``."""
        return LETTERS[: len(self.choices)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this record (lists, not tuples)."""
        return {
            "id": self.id,
            "task": self.task,
            "images": list(self.images),
            "prompt": self.prompt,
            "choices": list(self.choices),
            "answer": self.answer,
            "meta": dict(self.meta),
        }


def letter_index(letter: str) -> int:
    """``"A"`` -> 0 ... ``"E"`` -> 4."""
    if len(letter) != 1 or letter not in LETTERS:
        raise ValueError(f"not an answer letter: {letter!r}")
    return LETTERS.index(letter)


def record_from_dict(obj: Any, *, source: str | Path = "<record>", line: int | None = None) -> MCQRecord:
    """Validate one decoded JSON object and build its record.

    Checks field presence and types, 2-5 choices, the answer among the choices' letters, and image
    paths that stay inside the dataset (relative, no ``..``). Whether the images exist is checked by
    :func:`read_records`, which knows the directory.

    Raises:
        InputError: naming ``source``, the line and the field.
    """
    where = f"line {line}" if line is not None else None
    if not isinstance(obj, dict):
        raise InputError("a record must be a JSON object", source=source, where=where)
    for name in obj:
        if name not in _FIELDS:
            close = difflib.get_close_matches(name, _FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown field {name!r}{hint}", source=source, where=where)
    for name in _REQUIRED:
        if name not in obj:
            raise InputError(f"missing field {name!r}", source=source, where=where)
    problem = _field_problem(obj)
    if problem:
        name, message = problem
        raise InputError(f"field {name!r}: {message}", source=source, where=where)
    return MCQRecord(
        id=obj["id"],
        task=obj["task"],
        images=tuple(obj["images"]),
        prompt=obj["prompt"],
        choices=tuple(obj["choices"]),
        answer=obj["answer"],
        meta=obj.get("meta", {}),
    )


def _field_problem(obj: dict[str, Any]) -> tuple[str, str] | None:
    checks = (
        ("id", lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
        ("task", lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
        ("prompt", lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
        ("images", _valid_image_list, "must be a non-empty list of relative paths inside the dataset"),
        ("choices", _valid_choices, f"must be a list of 2 to {len(LETTERS)} strings"),
        ("meta", lambda v: isinstance(v, dict), "must be an object"),
    )
    for name, ok, message in checks:
        if name in obj and not ok(obj[name]):
            return name, message
    answer, letters = obj["answer"], LETTERS[: len(obj["choices"])]
    if not (isinstance(answer, str) and len(answer) == 1 and answer in letters):
        return "answer", f"{answer!r} is not one of the choice letters {', '.join(letters)}"
    return None


def _valid_image_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(p, str) and p and _inside(p) for p in value)
    )


def _inside(path: str) -> bool:
    posix = PurePosixPath(path)
    return not posix.is_absolute() and ".." not in posix.parts and "\\" not in path


def _valid_choices(value: Any) -> bool:
    return (
        isinstance(value, list) and 2 <= len(value) <= len(LETTERS) and all(isinstance(c, str) for c in value)
    )


def read_records(path: str | Path, *, check_images: bool = True, task: str | None = None) -> list[MCQRecord]:
    """Read and validate a JSONL file of records; nothing is skipped silently.

    Args:
        path: the JSONL file; image paths are resolved against its directory.
        check_images: also check that every image exists and decodes (PIL), naming the record's line.
        task: when given, every record's ``task`` must be it (the task folder the file is in).

    Raises:
        InputError: the first problem, naming the file, line and field.
    """
    path = Path(path)
    records: list[MCQRecord] = []
    first_line: dict[str, int] = {}
    for line, obj in _json_lines(path):
        record = record_from_dict(obj, source=path, line=line)
        if task is not None and record.task != task:
            raise InputError(
                f"field 'task': {record.task!r} differs from the task folder {task!r}",
                source=path,
                where=f"line {line}",
            )
        if record.id in first_line:
            raise InputError(
                f"field 'id': {record.id!r} duplicates line {first_line[record.id]}",
                source=path,
                where=f"line {line}",
            )
        first_line[record.id] = line
        if check_images:
            _check_images(record, path.parent, path, line)
        records.append(record)
    if not records:
        raise InputError("holds no records", source=path)
    return records


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Decoded objects with their line numbers. Lines end at ``\\n`` only: JSON strings may hold
    U+2028 and other characters that ``str.splitlines`` would wrongly treat as line breaks."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError("file not found", source=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", source=path) from None
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield number, _decode_line(raw, path, number)


def _decode_line(raw: str, path: Path, number: int) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc.msg} (column {exc.colno})"
    except (ValueError, RecursionError) as exc:  # e.g. integers beyond Python's digit limit, deep nesting
        problem = f"not valid JSON: {type(exc).__name__}"
    raise InputError(problem, source=path, where=f"line {number}")


def _check_images(record: MCQRecord, root: Path, path: Path, line: int) -> None:
    for k, image in enumerate(record.images):
        problem = _image_problem(root, image)
        if problem:
            raise InputError(f"field 'images'[{k}]: {image!r} {problem}", source=path, where=f"line {line}")


def _image_problem(root: Path, relative: str) -> str | None:
    """Why the image at ``root/relative`` is unusable, or None: it must be an image file that resolves
    (symlinks included) inside ``root``, decodes completely, and has at most :data:`MAX_IMAGE_PIXELS`."""
    from PIL import Image  # noqa: PLC0415 - keeps `import vlmtransfer.data` light

    file = root / relative
    try:
        if not file.exists():
            return "does not exist"
        if not file.is_file():
            return "is not a file"
        if not file.resolve().is_relative_to(root.resolve()):
            return "resolves outside the dataset directory"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit, below
            with Image.open(file) as handle:
                width, height = handle.size
                if width * height > MAX_IMAGE_PIXELS:
                    return (
                        f"is {width} x {height} pixels, above the limit of {MAX_IMAGE_PIXELS:,} "
                        "(a decompression bomb?); downscale it"
                    )
                handle.load()  # decodes every pixel: a truncated file fails here, not in evaluation
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"is not a readable image ({type(exc).__name__}: {exc})"
    return None


def records_to_jsonl(records: Iterable[MCQRecord]) -> bytes:
    """Serialise records, one compact JSON object per line (UTF-8, non-ASCII kept)."""
    lines = (json.dumps(r.to_dict(), ensure_ascii=False, separators=(",", ":")) for r in records)
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_records(path: str | Path, records: Iterable[MCQRecord]) -> None:
    """Write a JSONL file of records atomically."""
    atomic_write_bytes(path, records_to_jsonl(records))
