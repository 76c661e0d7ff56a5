"""Building one task's training set: scan, shuffle, balance, render, guard, write — all or nothing.

Output: ``OUT/<Task>/train.jsonl`` with its ``images/``, ``OUT/<Task>/build.json`` (this build's
provenance) and ``OUT/manifest.json`` (kind ``blink-train``) listing every task built into ``OUT``, so
one directory collects the training sets of all 13 tasks, one ``data build`` at a time. A task's folder
is replaced whole by a rebuild (and only if an earlier build wrote it); a failed build leaves the
previous state untouched. Run one build per output directory at a time.

Determinism: the items' order, the answer letters and every item's own random stream derive from the
seed (and, per item, its key), so the same source, options and seed give the same records and pixels.
Records are written in a seeded random order, so neighbouring lines do not reveal the letter dealing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlmtransfer import __version__
from vlmtransfer.data.builders.base import (
    Builder,
    Example,
    Item,
    RenderContext,
    SkipItem,
    SourceIndex,
    item_rng,
)
from vlmtransfer.data.builders.images import IMAGE_FORMATS, encode_image
from vlmtransfer.data.builders.leakage import DEFAULT_MAX_DISTANCE, LeakageGuard, blink_parquet_files
from vlmtransfer.data.builders.prompts import PromptTemplate, registry_template, template_from_blink
from vlmtransfer.data.builders.registry import get_builder
from vlmtransfer.data.dataset import write_manifest
from vlmtransfer.data.records import LETTERS, MANIFEST, MCQRecord, record_from_dict, write_records
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import OutputDirectoryError, check_replaceable, staged_directory
from vlmtransfer.tasks import default_registry

__all__ = ["BUILD_FILE", "KIND", "BuildOptions", "BuildReport", "Progress", "build_training_set"]

KIND = "blink-train"
"""The ``kind`` of a manifest written by :func:`build_training_set`."""

BUILD_FILE = "build.json"
"""Per task folder: the provenance of the build that wrote it (and proof that one did)."""

Progress = Callable[[str, int, int | None], None]
"""``progress(description, completed, total)``; ``total`` None while unknown."""


@dataclass(frozen=True)
class BuildOptions:
    """How to build.

    Attributes:
        n: at most this many questions (None: as many as the source yields, answers balanced).
        seed: the random seed; same seed and source, same dataset.
        blink: a local BLINK copy (``<dir>/<Task>/{val,test}-*.parquet``): prompts from its val rows,
            and the leakage guard against all its images.
        image_format: ``jpeg`` (quality 95) or ``png`` (lossless, larger).
        max_side: longest side of output images in pixels (None: keep the source size).
        max_distance: pHash bits within which a training image counts as a BLINK image.
    """

    n: int | None = None
    seed: int = 0
    blink: Path | None = None
    image_format: str = "jpeg"
    max_side: int | None = 1024
    max_distance: int = DEFAULT_MAX_DISTANCE

    def check(self) -> None:
        """Raises InputError on a bad option, naming it."""
        if self.n is not None and (isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1):
            raise InputError(f"must be a whole number >= 1, not {self.n!r}", field="n")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"must be a whole number >= 0, not {self.seed!r}", field="seed")
        if self.image_format not in IMAGE_FORMATS:
            raise InputError(
                f"{self.image_format!r} is not one of {', '.join(IMAGE_FORMATS)}", field="image_format"
            )
        if self.max_side is not None and self.max_side < 64:
            raise InputError(f"must be at least 64 pixels, not {self.max_side}", field="max_side")
        if self.blink is not None:
            if not self.blink.is_dir():
                raise InputError("not a directory", source=self.blink)
            blink_parquet_files(self.blink)  # a copy without parquet files fails now, not after the scan


@dataclass
class BuildReport:
    """What a build did, for the summary and ``build.json``."""

    task: str
    dataset: str
    source: Path
    out: Path
    built: int = 0
    candidates: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    first_skipped: dict[str, str] = field(default_factory=dict)
    excluded: Counter[str] = field(default_factory=Counter)
    near_duplicates: int = 0
    blink_images: int | None = None
    prompt_origin: str = "registry"
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def build_training_set(
    task: str,
    source: str | Path,
    out: str | Path,
    options: BuildOptions | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Build ``task``'s training set from the source dataset at ``source`` into ``out``.

    Raises:
        InputError: unknown task, bad options, a missing source file, an output directory this did not
            write, or a source that yields no question (the message gives the reasons).
    """
    started = time.perf_counter()
    options = options or BuildOptions()
    builder = get_builder(task)
    options.check()
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise InputError("not a directory" if source.exists() else "directory not found", source=source)
    previous = _check_output(out, task)
    created = not out.exists()
    try:
        return _build_into(
            builder, source, out, options=options, progress=progress, previous=previous, started=started
        )
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # leave no trace of a failed first build
        raise


def _build_into(
    builder: Builder,
    source: Path,
    out: Path,
    *,
    options: BuildOptions,
    progress: Progress | None,
    previous: dict[str, Any] | None,
    started: float,
) -> BuildReport:
    task = builder.task
    report = BuildReport(task, builder.source.dataset, source, out)
    reading = f"Reading {builder.source.dataset}"
    _progress(progress, reading, 0, None)
    index = builder.scan(source)  # first: a missing source file is the likeliest mistake
    _progress(progress, reading, 1, 1)
    report.excluded.update(index.excluded)
    report.candidates = len(index.items)
    if not index.items:
        raise InputError(
            f"no usable {builder.source.dataset} annotation ({_reasons(report.excluded)})", source=source
        )
    template = _template(task, options, report)
    guard = None
    if options.blink is not None:
        guard = LeakageGuard.from_blink(options.blink, max_distance=options.max_distance, progress=progress)
        report.blink_images = int(guard.hashes.size)
    with staged_directory(out / task, BUILD_FILE) as staging:
        records = _Run(builder, index, template, guard, options, report, staging, progress).build()
        if not records:
            raise InputError(f"no question could be built ({_skip_reasons(report)})", source=source)
        order = np.random.default_rng(np.random.SeedSequence([options.seed, 1])).permutation(len(records))
        write_records(staging / "train.jsonl", [records[i] for i in order])
        report.seconds = time.perf_counter() - started
        provenance = _provenance(report, builder, template, options, guard)
        (staging / BUILD_FILE).write_text(
            json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    _update_manifest(out, task, report.built, provenance, previous)
    return report


def _template(task: str, options: BuildOptions, report: BuildReport) -> PromptTemplate:
    template = registry_template(task, default_registry())
    if options.blink is not None:
        template, warning = template_from_blink(task, options.blink, template)
        if warning:
            report.warnings.append(warning)
    report.prompt_origin = template.origin
    return template


@dataclass
class _Run:
    """One build in progress: everything the loop needs, and the letter and group counts it keeps."""

    builder: Builder
    index: SourceIndex
    template: PromptTemplate
    guard: LeakageGuard | None
    options: BuildOptions
    report: BuildReport
    staging: Path
    progress: Progress | None
    counts: dict[str, int] = field(default_factory=dict)
    per_group: Counter[str] = field(default_factory=Counter)

    def build(self) -> list[MCQRecord]:
        """Render items in seeded order until ``n`` questions are built or the items run out, keeping
        the answer letters balanced: an item only gets a letter no other letter is behind of, so the
        counts never differ by more than one (items whose letters are all ahead are skipped as "answer
        balance")."""
        spec = default_registry().get(self.builder.task)
        self.counts = dict.fromkeys(LETTERS[: spec.choices], 0)
        rng = np.random.default_rng(np.random.SeedSequence([self.options.seed, 0]))
        items, n = self.index.items, self.options.n
        total = min(n or len(items), len(items))
        records: list[MCQRecord] = []
        description = f"Building {self.builder.task}"
        _progress(self.progress, description, 0, total)
        for position in rng.permutation(len(items)):
            if n is not None and len(records) == n:
                break
            item = items[int(position)]
            answer = self._next_letter(rng, item)
            example = None if answer is None else self._render(item, answer)
            if example is None:
                continue
            _check_shape(example, answer, spec.choices, spec.images, self.builder.task)
            unique = {id(image): image for image in (*example.raw, *example.images)}  # each image once
            if self.guard is not None and self.guard.matches(unique.values()):
                self.report.near_duplicates += 1
                continue
            records.append(self._write(example, item, len(records) + 1))
            self.counts[answer] += 1
            if item.group is not None:
                self.per_group[item.group] += 1
            _progress(self.progress, description, len(records), total)
        self.report.built = len(records)
        self.report.answers = Counter(self.counts)
        _progress(self.progress, description, total, total)
        return records

    def _next_letter(self, rng: np.random.Generator, item: Item) -> str | None:
        cap = self.builder.max_per_group
        if cap is not None and item.group is not None and self.per_group[item.group] >= cap:
            self.report.skipped[f"more than {cap} questions from one photo or sequence"] += 1
            return None
        lowest = min(self.counts.values())
        letters = [x for x in (item.letters or "".join(self.counts)) if self.counts.get(x) == lowest]
        if not letters:
            self.report.skipped["answer balance"] += 1
            return None
        return letters[int(rng.integers(len(letters)))]

    def _render(self, item: Item, answer: str) -> Example | None:
        ctx = RenderContext(self.index.root, item_rng(self.options.seed, item.key), self.options.max_side)
        try:
            return self.builder.render(self.index, item, answer, ctx)
        except SkipItem as skip:
            self.report.skipped[skip.reason] += 1
            self.report.first_skipped.setdefault(skip.reason, skip.path or item.key)
            return None

    def _write(self, example: Example, item: Item, number: int) -> MCQRecord:
        task, fmt = self.builder.task, self.options.image_format
        rid = f"train_{task}_{number}"
        paths = [f"images/{rid}_{k}.{IMAGE_FORMATS[fmt]}" for k in range(1, len(example.images) + 1)]
        (self.staging / "images").mkdir(exist_ok=True)
        for relative, image in zip(paths, example.images, strict=True):
            (self.staging / relative).write_bytes(encode_image(image, fmt))
        meta = {
            "dataset": self.builder.source.dataset,
            "split": "train",
            "source": item.key,
            "files": list(example.sources),
            "seed": self.options.seed,
            **example.meta,
        }
        obj = {
            "id": rid,
            "task": task,
            "images": paths,
            "prompt": self.template.render(example.choices, **example.slots),
            "choices": list(example.choices),
            "answer": example.answer,
            "meta": _jsonable(meta),
        }
        return record_from_dict(obj, source=f"{task} builder")


def _check_shape(example: Example, answer: str, choices: int, images: int, task: str) -> None:
    if example.answer != answer or len(example.choices) != choices or len(example.images) != images:
        raise AssertionError(  # pragma: no cover - a builder bug, not bad input
            f"{task} builder returned {len(example.images)} images, {len(example.choices)} choices and"
            f" answer {example.answer!r} (expected {images}, {choices}, {answer!r})"
        )


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays become numbers and lists, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _check_output(out: Path, task: str) -> dict[str, Any] | None:
    """The existing manifest of ``out`` (None if new), refusing directories ``data build`` did not write."""
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", source=out)
    manifest = out / MANIFEST
    document = None
    if manifest.is_file():
        try:
            document = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError("unreadable manifest.json; choose a new output directory", source=out) from None
        if not isinstance(document, dict) or document.get("kind") != KIND:
            kind = document.get("kind") if isinstance(document, dict) else None
            raise InputError(
                f"holds a {kind!r} dataset, not training sets written by `data build`; "
                "choose another output directory",
                source=out,
            )
    elif out.is_dir() and any(out.iterdir()):
        raise InputError(
            "already holds other files (no manifest.json from `data build`); choose a new directory",
            source=out,
        )
    try:
        check_replaceable(out / task, BUILD_FILE)
    except OutputDirectoryError as exc:
        raise InputError(str(exc), field="out") from None
    return document


def _update_manifest(
    out: Path, task: str, built: int, provenance: dict[str, Any], previous: dict | None
) -> None:
    """Add this task to ``out/manifest.json``, replacing the file atomically."""
    previous = previous or {}
    tasks = {t: dict(s) for t, s in previous.get("tasks", {}).items()} | {task: {"train": built}}
    builds = dict(previous.get("builds", {})) | {task: provenance}
    scratch = out / f".{MANIFEST}.{uuid.uuid4().hex[:12]}.tmp"
    scratch.mkdir()
    try:
        write_manifest(scratch, KIND, dict(sorted(tasks.items())), builds=dict(sorted(builds.items())))
        os.replace(scratch / MANIFEST, out / MANIFEST)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _provenance(
    report: BuildReport,
    builder: Builder,
    template: PromptTemplate,
    options: BuildOptions,
    guard: LeakageGuard | None,
) -> dict[str, Any]:
    return _jsonable(
        {
            "task": report.task,
            "dataset": builder.source.dataset,
            "source": str(report.source.resolve()),
            "split": builder.source.split,
            "license": builder.source.license,
            "seed": options.seed,
            "n": options.n,
            "built": report.built,
            "candidates": report.candidates,
            "answers": dict(sorted(report.answers.items())),
            "skipped": dict(report.skipped),
            "excluded": dict(report.excluded),
            "prompt": {"template": template.text, "origin": template.origin},
            "leakage_guard": None
            if guard is None
            else {
                "blink": str(Path(guard.source).resolve()),
                "images_hashed": int(guard.hashes.size),
                "unreadable": guard.unreadable,
                "max_distance": guard.max_distance,
                "dropped": report.near_duplicates,
            },
            "image_format": options.image_format,
            "max_side": options.max_side,
            "warnings": report.warnings,
            "generator": f"vlmtransfer {__version__}",
            "seconds": round(report.seconds, 2),
        }
    )


def _reasons(counts: Counter[str]) -> str:
    if not counts:
        return "nothing found"
    return "; ".join(f"{reason}: {n}" for reason, n in counts.most_common(4))


def _skip_reasons(report: BuildReport) -> str:
    if not report.skipped and report.near_duplicates:
        return f"all {report.near_duplicates} were near-duplicates of BLINK images"
    parts = [
        f"{reason}: {n} (first: {report.first_skipped[reason]})"
        if reason in report.first_skipped
        else f"{reason}: {n}"
        for reason, n in report.skipped.most_common(3)
    ]
    return "; ".join(parts) or "nothing to build"


def _progress(progress: Progress | None, description: str, completed: int, total: int | None) -> None:
    if progress is not None:
        progress(description, completed, total)
