"""The terminal summary of an analysis: what a researcher wants to see first."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.analysis import Analysis, ModelAnalysis

__all__ = ["print_summary"]

TOP = 3


def print_summary(analysis: Analysis, console: Console) -> None:
    """Per model: top donors and pirates, strongest edges, largest cliques; then personas and scale."""
    for label, result in analysis.models.items():
        console.rule(f"[bold]{escape(label)}[/bold]  ({_shape(result)})")
        console.print(_donors_and_pirates(result))
        console.print(_strongest_edges(result))
        console.print(_largest_cliques(result))
    console.rule("[bold]Across models[/bold]")
    console.print(_personas(analysis))
    console.print(_scale(analysis.scale))


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
    table = Table(title="Strongest transfer edges (seed-mean PGF)", title_justify="left")
    table.add_column("sign")
    table.add_column("source -> target")
    table.add_column("PGF", justify="right")
    for sign, style in (("positive", "green"), ("negative", "red")):
        for edge in result.edges[result.edges["sign"] == sign].head(TOP).itertuples():
            table.add_row(
                f"[{style}]{sign}[/{style}]",
                f"{escape(edge.source)} -> {escape(edge.target)}",
                f"{edge.pgf:+.3f}",
            )
    return table


def _largest_cliques(result: ModelAnalysis) -> Table:
    table = Table(title="Largest cliques (mutual transfer, one-sided Wilcoxon)", title_justify="left")
    for column in ("sign", "size", "tasks", "mean PGF", "p"):
        table.add_column(column)
    for sign in ("positive", "negative"):
        cliques = result.cliques[sign]
        for clique in cliques[:2]:
            table.add_row(
                sign,
                str(len(clique.tasks)),
                escape(", ".join(clique.tasks)),
                f"{clique.mean_pgf:+.3f}",
                _p(clique.p_value),
            )
        if not cliques:
            table.add_row(sign, "-", "(none of size >= the minimum)", "", "")
    return table


def _personas(analysis: Analysis) -> Table:
    table = Table(
        title=f"Personas (in every model: {escape(', '.join(analysis.models))})",
        title_justify="left",
    )
    table.add_column("persona")
    table.add_column("tasks")
    for persona, tasks in analysis.personas.items():
        table.add_row(persona, escape(", ".join(tasks)) or "-")
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
