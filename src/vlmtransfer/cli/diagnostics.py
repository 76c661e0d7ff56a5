"""``vlmtransfer prior`` and ``vlmtransfer similarity``: why a study's cells transfer.

``analyze STUDY_DIR`` computes both into ``analysis.json``; these verbs show one part in detail (both
matrices, every adapter pair) and work on a per-question file too (``prior``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.labels import compact_number, short_task
from vlmtransfer.cli.lists import comma_values
from vlmtransfer.errors import InputError

if TYPE_CHECKING:  # numpy, pandas and the analysis load when a command runs, not for --help
    import pandas as pd

    from vlmtransfer.analysis import AnalysisOptions
    from vlmtransfer.analysis.answer_format import FormatDecomposition
    from vlmtransfer.analysis.diagnostics import Diagnostics
    from vlmtransfer.analysis.prior import PriorDecomposition
    from vlmtransfer.analysis.similarity import SimilarityResult

__all__ = ["PRIOR_EXAMPLES", "SIMILARITY_EXAMPLES", "print_diagnostics", "prior", "similarity"]

PRIOR_EXAMPLES = """[bold]Examples[/bold]

  [dim]# how much of each cell of the demo study is a shift of the letter prior[/dim]

  vlmtransfer prior demo-out/study

  [dim]# a per-question file with per-choice log-probabilities; tables and JSON to a folder[/dim]

  vlmtransfer prior predictions.parquet --out out/prior --bootstrap 2000
"""

SIMILARITY_EXAMPLES = """[bold]Examples[/bold]

  [dim]# cosine similarity of the demo study's LoRA updates, and its correlation with PGF[/dim]

  vlmtransfer similarity demo-out/study

  [dim]# JSON and every adapter pair to a folder[/dim]

  vlmtransfer similarity demo-out/study --out out/similarity --permutations 99999
"""

TOP_CELLS = 5


@reports_input_errors
def prior(
    source: Annotated[
        Path,
        typer.Argument(
            help="A study directory or a per-question table (CSV or Parquet) with per-choice"
            " log-probabilities (column logprobs)."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write prior.json and CSV tables to this folder.")
    ] = None,
    ceiling: Annotated[
        list[str] | None,
        typer.Option("--ceiling", help="TASK=VALUE ceilings, as for analyze.", callback=comma_values),
    ] = None,
    alpha: Annotated[
        float, typer.Option("--alpha", help="False discovery rate of the per-cell flag.")
    ] = 0.05,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples and sign flips.")
    ] = 10_000,
    random_state: Annotated[int, typer.Option("--random-state", help="Seed of the draws.")] = 0,
) -> None:
    """Answer-prior decomposition: PGF before and after removing each run's letter prior."""
    from vlmtransfer.analysis.diagnostics import Diagnostics  # noqa: PLC0415
    from vlmtransfer.analysis.prior import decompose_prior, prior_to_dict, read_predictions  # noqa: PLC0415
    from vlmtransfer.cli.analyze import parse_ceilings  # noqa: PLC0415 - analyze imports this module
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415

    options = _options(alpha, bootstrap, random_state)
    predictions = read_predictions(_exported(source))
    decomposition = decompose_prior(
        predictions, options, parse_ceilings(ceiling or ()), default_registry().ceilings(), origin=source
    )
    console = Console()
    for label, cells in decomposition.cells.items():
        console.rule(f"[bold]{escape(label)}[/bold]: answer prior")
        console.print(_matrix(cells, "pgf", "significant", f"Raw PGF (* q < {alpha:g})"))
        console.print(
            _matrix(cells, "pgf_corrected", "significant_corrected", "PGF after removing the prior")
        )
    print_prior(decomposition, console)
    if out is not None:
        tables = Diagnostics(prior=decomposition).tables()
        _publish(out, "prior.json", prior_to_dict(decomposition), tables)
        console.print(f"Wrote prior.json and {len(tables)} tables to [bold]{escape(str(out))}[/bold].")


@reports_input_errors
def similarity(
    study: Annotated[Path, typer.Argument(help="A study directory (its adapters and predictions).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write similarity.json and the pair table here.")
    ] = None,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Mantel permutations beyond seven tasks (else all).")
    ] = 9_999,
    random_state: Annotated[int, typer.Option("--random-state", help="Seed of the permutations.")] = 0,
) -> None:
    """Adapter similarity: cosine of LoRA weight updates per task pair, and its correlation with PGF."""
    import pandas as pd  # noqa: PLC0415

    from vlmtransfer.analysis import load_inputs  # noqa: PLC0415
    from vlmtransfer.analysis.similarity import similarity_matrix, similarity_to_dict, study_adapters  # noqa: PLC0415
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415

    if permutations < 1:
        raise InputError(f"must be at least 1, got {permutations}", source="--permutations")
    adapters = study_adapters(study)
    if not adapters:
        raise InputError("holds no finetuned LoRA adapters", source=study)
    models = {
        m.label: m for m in load_inputs([_exported(study)], default_ceilings=default_registry().ceilings())
    }
    console = Console()
    results = {}
    for label, found in adapters.items():
        pgf = models[label].pgf.mean() if label in models else None
        results[label] = similarity_matrix(found, pgf, n_permutations=permutations, random_state=random_state)
        console.rule(f"[bold]{escape(label)}[/bold]: adapter similarity")
        console.print(_square(results[label].cosine, "Cosine of LoRA updates (diagonal: between seeds)"))
        console.print(similarity_line(results[label]))
    if out is not None:
        pairs = pd.concat([r.pairs.assign(model=label) for label, r in results.items()], ignore_index=True)
        document = {label: similarity_to_dict(r) for label, r in results.items()}
        _publish(out, "similarity.json", document, {"adapter_pairs.csv": pairs})
        console.print(f"Wrote similarity.json and adapter_pairs.csv to [bold]{escape(str(out))}[/bold].")


def print_diagnostics(diagnostics: Diagnostics, console: Console) -> None:
    """The diagnostics part of the analyze summary."""
    console.rule("[bold]Why it transfers[/bold]")
    if diagnostics.prior is not None:
        print_prior(diagnostics.prior, console)
    if diagnostics.answer_format is not None:
        for line in format_lines(diagnostics.answer_format):
            console.print(line)
    for label, result in diagnostics.similarity.items():
        console.print(f"[bold]{escape(label)}[/bold] adapter similarity: " + similarity_line(result))
    for part, reason in diagnostics.skipped.items():
        console.print(f"[dim]{part}: not computed ({escape(reason)})[/dim]")


def print_prior(decomposition: PriorDecomposition, console: Console) -> None:
    """Per model: significant cells before and after the correction, the prior shift per source, the
    cells that vanish and those that appear."""
    shift = decomposition.shift_by_source()
    for label, cells in decomposition.cells.items():
        own = cells["source"] == cells["target"]
        counts = [
            int(cells.loc[mask, column].sum())
            for column in ("significant", "significant_corrected")
            for mask in (own, ~own)
        ]
        console.print(
            f"[bold]{escape(label)}[/bold] answer prior: significant own-task cells"
            f" {counts[0]} -> {counts[2]} and off-diagonal {counts[1]} -> {counts[3]} once each run's"
            " letter prior is removed (log-space batch calibration)."
        )
        per_source = shift[shift["model"] == label].sort_values("prior_shift", ascending=False)
        console.print(
            "  letter-prior shift from the base model (total variation, mean over targets): "
            + ", ".join(
                f"{short_task(s)} {v:.2f}"
                for s, v in zip(per_source["source"], per_source["prior_shift"], strict=True)
            )
        )
        appear = cells["significant_corrected"] & ~cells["significant"]
        for title, rows, with_share in (
            ("vanish after correction", cells[cells["vanishes"]], True),
            ("significant only after correction", cells[appear], False),
        ):
            if len(rows):
                changes = (_cell_change(r, with_share) for r in rows.head(TOP_CELLS).itertuples())
                console.print(f"  {title}: " + "; ".join(changes))


def _cell_change(row: Any, with_share: bool) -> str:
    share = f", {row.explained:.0%} prior" if with_share and math.isfinite(row.explained) else ""
    return (
        f"{short_task(row.source)}->{short_task(row.target)}"
        f" {compact_number(row.pgf)} -> {compact_number(row.pgf_corrected)}{share}"
    )


def format_lines(decomposition: FormatDecomposition) -> list[str]:
    """Per model: the unparsed greedy answers of the base model and the finetunes, and (both protocols)
    the significant cells by protocol and the format-only ones."""
    lines = []
    by_source = decomposition.unparsed_by_source()
    for label in dict.fromkeys(by_source["model"]):
        rows = by_source[by_source["model"] == label].set_index("source")["unparsed"]
        base = rows.get("base", math.nan)
        tuned = rows.drop("base", errors="ignore")
        text = f"[bold]{escape(str(label))}[/bold] answer format: unparsed greedy answers {base:.1%} (base)"
        if len(tuned):
            text += f", {tuned.min():.1%} to {tuned.max():.1%} after finetuning"
        cells = decomposition.cells.get(label)
        if cells is not None:
            off = cells[cells["source"] != cells["target"]]
            text += (
                f"; significant off-diagonal cells {int(off['significant_loglik'].sum())} by log-likelihood,"
                f" {int(off['significant_generated'].sum())} by generation,"
                f" {int(cells['format_only'].sum())} only by generation (format)"
            )
        lines.append(text + ".")
    return lines


def similarity_line(result: SimilarityResult) -> str:
    """Seed agreement, cross-task range and the Mantel-tested correlation with PGF, in one line."""
    import numpy as np  # noqa: PLC0415

    values = result.cosine.to_numpy(float)
    diagonal = np.diag(values)
    off = values[~np.eye(len(values), dtype=bool)]
    parts = []
    if np.isfinite(diagonal).any():
        parts.append(f"seeds of one source agree {np.nanmin(diagonal):.2f} to {np.nanmax(diagonal):.2f}")
    if np.isfinite(off).any():
        parts.append(f"different sources {np.nanmin(off):.2f} to {np.nanmax(off):.2f}")
    if math.isfinite(result.rho):
        parts.append(
            f"Spearman with PGF rho {result.rho:+.2f} (Mantel p {result.p_value:.3g},"
            f" {result.permutations:,} permutations)"
        )
    else:
        parts.append("no correlation with PGF (fewer than three shared tasks or no PGF)")
    return "; ".join(parts) + "."


def _matrix(cells: pd.DataFrame, column: str, flag: str, title: str) -> Table:
    sources = list(dict.fromkeys(cells["source"]))
    targets = list(dict.fromkeys(cells["target"]))
    values = cells.set_index(["source", "target"])
    table = _table(title, targets)
    for source in sources:
        row = []
        for target in targets:
            value, marked = values.loc[(source, target), column], values.loc[(source, target), flag]
            row.append(
                f"[bold]{compact_number(value)}*[/bold]" if marked else f"[dim]{compact_number(value)} [/dim]"
            )
        table.add_row(escape(short_task(source)), *row)
    return table


def _square(frame: pd.DataFrame, title: str) -> Table:
    table = _table(title, list(frame.columns))
    for source, row in frame.iterrows():
        table.add_row(
            escape(short_task(str(source))), *("n/a" if math.isnan(v) else f"{v:+.2f}" for v in row)
        )
    return table


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)
    table.add_column("", no_wrap=True, min_width=4)
    for column in columns:
        table.add_column(escape(short_task(column)), justify="right", no_wrap=True, min_width=6)
    return table


def _exported(source: Path) -> Path:
    """A study directory's freshly exported per-question table; any other path as given."""
    from vlmtransfer.cli.analyze import study_table  # noqa: PLC0415 - analyze imports this module
    from vlmtransfer.store import STORE_FILE  # noqa: PLC0415

    if not source.is_dir():
        return source
    if not (source / STORE_FILE).is_file():
        raise InputError(f"not a study directory (no {STORE_FILE})", source=source)
    return study_table(source)


def _publish(out: Path, marker: str, document: object, tables: dict[str, pd.DataFrame]) -> None:
    from vlmtransfer.analysis.table import csv_text  # noqa: PLC0415
    from vlmtransfer.fsutil import publish_directory  # noqa: PLC0415

    files = {marker: (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()}
    for name, table in tables.items():
        files[Path(name).name] = csv_text(table).encode()
    publish_directory(files, out, marker=marker)


def _options(alpha: float, bootstrap: int, random_state: int) -> AnalysisOptions:
    from vlmtransfer.analysis import AnalysisOptions  # noqa: PLC0415

    try:
        return AnalysisOptions(alpha=alpha, n_resamples=bootstrap, random_state=random_state)
    except ValueError as exc:
        raise InputError(str(exc), source="options") from None
