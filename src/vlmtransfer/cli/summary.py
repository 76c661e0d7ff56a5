"""The terminal summary of an analysis: what a researcher wants to see first."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.analysis import Analysis, ModelAnalysis
from vlmtransfer.cli.labels import compact_number, short_task

__all__ = ["compact_number", "print_summary", "short_task"]

TOP = 3
MAX_MATRIX_TASKS = 16
"""The PGF matrix is printed for models with at most this many sources and targets."""
UNCERTAINTY = {
    "questions+seeds": "95 % intervals and tests from questions and seeds",
    "seeds": "across-seed t intervals and tests: question sampling unseen (give per-question results)",
    "none": "one seed and no per-question results: no uncertainty can be given",
}


def print_summary(analysis: Analysis, console: Console) -> None:
    """Per model: significance, the PGF matrix, the noise floor, top donors and pirates, strongest
    edges, largest cliques; then personas and scale."""
    alpha = analysis.options.alpha
    for label, result in analysis.models.items():
        console.rule(f"[bold]{escape(label)}[/bold]  ({_shape(result)})")
        console.print(significance_line(result, alpha))
        if max(len(result.data.pgf.sources), len(result.data.pgf.targets)) <= MAX_MATRIX_TASKS:
            # Every column or none: a matrix missing its right-hand targets would mislead.
            needed = 8 + 6 * len(result.data.pgf.targets)
            console.print(pgf_matrix(result, alpha), width=max(console.width, needed), crop=False)
        if np.isfinite(result.detectable).any() or np.isfinite(result.cells.resolution()).any():
            console.print(noise_floor(result))
        console.print(_donors_and_pirates(result))
        console.print(_strongest_edges(result))
        console.print(_largest_cliques(result))
    console.rule("[bold]Across models[/bold]")
    console.print(_personas(analysis))
    console.print(_scale(analysis.scale))


def significance_line(result: ModelAnalysis, alpha: float) -> str:
    """ "k of N off-diagonal cells are significant (q < alpha)", and what the uncertainty rests on."""
    cells = result.cells
    off = ~result.data.pgf.self_mask()
    k, n = int(cells.significant[off].sum()), int(off.sum())
    kind = escape(f"[{cells.uncertainty}]")
    return (
        f"[bold]{k} of {n}[/bold] off-diagonal cells are significant (q < {alpha:g}); "
        f"{kind} {UNCERTAINTY[cells.uncertainty]}"
    )


def pgf_matrix(result: ModelAnalysis, alpha: float) -> Table:
    """Seed-mean PGF (rows: finetuned on, columns: evaluated on); ``*`` marks q < alpha, dim cells are
    not significant; the last row (``1 q.``) is one question's worth of PGF per target, where known."""
    cube, cells = result.data.pgf, result.cells
    mean = cube.values.mean(axis=0)
    table = Table(
        title=f"Seed-mean PGF (rows: finetuned on, columns: evaluated on; * q < {alpha:g}, dim: not)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        pad_edge=False,
    )
    table.add_column("", no_wrap=True, min_width=4)
    for target in cube.targets:
        table.add_column(escape(short_task(target)), justify="right", no_wrap=True, min_width=6)
    for i, source in enumerate(cube.sources):
        table.add_row(
            escape(short_task(source)),
            *(_cell(mean[i, j], cells.significant[i, j]) for j in range(mean.shape[1])),
        )
    resolution = cells.resolution()
    if np.isfinite(resolution).any():
        table.add_row("[italic]1 q.[/italic]", *(_number(v, "compact") for v in resolution))
    return table


def _cell(value: float, significant: bool) -> str:
    if math.isnan(value):
        return "n/a"
    colour = "green" if value > 0 else "red" if value < 0 else "white"
    if significant:
        return f"[bold {colour}]{compact_number(value)}*[/bold {colour}]"
    return f"[dim]{compact_number(value)} [/dim]"


def _number(value: float, spec: str) -> str:
    if not math.isfinite(value):
        return "-"
    if spec == "compact":  # one question's worth: three decimals in five characters
        return f"{value:.3f}".removeprefix("0") + " " if value < 1 else f"{value:.2f} "
    return format(value, spec)


def noise_floor(result: ModelAnalysis) -> Table:
    """Per target: questions, base accuracy, one question's worth of PGF, the detectable PGF."""
    cells = result.cells
    table = Table(
        title="Noise floor per target (smallest PGF found with 80 % power at these sizes)",
        title_justify="left",
    )
    for column in ("target", "questions", "base acc.", "1 question", "flip rate", "detectable PGF"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for j, target in enumerate(result.data.pgf.targets):
        table.add_row(
            escape(str(target)),
            _number(cells.n_questions[j], ".0f"),
            _number(cells.base_accuracy[j], ".1f"),
            _number(cells.resolution()[j], ".3f"),
            _number(cells.flip_rate[j], ".2f"),
            _number(result.detectable[j], ".3f"),
        )
    return table


def _shape(result: ModelAnalysis) -> str:
    cube = result.data.pgf
    return f"{len(cube.sources)} sources x {len(cube.targets)} targets x {len(cube.seeds)} seeds"


def _donors_and_pirates(result: ModelAnalysis) -> Table:
    summary = result.transferability.summary()
    table = Table(title="Transferability: top donors (D+) and pirates (D-)", title_justify="left")
    for column in ("donor", "D+", "pirate", "D-"):
        table.add_column(column, justify="right" if column.startswith("D") else "left")
    donors = summary.sort_values("positive", ascending=False).head(TOP)
    pirates = summary.sort_values("negative").head(TOP)
    for (d_task, d), (p_task, p) in zip(donors.iterrows(), pirates.iterrows(), strict=False):
        table.add_row(
            escape(d_task),
            _pm(d["positive"], d["positive_std"]),
            escape(p_task),
            _pm(p["negative"], p["negative_std"]),
        )
    return table


def _strongest_edges(result: ModelAnalysis) -> Table:
    table = Table(title="Strongest transfer edges (seed-mean PGF, 95 % interval, q)", title_justify="left")
    table.add_column("sign")
    table.add_column("source -> target")
    table.add_column("PGF", justify="right")
    table.add_column("95 % CI", justify="right")
    table.add_column("q", justify="right")
    for sign, style in (("positive", "green"), ("negative", "red")):
        for edge in result.edges[result.edges["sign"] == sign].head(TOP).itertuples():
            table.add_row(
                f"[{style}]{sign}[/{style}]",
                f"{escape(edge.source)} -> {escape(edge.target)}",
                f"{edge.pgf:+.3f}" + ("*" if edge.significant else ""),
                _interval(edge.ci_low, edge.ci_high),
                _p(edge.q),
            )
    return table


def _interval(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return escape(f"[{low:+.3f}, {high:+.3f}]")


def _largest_cliques(result: ModelAnalysis) -> Table:
    table = Table(
        title="Largest cliques (mutual transfer; p: selection-aware test, paper's Wilcoxon beside it)",
        title_justify="left",
    )
    for column in ("sign", "size", "tasks", "mean PGF", "95 % CI", "p", "Wilcoxon p"):
        table.add_column(column)
    for sign in ("positive", "negative"):
        cliques = result.cliques[sign]
        for clique in cliques[:2]:
            table.add_row(
                sign,
                str(len(clique.tasks)),
                escape(", ".join(clique.tasks)),
                f"{clique.mean_pgf:+.3f}" + ("*" if clique.significant else ""),
                _interval(clique.ci_low, clique.ci_high),
                _p(clique.p_value),
                _p(clique.wilcoxon_p_value),
            )
        if not cliques:
            table.add_row(sign, "-", "(none of size >= the minimum)", "", "", "", "")
    return table


def _personas(analysis: Analysis) -> Table:
    table = Table(
        title=f"Personas (in every model: {escape(', '.join(analysis.models))})",
        title_justify="left",
    )
    table.add_column("persona")
    table.add_column("tasks (* significant: every model, q < alpha)")
    significant = analysis.persona_table[analysis.persona_table["significant"]]
    for persona, tasks in analysis.personas.items():
        marked = set(significant.loc[significant["persona"] == persona, "task"])
        names = [escape(t) + ("*" if t in marked else "") for t in tasks]
        table.add_row(persona, ", ".join(names) or "-")
    return table


def _scale(scale: pd.DataFrame) -> Table:
    table = Table(title="Scale trend: mean transferability per model", title_justify="left")
    for column in ("model", "mean D+", "mean D-", "mean Theta+", "mean Theta-"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in scale.itertuples():
        table.add_row(
            escape(str(row.model)),
            _pm(row.mean_positive_transferability, row.mean_positive_transferability_std),
            _pm(row.mean_negative_transferability, row.mean_negative_transferability_std),
            _pm(row.mean_positive_malleability, row.mean_positive_malleability_std),
            _pm(row.mean_negative_malleability, row.mean_negative_malleability_std),
        )
    return table


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:+.3f}" if math.isnan(std) else f"{mean:+.3f} ± {std:.3f}"


def _p(p_value: float) -> str:
    return "n/a" if math.isnan(p_value) else f"{p_value:.2g}"
