"""What ``evaluate`` writes (no torch): each run's record in the results JSON (``runs[]``, with every
question's record: lm-evaluation-harness's samples) and the accuracy table (DESIGN.md 3.2, analyze's
input), with an adapter's source and seed read from the ``training.json`` it was made with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vlmtransfer.errors import InputError
from vlmtransfer.finetune.record import TRAINING_CONFIG
from vlmtransfer.pipeline import EvaluatedRun

__all__ = [
    "adapter_seed",
    "adapter_source",
    "check_distinct_sources",
    "run_record",
    "write_accuracy_csv",
    "write_json",
]


def check_distinct_sources(adapters: Sequence[Path]) -> None:
    """Two adapters with the same source and seed would be duplicate rows of the accuracy table.

    Raises:
        InputError: naming both adapters (field ``accuracy_csv``: the table they would share).
    """
    seen: dict[tuple[str, int | None], Path] = {}
    for path in adapters:
        key = (adapter_source(path), adapter_seed(path))
        if key in seen:
            raise InputError(
                f"adapters {seen[key]} and {path} are both source {key[0]!r} with seed {key[1]}",
                field="accuracy_csv",
            )
        seen[key] = path


def run_record(label: str, run: EvaluatedRun) -> dict[str, Any]:
    """One run of the results JSON: label, adapter, seed, time, per-task accuracy and every question."""
    return {
        "label": label,
        "adapter": str(run.adapter) if run.adapter else None,
        "seed": adapter_seed(run.adapter),
        "seconds": round(run.seconds, 3),
        "accuracy": {task: {"accuracy": round(acc, 4), "n": n} for task, (acc, n) in run.accuracies.items()},
        "questions": [_question_record(answer) for answer in run.results],
    }


def _question_record(answer: Any) -> dict[str, Any]:
    """A question's result as JSON; ``score`` (mean relative accuracy) only for numeric questions."""
    record = asdict(answer)
    if record.get("score") is None:
        record.pop("score", None)
    return record


def adapter_seed(path: Path | None) -> int | None:
    """The seed recorded by ``vlmtransfer finetune`` (None for the base model or foreign adapters)."""
    try:
        return int(_training_record(path)["train"]["seed"])
    except (KeyError, TypeError, ValueError):
        return None


def adapter_source(path: Path) -> str:
    """The finetuning task of an adapter (DESIGN.md 3.2's ``source``): the study's record, the single task
    it was trained on, else the directory name."""
    record = _training_record(path)
    tasks = record.get("tasks") or {}
    if isinstance(record.get("source"), str):
        return record["source"]
    if isinstance(tasks, dict) and len(tasks) == 1:
        return next(iter(tasks))
    return path.name


def _training_record(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        value = json.loads((path / TRAINING_CONFIG).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(out: Path, document: dict[str, Any]) -> None:
    """``document`` as indented JSON, written atomically.

    Raises:
        InputError: the file cannot be written (naming it).
    """
    from vlmtransfer.fsutil import atomic_write_bytes  # noqa: PLC0415

    try:
        atomic_write_bytes(out, (json.dumps(document, indent=1, allow_nan=False) + "\n").encode())
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=out) from None


def write_accuracy_csv(path: Path, model_label: str, results: list[dict[str, Any]]) -> None:
    """The accuracy table (DESIGN.md 3.2) of :func:`run_record` s: the base model's rows with an empty
    seed, adapters' rows with their finetuning task as ``source`` and their recorded seed.

    Raises:
        InputError: the file cannot be written (naming it).
    """
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    from vlmtransfer.analysis.table import neutralise_cell  # noqa: PLC0415
    from vlmtransfer.fsutil import atomic_write_bytes  # noqa: PLC0415

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "seed", "source", "target", "accuracy", "n"])
    for run in results:
        seed = "" if run["adapter"] is None or run["seed"] is None else run["seed"]
        source = "base" if run["adapter"] is None else adapter_source(Path(run["adapter"]))
        for target, cell in run["accuracy"].items():
            row = [model_label, seed, source, target, cell["accuracy"], cell["n"]]
            writer.writerow([neutralise_cell(value) for value in row])
    try:
        atomic_write_bytes(path, buffer.getvalue().encode())
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=path) from None
