"""``vlmtransfer evaluate``: a base model and any number of its LoRA adapters on MCQ datasets."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.lists import batch_size_value, comma_paths, comma_values, question_limit
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.registry import DEFAULT_SCORER
from vlmtransfer.settings import EvalSettings, VideoSettings

__all__ = ["EXAMPLES", "evaluate"]

EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer evaluate --model tiny --data data/synthetic --out results/base.json

  [dim]# the base model and two adapters; vision features computed once for all three[/dim]

  vlmtransfer evaluate --model tiny --adapter adapters/counting --adapter adapters/depth \\
      --data data/synthetic --out results/eval.json --accuracy-csv results/accuracy.csv

  [dim]# the paper's protocol: greedy decoding and answer parsing[/dim]

  vlmtransfer evaluate --model qwen2.5-vl-7b --data data/blink --mode generate --out results/7b.json
"""


@reports_input_errors(flags={"tasks": "--task", "fps": "--video-fps"})
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
    scorer: Annotated[
        str, typer.Option("--scorer", help="How the model runs: hf (Hugging Face + PEFT) or dummy (tests).")
    ] = DEFAULT_SCORER,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda ...")] = "auto",
    dtype: Annotated[
        str, typer.Option("--dtype", help="auto (bf16 on GPU, fp32 on CPU) or a dtype.")
    ] = "auto",
    frames: Annotated[
        int, typer.Option("--frames", min=1, help="Frames sampled uniformly from each video (VSI-Bench: 32).")
    ] = VideoSettings.frames,  # type: ignore[assignment] - an int: the default count
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
    from vlmtransfer import pipeline  # noqa: PLC0415
    from vlmtransfer.data.dataset import collect_questions  # noqa: PLC0415
    from vlmtransfer.evaluate import documents  # noqa: PLC0415
    from vlmtransfer.evaluate.registry import ScorerOptions, check_adapter, load_scorer, prepare_scorer  # noqa: PLC0415

    settings = _settings(mode, batch_size, max_new_tokens, no_vision_cache)
    sampling = _sampling(frames, video_fps)
    if not 0 <= seed <= 2**32 - 1:
        raise InputError(f"must be between 0 and 2**32 - 1, got {seed}", source="--seed")
    adapters = list(adapter or [])
    for path in adapters:  # files, config and weights, before the model loads (their fit when attached)
        check_adapter(scorer, path)
    if skip_base and not adapters:
        raise InputError("nothing to evaluate: --skip-base without any --adapter", source="--skip-base")
    if accuracy_csv is not None:
        documents.check_distinct_sources(adapters)
    options = ScorerOptions(device=device, dtype=dtype, max_pixels=max_pixels, seed=seed, eval=settings)
    note = prepare_scorer(scorer, model, options, source="--model")
    if note:
        typer.echo(f"note: {note}", err=True)
    questions = collect_questions(data, split, tasks=task, limit=limit, sampling=sampling)
    requests = pipeline.flat_requests(questions)
    if mode == "loglik" and any(record.is_numeric for record, _ in requests):
        typer.echo(
            "note: numeric questions have no letters to score: they are answered by generation", err=True
        )
    loaded = load_scorer(scorer, model, options)
    if batch_size == "auto":
        size = loaded.fit_batch_size(requests)
        typer.echo(f"note: --batch-size auto: {size} on {loaded.device}", err=True)
    runs: list[tuple[str, Path | None]] = ([] if skip_base else [("base", None)]) + [
        (path.name, path) for path in adapters
    ]
    results = _evaluate_runs(loaded, requests, mode, runs)
    document = {
        "model": model,
        "model_source": loaded.source,
        "mode": mode,
        "split": split,
        "data": [str(path) for path in data],
        "limit": limit,
        "max_pixels": max_pixels,
        "batch_size": loaded.settings.batch_size,
        "seed": seed,
        "vision_cache": loaded.caches_vision,
        "runs": results,
    }
    if scorer != DEFAULT_SCORER:
        document["scorer"] = scorer
    if any(record.videos for record, _ in requests):
        document["video_sampling"] = asdict(sampling)
    documents.write_json(out, document)
    if accuracy_csv:
        documents.write_accuracy_csv(accuracy_csv, label or model, results)
    _print_table(results)


def _settings(mode: str, batch_size: int | str, max_new_tokens: int, no_vision_cache: bool) -> EvalSettings:
    """The evaluation settings; ``auto`` batches start at 1 until the scorer measures them."""
    return EvalSettings(  # an invalid value names its field; reports_input_errors shows its flag
        mode=mode,  # type: ignore[arg-type] - validated by EvalSettings
        batch_size=1 if batch_size == "auto" else int(batch_size),
        max_new_tokens=max_new_tokens,
        cache_vision=not no_vision_cache,
    )


def _sampling(frames: int, video_fps: float | None) -> VideoSettings:
    """The frame sampling of videos: ``--frames`` uniformly, or ``--video-fps`` per second of video (a
    bad value names its field, which ``reports_input_errors`` shows as its flag)."""
    return VideoSettings(frames=None, fps=video_fps) if video_fps is not None else VideoSettings(frames)


def _evaluate_runs(
    scorer: Any, requests: list[Any], mode: str, runs: list[tuple[str, Path | None]]
) -> list[dict[str, Any]]:
    """Each run (the base model, or an adapter) on every request, with a progress bar; their records."""
    from vlmtransfer import pipeline  # noqa: PLC0415
    from vlmtransfer.cli.progress import step_progress  # noqa: PLC0415
    from vlmtransfer.evaluate.documents import run_record  # noqa: PLC0415

    results = []
    with step_progress(Console(stderr=True)) as progress:
        bar = progress.add_task("evaluate", total=len(runs), status="")
        for name, path in runs:
            progress.update(bar, status=f"{name}: {len(requests)} questions")
            evaluated = pipeline.evaluate(scorer, requests, mode=mode, adapter=path)  # type: ignore[arg-type]
            results.append(run_record(name, evaluated))
            progress.advance(bar)
    scorer.close()
    return results


def _print_table(results: list[dict[str, Any]]) -> None:
    table = Table(title="accuracy (%)")
    table.add_column("task")
    for run in results:
        table.add_column(escape(run["label"]), justify="right")
    tasks = list(results[0]["accuracy"])
    for task in tasks:
        table.add_row(escape(task), *(f"{run['accuracy'][task]['accuracy']:.1f}" for run in results))
    Console().print(table)
