"""Whether writing a dataset into a directory would replace a different one there.

Exports own their output directory (``manifest.json`` marks it) and replace it whole. That is right for
a rerun of the same command, which writes the same dataset again, and wrong as a surprise: ``data synth
--out D --tasks X`` over a 12-task suite used to leave a 1-task one. This module compares what the
directory's manifest records with what a command is about to write, so that the command can refuse a
different dataset by saying what is there (the caller decides; the CLI asks for ``--overwrite``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlmtransfer.data.records import MANIFEST

__all__ = ["dataset_conflict", "describe_manifest"]


def dataset_conflict(out_dir: str | Path, expected: Mapping[str, Any]) -> str | None:
    """What ``out_dir`` holds, when it holds a dataset other than ``expected``; None otherwise.

    Args:
        out_dir: the output directory (absent, empty or foreign directories are not this module's
            business: None, and ``fsutil.check_replaceable`` refuses foreign ones).
        expected: the manifest entries the new dataset will have (e.g. ``kind``, ``tasks`` with their
            per-split counts, ``seed``, ``image_size``); entries the manifest records beyond these
            (the generator's version) do not make a dataset different.

    Returns:
        A description of the dataset there (``"a synthetic dataset of 12 tasks (...)"``), or None
        when there is none or it records every expected entry with the same value.
    """
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return None
    manifest = _read(path)
    if manifest is None:
        return f"a {MANIFEST} that cannot be read"
    if all(manifest.get(key) == value for key, value in expected.items()):
        return None
    return describe_manifest(manifest)


def describe_manifest(manifest: Mapping[str, Any]) -> str:
    """One line saying what a manifest describes: kind, tasks and their sizes, seed.

    Example: ``"a synthetic dataset of 12 tasks (Syn_Counting, Syn_Depth, ... ; train 1000, val 200
    each; seed 0)"``.
    """
    tasks = manifest.get("tasks") if isinstance(manifest.get("tasks"), dict) else {}
    names = list(tasks)
    shown = ", ".join(names[:4]) + (f", ... ({len(names) - 4} more)" if len(names) > 4 else "")
    details = [part for part in (shown, _sizes(tasks), _seed(manifest)) if part]
    kind = manifest.get("kind", "unknown")
    plural = "task" if len(names) == 1 else "tasks"
    return f"a {kind} dataset of {len(names)} {plural} ({'; '.join(details)})"


def _sizes(tasks: Mapping[str, Any]) -> str:
    """``train 1000, val 200 each`` when every task has the same split sizes, else the range."""
    sizes = [counts for counts in tasks.values() if isinstance(counts, dict)]
    if not sizes:
        return ""
    if all(counts == sizes[0] for counts in sizes):
        return ", ".join(f"{split} {n}" for split, n in sizes[0].items()) + (
            " each" if len(sizes) > 1 else ""
        )
    total = sum(n for counts in sizes for n in counts.values() if isinstance(n, int))
    return f"{total} records in all"


def _seed(manifest: Mapping[str, Any]) -> str:
    return f"seed {manifest['seed']}" if "seed" in manifest else ""


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
