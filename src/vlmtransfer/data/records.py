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

Video questions (VSI-Bench) add ``"videos": ["videos/scene0011_00.mp4"]`` (video files or folders of
frames, relative to the JSONL like images; ``images`` may then be omitted), and numeric questions
``"answer_type": "number"`` with a number as ``answer`` and no ``choices``::

    {"id": "vsi_12", "task": "VSI_Object_Counting", "videos": ["videos/scannet/scene0011_00.mp4"],
     "prompt": "These are frames of a video.\\nHow many chair(s) are in this room?",
     "answer": 4, "answer_type": "number", "meta": {...}}

Both fields are written only when used, so image-only datasets keep their exact bytes.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import atomic_write_bytes
from vlmtransfer.registry import did_you_mean

__all__ = [
    "ANSWER_TYPES",
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

ANSWER_TYPES = ("choice", "number")
"""``choice``: a letter among the choices (the default); ``number``: a number, scored by MRA."""

_FIELDS = ("id", "task", "images", "videos", "prompt", "choices", "answer", "answer_type", "meta")
_REQUIRED = ("id", "task", "prompt", "answer")


@dataclass(frozen=True)
class MCQRecord:
    """One multiple-choice question.

    Attributes:
        id: unique within its task and split.
        task: the task name (a registry name for known tasks).
        images: image paths relative to the JSONL file, in the order the model sees them.
        prompt: the full question text, choices included.
        choices: the option texts; option k is answered by ``LETTERS[k]``.
        answer: the correct letter; for a numeric question the number, as written by
            :func:`vlmtransfer.data.numbers.format_number` (``"3"``, ``"2.5"``).
        meta: free-form provenance (source dataset, revision, generator parameters...).
        videos: video files or folders of frames relative to the JSONL file, shown after the images.
        answer_type: ``choice`` (a letter) or ``number`` (see :data:`ANSWER_TYPES`).
    """

    id: str
    task: str
    images: tuple[str, ...]
    prompt: str
    choices: tuple[str, ...]
    answer: str
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    videos: tuple[str, ...] = ()
    answer_type: str = "choice"

    @property
    def is_numeric(self) -> bool:
        """Whether the answer is a number (scored by MRA, answered by generation) rather than a letter."""
        return self.answer_type == "number"

    @property
    def numeric_answer(self) -> float:
        """The answer of a numeric question as a float."""
        if not self.is_numeric:
            raise ValueError(f"{self.id}: not a numeric question")
        return float(self.answer)

    @property
    def answer_index(self) -> int:
        """Index of the correct choice."""
        return letter_index(self.answer)

    @property
    def letters(self) -> str:
        """The valid answer letters of this question, e.g. ``"ABCD"``."""
        return LETTERS[: len(self.choices)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this record (lists, not tuples); ``videos`` and ``answer_type`` only when
        used, so image-only records serialise exactly as before they existed."""
        document: dict[str, Any] = {"id": self.id, "task": self.task}
        if self.images or not self.videos:
            document["images"] = list(self.images)
        if self.videos:
            document["videos"] = list(self.videos)
        document["prompt"] = self.prompt
        if self.is_numeric:
            document["answer"] = json.loads(self.answer)
            document["answer_type"] = self.answer_type
        else:
            document["choices"] = list(self.choices)
            document["answer"] = self.answer
        document["meta"] = dict(self.meta)
        return document


def letter_index(letter: str) -> int:
    """``"A"`` -> 0 ... ``"E"`` -> 4."""
    if len(letter) != 1 or letter not in LETTERS:
        raise ValueError(f"not an answer letter: {letter!r}")
    return LETTERS.index(letter)


def record_from_dict(obj: Any, *, source: str | Path = "<record>", line: int | None = None) -> MCQRecord:
    """Validate one decoded JSON object and build its record.

    Checks field presence and types, 2-5 choices, the answer among the choices' letters (a non-zero
    number for ``answer_type: number``, which has no choices), and image and video paths that stay inside
    the dataset (relative, no ``..``); a record needs images, videos or both. Whether the files exist is
    checked by :func:`read_records`, which knows the directory.

    Raises:
        InputError: naming ``source``, the line and the field.
    """
    where = f"line {line}" if line is not None else None
    if not isinstance(obj, dict):
        raise InputError("a record must be a JSON object", source=source, where=where)
    for name in obj:
        if name not in _FIELDS:
            hint = did_you_mean(name, _FIELDS, n=1)
            raise InputError(f"unknown field {name!r}{hint}", source=source, where=where)
    if obj.get("answer_type", "choice") not in ANSWER_TYPES:  # it decides which fields are required
        raise InputError(
            f"field 'answer_type': must be one of {', '.join(ANSWER_TYPES)}", source=source, where=where
        )
    numeric = obj.get("answer_type") == "number"
    required = (*_REQUIRED, *(() if numeric else ("choices",)), *(() if "videos" in obj else ("images",)))
    for name in required:
        if name not in obj:
            raise InputError(f"missing field {name!r}", source=source, where=where)
    problem = _field_problem(obj)
    if problem:
        name, message = problem
        raise InputError(f"field {name!r}: {message}", source=source, where=where)
    return MCQRecord(
        id=obj["id"],
        task=obj["task"],
        images=tuple(obj.get("images", ())),
        prompt=obj["prompt"],
        choices=tuple(obj.get("choices", ())),
        answer=_number_text(obj["answer"]) if numeric else obj["answer"],
        meta=obj.get("meta", {}),
        videos=tuple(obj.get("videos", ())),
        answer_type=obj.get("answer_type", "choice"),
    )


def _field_problem(obj: dict[str, Any]) -> tuple[str, str] | None:
    checks = (
        ("id", lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
        ("task", lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
        ("prompt", lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
        ("answer_type", lambda v: v in ANSWER_TYPES, f"must be one of {', '.join(ANSWER_TYPES)}"),
        ("images", _valid_image_list, "must be a non-empty list of relative paths inside the dataset"),
        ("videos", _valid_video_list, "must be a non-empty list of relative paths inside the dataset"),
        ("meta", lambda v: isinstance(v, dict), "must be an object"),
    )
    for name, ok, message in checks:
        if name in obj and not ok(obj[name]):
            if name == "images" and obj[name] == [] and obj.get("videos"):
                continue  # a video question may list no images
            return name, message
    if obj.get("answer_type") == "number":
        return _numeric_problem(obj)
    if not _valid_choices(obj["choices"]):
        return "choices", f"must be a list of 2 to {len(LETTERS)} strings"
    answer, letters = obj["answer"], LETTERS[: len(obj["choices"])]
    if not (isinstance(answer, str) and len(answer) == 1 and answer in letters):
        return "answer", f"{answer!r} is not one of the choice letters {', '.join(letters)}"
    return None


def _numeric_problem(obj: dict[str, Any]) -> tuple[str, str] | None:
    if obj.get("choices"):
        return "choices", "a numeric question (answer_type number) has no choices"
    if _number_text(obj["answer"]) is None:
        return "answer", f"{obj['answer']!r} is not a finite, non-zero number (MRA divides by it)"
    return None


def _number_text(value: Any) -> str | None:
    """A numeric answer (a JSON number or a numeric string) in its canonical text, or None."""
    from vlmtransfer.data.numbers import format_number  # noqa: PLC0415

    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return format_number(number) if math.isfinite(number) and number != 0 else None


def _valid_video_list(value: Any) -> bool:
    return _valid_image_list(value)


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
        check_images: also check that every image exists and decodes (PIL) and that every video exists
            and has sane metadata (PyAV; see :func:`vlmtransfer.data.video.probe_video`), naming the
            record's line. Each distinct video is probed once.
        task: when given, every record's ``task`` must be it (the task folder the file is in).

    Raises:
        InputError: the first problem, naming the file, line and field.
    """
    path = Path(path)
    records: list[MCQRecord] = []
    first_line: dict[str, int] = {}
    probed: dict[str, str | None] = {}
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
            _check_videos(record, path.parent, path, line, probed)
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


def _check_videos(
    record: MCQRecord, root: Path, path: Path, line: int, probed: dict[str, str | None]
) -> None:
    for k, video in enumerate(record.videos):
        if video not in probed:
            probed[video] = _video_problem(root, video)
        if probed[video]:
            raise InputError(
                f"field 'videos'[{k}]: {video!r} {probed[video]}", source=path, where=f"line {line}"
            )


def _video_problem(root: Path, relative: str) -> str | None:
    """Why the video at ``root/relative`` is unusable, or None (see ``data.video.probe_video``)."""
    from vlmtransfer.data.video import VideoError, probe_video  # noqa: PLC0415 - PyAV when needed

    file = root / relative
    try:
        if file.exists() and not file.resolve().is_relative_to(root.resolve()):
            return "resolves outside the dataset directory"
        probe_video(file)
    except VideoError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


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
