"""BLINK (Fu et al., 2024) as MCQ records: from the Hugging Face hub, or from a local snapshot.

The hub dataset ``BLINK-Benchmark/BLINK`` has one config per task and splits ``val`` / ``test``
(test answers are hidden). Rows: ``idx, question, sub_task, image_1..image_4`` (None when unused),
``choices, answer`` (``"(A)"``), ``prompt, explanation``. A local snapshot laid out like the hub
repository (``<dir>/<Config>/val-00000-of-00001.parquet``) loads through the same code path, so users
with a downloaded copy work offline.

Why the revision matters: BLINK re-uploaded corrected Relative_Reflectance labels in September 2025,
so accuracies on different revisions are not comparable. The loader resolves the revision to a
commit hash before loading and records it in every record's ``meta`` and in the export manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmtransfer.data.dataset import write_manifest, write_split
from vlmtransfer.data.records import MANIFEST, MCQRecord, record_from_dict
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import staged_directory
from vlmtransfer.registry import did_you_mean

__all__ = [
    "BLINK_DATASET",
    "BLINK_TASKS",
    "BlinkSource",
    "export_blink",
    "load_blink",
    "resolve_revision",
]

BLINK_DATASET = "BLINK-Benchmark/BLINK"
IMAGE_COLUMNS = ("image_1", "image_2", "image_3", "image_4")
BLINK_TASKS: tuple[str, ...] = (
    "Art_Style",
    "Counting",
    "Forensic_Detection",
    "Functional_Correspondence",
    "Jigsaw",
    "Multi-view_Reasoning",
    "Object_Localization",
    "Relative_Depth",
    "Relative_Reflectance",
    "Semantic_Correspondence",
    "Spatial_Relation",
    "Visual_Correspondence",
    "Visual_Similarity",
)
"""The 13 tasks of the study (IQ_Test exists too, and can be asked for by name)."""

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class BlinkSource:
    """Where BLINK comes from: the hub at a revision, or a local snapshot directory.

    Attributes:
        local_dir: a snapshot laid out like the hub repository, or None for the hub.
        revision: hub branch, tag or commit; resolved to a commit before loading.
        cache_dir: the ``datasets`` cache to use (default: the user's).
    """

    local_dir: Path | None = None
    revision: str = "main"
    cache_dir: str | None = None


def resolve_revision(revision: str, *, dataset: str = BLINK_DATASET) -> str:
    """The commit hash of ``revision`` on the hub (a commit hash is returned as is).

    Raises:
        InputError: the hub cannot be reached (e.g. ``HF_HUB_OFFLINE=1``) or the revision is unknown;
            pass a full commit hash, or a local snapshot as ``source``, to work offline.
    """
    if _COMMIT.match(revision):
        return revision
    from huggingface_hub import HfApi  # noqa: PLC0415 - network client only when needed

    try:
        return HfApi().dataset_info(dataset, revision=revision).sha
    except Exception as exc:  # any hub failure means the same thing to the user
        raise InputError(
            f"cannot resolve revision {revision!r} of {dataset} on the hub ({type(exc).__name__});"
            " pass a commit hash, or a local snapshot as the source",
            field="revision",
        ) from None


def load_blink(
    task: str, split: str = "val", source: BlinkSource | None = None
) -> Iterator[tuple[MCQRecord, list[bytes]]]:
    """Yield BLINK's questions of ``task`` as MCQ records with their images' original bytes.

    Images keep their original encoding (no re-compression); record image paths are
    ``images/<idx>_<k>.<ext>`` relative to the task directory, in image_1..image_4 order, None skipped.
    """
    _check_task_and_split(task, split)
    source = source or BlinkSource()
    rows, provenance = _rows(task, split, source)
    seen: set[str] = set()
    for number, row in enumerate(rows):
        record, images = _record(row, task, split, provenance, number)
        if record.id in seen:  # ids name the image files: a repeat would overwrite another row's images
            raise InputError(
                f"row {number + 1}: idx {record.id!r} appears twice", source=f"BLINK {task}/{split}"
            )
        seen.add(record.id)
        yield record, images


KNOWN_CONFIGS = frozenset({*BLINK_TASKS, "IQ_Test"})
_SPLIT = re.compile(r"^[A-Za-z0-9_]+$")
_REQUIRED_COLUMNS = ("idx", "prompt", "choices", "answer")


def _check_task_and_split(task: str, split: str) -> None:
    """Task names become directory names, so only BLINK's own configs are accepted."""
    if task not in KNOWN_CONFIGS:
        hint = did_you_mean(task, sorted(KNOWN_CONFIGS), n=2)
        raise InputError(f"{task!r} is not a BLINK task{hint}", field="tasks")
    if not _SPLIT.match(split):
        raise InputError(f"{split!r} is not a split name (BLINK has val and test)", field="split")


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' own progress bars and info logs (the CLI shows its own), then restore them."""
    import datasets  # noqa: PLC0415

    was_enabled, verbosity = datasets.is_progress_bar_enabled(), datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if was_enabled:
            datasets.enable_progress_bars()


def _rows(task: str, split: str, source: BlinkSource) -> tuple[Any, dict[str, Any]]:
    """The task's rows, with images as raw bytes; any failure to load is bad input, named."""
    where = source.local_dir or BLINK_DATASET
    try:
        with _quiet_datasets():
            dataset, provenance = _load_rows(task, split, source)
    except InputError:
        raise
    except Exception as exc:  # arrow, hub and datasets errors all mean "this source cannot be read"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(
            f"cannot load {task}/{split}: {type(exc).__name__}: {message}", source=where
        ) from None
    missing = [c for c in _REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise InputError(f"{task}/{split} lacks column(s) {', '.join(missing)}", source=where)
    return dataset, provenance


def _load_rows(task: str, split: str, source: BlinkSource) -> tuple[Any, dict[str, Any]]:
    from datasets import Image, load_dataset  # noqa: PLC0415 - heavy import, only when loading

    if source.local_dir is not None:
        files = sorted((source.local_dir / task).glob(f"{split}-*.parquet"))
        if not files:
            raise InputError(
                f"no {split} parquet for task {task!r}"
                f" (expected {source.local_dir / task}/{split}-00000-of-00001.parquet)",
                source=source.local_dir,
            )
        dataset = load_dataset(
            "parquet", data_files={split: [str(f) for f in files]}, split=split, cache_dir=source.cache_dir
        )
        provenance = {
            "source": str(source.local_dir),
            "revision": None,
            "sha256": [_sha256(f) for f in files],
        }
    else:
        revision = resolve_revision(source.revision)
        dataset = load_dataset(
            BLINK_DATASET, task, split=split, revision=revision, cache_dir=source.cache_dir
        )
        provenance = {"source": BLINK_DATASET, "revision": revision}
    for column in IMAGE_COLUMNS:
        if column in dataset.column_names:
            dataset = dataset.cast_column(column, Image(decode=False))
    return dataset, provenance


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(
    row: dict[str, Any], task: str, split: str, provenance: dict[str, Any], number: int
) -> tuple[MCQRecord, list[bytes]]:
    idx = str(row.get("idx") or f"{split}_{task}_{number + 1}")
    images = [(k, row[c]) for k, c in enumerate(IMAGE_COLUMNS, start=1) if row.get(c) is not None]
    payloads = [_image_payload(image, idx, k) for k, image in images]
    answer = _answer_letter(row.get("answer"), idx)
    meta = {
        **provenance,
        "dataset": BLINK_DATASET,
        "split": split,
        "question": row.get("question"),
        "sub_task": row.get("sub_task"),
        "explanation": row.get("explanation"),
    }
    obj = {
        "id": idx,
        "task": task,
        "images": [f"images/{idx}_{k}.{ext}" for (k, _), (_, ext) in zip(images, payloads, strict=True)],
        "prompt": row.get("prompt"),
        "choices": list(row.get("choices") or []),
        "answer": answer,
        "meta": meta,
    }
    record = record_from_dict(obj, source=f"BLINK {task}/{split}", line=number + 1)
    return record, [data for data, _ in payloads]


def _answer_letter(answer: Any, idx: str) -> str:
    """``"(B)"`` -> ``"B"``; anything else (e.g. the hidden test answers) is an error naming the row."""
    text = str(answer or "").strip()
    match = re.fullmatch(r"\(?([A-E])\)?", text)
    if not match:
        raise InputError(
            f"row {idx}: answer {text!r} is not a choice letter"
            " (BLINK's test answers are hidden; use the val split)"
        )
    return match.group(1)


def _image_payload(image: dict[str, Any], idx: str, k: int) -> tuple[bytes, str]:
    """The image's original bytes and a file extension from its actual format."""
    from PIL import Image as PILImage  # noqa: PLC0415

    try:
        data = image.get("bytes") or (Path(image["path"]).read_bytes() if image.get("path") else b"")
        if not data:
            raise InputError(f"row {idx}: image_{k} has no data")
        with PILImage.open(io.BytesIO(data)) as handle:
            fmt = (handle.format or "png").lower()
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
        raise InputError(f"row {idx}: image_{k} is not a readable image ({type(exc).__name__})") from None
    return data, {"jpeg": "jpg"}.get(fmt, fmt)


def export_blink(
    out_dir: str | Path,
    tasks: Sequence[str] = BLINK_TASKS,
    split: str = "val",
    source: BlinkSource | None = None,
) -> dict[str, dict[str, int]]:
    """Export BLINK tasks to an MCQ dataset directory (``out_dir/<Task>/<split>.jsonl`` + images).

    All or nothing: the directory appears complete or not at all, with a manifest recording the
    source, its resolved revision (or, for a snapshot, its absolute path and the parquet files'
    hashes) and the record counts. Task names are checked against BLINK's configs before anything
    is read, since they become directory names.
    """
    for task in tasks:
        _check_task_and_split(task, split)
    source = source or BlinkSource()
    if source.local_dir is None:
        source = BlinkSource(None, resolve_revision(source.revision), source.cache_dir)
    counts: dict[str, dict[str, int]] = {}
    with staged_directory(out_dir, MANIFEST) as staging:
        for task in tasks:
            counts[task] = {split: write_split(staging, task, split, load_blink(task, split, source))}
        write_manifest(
            staging, "blink", counts, dataset=BLINK_DATASET, **_manifest_source(source, tasks, split)
        )
    return counts


def _manifest_source(source: BlinkSource, tasks: Sequence[str], split: str) -> dict[str, Any]:
    if source.local_dir is None:
        return {"source": BLINK_DATASET, "revision": source.revision}
    hashes = {
        t: [_sha256(f) for f in sorted((source.local_dir / t).glob(f"{split}-*.parquet"))] for t in tasks
    }
    return {"source": str(source.local_dir.resolve()), "revision": None, "snapshot_sha256": hashes}
