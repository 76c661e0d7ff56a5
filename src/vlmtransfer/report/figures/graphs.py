"""Transfer graphs: the top edges of each model, and its largest positive and negative cliques.

Edges are arrows from the task finetuned on to the task it affects; green helps, red hurts; width and
opacity grow with |PGF| (relative to the strongest edge drawn), and the two directions between a pair
bow to opposite sides so that both stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch

from vlmtransfer.report.data import Clique, ModelView, ReportData
from vlmtransfer.report.figures.style import LEVEL_COLOURS, NEGATIVE, POSITIVE, level_colour
from vlmtransfer.report.layout import circle_layout

__all__ = ["clique_figure", "draw_graph", "transfer_graph"]

NODE_SIZE = 380  # points^2; the node radius in points is sqrt(NODE_SIZE) / 2
BEND = 0.1  # every edge bows a little: i -> j and j -> i then bow to opposite sides
CLIQUE_BEND = 0.25  # more in cliques, where every pair has both directions and values are printed


def transfer_graph(
    model: ModelView, data: ReportData, positions: Mapping[str, tuple[float, float]], edge_fraction: float
) -> Figure:
    """The transfer graph of one model: its analysed top positive and negative edges."""
    figure = Figure(figsize=(5.6, 5.4), layout="constrained")
    ax = figure.add_subplot()
    edges = [(r.source, r.target, float(r.pgf)) for r in model.edges.itertuples(index=False)]
    # Edges whose cell is not significant are dashed (schema-2 analyses flag every edge).
    flags = model.edges.get("significant", pd.Series(True, index=model.edges.index))
    faint = {(r.source, r.target) for r, ok in zip(model.edges.itertuples(), flags, strict=True) if not ok}
    draw_graph(ax, data, positions, edges, dashed=faint)
    share = f"top {edge_fraction:.0%} of positive and of negative edges; dashed: not significant"
    ax.set_title(f"Transfer graph, {model.label} ({share})")
    _legend(ax, data, positions)
    return figure


def draw_graph(
    ax: Axes,
    data: ReportData,
    positions: Mapping[str, tuple[float, float]],
    edges: Sequence[tuple[str, str, float]],
    *,
    label_values: bool = False,
    bend: float = BEND,
    dashed: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
) -> None:
    """Nodes at ``positions`` and directed ``edges`` ``(source, target, pgf)``; weakest drawn first;
    the ``dashed`` ``(source, target)`` pairs (e.g. cells that are not significant) drawn dashed."""
    strongest = max((abs(v) for _, _, v in edges), default=1.0) or 1.0
    radius = math.sqrt(NODE_SIZE) / 2
    for source, target, value in sorted(edges, key=lambda e: (abs(e[2]), e[0], e[1])):
        if source not in positions or target not in positions or source == target:
            continue
        strength = abs(value) / strongest
        arrow = FancyArrowPatch(
            positions[source],
            positions[target],
            arrowstyle="-|>",
            mutation_scale=7 + 5 * strength,
            connectionstyle=f"arc3,rad={bend}",
            shrinkA=radius + 1,
            shrinkB=radius + 2,
            color=POSITIVE if value > 0 else NEGATIVE,
            alpha=0.3 + 0.7 * strength,
            linewidth=0.6 + 2.6 * strength,
            linestyle=(0, (3, 2)) if (source, target) in dashed else "solid",
            zorder=1 + strength,
        )
        ax.add_patch(arrow)
        if label_values:
            _edge_label(ax, positions[source], positions[target], bend, value)
    _nodes(ax, data, positions)


def _nodes(ax: Axes, data: ReportData, positions: Mapping[str, tuple[float, float]]) -> None:
    tasks = list(positions)
    xy = np.array([positions[t] for t in tasks], dtype=float).reshape(-1, 2)
    colours = [level_colour(data.task(t).level) for t in tasks]
    ax.scatter(xy[:, 0], xy[:, 1], s=NODE_SIZE, c=colours, edgecolors="white", linewidths=1.0, zorder=5)
    for task, (x, y) in zip(tasks, xy, strict=True):
        ax.text(
            x,
            y,
            _node_label(data, task),
            ha="center",
            va="center",
            fontsize=6.5,
            color="white",
            zorder=6,
        )
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")


def _node_label(data: ReportData, task: str) -> str:
    """What fits in a node: the abbreviation, cut to four characters (the legend lists full names)."""
    return data.abbreviation(task)[:4]


def _edge_label(
    ax: Axes, start: tuple[float, float], end: tuple[float, float], bend: float, value: float
) -> None:
    """The value at the middle of an arrow: the quadratic Bezier of ``arc3`` at t = 1/2."""
    (x1, y1), (x2, y2) = start, end
    x = (x1 + x2) / 2 + bend * (y2 - y1) / 2
    y = (y1 + y2) / 2 - bend * (x2 - x1) / 2
    ax.text(
        x,
        y,
        f"{value:+.2f}",
        ha="center",
        va="center",
        fontsize=6,
        zorder=7,
        color=POSITIVE if value > 0 else NEGATIVE,
        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )


def _legend(ax: Axes, data: ReportData, positions: Mapping[str, tuple[float, float]]) -> None:
    handles = [
        Line2D([], [], color=POSITIVE, linewidth=2, label="positive transfer"),
        Line2D([], [], color=NEGATIVE, linewidth=2, label="negative transfer"),
    ]
    levels = {data.task(t).level for t in positions}
    handles += [
        Patch(color=c, label=f"{level} level") for level, c in LEVEL_COLOURS.items() if level in levels
    ]
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, -0.08),
        ncol=len(handles),
        fontsize=6.5,
        handlelength=1.5,
        columnspacing=1.0,
    )
    names = [f"{_node_label(data, t)} = {t}" for t in positions if _node_label(data, t) != t]
    if names and len(names) <= 20:
        ax.text(
            1.02, 0.5, "\n".join(names), transform=ax.transAxes, fontsize=5.5, va="center", color="#444444"
        )


def clique_figure(model: ModelView, data: ReportData, max_cliques: int = 3) -> Figure | None:
    """The largest positive (top row) and negative (bottom row) cliques of one model, as small graphs.

    Each clique shows every directed edge inside it with its seed-mean PGF, and its size, mean PGF and
    one-sided Wilcoxon p-value. None when ``max_cliques`` is 0 or the model has no clique.
    """
    if max_cliques <= 0 or not (model.cliques["positive"] or model.cliques["negative"]):
        return None
    columns = max(1, min(max_cliques, max(len(model.cliques["positive"]), len(model.cliques["negative"]))))
    figure = Figure(figsize=(2.4 * columns, 4.9), layout="constrained")
    axes = figure.subplots(2, columns, squeeze=False)
    for row, sign in enumerate(("positive", "negative")):
        cliques = model.cliques[sign][:columns]
        for column in range(columns):
            ax = axes[row, column]
            if column < len(cliques):
                _draw_clique(ax, model, data, cliques[column])
            else:
                ax.axis("off")
                if column == 0:
                    ax.text(0.5, 0.5, f"no {sign} clique", ha="center", va="center", transform=ax.transAxes)
    figure.suptitle(f"Largest cliques of mutual transfer, {model.label}")
    return figure


def _draw_clique(ax: Axes, model: ModelView, data: ReportData, clique: Clique) -> None:
    positions = circle_layout(clique.tasks)
    positions = {t: (0.8 * x, 0.8 * y) for t, (x, y) in positions.items()}
    edges = [
        (s, t, float(model.pgf_mean.loc[s, t]))
        for s in clique.tasks
        for t in clique.tasks
        if s != t and s in model.pgf_mean.index and t in model.pgf_mean.columns
    ]
    # Values are printed on triangles only: in larger cliques the diagonals cross at the centre.
    draw_graph(ax, data, positions, edges, label_values=len(clique.tasks) == 3, bend=CLIQUE_BEND)
    p_value = "n/a" if math.isnan(clique.p_value) else f"{clique.p_value:.1e}"
    ax.set_title(
        f"{clique.sign}, {len(clique.tasks)} tasks\nmean PGF {clique.mean_pgf:+.3f}, p = {p_value}",
        fontsize=7,
    )
