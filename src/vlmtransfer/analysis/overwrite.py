"""Whether writing an analysis into a directory would replace the analysis of other inputs.

``analyze --out DIR`` owns DIR and replaces it whole. Rerunning the analysis of the same inputs there
is a refresh (a study that gained results, an option changed) and stays silent; analysing *other*
inputs into a folder that holds an earlier analysis used to destroy it without a word. The inputs an
analysis read are recorded in its ``analysis.json`` (``inputs[].path``); this module compares them with
the inputs of the next run. The caller decides what to do with a conflict (the CLI asks for
``--overwrite``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["analysis_conflict", "input_key"]

ANALYSIS_FILE = "analysis.json"
STUDY_STORE = "study.sqlite"  # vlmtransfer.store.STORE_FILE, named here to keep analysis/ standalone
STUDY_EXPORTS = ("predictions.parquet", "accuracy.csv", "accuracy.parquet")


def input_key(path: str | Path) -> Path:
    """What identifies an input across runs: its resolved path, or for a study's exported table its
    study directory (a study analysed from ``accuracy.csv`` today and ``predictions.parquet`` after
    more runs is the same input)."""
    resolved = Path(path).resolve()
    if resolved.name in STUDY_EXPORTS and (resolved.parent / STUDY_STORE).is_file():
        return resolved.parent
    return resolved


def analysis_conflict(out_dir: str | Path, inputs: Iterable[str | Path]) -> str | None:
    """What ``out_dir`` holds, when it holds an analysis of inputs other than ``inputs``; None otherwise.

    Inputs are compared as sets of :func:`input_key` (their order, labels, contents and the options do
    not matter: rerunning on updated inputs or with other options refreshes the same analysis).
    Recorded relative paths are resolved against the current directory, as they were written.

    Returns:
        ``"an analysis of a.csv, b.csv (models 3B, 7B)"``, or ``"an analysis.json that cannot be read"``,
        or None when ``out_dir`` holds no ``analysis.json`` or one of the same inputs.
    """
    path = Path(out_dir) / ANALYSIS_FILE
    if not path.is_file():
        return None
    recorded = _recorded_inputs(path)
    if recorded is None:
        return f"an {ANALYSIS_FILE} that cannot be read"
    if {input_key(entry["path"]) for entry in recorded} == {input_key(item) for item in inputs}:
        return None
    return _describe(recorded)


def _recorded_inputs(path: Path) -> list[dict[str, Any]] | None:
    """``analysis.json``'s ``inputs`` entries that name a path; None when it is unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    entries = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return None
    return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("path"), str)]


def _describe(entries: list[dict[str, Any]]) -> str:
    names = [entry["path"] for entry in entries]
    models = [str(model) for entry in entries for model in entry.get("models") or []]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    label = "model" if len(models) == 1 else "models"
    return f"an analysis of {shown or 'unknown inputs'}" + (
        f" ({label} {', '.join(models)})" if models else ""
    )
