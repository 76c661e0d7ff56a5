"""Figures of why cells transfer: PGF before and after removing the letter prior, the prior shift per
source, and the similarity of the adapters' weight updates."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from vlmtransfer.report.data import DiagnosticsView, ReportData
from vlmtransfer.report.figures.heatmaps import abbreviation_key, colorbar, draw_matrix, matrix_size, reorder
from vlmtransfer.report.figures.style import DIVERGING, NEUTRAL, pgf_norm

__all__ = [
    "format_matrices_figure",
    "paired_matrices_figure",
    "prediction_figure",
    "prior_matrices_figure",
    "prior_shift_figure",
    "similarity_figure",
]


def prior_matrices_figure(
    label: str,
    view: DiagnosticsView,
    data: ReportData,
    order: Sequence[str],
    limit: float,
    *,
    annotate_limit: int = 30,
) -> Figure | None:
    """Raw PGF beside PGF after each run's letter prior is removed; None without a prior decomposition."""
    panels = (
        ("pgf", "significant", "raw PGF"),
        ("pgf_corrected", "significant_corrected", "letter prior removed"),
    )
    title = f"Transfer before and after removing each run's answer-letter prior, {label}"
    return paired_matrices_figure(
        view.prior_cells, panels, title, data, order, limit=limit, annotate_limit=annotate_limit
    )


def format_matrices_figure(
    label: str,
    view: DiagnosticsView,
    data: ReportData,
    order: Sequence[str],
    limit: float,
    *,
    annotate_limit: int = 30,
) -> Figure | None:
    """PGF by log-likelihood beside PGF by greedy generation; None without ``both``-mode results."""
    panels = (
        ("pgf_loglik", "significant_loglik", "log-likelihood"),
        ("pgf_generated", "significant_generated", "greedy generation"),
    )
    title = f"Transfer by scoring protocol (the difference is answer format), {label}"
    return paired_matrices_figure(
        view.format_cells, panels, title, data, order, limit=limit, annotate_limit=annotate_limit
    )


def paired_matrices_figure(
    cells: pd.DataFrame | None,
    panels: Sequence[tuple[str, str, str]],
    title: str,
    data: ReportData,
    order: Sequence[str],
    *,
    limit: float,
    annotate_limit: int = 30,
) -> Figure | None:
    """Two PGF matrices from one cell table side by side, one colour scale, significant cells framed.

    ``panels`` are ``(value column, significance column, panel title)``; None when ``cells`` is empty."""
    if cells is None or cells.empty:
        return None
    alpha = float(data.options.get("alpha", 0.05))
    width, height = matrix_size(_pivot(cells, panels[0][0], order), data)
    figure = Figure(figsize=(2 * width + 1.0, height), layout="constrained")
    axes = figure.subplots(1, 2)
    images = []
    for ax, (column, flag, panel_title) in zip(axes, panels, strict=True):
        matrix = _pivot(cells, column, order)
        flags = _pivot(cells, flag, order).astype(bool)
        images.append(
            draw_matrix(
                ax,
                matrix,
                data,
                colormaps[DIVERGING],
                pgf_norm(limit),
                annotate_limit=annotate_limit,
                significant=flags,
            )
        )
        ax.set_title(f"{panel_title} (framed: q < {alpha:g})")
    axes[1].set_ylabel("")
    colorbar(figure, images, list(axes), "PGF")
    figure.suptitle(title)
    abbreviation_key(figure, [*cells["source"], *cells["target"]], data)
    return figure


def prior_shift_figure(
    label: str, view: DiagnosticsView, data: ReportData, order: Sequence[str]
) -> Figure | None:
    """Bars: per source, how far finetuning moved the letter prior (total variation from the base)."""
    shift = view.prior_shift
    if shift is None or shift.empty:
        return None
    rank = {task: i for i, task in enumerate(order)}
    sources = sorted(shift.index, key=lambda t: rank.get(t, len(rank)))
    values = shift.reindex(sources).to_numpy(float)
    figure = Figure(figsize=(max(3.5, 0.4 * len(sources) + 1.5), 2.8), layout="constrained")
    ax = figure.add_subplot()
    ax.bar(range(len(sources)), values, color=NEUTRAL)
    ax.set_xticks(range(len(sources)), [data.abbreviation(s) for s in sources], rotation=90)
    ax.set_ylabel("letter-prior shift (TV)")
    ax.set_ylim(0, max(0.05, float(np.nanmax(values)) * 1.15) if np.isfinite(values).any() else 1)
    ax.set_title(f"How far finetuning moved the answer-letter prior, {label}")
    abbreviation_key(figure, sources, data)
    return figure


def similarity_figure(
    label: str, view: DiagnosticsView, data: ReportData, order: Sequence[str], annotate_limit: int = 30
) -> Figure | None:
    """Cosine similarity of the adapters' weight updates, sources x sources (diagonal: between seeds),
    titled with its rank correlation with PGF."""
    if view.similarity is None or view.similarity.empty:
        return None
    matrix = reorder(view.similarity, order)
    figure = Figure(figsize=matrix_size(matrix, data, extra_width=1.1), layout="constrained")
    ax = figure.add_subplot()
    values = matrix.to_numpy(float)
    top = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    image = draw_matrix(
        ax,
        matrix,
        data,
        colormaps[DIVERGING],
        pgf_norm(top or 1.0),
        annotate_limit=annotate_limit,
        grey_self=False,
    )
    ax.set_xlabel("finetuned on")
    correlation = (
        f"Spearman with PGF {view.rho:+.2f}, Mantel p {view.mantel_p:.2g}"
        if math.isfinite(view.rho)
        else "no correlation with PGF computed"
    )
    ax.set_title(f"Similarity of LoRA updates, {label} ({correlation})")
    colorbar(figure, [image], [ax], "cosine of weight updates")
    abbreviation_key(figure, [*matrix.index, *matrix.columns], data)
    return figure


def _pivot(cells: pd.DataFrame, column: str, order: Sequence[str]) -> pd.DataFrame:
    sources = list(dict.fromkeys(cells["source"]))
    targets = list(dict.fromkeys(cells["target"]))
    matrix = cells.pivot(index="source", columns="target", values=column).reindex(
        index=sources, columns=targets
    )
    return reorder(matrix.rename_axis(index=None, columns=None), order)


def prediction_figure(data: ReportData, order: Sequence[str], annotate_limit: int = 30) -> Figure | None:
    """Left: the cosine of LoRA gradients at the base model (sources x targets), the signal
    ``vlmtransfer predict`` maps to PGF. Right: per source, the leave-one-source-out rank correlation of
    its predicted and measured row (chance 0). None without a prediction."""
    view = data.prediction
    if view is None:
        return None
    matrix = reorder(view.alignment, order)
    width, height = matrix_size(matrix, data)
    figure = Figure(figsize=(2 * width + 1.0, height), layout="constrained")
    left, right = figure.subplots(1, 2)
    values = matrix.to_numpy(float)
    top = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    image = draw_matrix(
        left,
        matrix,
        data,
        colormaps[DIVERGING],
        pgf_norm(top or 1.0),
        annotate_limit=annotate_limit,
        grey_self=False,
    )
    left.set_title("cosine of LoRA gradients at the base model")
    colorbar(figure, [image], [left], "cosine")
    rank = {task: i for i, task in enumerate(order)}
    sources = sorted(view.row_spearman.index, key=lambda t: rank.get(t, len(rank)))
    rho = view.row_spearman.reindex(sources).to_numpy(float)
    right.barh(range(len(sources)), np.nan_to_num(rho), color=NEUTRAL)
    right.axvline(0.0, color="#444444", linewidth=0.8)
    right.set_yticks(range(len(sources)), [data.abbreviation(s) for s in sources])
    right.invert_yaxis()
    right.set_xlim(-1, 1)
    right.set_xlabel("Spearman, predicted vs measured row")
    right.set_ylabel("held-out source")
    right.set_title(
        f"leave one source out: mean {view.mean_row_spearman:+.2f}; top-3 donors"
        f" {view.top3_recovery:.0%} (chance {view.top3_chance:.0%})"
    )
    figure.suptitle(f"Predicting transfer before finetuning, {view.model}")
    abbreviation_key(figure, [*matrix.index, *matrix.columns], data)
    return figure
