"""VSI-Bench (Yang et al., 2024, "Thinking in Space") as video questions: from the hub, or a local copy.

The hub dataset ``nyu-visionx/VSI-Bench`` holds one parquet of questions per config (``full``:
``test-00000-of-00001.parquet``; ``debiased``: ``test_debiased.parquet``) with fields
``id, dataset, scene_name, question_type, question, ground_truth, options`` (``options`` like
``["A. left", "B. right"]``, None for numeric questions; ``ground_truth`` a letter or a number as text),
and the scan videos in one archive per source dataset, ``<dataset>.zip`` (``arkitscenes``, ``scannet``,
``scannetpp``) with members ``<dataset>/<scene_name>.mp4``. A local copy laid out like the repository
(archives, or their extracted ``<dataset>/<scene_name>.mp4``) loads through the same code path.

Tasks: one per question type, named and abbreviated as in the paper's §5.3 (built-in suite ``vsibench``,
``tasks/vsibench.yaml``); ``object_rel_direction_easy/medium/hard`` are one task, Object Relative
Direction (ORDir). The default selection is the paper's five: OAO, OC, ORD, RP, ORDir.

Prompts are the official evaluation's (lmms-eval's ``vsibench``): ``These are frames of a video.``, the
question, and for multiple choice ``Options:`` with the options as given; the renderer then appends the
answer instruction (``Answer with the option's letter ...``, or for numeric questions ``Please answer the
question using a single word or phrase.``).

Safety: only the archive members the questions need are extracted, and an archive holding any member
that would land outside the output directory (an absolute path, ``..``, a symbolic link) is refused
whole. Every extracted video is probed (``data.video.probe_video``) before the export is published.
Exports are all or nothing (``fsutil.staged_directory``).

Why the revision matters, as for BLINK: the hub repository has been re-uploaded (the debiased config was
added in 2025), so the revision is resolved to a commit before loading and recorded in every record's
``meta`` and in the manifest.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vlmtransfer.data.dataset import split_path, write_manifest
from vlmtransfer.data.numbers import format_number
from vlmtransfer.data.records import MANIFEST, MCQRecord, record_from_dict, write_records
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import staged_directory
from vlmtransfer.registry import did_you_mean

__all__ = [
    "CONFIG_FILES",
    "DEFAULT_QUESTION_TYPES",
    "QUESTION_TYPES",
    "VSI_DATASET",
    "VSI_TASKS",
    "VsiSource",
    "export_vsibench",
    "question_types",
]

VSI_DATASET = "nyu-visionx/VSI-Bench"
CONFIG_FILES = {"full": "test-00000-of-00001.parquet", "debiased": "test_debiased.parquet"}
"""The parquet of questions of each hub config (paths in the repository)."""

PRE_PROMPT = "These are frames of a video."

VSI_TASKS: dict[str, tuple[str, ...]] = {
    "VSI_Object_Appearance_Order": ("obj_appearance_order",),
    "VSI_Object_Counting": ("object_counting",),
    "VSI_Object_Relative_Distance": ("object_rel_distance",),
    "VSI_Route_Planning": ("route_planning",),
    "VSI_Object_Relative_Direction": (
        "object_rel_direction_easy",
        "object_rel_direction_medium",
        "object_rel_direction_hard",
    ),
    "VSI_Object_Absolute_Distance": ("object_abs_distance",),
    "VSI_Object_Size_Estimation": ("object_size_estimation",),
    "VSI_Room_Size_Estimation": ("room_size_estimation",),
}
"""Task name -> the VSI-Bench question types it holds."""

QUESTION_TYPES: dict[str, str] = {qtype: task for task, types in VSI_TASKS.items() for qtype in types}
"""VSI-Bench question type -> its task."""

NUMERIC_TYPES = frozenset(
    {"object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation"}
)
"""Question types answered with a number (scored by mean relative accuracy); the others are lettered."""

DEFAULT_QUESTION_TYPES: tuple[str, ...] = (
    "obj_appearance_order",
    "object_counting",
    "object_rel_distance",
    "route_planning",
    "object_rel_direction",
)
"""The paper's five (§5.3; absolute distance and size estimation are left out there)."""

_ALIASES = {"object_rel_direction": VSI_TASKS["VSI_Object_Relative_Direction"]}
_COLUMNS = ("id", "dataset", "scene_name", "question_type", "question", "ground_truth", "options")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_OPTION = re.compile(r"^\s*([A-E])\s*[.)]\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class VsiSource:
    """Where VSI-Bench comes from.

    Attributes:
        local_dir: a copy laid out like the hub repository, or None for the hub.
        revision: hub branch, tag or commit; resolved to a commit before loading.
        config: ``full`` or ``debiased``.
        cache_dir: the hub cache to download into (default: the user's).
    """

    local_dir: Path | None = None
    revision: str = "main"
    config: str = "full"
    cache_dir: str | None = None


def question_types(selection: Sequence[str] | None = None) -> tuple[str, ...]:
    """The VSI-Bench question types a selection names (``object_rel_direction`` stands for its three
    difficulties); the default is :data:`DEFAULT_QUESTION_TYPES`.

    Raises:
        InputError: an unknown question type (the message lists near matches).
    """
    chosen: list[str] = []
    for name in selection or DEFAULT_QUESTION_TYPES:
        if name in _ALIASES:
            chosen += _ALIASES[name]
        elif name in QUESTION_TYPES:
            chosen.append(name)
        else:
            known = sorted({*QUESTION_TYPES, *_ALIASES})
            hint = did_you_mean(name, known, n=2) or f" (known: {', '.join(known)})"
            raise InputError(f"{name!r} is not a VSI-Bench question type{hint}", field="types")
    return tuple(dict.fromkeys(chosen))


def export_vsibench(
    out_dir: str | Path,
    source: VsiSource | None = None,
    *,
    types: Sequence[str] | None = None,
    split: str = "val",
) -> dict[str, dict[str, int]]:
    """Export VSI-Bench's questions of the selected question types, with their videos, to a dataset
    directory: ``out_dir/<Task>/<split>.jsonl`` and ``out_dir/<Task>/videos/<dataset>/<scene>.mp4``.

    ``split`` names the JSONL (default ``val``, the split ``evaluate`` and a study's targets read; the
    questions are VSI-Bench's test split, which ``meta`` and the manifest record). Videos shared by several
    tasks are stored once on disk (hard links) where the file system allows.

    Returns:
        ``{task: {split: number of questions}}``.

    Raises:
        InputError: a missing or malformed parquet, column or field (naming the row), a question type
            the data lacks, a video in no archive or folder, an archive member escaping the output
            directory, a bad archive, or a bad video; nothing is written then.
    """
    source = source or VsiSource()
    if source.config not in CONFIG_FILES:
        raise InputError(
            f"{source.config!r} is not a VSI-Bench config ({', '.join(CONFIG_FILES)})", field="config"
        )
    chosen = question_types(types)
    layout = _Layout(source)
    rows, where = _rows(layout.parquet())
    records = _records(rows, chosen, layout.provenance, where)
    by_task: dict[str, list[MCQRecord]] = {}
    for record in records:
        by_task.setdefault(record.task, []).append(record)
    if not by_task:
        raise InputError(f"holds no questions of type {', '.join(chosen)}", source=where)
    counts = {task: {split: len(items)} for task, items in by_task.items()}
    with staged_directory(out_dir, MANIFEST) as staging:
        store = staging / ".videos"
        for relative in sorted({video for r in records for video in r.videos}):
            _fetch_video(layout, relative, store)
        for task, items in by_task.items():
            for relative in sorted({video for r in items for video in r.videos}):
                _place(store / relative, staging / task / relative)
            write_records(split_path(staging, task, split), items)
        shutil.rmtree(store)
        write_manifest(
            staging,
            "vsibench",
            counts,
            dataset=VSI_DATASET,
            config=source.config,
            hub_split="test",
            question_types=list(chosen),
            **layout.manifest(),
        )
    return counts


class _Layout:
    """The repository's files, local or from the hub (downloaded when first asked for)."""

    def __init__(self, source: VsiSource) -> None:
        self.source = source
        if source.local_dir is None:
            from vlmtransfer.data.blink import resolve_revision  # noqa: PLC0415 - the same hub lookup

            self.revision: str | None = resolve_revision(source.revision, dataset=VSI_DATASET)
        else:
            self.revision = None
        self._parquet: Path | None = None

    @property
    def provenance(self) -> dict[str, Any]:
        where = VSI_DATASET if self.source.local_dir is None else str(self.source.local_dir.resolve())
        return {"source": where, "revision": self.revision, "config": self.source.config}

    def parquet(self) -> Path:
        name = CONFIG_FILES[self.source.config]
        if self.source.local_dir is None:
            self._parquet = _hub_file(name, self.revision or "main", self.source.cache_dir)
        else:
            self._parquet = self.source.local_dir / name
            if not self._parquet.is_file():
                raise InputError(
                    f"no {name} (the {self.source.config} config's questions) in the VSI-Bench copy",
                    source=self.source.local_dir,
                )
        return self._parquet

    def archive(self, dataset: str) -> Path | None:
        """``<dataset>.zip``, or None where the copy holds the extracted folder instead."""
        if self.source.local_dir is None:
            return _hub_file(f"{dataset}.zip", self.revision or "main", self.source.cache_dir)
        path = self.source.local_dir / f"{dataset}.zip"
        return path if path.is_file() else None

    def folder(self, dataset: str) -> Path | None:
        if self.source.local_dir is None:
            return None
        path = self.source.local_dir / dataset
        return path if path.is_dir() else None

    def manifest(self) -> dict[str, Any]:
        if self.source.local_dir is None:
            return {"source": VSI_DATASET, "revision": self.revision}
        assert self._parquet is not None
        digest = hashlib.sha256(self._parquet.read_bytes()).hexdigest()
        return {"source": str(self.source.local_dir.resolve()), "revision": None, "snapshot_sha256": digest}


def _hub_file(name: str, revision: str, cache_dir: str | None) -> Path:
    """One file of the hub repository at ``revision``, downloaded into the hub cache."""
    from huggingface_hub import hf_hub_download  # noqa: PLC0415 - network client only when needed

    try:
        return Path(
            hf_hub_download(VSI_DATASET, name, repo_type="dataset", revision=revision, cache_dir=cache_dir)
        )
    except Exception as exc:  # any hub failure means the same thing to the user
        raise InputError(
            f"cannot download {name} of {VSI_DATASET} at {revision[:12]} ({type(exc).__name__});"
            " pass a local copy as the source to work offline",
            field="revision",
        ) from None


def _rows(parquet: Path) -> tuple[list[dict[str, Any]], str]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - comes with datasets

    try:
        table = pq.read_table(parquet)
    except Exception as exc:  # arrow's errors all mean "not a parquet we can read"
        raise InputError(f"cannot read as parquet ({type(exc).__name__})", source=parquet) from None
    missing = [c for c in _COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"lacks column(s) {', '.join(missing)}", source=parquet)
    return table.select(list(_COLUMNS)).to_pylist(), str(parquet)


def _records(
    rows: Iterable[dict[str, Any]], types: Sequence[str], provenance: dict[str, Any], where: str
) -> list[MCQRecord]:
    wanted = set(types)
    records: list[MCQRecord] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if row["question_type"] not in wanted:
            continue
        record = _record(row, provenance, where, number)
        if record.id in seen:
            raise InputError(
                f"field 'id': {row['id']!r} repeats row {seen[record.id]}",
                source=where,
                where=f"row {number}",
            )
        seen[record.id] = number
        records.append(record)
    return records


def _record(row: dict[str, Any], provenance: dict[str, Any], where: str, number: int) -> MCQRecord:
    at = f"row {number}"
    qtype = row["question_type"]
    for name in ("dataset", "scene_name"):
        if not (isinstance(row[name], str) and _SAFE_NAME.match(row[name])):
            raise InputError(f"field {name!r}: {row[name]!r} is not a file name", source=where, where=at)
    if row["id"] is None or str(row["id"]).strip() == "":
        raise InputError("field 'id': empty", source=where, where=at)
    if not (isinstance(row["question"], str) and row["question"].strip()):
        raise InputError("field 'question': empty", source=where, where=at)
    video = f"videos/{row['dataset']}/{row['scene_name']}.mp4"
    meta = {
        **provenance,
        "dataset": VSI_DATASET,
        "split": "test",
        "vsi_id": row["id"],
        "source_dataset": row["dataset"],
        "scene_name": row["scene_name"],
        "question_type": qtype,
    }
    obj: dict[str, Any] = {
        "id": f"vsi_{row['id']}",
        "task": QUESTION_TYPES[qtype],
        "videos": [video],
        "meta": meta,
    }
    truth = row["ground_truth"]
    if qtype in NUMERIC_TYPES:
        if row["options"]:
            raise InputError(f"field 'options': a {qtype} question has no options", source=where, where=at)
        obj |= {"prompt": f"{PRE_PROMPT}\n{row['question']}", "answer_type": "number"}
        obj["answer"] = _number(truth, where, at)
    else:
        options = list(row["options"] or [])
        choices = _choices(options, where, at)
        letter = str(truth or "").strip()
        obj["prompt"] = "\n".join([PRE_PROMPT, row["question"], "Options:\n" + "\n".join(options)])
        obj |= {"choices": choices, "answer": letter}
    return _checked(obj, where, at)


def _checked(obj: dict[str, Any], where: str, at: str) -> MCQRecord:
    try:
        return record_from_dict(obj, source=where)
    except InputError as exc:
        raise InputError(exc.problem, source=where, where=at) from None


def _number(value: Any, where: str, at: str) -> str:
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not (number == number and abs(number) != float("inf") and number != 0):  # noqa: PLR0124 - NaN check
        raise InputError(f"field 'ground_truth': {value!r} is not a non-zero number", source=where, where=at)
    return format_number(number)


def _choices(options: list[Any], where: str, at: str) -> list[str]:
    """``["A. left", "B. right"]`` -> ``["left", "right"]``; the letters must run A, B, C... in order."""
    if not 2 <= len(options) <= 5:
        raise InputError(f"field 'options': {len(options)} options (2 to 5 expected)", source=where, where=at)
    choices = []
    for k, option in enumerate(options):
        match = _OPTION.match(str(option))
        if not match or match.group(1) != "ABCDE"[k]:
            raise InputError(
                f"field 'options': {option!r} is not option {'ABCDE'[k]} ('{'ABCDE'[k]}. text')",
                source=where,
                where=at,
            )
        choices.append(match.group(2))
    return choices


def _fetch_video(layout: _Layout, relative: str, store: Path) -> None:
    """Copy ``videos/<dataset>/<scene>.mp4`` from the copy's folder or archive into ``store/relative``,
    and probe it."""
    from vlmtransfer.data.video import VideoError, probe_video  # noqa: PLC0415 - PyAV only here

    _, dataset, name = relative.split("/")
    target = store / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = layout.folder(dataset)
    archive = layout.archive(dataset) if folder is None or not (folder / name).is_file() else None
    if folder is not None and (folder / name).is_file():
        origin = str(folder / name)
        shutil.copyfile(folder / name, target)
    elif archive is not None:
        origin = f"{archive}: member {dataset}/{name}"
        _extract(archive, f"{dataset}/{name}", target)
    else:
        where = layout.source.local_dir or VSI_DATASET
        raise InputError(f"video {dataset}/{name} is in neither {dataset}.zip nor {dataset}/", source=where)
    try:
        probe_video(target)
    except VideoError as exc:
        raise InputError(f"{origin} {exc}") from None


def _extract(archive: Path, member: str, target: Path) -> None:
    """Extract one member of ``archive`` to ``target``, after checking every member of the archive."""
    try:
        with zipfile.ZipFile(archive) as handle:
            _check_members(handle, archive)
            try:
                info = handle.getinfo(member)
            except KeyError:
                raise InputError(f"has no member {member}", source=archive) from None
            with handle.open(info) as reader, target.open("wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
    except InputError:
        raise
    # zipfile raises NotImplementedError for a compression method it lacks (e.g. deflate64): unreadable here
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise InputError(
            f"is not a readable zip archive ({type(exc).__name__}: {exc})", source=archive
        ) from None
    except Exception as exc:  # zlib.error and friends: corrupt member data
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise InputError(
            f"member {member} cannot be extracted ({type(exc).__name__})", source=archive
        ) from None


def _check_members(handle: zipfile.ZipFile, archive: Path) -> None:
    """Refuse an archive any of whose members would be written outside the directory it is extracted
    into (zip slip): absolute paths, ``..``, backslashes or drive letters, and symbolic links."""
    for info in handle.infolist():
        name = info.filename
        posix = PurePosixPath(name)
        mode = info.external_attr >> 16
        escapes = (
            posix.is_absolute()
            or ".." in posix.parts
            or "\\" in name
            or re.match(r"^[A-Za-z]:", name) is not None
            or stat.S_ISLNK(mode)
        )
        if escapes:
            raise InputError(
                f"member {name!r} would be written outside the output directory; refusing the archive",
                source=archive,
            )


def _place(origin: Path, target: Path) -> None:
    """``target`` as a hard link to ``origin`` (one copy on disk for videos several tasks share), or a
    copy where the file system has no hard links."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(origin, target)
    except OSError:
        shutil.copyfile(origin, target)
