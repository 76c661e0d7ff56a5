"""PGF heatmaps: one per model, a side-by-side panel of all models, and the seed std per cell.

Rows are sources (the task finetuned on), columns targets (the task evaluated), labelled by task
abbreviation and coloured by perceptual level. The colour scale is symmetric around 0 and shared by
every model of a report, so that a shade means the same PGF in every figure; its limit is the largest
off-diagonal |PGF|, because self-transfer (the diagonal, drawn grey) is typically several times larger
than any transfer and would wash every other cell out.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import Colormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vlmtransfer.report.data import ModelView, ReportData
from vlmtransfer.report.figures.style import DIVERGING, SEQUENTIAL, level_colour, pgf_norm, text_colour

__all__ = [
    "abbreviation_key",
    "colorbar",
    "draw_matrix",
    "matrix_size",
    "off_diagonal_limit",
    "pgf_heatmap",
    "pgf_panel",
    "pgf_std_heatmap",
    "pgf_target_only_heatmap",
    "reorder",
    "target_only_columns",
]

SELF_COLOUR = "#e0e0e0"
PANEL_COLUMNS = 3
LIMIT_QUANTILE = 0.98
LABEL_INCHES_PER_CHAR = 0.065  # DejaVu Sans at 8 pt
KEY_FONT_SIZE = 6.5
KEY_INCHES_PER_CHAR = 0.055  # DejaVu Sans at 6.5 pt, averaged over names


def reorder(matrix: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """``matrix`` with rows and columns sorted by ``order`` (tasks not in ``order`` keep theirs, last)."""
    rank = {task: i for i, task in enumerate(order)}
    rows = sorted(matrix.index, key=lambda t: rank.get(t, len(rank)))
    columns = sorted(matrix.columns, key=lambda t: rank.get(t, len(rank)))
    return matrix.loc[rows, columns]


def off_diagonal_limit(models: Sequence[ModelView], quantile: float = LIMIT_QUANTILE) -> float:
    """The colour-scale limit: a high quantile of |seed-mean PGF| off the diagonal over ``models``.

    A quantile rather than the maximum, so that one outlier (the paper's 7B has a -1.94 among values
    mostly within +-0.5) does not wash out every other cell; cells beyond saturate, the colorbar shows
    arrows, and every value is still printed in its cell. 1 when there is no value at all.
    """
    values = []
    for model in models:
        matrix = model.pgf_mean.to_numpy(dtype=float, copy=True)
        matrix[_self_mask(model.pgf_mean)] = np.nan
        values.append(np.abs(matrix[np.isfinite(matrix)]))
    pooled = np.concatenate(values) if values else np.array([])
    limit = float(np.quantile(pooled, quantile)) if pooled.size else 0.0
    return limit if limit > 0 else 1.0


def target_only_columns(model: ModelView) -> list[str]:
    """The model's targets that are not sources (its target-only block, e.g. video targets)."""
    sources = set(model.sources)
    return [t for t in model.targets if t not in sources]


def _without_target_only(matrix: pd.DataFrame, model: ModelView) -> pd.DataFrame:
    """``matrix`` without the target-only columns (drawn in a figure of their own), unless those are
    all it has."""
    block = set(target_only_columns(model))
    kept = [t for t in matrix.columns if t not in block]
    return matrix[kept] if kept else matrix


def pgf_heatmap(
    model: ModelView, data: ReportData, order: Sequence[str], limit: float, annotate_limit: int = 30
) -> Figure:
    """The seed-mean PGF matrix of one model; target-only columns (targets that are never sources, e.g.
    video targets of image sources) are left to :func:`pgf_target_only_heatmap`."""
    matrix = _without_target_only(reorder(model.pgf_mean, order), model)
    title = (
        f"PGF, {model.label} (mean of {len(model.seeds)} seed{'s' * (len(model.seeds) != 1)};"
        f" framed: q < {data.options.get('alpha', 0.05):g}, faded: not significant)"
    )
    return _pgf_matrix_figure(
        matrix,
        model,
        data,
        order,
        limit=limit,
        annotate_limit=annotate_limit,
        title=title,
        scale="PGF (share of the gap to the ceiling closed)",
    )


def _pgf_matrix_figure(
    matrix: pd.DataFrame,
    model: ModelView,
    data: ReportData,
    order: Sequence[str],
    *,
    limit: float,
    annotate_limit: int,
    title: str,
    scale: str,
) -> Figure:
    """One PGF matrix on its own axes: cells framed where significant, a colour bar and the key."""
    figure = Figure(figsize=matrix_size(matrix, data, extra_width=1.1), layout="constrained")
    ax = figure.add_subplot()
    image = draw_matrix(
        ax,
        matrix,
        data,
        colormaps[DIVERGING],
        pgf_norm(limit),
        annotate_limit=annotate_limit,
        significant=_significance(model, order, matrix.columns),
    )
    ax.set_title(title)
    colorbar(figure, [image], [ax], scale)
    abbreviation_key(figure, [*matrix.index, *matrix.columns], data)
    return figure


def pgf_target_only_heatmap(
    model: ModelView, data: ReportData, order: Sequence[str], annotate_limit: int = 30
) -> Figure | None:
    """The target-only block of one model (sources x targets that are never sources: the paper's
    Figure 7, image sources on video targets), on a colour scale of its own (transfer to another
    modality is typically far weaker, and would be a pale strip on the main matrix' scale); None when
    the model has no such target."""
    block = target_only_columns(model)
    if not block:
        return None
    matrix = reorder(model.pgf_mean[block], order)
    alpha = data.options.get("alpha", 0.05)
    title = f"PGF on target-only targets\n{model.label} (framed: q < {alpha:g})"
    return _pgf_matrix_figure(
        matrix,
        model,
        data,
        order,
        limit=_block_limit(matrix),
        annotate_limit=annotate_limit,
        title=title,
        scale="PGF (this block's own scale)",
    )


def _block_limit(matrix: pd.DataFrame, quantile: float = LIMIT_QUANTILE) -> float:
    """The block's colour limit: a high quantile of its |PGF| (1 when it has no value)."""
    values = np.abs(matrix.to_numpy(dtype=float))
    values = values[np.isfinite(values)]
    limit = float(np.quantile(values, quantile)) if values.size else 0.0
    return limit if limit > 0 else 1.0


def pgf_panel(data: ReportData, order: Sequence[str], limit: float, annotate_limit: int = 30) -> Figure:
    """Every model's PGF heatmap side by side, on one colour scale (rows of up to three models)."""
    models = [data.models[label] for label in data.model_order]
    columns = min(len(models), PANEL_COLUMNS)
    rows = math.ceil(len(models) / columns)
    width, height = matrix_size(reorder(models[0].pgf_mean, order), data)
    figure = Figure(figsize=(width * columns + 1.0, height * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    images, norm = [], pgf_norm(limit)
    for k, (ax, model) in enumerate(zip(axes, models, strict=False)):
        matrix = reorder(model.pgf_mean, order)
        significant = _significance(model, order)
        images.append(
            draw_matrix(
                ax,
                matrix,
                data,
                colormaps[DIVERGING],
                norm,
                annotate_limit=annotate_limit,
                significant=significant,
            )
        )
        ax.set_title(model.label)
        if k % columns:
            ax.set_ylabel("")
    for ax in axes[len(models) :]:
        ax.set_visible(False)
    colorbar(figure, images, list(axes[: len(models)]), "PGF")
    abbreviation_key(figure, [t for m in models for t in (*m.sources, *m.targets)], data)
    return figure


def pgf_std_heatmap(
    model: ModelView, data: ReportData, order: Sequence[str], annotate_limit: int = 30
) -> Figure | None:
    """The std of PGF across seeds per cell; None when it is undefined everywhere (a single seed)."""
    matrix = reorder(model.pgf_std, order)
    if not np.isfinite(matrix.to_numpy(dtype=float)).any():
        return None
    figure = Figure(figsize=matrix_size(matrix, data, extra_width=1.1), layout="constrained")
    ax = figure.add_subplot()
    top = float(np.nanmax(matrix.to_numpy(dtype=float))) or 1.0
    norm = Normalize(vmin=0.0, vmax=top)
    image = draw_matrix(
        ax, matrix, data, colormaps[SEQUENTIAL], norm, annotate_limit=annotate_limit, grey_self=False
    )
    ax.set_title(f"PGF std across {len(model.seeds)} seeds, {model.label}")
    colorbar(figure, [image], [ax], "std of PGF (ddof 1)")
    abbreviation_key(figure, [*matrix.index, *matrix.columns], data)
    return figure


def draw_matrix(
    ax: Axes,
    matrix: pd.DataFrame,
    data: ReportData,
    cmap: Colormap,
    norm: Normalize,
    *,
    annotate_limit: int = 30,
    grey_self: bool = True,
    significant: pd.DataFrame | None = None,
):
    """Draw ``matrix`` (sources x targets) on ``ax``: cells, values, level-coloured abbreviations.

    Undefined cells (NaN) are left white with no value; self-transfer cells are grey when ``grey_self``.
    With ``significant`` (booleans like ``matrix``), significant cells are framed and the others faded.
    Returns the image, for a colorbar.
    """
    values = matrix.to_numpy(dtype=float)
    self_mask = _self_mask(matrix) if grey_self else np.zeros(values.shape, dtype=bool)
    masked = np.ma.masked_array(values, mask=~np.isfinite(values) | self_mask)
    # Vector cells (crisp in any PDF viewer, unlike a resampled image), row 0 at the top.
    x_edges, y_edges = np.arange(values.shape[1] + 1) - 0.5, np.arange(values.shape[0] + 1) - 0.5
    image = ax.pcolormesh(x_edges, y_edges, masked, cmap=cmap, norm=norm)
    if self_mask.any():
        diagonal = np.ma.masked_array(np.ones_like(values), mask=~self_mask)
        ax.pcolormesh(x_edges, y_edges, diagonal, cmap=_flat(SELF_COLOUR))
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(y_edges[-1], y_edges[0])
    ax.set_aspect("equal")
    faded = np.zeros(values.shape, dtype=bool)
    if significant is not None:
        flags = significant.to_numpy(dtype=bool)
        faded = ~flags & ~self_mask & np.isfinite(values)
        _mark_significance(ax, flags & ~self_mask & np.isfinite(values), faded)
    if max(values.shape) <= annotate_limit:
        _annotate(ax, values, self_mask | faded, cmap, norm)
    _task_ticks(ax, matrix, data)
    _category_lines(ax, matrix, data)
    ax.set_xlabel("evaluated on (target)")
    ax.set_ylabel("finetuned on (source)")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return image


def _annotate(ax: Axes, values: np.ndarray, self_mask: np.ndarray, cmap: Colormap, norm: Normalize) -> None:
    """Values in their cells; self-transfer in grey. One font face throughout: each extra face (bold,
    italic) is another font to subset into every PDF, which costs more than drawing the figure."""
    size = 6.5 if max(values.shape) <= 15 else 5.0
    for (i, j), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        grey = self_mask[i, j]
        colour = "#6e6e6e" if grey else text_colour(cmap, float(np.clip(norm(value), 0, 1)))
        ax.text(j, i, _short(value), ha="center", va="center", fontsize=size, color=colour)


def _significance(
    model: ModelView, order: Sequence[str], columns: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """The significance flags in ``order`` (restricted to ``columns`` when given)."""
    if model.pgf_significant is None:
        return None
    flags = reorder(model.pgf_significant, order)
    return flags if columns is None else flags[list(columns)]


def _mark_significance(ax: Axes, framed: np.ndarray, faded: np.ndarray) -> None:
    """Fade the cells that are not significant (a white veil) and frame the significant ones."""
    veil = [Rectangle((j - 0.5, i - 0.5), 1, 1) for i, j in zip(*np.nonzero(faded), strict=True)]
    frames = [Rectangle((j - 0.45, i - 0.45), 0.9, 0.9) for i, j in zip(*np.nonzero(framed), strict=True)]
    if veil:
        ax.add_collection(PatchCollection(veil, facecolor="white", edgecolor="none", alpha=0.6))
    if frames:
        ax.add_collection(PatchCollection(frames, facecolor="none", edgecolor="#1f2328", linewidth=0.8))


def _short(value: float) -> str:
    """``0.42`` -> ``.42``, ``-0.05`` -> ``-.05``: two decimals in the width of a small cell."""
    text = f"{value:.2f}"
    return text.replace("0.", ".", 1) if abs(value) < 1 else text


def _task_ticks(ax: Axes, matrix: pd.DataFrame, data: ReportData) -> None:
    ax.set_xticks(range(matrix.shape[1]), [data.abbreviation(t) for t in matrix.columns], rotation=90)
    ax.set_yticks(range(matrix.shape[0]), [data.abbreviation(t) for t in matrix.index])
    for label, task in zip(ax.get_xticklabels(), matrix.columns, strict=True):
        label.set_color(level_colour(data.task(task).level))
    for label, task in zip(ax.get_yticklabels(), matrix.index, strict=True):
        label.set_color(level_colour(data.task(task).level))


def _category_lines(ax: Axes, matrix: pd.DataFrame, data: ReportData) -> None:
    """Thin white lines where the perceptual level changes along an axis (category order only)."""
    for axis, tasks in (("x", matrix.columns), ("y", matrix.index)):
        levels = [data.task(t).level for t in tasks]
        for i in range(1, len(levels)):
            if levels[i] != levels[i - 1] and levels[i] and levels[i - 1]:
                line = ax.axvline if axis == "x" else ax.axhline
                line(i - 0.5, color="white", linewidth=1.5)


def abbreviation_key(figure: Figure, tasks: Sequence[str], data: ReportData) -> None:
    """A key under the figure for the abbreviations its axes use (``RD Relative_Depth · ...``) and
    what their colours mean, wrapped to the figure's width; nothing when every label is the name.

    A PNG or PDF travels without the report, so it has to say what ``sFD`` is by itself.
    """
    names = [t for t in dict.fromkeys(tasks) if data.abbreviation(t) != t]
    if not names:
        return
    entries = [f"{data.abbreviation(t)}\u00a0{t}" for t in names]  # no break between the two
    levels = (
        "label colours: perceptual level (low, mid, high)" if any(data.task(t).level for t in names) else ""
    )
    chars = max(40, int(figure.get_figwidth() / KEY_INCHES_PER_CHAR))
    text = textwrap.fill(
        " · ".join(entries + ([levels] if levels else [])), width=chars, break_on_hyphens=False
    )
    figure.supxlabel(text, fontsize=KEY_FONT_SIZE, color="#444444", ha="center")


def _self_mask(matrix: pd.DataFrame) -> np.ndarray:
    return np.equal.outer(np.asarray(matrix.index, dtype=object), np.asarray(matrix.columns, dtype=object))


def _flat(colour: str) -> Colormap:
    return ListedColormap([colour])


def matrix_size(matrix: pd.DataFrame, data: ReportData, extra_width: float = 0.0) -> tuple[float, float]:
    """Figure inches: cells of 0.12-0.34 in (13 tasks fill a column, 100 stay legible), plus room for
    the longest task label, so that long names of unknown tasks do not squeeze the matrix away."""
    cells = max(matrix.shape)
    cell = min(0.34, max(0.12, 7.0 / max(cells, 1)))
    labels = [data.abbreviation(t) for t in (*matrix.index, *matrix.columns)]
    margin = 0.8 + LABEL_INCHES_PER_CHAR * max((len(label) for label in labels), default=0)
    return matrix.shape[1] * cell + margin + extra_width, matrix.shape[0] * cell + margin


def colorbar(figure: Figure, images: list, axes: list[Axes], label: str) -> None:
    """One colorbar for ``images`` (which share a norm), with arrows at ends that values go beyond."""
    if not images:
        return
    bar = figure.colorbar(images[0], ax=axes, shrink=0.8, aspect=30, pad=0.02, extend=_extend(images))
    bar.set_label(label)
    bar.outline.set_visible(False)


def _extend(images: list) -> str:
    norm = images[0].norm
    values = np.concatenate([np.ma.compressed(image.get_array()) for image in images])
    low = bool(values.size and values.min() < norm.vmin)
    high = bool(values.size and values.max() > norm.vmax)
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get((low, high), "both")
