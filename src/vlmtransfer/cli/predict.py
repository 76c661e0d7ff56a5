"""``vlmtransfer predict``: a source's transfer row without finetuning on it, and how far to trust it.

For a study that has run, every source's and target's LoRA gradient is taken at the base model (one
backward pass over a few dozen questions each, ``finetune.alignment``); their cosines, mapped to PGF by
per-target fits over the study's measured rows (``analysis.prediction``), give a predicted row for a new
source. How good that is on this study comes with it: each study source's row predicted leave-one-out
against its measured row, and top-3 donor recovery, each beside what chance gives.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.labels import compact_number, short_task
from vlmtransfer.cli.lists import comma_paths, comma_values
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import publish_directory

if TYPE_CHECKING:  # pandas and the analysis load when the command runs, not for --help
    import pandas as pd

__all__ = ["EXAMPLES", "PREDICTION_DIR", "predict"]

PREDICTION_DIR = "prediction"
"""Where ``predict`` writes by default, beside the study's ``analysis`` folder (the report looks there)."""

EXAMPLES = """[bold]Examples[/bold]

  [dim]# how well gradient alignment predicts the demo study's own transfer (leave one source out)[/dim]

  vlmtransfer predict demo-out/study

  [dim]# the predicted row of a task the study never finetuned on, from its training split[/dim]

  vlmtransfer predict demo-out/study --source-data data/synthetic --source Syn_Spatial_Relation \\
      --out out/predict
"""


@reports_input_errors
def predict(
    study: Annotated[
        Path, typer.Argument(help="A study directory that has run (its config, data and results).")
    ],
    source_data: Annotated[
        list[Path] | None,
        typer.Option(
            "--source-data",
            help="Dataset folder(s) with a train split of new source tasks to predict. Repeatable or a,b.",
            callback=comma_paths,
        ),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="New source task(s) in --source-data (default: all). Repeatable or A,B.",
            callback=comma_values,
        ),
    ] = None,
    questions: Annotated[
        int, typer.Option("--questions", "-n", help="Questions per task the gradients are taken over.")
    ] = 64,
    model: Annotated[
        str | None, typer.Option("--model", help="Model label of the study (default: the first).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the LoRA initialisation.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write predict.json and CSV tables here (default: STUDY_DIR/prediction, which the study's"
            " report shows).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Predict PGF rows from gradient alignment at the base model, scored on the study itself."""
    from vlmtransfer.analysis import load_inputs  # noqa: PLC0415
    from vlmtransfer.analysis.prediction import cosine_matrix, fit_rows, prediction_quality  # noqa: PLC0415
    from vlmtransfer.cli.analyze import study_table  # noqa: PLC0415
    from vlmtransfer.study.config import load_study_config  # noqa: PLC0415
    from vlmtransfer.study.plan import resolve_tasks  # noqa: PLC0415
    from vlmtransfer.study.runner import CONFIG_COPY  # noqa: PLC0415
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415

    if questions < 1:
        raise InputError(f"must be at least 1, got {questions}", source="--questions")
    if source and not source_data:
        raise InputError("needs --source-data (the folder holding the new source tasks)", source="--source")
    config = load_study_config(study / CONFIG_COPY)
    chosen = _model(config, model)
    label = chosen.label or chosen.name
    measured = {
        m.label: m.pgf.mean()
        for m in load_inputs([study_table(study)], default_ceilings=default_registry().ceilings())
    }
    if label not in measured:
        raise InputError(f"has no results for model {label!r} yet (run the study first)", source=study)
    pgf = measured[label]
    tasks = resolve_tasks(config, study / CONFIG_COPY)
    console = Console(quiet=quiet)
    console.print(
        f"Taking LoRA gradients of {len(tasks.sources)} sources and {len(tasks.targets)} targets"
        f" ({questions} questions each) at the base model {escape(chosen.name)} ..."
    )
    gradients, seconds = _gradients(config, chosen, tasks, source_data or [], source or [], questions, seed)
    signal = cosine_matrix(
        {s: gradients[f"source:{s}"] for s in tasks.sources},
        {t: gradients[f"target:{t}"] for t in tasks.targets},
    )
    quality = prediction_quality(signal.reindex(index=pgf.index, columns=pgf.columns), pgf)
    new_keys = [k for k in gradients if k.startswith("new:")]
    new_signal = cosine_matrix(
        {k[4:]: gradients[k] for k in new_keys}, {t: gradients[f"target:{t}"] for t in tasks.targets}
    )
    predicted = (
        fit_rows(signal.reindex(index=pgf.index), pgf, new_signal.reindex(columns=pgf.columns))
        if new_keys
        else None
    )
    finetune_seconds = _mean_finetune_seconds(study, label)
    _print(console, quality, predicted, seconds, finetune_seconds, len(tasks.targets))
    out = out if out is not None else study / PREDICTION_DIR
    _write(out, label, signal, quality, predicted, seconds, finetune_seconds, questions)
    console.print(f"Wrote predict.json and tables to [bold]{escape(str(out))}[/bold].")


def _model(config: Any, label: str | None) -> Any:
    if label is None:
        return config.models[0]
    for candidate in config.models:
        if label in (candidate.label, candidate.name):
            return candidate
    names = ", ".join(m.label or m.name for m in config.models)
    raise InputError(f"no model {label!r} in the study (models: {names})", source="--model")


def _gradients(
    config: Any, chosen: Any, tasks: Any, source_data: list[Path], sources: list[str], limit: int, seed: int
) -> tuple[dict[str, Any], dict[str, float]]:
    """Every task's gradient (keys ``source:``, ``target:``, ``new:``) and the seconds they took
    (``per_source``: one source's gradient, the cost of predicting one new row)."""
    from vlmtransfer.data.dataset import collect_questions, load_questions  # noqa: PLC0415
    from vlmtransfer.finetune.alignment import lora_gradients  # noqa: PLC0415
    from vlmtransfer.models.encoding import encode_question  # noqa: PLC0415
    from vlmtransfer.models.loading import LoadOptions, load_model  # noqa: PLC0415
    from vlmtransfer.study.plan import training_dir  # noqa: PLC0415

    data = config.data
    items: dict[str, list[Any]] = {}
    for task in tasks.sources:
        items[f"source:{task}"] = load_questions(
            training_dir(config, task), task, data.train_split, limit=limit, sampling=config.video
        )
    for task, found in collect_questions(
        data.eval_dirs, data.eval_split, tasks=tasks.targets, limit=limit, sampling=config.video
    ).items():
        items[f"target:{task}"] = found
    if source_data:
        for task, found in collect_questions(
            source_data, data.train_split, tasks=sources or None, limit=limit, sampling=config.video
        ).items():
            items[f"new:{task}"] = found
    loaded = load_model(chosen.name, LoadOptions(max_pixels=config.max_pixels, revision=chosen.revision))
    encoded = {
        key: [encode_question(r, images, loaded.processor, with_answer=True) for r, images in found]
        for key, found in items.items()
    }
    lora = config.lora  # the study's resolved LoRA settings
    started = time.perf_counter()
    gradients = lora_gradients(
        loaded.model, encoded, loaded.processor, lora, seed=seed, batch_size=config.train.batch_size
    )
    total = time.perf_counter() - started
    return gradients, {"total": total, "per_task": total / max(1, len(encoded))}


def _mean_finetune_seconds(study: Path, label: str) -> float:
    from vlmtransfer.store import StudyStore  # noqa: PLC0415

    with StudyStore(study) as store:
        runs = store.runs()
    tuned = runs[(runs["model"] == label) & runs["train_seconds"].notna() & (runs["kind"] != "mixture")]
    return float(tuned["train_seconds"].mean()) if len(tuned) else math.nan


def _print(
    console: Console,
    quality: dict[str, Any],
    predicted: pd.DataFrame | None,
    seconds: dict[str, float],
    finetune_seconds: float,
    n_targets: int,
) -> None:
    rho, recovery, chance = quality["row_spearman"], quality["top3_recovery"], quality["top3_chance"]
    console.print(
        "On this study, leave one source out: predicted vs measured rows, mean Spearman "
        + (f"{rho:+.2f}" if rho is not None else "n/a")
        + " (chance 0); top-3 donors recovered per target "
        + (f"{recovery:.0%} (chance {chance:.0%})" if recovery is not None else "n/a (too few sources)")
        + "."
    )
    cost = f"{seconds['per_task']:.1f} s per task's gradient"
    if math.isfinite(finetune_seconds):
        cost += (
            f" against {finetune_seconds:.1f} s of training per finetune of this study"
            f" (before its evaluation on {n_targets} targets)"
        )
    console.print(f"Cost: {cost}.")
    if predicted is None:
        return
    table = Table(title="Predicted PGF rows (new sources)", title_justify="left")
    table.add_column("source")
    for target in predicted.columns:
        table.add_column(escape(short_task(target)), justify="right")
    for name, row in predicted.iterrows():
        table.add_row(escape(str(name)), *(compact_number(v) if math.isfinite(v) else "n/a" for v in row))
    console.print(table)


def _write(
    out: Path,
    label: str,
    signal: pd.DataFrame,
    quality: dict[str, Any],
    predicted: pd.DataFrame | None,
    seconds: dict[str, float],
    finetune_seconds: float,
    questions: int,
) -> None:
    from vlmtransfer.analysis.table import csv_text  # noqa: PLC0415

    loso = quality.pop("predicted")
    document = {
        "model": label,
        "signal": "cosine of LoRA gradients at the base model (source train split, target eval split)",
        "questions_per_task": questions,
        "quality": quality,
        "seconds": {
            **seconds,
            "finetune_mean": finetune_seconds if math.isfinite(finetune_seconds) else None,
        },
        "predicted": None if predicted is None else _nested(predicted),
        "alignment": {
            "sources": [str(v) for v in signal.index],
            "targets": [str(v) for v in signal.columns],
            "values": [
                [float(v) if math.isfinite(v) else None for v in row] for row in signal.to_numpy(float)
            ],
        },
    }
    files = {"predict.json": (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()}
    files["alignment.csv"] = csv_text(signal, index=True).encode()
    files["loso_predicted.csv"] = csv_text(loso, index=True).encode()
    if predicted is not None:
        files["predicted.csv"] = csv_text(predicted, index=True).encode()
    publish_directory(files, out, marker="predict.json")


def _nested(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    return {
        str(row): {str(col): (float(v) if math.isfinite(v) else None) for col, v in values.items()}
        for row, values in frame.iterrows()
    }
