"""``vlmtransfer evaluate``: a base model and any number of its LoRA adapters on MCQ datasets."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import check_hub_access, reports_input_errors
from vlmtransfer.cli.lists import batch_size_value, comma_paths, comma_values, question_limit
from vlmtransfer.errors import InputError
from vlmtransfer.settings import EvalSettings

if TYPE_CHECKING:
    from vlmtransfer.models.loading import LoadedModel

__all__ = ["EXAMPLES", "evaluate"]

EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer evaluate --model tiny --data data/synthetic --out results/base.json

  [dim]# the base model and two adapters; vision features computed once for all three[/dim]

  vlmtransfer evaluate --model tiny --adapter adapters/counting --adapter adapters/depth \\
      --data data/synthetic --out results/eval.json --accuracy-csv results/accuracy.csv

  [dim]# the paper's protocol: greedy decoding and answer parsing[/dim]

  vlmtransfer evaluate --model qwen2.5-vl-7b --data data/blink --mode generate --out results/7b.json
"""


@reports_input_errors(flags={"tasks": "--task"})
def evaluate(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Preset (tiny, qwen2.5-vl-7b ...), hub id or path.")
    ],
    data: Annotated[
        list[Path],
        typer.Option(
            "--data", help="Dataset directory (repeatable or comma-separated).", callback=comma_paths
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            "--output-path",
            help="Results JSON file: per-task accuracy and every question's record (runs[].questions).",
        ),
    ],
    adapter: Annotated[
        list[Path] | None,
        typer.Option(
            "--adapter",
            "-a",
            help="LoRA adapter directory (repeatable or comma-separated).",
            callback=comma_paths,
        ),
    ] = None,
    skip_base: Annotated[bool, typer.Option("--skip-base", help="Do not evaluate the base model.")] = False,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="loglik (one forward pass), generate (greedy + parser) or both (each question both ways).",
        ),
    ] = EvalSettings.mode,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task", help="Task to evaluate (repeatable or comma-separated).", callback=comma_values
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split to evaluate.")] = "val",
    limit: Annotated[
        str | None,
        typer.Option(
            "--limit",
            help="The first N questions per task, or (below 1) that fraction of each task's questions.",
            callback=question_limit,
            metavar="<N|fraction>",
        ),
    ] = None,
    batch_size: Annotated[
        str,
        typer.Option(
            "--batch-size",
            help="Questions per forward pass, or auto (the largest that fits in the GPU's memory).",
            callback=batch_size_value,
            metavar="<int|auto>",
        ),
    ] = str(EvalSettings.batch_size),
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of Python's, NumPy's and torch's random generators.")
    ] = 0,
    log_samples: Annotated[
        bool,
        typer.Option(
            "--log-samples",
            help="Accepted as in lm-evaluation-harness; the per-question records are always written.",
        ),
    ] = False,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Generation budget.")
    ] = EvalSettings.max_new_tokens,
    no_vision_cache: Annotated[
        bool, typer.Option("--no-vision-cache", help="Recompute vision features for every adapter.")
    ] = False,
    accuracy_csv: Annotated[
        Path | None, typer.Option("--accuracy-csv", help="Also write the accuracy table (analyze's input).")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Model label in the accuracy table.")] = None,
    max_pixels: Annotated[int | None, typer.Option("--max-pixels", help="Cap on pixels per image.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda ...")] = "auto",
    dtype: Annotated[
        str, typer.Option("--dtype", help="auto (bf16 on GPU, fp32 on CPU) or a dtype.")
    ] = "auto",
    frames: Annotated[
        int, typer.Option("--frames", min=1, help="Frames sampled uniformly from each video (VSI-Bench: 32).")
    ] = 32,
    video_fps: Annotated[
        float | None,
        typer.Option("--video-fps", help="Sample this many frames per second of video instead of --frames."),
    ] = None,
) -> None:
    """Per-question answers and per-task accuracy of the base model and each adapter.

    Every question's record (predicted letter, correctness, letter log-probabilities or the generated
    text) is written to --out under runs[].questions: what lm-evaluation-harness calls --log-samples.
    Numeric questions (VSI-Bench's counting, distances, sizes) are answered by generation in every mode
    and scored by mean relative accuracy (their record's ``score``).
    """
    from vlmtransfer.cli.progress import quiet_ml_libraries  # noqa: PLC0415
    from vlmtransfer.data.dataset import collect_questions  # noqa: PLC0415
    from vlmtransfer.devices import check_device  # noqa: PLC0415
    from vlmtransfer.models.loading import LoadOptions, load_model  # noqa: PLC0415

    settings = _settings(mode, batch_size, max_new_tokens, no_vision_cache)
    sampling = _sampling(frames, video_fps)
    adapters = [_checked_adapter(path) for path in adapter or []]
    if skip_base and not adapters:
        raise InputError("nothing to evaluate: --skip-base without any --adapter", source="--skip-base")
    if accuracy_csv is not None:
        _check_distinct_sources(adapters)
    check_device(device)
    check_hub_access(model)
    _seed_everything(seed)
    quiet_ml_libraries()
    questions = collect_questions(data, split, tasks=task, limit=limit, sampling=sampling)
    items = [item for task_items in questions.values() for item in task_items]
    if mode == "loglik" and any(record.is_numeric for record, _ in items):
        typer.echo(
            "note: numeric questions have no letters to score: they are answered by generation", err=True
        )
    loaded = load_model(model, LoadOptions(dtype=dtype, device=device, max_pixels=max_pixels))
    if batch_size == "auto":
        settings = _auto_batch(loaded, items, settings)
    runs: list[tuple[str, Path | None]] = ([] if skip_base else [("base", None)]) + [
        (path.name, path) for path in adapters
    ]
    results, caches_vision = _evaluate_runs(loaded, items, settings, runs)
    document = {
        "model": model,
        "model_source": loaded.source,
        "mode": mode,
        "split": split,
        "data": [str(path) for path in data],
        "limit": limit,
        "max_pixels": max_pixels,
        "batch_size": settings.batch_size,
        "seed": seed,
        "vision_cache": caches_vision,
        "runs": results,
    }
    if any(record.videos for record, _ in items):
        document["video_sampling"] = asdict(sampling)
    _write_json(out, document)
    if accuracy_csv:
        _write_accuracy_csv(accuracy_csv, label or model, results)
    _print_table(results)


def _settings(mode: str, batch_size: int | str, max_new_tokens: int, no_vision_cache: bool) -> EvalSettings:
    """The evaluation settings; ``auto`` batches start at 1 until :func:`_auto_batch` measures them."""
    return EvalSettings(  # an invalid value names its field; reports_input_errors shows its flag
        mode=mode,  # type: ignore[arg-type] - validated by EvalSettings
        batch_size=1 if batch_size == "auto" else int(batch_size),
        max_new_tokens=max_new_tokens,
        cache_vision=not no_vision_cache,
    )


def _sampling(frames: int, video_fps: float | None) -> Any:
    """The frame sampling of videos: ``--frames`` uniformly, or ``--video-fps`` per second of video."""
    from vlmtransfer.data.video import FrameSampling  # noqa: PLC0415

    try:
        return FrameSampling(frames=None, fps=video_fps) if video_fps is not None else FrameSampling(frames)
    except ValueError as exc:
        raise InputError(str(exc), source="--video-fps" if video_fps is not None else "--frames") from None


def _seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's generators. Scoring is deterministic (greedy decoding, no sampling);
    the seed is there for models whose own code draws random numbers, and is recorded with the results."""
    from transformers import set_seed  # noqa: PLC0415

    try:
        set_seed(seed)
    except (ValueError, OverflowError):
        raise InputError(f"must be between 0 and 2**32 - 1, got {seed}", source="--seed") from None


def _auto_batch(loaded: LoadedModel, items: list[Any], settings: EvalSettings) -> EvalSettings:
    """``--batch-size auto``: the largest batch that fits, said on stderr."""
    from dataclasses import replace  # noqa: PLC0415

    from vlmtransfer.evaluate.autobatch import auto_batch_size  # noqa: PLC0415

    size = auto_batch_size(loaded, items, settings)
    typer.echo(f"note: --batch-size auto: {size} on {loaded.device}", err=True)
    return replace(settings, batch_size=size)


def _evaluate_runs(
    loaded: LoadedModel, items: list[Any], settings: EvalSettings, runs: list[tuple[str, Path | None]]
) -> tuple[list[dict[str, Any]], bool]:
    """Each run (the base model, or an adapter) on every question; the records and whether vision
    features were cached."""
    from vlmtransfer.cli.progress import step_progress  # noqa: PLC0415
    from vlmtransfer.evaluate.engine import Evaluator, accuracy_by_task  # noqa: PLC0415

    evaluator = Evaluator(loaded, items, settings)
    results = []
    with step_progress(Console(stderr=True)) as progress:
        bar = progress.add_task("evaluate", total=len(runs), status="")
        for name, path in runs:
            progress.update(bar, status=f"{name}: {len(items)} questions")
            started = time.perf_counter()
            try:
                answers = evaluator.run(path)
            except InputError:
                raise
            except ValueError as exc:
                raise InputError(str(exc), source=str(path)) from None
            results.append(
                _run_record(name, path, answers, accuracy_by_task(answers), time.perf_counter() - started)
            )
            progress.advance(bar)
    evaluator.close()
    return results, evaluator.caches_vision


def _checked_adapter(path: Path) -> Path:
    """Files, config and weights checked before the model loads (their fit to it, when it runs)."""
    from vlmtransfer.evaluate.adapters import check_adapter_files  # noqa: PLC0415

    check_adapter_files(path)
    return path


def _check_distinct_sources(adapters: list[Path]) -> None:
    """Two adapters with the same source and seed would be duplicate rows of the accuracy table."""
    seen: dict[tuple[str, int | None], Path] = {}
    for path in adapters:
        key = (_adapter_source(path), _adapter_seed(path))
        if key in seen:
            raise InputError(
                f"adapters {seen[key]} and {path} are both source {key[0]!r} with seed {key[1]}",
                source="--accuracy-csv",
            )
        seen[key] = path


def _run_record(
    name: str, path: Path | None, answers: list[Any], accuracy: dict[str, tuple[float, int]], seconds: float
) -> dict[str, Any]:
    return {
        "label": name,
        "adapter": str(path) if path else None,
        "seed": _adapter_seed(path),
        "seconds": round(seconds, 3),
        "accuracy": {task: {"accuracy": round(acc, 4), "n": n} for task, (acc, n) in accuracy.items()},
        "questions": [_question_record(answer) for answer in answers],
    }


def _question_record(answer: Any) -> dict[str, Any]:
    """A question's result as JSON; ``score`` (mean relative accuracy) only for numeric questions."""
    record = asdict(answer)
    if record.get("score") is None:
        record.pop("score", None)
    return record


def _adapter_seed(path: Path | None) -> int | None:
    """The seed recorded by ``vlmtransfer finetune`` (None for the base model or foreign adapters)."""
    try:
        return int(_training_record(path)["train"]["seed"])
    except (KeyError, TypeError, ValueError):
        return None


def _adapter_source(path: Path) -> str:
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
        value = json.loads((path / "training.json").read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(out: Path, document: dict[str, Any]) -> None:
    from vlmtransfer.fsutil import atomic_write_bytes  # noqa: PLC0415

    try:
        atomic_write_bytes(out, (json.dumps(document, indent=1, allow_nan=False) + "\n").encode())
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=out) from None


def _write_accuracy_csv(path: Path, model_label: str, results: list[dict[str, Any]]) -> None:
    """The accuracy table (DESIGN.md 3.2): the base model's rows with an empty seed, adapters' rows with
    their finetuning task as ``source`` and their recorded seed."""
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    from vlmtransfer.analysis.table import neutralise_cell  # noqa: PLC0415
    from vlmtransfer.fsutil import atomic_write_bytes  # noqa: PLC0415

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "seed", "source", "target", "accuracy", "n"])
    for run in results:
        seed = "" if run["adapter"] is None or run["seed"] is None else run["seed"]
        source = "base" if run["adapter"] is None else _adapter_source(Path(run["adapter"]))
        for target, cell in run["accuracy"].items():
            row = [model_label, seed, source, target, cell["accuracy"], cell["n"]]
            writer.writerow([neutralise_cell(value) for value in row])
    try:
        atomic_write_bytes(path, buffer.getvalue().encode())
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=path) from None


def _print_table(results: list[dict[str, Any]]) -> None:
    table = Table(title="accuracy (%)")
    table.add_column("task")
    for run in results:
        table.add_column(escape(run["label"]), justify="right")
    tasks = list(results[0]["accuracy"])
    for task in tasks:
        table.add_row(escape(task), *(f"{run['accuracy'][task]['accuracy']:.1f}" for run in results))
    Console().print(table)
