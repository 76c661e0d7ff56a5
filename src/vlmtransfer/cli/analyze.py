"""``vlmtransfer analyze``: results tables in, transfer analysis out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.lists import comma_paths, comma_values
from vlmtransfer.errors import InputError, system_refusal

if TYPE_CHECKING:  # the analysis (pandas, scipy) loads when a command runs, not for --help
    from vlmtransfer.analysis import Analysis, AnalysisOptions
    from vlmtransfer.analysis.diagnostics import Diagnostics
    from vlmtransfer.tasks import TaskRegistry

__all__ = ["EXAMPLES", "analyze", "parse_ceilings", "study_table"]

EXAMPLES = """[bold]Examples[/bold]

  [dim]# the paper's released PGF values, one file per model, labelled and ordered by size[/dim]

  vlmtransfer analyze 3B.csv 7B.csv 32B.csv --label 3B --label 7B --label 32B \\
      --model-order 3B,7B,32B --out out/paper

  [dim]# your own accuracy table (model,seed,source,target,accuracy), human ceiling on one target[/dim]

  vlmtransfer analyze results.csv --ceiling Counting=95 --edge-fraction 0.1 --out out/mine

  [dim]# per-question results: intervals and tests from questions and seeds; keep significant edges[/dim]

  vlmtransfer analyze predictions.parquet --significant-only --alpha 0.05 --out out/questions

  [dim]# a study directory: its predictions, analysed into STUDY_DIR/analysis, with the answer-prior[/dim]
  [dim]# decomposition and adapter similarity (why cells transfer; --no-diagnostics skips them)[/dim]

  vlmtransfer analyze demo-out/study --bootstrap 20000 --random-state 1
"""


@reports_input_errors(flags={"labels": "--label", "ceilings": "--ceiling"})
def analyze(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Accuracy tables (model,seed,source,target,accuracy), PGF tables"
            " (seed,ft_task,task,perfection_gap_factor), per-question tables, CSV or Parquet"
            " (model,seed,source,target,question_id,correct), or study directories (their predictions)."
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Output directory; created, or refreshed if it holds an earlier analysis of the same"
            " inputs (default for one study directory: STUDY_DIR/analysis).",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an earlier analysis of other inputs in --out."),
    ] = False,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            help="Model label for the PGF files, in order (default: file stem). Repeatable or A,B.",
            callback=comma_values,
        ),
    ] = None,
    model_order: Annotated[
        str | None,
        typer.Option(
            "--model-order",
            help="Comma-separated model labels, e.g. 3B,7B,32B (scale trend order).",
        ),
    ] = None,
    ceiling: Annotated[
        list[str] | None,
        typer.Option(
            "--ceiling",
            help="TASK=VALUE: a target's accuracy ceiling in percent (default 100). Repeatable or A=95,B=90.",
            callback=comma_values,
        ),
    ] = None,
    include_self: Annotated[
        bool,
        typer.Option("--include-self", help="Count self-transfer in transferability and malleability."),
    ] = False,
    edge_fraction: Annotated[
        float,
        typer.Option(
            "--edge-fraction",
            help="Fraction of positive and of negative edges kept in the transfer graph.",
        ),
    ] = 0.2,
    min_clique_size: Annotated[int, typer.Option("--min-clique-size", help="Smallest clique reported.")] = 3,
    tasks: Annotated[
        list[Path] | None,
        typer.Option(
            "--tasks",
            help="YAML/JSON task file giving your tasks' categories. Repeatable or comma-separated.",
            callback=comma_paths,
        ),
    ] = None,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="False discovery rate of the per-cell significance flag (q < alpha)."),
    ] = 0.05,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap", help="Bootstrap resamples and sign flips per model (per-question input)."
        ),
    ] = 10_000,
    random_state: Annotated[
        int, typer.Option("--random-state", help="Seed of the bootstrap and permutation draws.")
    ] = 0,
    significant_only: Annotated[
        bool,
        typer.Option(
            "--significant-only",
            help="Keep only significant cells in edges and cliques, and significant personas.",
        ),
    ] = False,
    graded: Annotated[
        bool,
        typer.Option("--graded", help="Per-question 'correct' may be a score in [0, 1], not only 0/1."),
    ] = False,
    no_diagnostics: Annotated[
        bool,
        typer.Option(
            "--no-diagnostics",
            help="For a study directory, skip the answer-prior decomposition and adapter similarity.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not print the summary.")] = False,
) -> Any:
    """Analyse transfer: PGF, transferability, malleability, graph, cliques, personas, categories, scale.

    Reads accuracy tables or released PGF tables and writes analysis.json and CSV tables to --out.
    """
    from vlmtransfer.analysis import analyze as run_analysis  # noqa: PLC0415
    from vlmtransfer.analysis import load_inputs  # noqa: PLC0415
    from vlmtransfer.analysis.diagnostics import study_diagnostics  # noqa: PLC0415
    from vlmtransfer.analysis.pipeline import registry_categories  # noqa: PLC0415
    from vlmtransfer.cli.diagnostics import print_diagnostics  # noqa: PLC0415
    from vlmtransfer.cli.summary import print_summary  # noqa: PLC0415

    started = time.perf_counter()
    options = _options(
        include_self=include_self,
        edge_fraction=edge_fraction,
        min_clique_size=min_clique_size,
        model_order=model_order,
        alpha=alpha,
        n_resamples=bootstrap,
        random_state=random_state,
        significant_only=significant_only,
    )
    registry = _registry(tasks or [])
    ceilings = parse_ceilings(ceiling or ())
    _check_labels(label or [])
    studies = [path for path in inputs if path.is_dir()]
    inputs, out = _study_inputs(inputs, out)
    if not overwrite:
        _refuse_other_analysis(out, inputs)
    models = load_inputs(
        inputs, labels=label or (), ceilings=ceilings, default_ceilings=registry.ceilings(), graded=graded
    )
    for model in models:
        for warning in model.warnings:
            typer.echo(f"warning: {warning}", err=True)
    result = run_analysis(models, options, registry_categories(registry))
    diagnostics = None
    if len(studies) == 1 and len(inputs) == 1 and not no_diagnostics:
        diagnostics = study_diagnostics(studies[0], result, options, ceilings, registry.ceilings())
    files = _write(result, out, registry, diagnostics)
    console = Console()
    if not quiet:
        print_summary(result, console)
        if diagnostics is not None:
            print_diagnostics(diagnostics, console)
    elapsed = time.perf_counter() - started
    console.print(
        f"Wrote {len(files)} files to [bold]{escape(out)}[/bold] in {elapsed:.2f} s"
        " (analysis.json, CSV tables)."
    )
    return result  # the Analysis, for callers in Python (the demo); Typer ignores it (and needs an
    # annotation it can resolve without importing the analysis: hence Any)


def _study_inputs(inputs: list[Path], out: str | None) -> tuple[list[Path], str]:
    """Study directories become their freshly exported accuracy tables; ``--out`` defaults for one study."""
    from vlmtransfer.store import STORE_FILE  # noqa: PLC0415

    studies = [path for path in inputs if path.is_dir()]
    for study in studies:
        if not (study / STORE_FILE).is_file():
            raise InputError(f"a directory input must be a study directory (no {STORE_FILE})", source=study)
    resolved = []
    for path in inputs:
        resolved.append(study_table(path) if path in studies else path)
    if out is None:
        if len(studies) != 1 or len(inputs) != 1:
            raise InputError("required (it defaults only for a single study directory)", source="--out")
        out = str(studies[0] / "analysis")
    return resolved, out


def _refuse_other_analysis(out: str, inputs: list[Path]) -> None:
    """An earlier analysis of other inputs in ``out`` is replaced only with ``--overwrite``; one of the
    same inputs (a rerun, a study with more results) is refreshed. Checked before any work."""
    from vlmtransfer.analysis.overwrite import analysis_conflict  # noqa: PLC0415

    there = analysis_conflict(out, inputs)
    if there is not None:
        raise InputError(
            f"{out} already holds {there}; pass --overwrite to replace it, or choose another --out",
            source="--out",
        )


def study_table(study: Path) -> Path:
    """The study's per-question table (``predictions.parquet``), freshly exported; its accuracy table
    when no predictions are stored (then uncertainty comes from seeds alone)."""
    from vlmtransfer.store import StudyStore  # noqa: PLC0415
    from vlmtransfer.study.runner import PREDICTIONS_PARQUET, export_results  # noqa: PLC0415

    with StudyStore(study) as store:
        accuracy_csv = export_results(store, study)
        has_predictions = not store.predictions().empty
    return study / PREDICTIONS_PARQUET if has_predictions else accuracy_csv


def _options(**values: object) -> AnalysisOptions:
    from vlmtransfer.analysis import AnalysisOptions  # noqa: PLC0415

    order = values.pop("model_order")
    try:
        return AnalysisOptions(**values, model_order=tuple(_split_order(order)))  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(str(exc), source="options") from None


def _registry(task_files: list[Path]) -> TaskRegistry:
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415

    registry = default_registry()
    for task_file in task_files:
        registry.add_file(task_file, replace=True)
    return registry


def _check_labels(labels: list[str]) -> None:
    if any(not name.strip() for name in labels):
        raise InputError("a label is empty", source="--label")


def _write(result: Analysis, out: str, registry: TaskRegistry, diagnostics: Diagnostics | None) -> list[str]:
    from vlmtransfer.analysis import write_analysis  # noqa: PLC0415

    if not out.strip():
        raise InputError("the output directory is empty", source="--out")
    try:
        return write_analysis(result, Path(out), registry, diagnostics)
    except OSError as exc:
        refusal = system_refusal(exc, source=out)
        if refusal is not None:
            raise refusal from None
        reason = exc.strerror or str(exc)
        raise InputError(f"cannot write {exc.filename or out}: {reason}", source="--out") from None


def parse_ceilings(items: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["Counting=95", ...]`` -> ``{"Counting": 95.0}``; each value in (0, 100]."""
    ceilings: dict[str, float] = {}
    for item in items:
        task, sep, value = item.partition("=")
        task = task.strip()
        try:
            number = float(value) if sep and task else float("nan")
        except ValueError:
            number = float("nan")
        if not 0 < number <= 100:
            raise InputError(f"expected TASK=VALUE with VALUE in (0, 100], got {item!r}", source="--ceiling")
        if task in ceilings:
            raise InputError(f"ceiling for {task!r} given twice", source="--ceiling")
        ceilings[task] = number
    return ceilings


def _split_order(text: str | None) -> list[str]:
    if text is None:
        return []
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(f"empty model name in {text!r}", source="--model-order")
    return names
