"""Dataset directories: writing a task's split with its images, the manifest, and validating a tree.

Writers put everything into a staging directory (see :func:`vlmtransfer.fsutil.staged_directory`)
so an export either completes or leaves nothing; image bytes are deterministic (PNG, no metadata),
so the same inputs give byte-identical datasets.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vlmtransfer import __version__
from vlmtransfer.data.image_file import ImageFile
from vlmtransfer.data.records import MANIFEST, MCQRecord, read_records, write_records
from vlmtransfer.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

    from vlmtransfer.data.video import FrameSampling

T = TypeVar("T")

__all__ = [
    "SplitSummary",
    "collect_questions",
    "image_bytes",
    "limited",
    "load_questions",
    "load_split",
    "split_path",
    "split_tasks",
    "validate_dataset",
    "write_manifest",
    "write_split",
]


def split_path(root: str | Path, task: str, split: str) -> Path:
    """Where a task's split lives: ``root/<task>/<split>.jsonl``."""
    return Path(root) / task / f"{split}.jsonl"


def image_bytes(image: Image.Image) -> bytes:
    """PNG bytes of ``image``, deterministic for identical pixels (no timestamps or text chunks)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def write_split(
    root: str | Path,
    task: str,
    split: str,
    items: Iterable[tuple[MCQRecord, Sequence[bytes]]],
) -> int:
    """Write one task's split: each record with the encoded images its ``images`` paths name.

    Image paths in the records are relative to ``root/<task>/`` (e.g. ``images/val_3_0.png``).

    Returns:
        The number of records written.
    """
    task_dir = Path(root) / task
    records = []
    for record, images in items:
        if len(images) != len(record.images):
            raise ValueError(f"record {record.id}: {len(record.images)} image paths but {len(images)} images")
        for relative, data in zip(record.images, images, strict=True):
            target = task_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        records.append(record)
    write_records(split_path(root, task, split), records)
    return len(records)


def write_manifest(
    root: str | Path, kind: str, tasks: Mapping[str, Mapping[str, int]], **provenance: Any
) -> None:
    """Write ``root/manifest.json``: what produced the dataset and how many records each split holds.

    Args:
        kind: the producer, e.g. ``"synthetic"`` or ``"blink"``.
        tasks: ``{task: {split: n_records}}``.
        provenance: anything else worth recording (seed, dataset revision, source path...).
    """
    document = {
        "format": "vlmtransfer-mcq",
        "version": 1,
        "kind": kind,
        "generator": f"vlmtransfer {__version__}",
    }
    document |= {"tasks": {t: dict(s) for t, s in tasks.items()}, **provenance}
    Path(root, MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_split(root: str | Path, task: str, split: str, *, check_images: bool = False) -> list[MCQRecord]:
    """The records of one task's split (validated; images checked only when asked)."""
    path = split_path(root, task, split)
    if not path.is_file():
        raise InputError(f"no {split} split for task {task!r} (expected {path})", source=root)
    return read_records(path, check_images=check_images, task=task)


def split_tasks(root: str | Path, split: str) -> list[str]:
    """The tasks of a dataset directory that have ``split`` (sorted).

    Raises:
        InputError: ``root`` is not a directory, or no task in it has the split.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a directory" if root.exists() else "directory not found", source=root)
    tasks = sorted(path.parent.name for path in root.glob(f"*/{split}.jsonl"))
    if not tasks:
        raise InputError(f"no task folder holds a {split!r} split ({split}.jsonl)", source=root)
    return tasks


def load_questions(
    root: str | Path,
    task: str,
    split: str,
    *,
    limit: int | float | None = None,
    sampling: FrameSampling | None = None,
) -> list[tuple[MCQRecord, list[Any]]]:
    """The first ``limit`` questions of a task's split (see :func:`limited` for a fractional ``limit``)
    with their images as :class:`~vlmtransfer.data.image_file.ImageFile` (the file and its size: each
    is decoded, as RGB, when a batch's pixels are made, and dropped with the batch, so a study's images
    are never all in memory at once), followed by their videos as
    :class:`~vlmtransfer.data.video.VideoClip` (probed, not decoded: frames are decoded, per
    ``sampling``, when a batch needs them).

    Images and videos are checked (inside the directory, readable) before any is used, so a bad file
    is reported with its line rather than failing later inside a model.
    """
    records = limited(load_split(root, task, split, check_images=True), limit)
    folder = split_path(root, task, split).parent
    clips: dict[str, Any] = {}
    questions = []
    for record in records:
        visuals: list[Any] = [ImageFile.open(folder / relative) for relative in record.images]
        for relative in record.videos:
            if relative not in clips:
                from vlmtransfer.data.video import VideoClip  # noqa: PLC0415 - PyAV only for videos

                clips[relative] = VideoClip.open(folder / relative, sampling)
            visuals.append(clips[relative])
        questions.append((record, visuals))
    return questions


def limited(records: Sequence[T], limit: int | float | None) -> list[T]:
    """The first ``limit`` records; a float in (0, 1) is a fraction of them (rounded up, at least one),
    as lm-evaluation-harness reads ``--limit 0.1``, so that every task keeps its share whatever its
    size. ``None`` keeps all."""
    if limit is None:
        return list(records)
    if isinstance(limit, float) and 0 < limit < 1:
        return list(records[: max(1, math.ceil(limit * len(records)))])
    return list(records[: int(limit)])


def collect_questions(
    roots: Sequence[str | Path],
    split: str,
    *,
    tasks: Sequence[str] | None = None,
    limit: int | float | None = None,
    sampling: FrameSampling | None = None,
) -> dict[str, list[tuple[MCQRecord, list[Any]]]]:
    """Questions per task from one or more dataset directories (all their tasks with ``split``, or ``tasks``),
    videos sampled per ``sampling`` (default :class:`~vlmtransfer.data.video.FrameSampling`).

    Of several directories, one without ``split`` is skipped: a study's sources and targets may live in
    separate directories (BLINK's val export and a train-only BLINK training set, as configs/paper.yaml).

    Raises:
        InputError: a directory is missing, none has such a split (a single one: it has none), a
            requested task is in none of them, or a task is in two of them (which copy to use would be
            a guess).
    """
    found: dict[str, Path] = {}
    several = len(roots) > 1
    for root in roots:
        if several and Path(root).is_dir() and not any(Path(root).glob(f"*/{split}.jsonl")):
            continue
        for task in split_tasks(root, split):
            if task in found:
                raise InputError(f"task {task!r} is in both {found[task]} and {root}", source=root)
            found[task] = Path(root)
    if not found:
        where = ", ".join(str(r) for r in roots)
        raise InputError(f"no task folder holds a {split!r} split ({split}.jsonl)", source=where)
    wanted = list(tasks) if tasks else sorted(found)
    for task in wanted:
        if task not in found:
            where = ", ".join(str(r) for r in roots)
            raise InputError(f"no {split!r} split for task {task!r} in {where}", field="tasks")
    return {task: load_questions(found[task], task, split, limit=limit, sampling=sampling) for task in wanted}


@dataclass(frozen=True)
class SplitSummary:
    """What :func:`validate_dataset` found in one JSONL file."""

    path: Path
    tasks: tuple[str, ...]
    records: int
    answers: Mapping[str, int]
    """Records per answer letter (numeric questions count under ``"number"``)."""


def validate_dataset(root: str | Path) -> list[SplitSummary]:
    """Validate every ``*.jsonl`` under ``root``, images included; stop at the first problem. A file in a
    folder holds that task's records: their ``task`` field must be the folder's name.

    Raises:
        InputError: no JSONL files, or the first invalid record (file, line, field).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a directory" if root.exists() else "directory not found", source=root)
    files = sorted(root.rglob("*.jsonl"))
    if not files:
        raise InputError("holds no .jsonl files", source=root)
    summaries = []
    for path in files:
        folder = path.parent.name if path.parent != root else None  # <task>/<split>.jsonl
        records = read_records(path, check_images=True, task=folder)
        tasks = tuple(sorted({r.task for r in records}))
        answers = Counter("number" if r.is_numeric else r.answer for r in records)
        summaries.append(SplitSummary(path, tasks, len(records), answers))
    return summaries
