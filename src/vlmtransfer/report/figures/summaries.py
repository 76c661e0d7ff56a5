"""Summary figures: category-level transfer, the scale trend, personas, and baseline accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from vlmtransfer.report.data import ModelView, ReportData
from vlmtransfer.report.figures.heatmaps import abbreviation_key
from vlmtransfer.report.figures.style import DIVERGING, NEGATIVE, POSITIVE, pgf_norm, text_colour
from vlmtransfer.report.order import GRANULARITIES, LEVELS

__all__ = ["baseline_figure", "category_figure", "persona_figure", "scale_figure", "significance_stars"]

SCORE_PANELS = (
    ("transferability", "positive", "transferability D+"),
    ("transferability", "negative", "transferability D-"),
    ("malleability", "positive", "malleability Θ+"),
    ("malleability", "negative", "malleability Θ-"),
)
PERSONA_SCORES = {
    "donor": ("transferability", "positive", "D+"),
    "pirate": ("transferability", "negative", "D-"),
    "sponge": ("malleability", "positive", "Θ+"),
    "sieve": ("malleability", "negative", "Θ-"),
}
KNOWN_CATEGORIES = {"level": LEVELS, "granularity": GRANULARITIES}


def category_figure(model: ModelView, data: ReportData) -> Figure | None:
    """Category-to-category transferability and malleability (D+, D-, Θ+, Θ-) for each dimension.

    Rows of the small matrices are source categories, columns target categories. ``all`` is every
    target in the transferability panels (a column, from the analysis) and every source in the
    malleability panels (a row: the mean of the targets' own Θ± over all sources), so that each panel
    ends with its category's overall score. One symmetric colour scale for the whole figure, with its
    colour bar. None when no task has a category.
    """
    dimensions = [(d, t) for d, t in model.categories.items() if len(t)]
    if not dimensions:
        return None
    values = pd.concat([t[["positive", "negative"]] for _, t in dimensions]).to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    figure = Figure(figsize=(10.0, 2.5 * len(dimensions) + 0.3), layout="constrained")
    axes = figure.subplots(len(dimensions), len(SCORE_PANELS), squeeze=False)
    for row, (dimension, table) in enumerate(dimensions):
        for column, (kind, sign, title) in enumerate(SCORE_PANELS):
            matrix = _category_matrix(table, kind, sign, KNOWN_CATEGORIES.get(dimension, ()))
            if kind == "malleability":
                matrix = _with_all_sources(matrix, model, data, dimension, sign)
            _draw_small_matrix(axes[row, column], matrix, limit)
            axes[row, column].set_title(f"{title} ({dimension})")
    bar = figure.colorbar(
        ScalarMappable(pgf_norm(limit), colormaps[DIVERGING]), ax=axes, shrink=0.8, aspect=30, pad=0.02
    )
    bar.set_label("D± / Θ± (PGF units)")
    bar.outline.set_visible(False)
    figure.suptitle(f"Transfer between task categories, {model.label} (rows: source, columns: target)")
    return figure


def _with_all_sources(
    matrix: pd.DataFrame, model: ModelView, data: ReportData, dimension: str, sign: str
) -> pd.DataFrame:
    """``matrix`` with an ``all`` row: per target category, the mean over its targets of their Θ± over
    every source (the category-level definition with all sources as the source category)."""
    scores = model.malleability[sign]
    categories = pd.Series({task: getattr(data.task(task), dimension, None) for task in scores.index})
    means = scores.groupby(categories).mean()
    row = pd.DataFrame(
        [means.reindex(matrix.columns).to_numpy(dtype=float)], index=["all"], columns=matrix.columns
    )
    return pd.concat([matrix, row])


def _category_matrix(table: pd.DataFrame, kind: str, sign: str, known: Sequence[str]) -> pd.DataFrame:
    rows = table[table["kind"] == kind]
    matrix = rows.pivot_table(
        index="source_category", columns="target_category", values=sign, aggfunc="first"
    )
    return matrix.reindex(index=_sorted(matrix.index, known), columns=_sorted(matrix.columns, known))


def _sorted(names: Sequence[str], known: Sequence[str]) -> list[str]:
    rank = {name: i for i, name in enumerate((*known, "all"))}
    return sorted(names, key=lambda n: (rank.get(n, len(known)), n == "all", n))


def _draw_small_matrix(ax: Axes, matrix: pd.DataFrame, limit: float) -> None:
    cmap, norm = colormaps[DIVERGING], pgf_norm(limit)
    values = matrix.to_numpy(dtype=float)
    x_edges, y_edges = np.arange(values.shape[1] + 1) - 0.5, np.arange(values.shape[0] + 1) - 0.5
    ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(values), cmap=cmap, norm=norm)
    ax.set_ylim(y_edges[-1], y_edges[0])
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            text = f"{value:.3f}".replace("0.", ".", 1)
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=6.5,
                color=text_colour(cmap, float(np.clip(norm(value), 0, 1))),
            )
    ax.set_xticks(range(values.shape[1]), list(matrix.columns))
    ax.set_yticks(range(values.shape[0]), list(matrix.index))
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def scale_figure(data: ReportData) -> Figure | None:
    """Mean D+/D- (solid) and Θ+/Θ- (dashed) per model, in model order, with seed std; None for one model."""
    if len(data.scale) < 2:
        return None
    scale = data.scale.set_index("model").reindex(list(data.model_order))
    x = np.arange(len(scale))
    figure = Figure(figsize=(4.2, 3.0), layout="constrained")
    ax = figure.add_subplot()
    for kind, style, marker in (("transferability", "-", "o"), ("malleability", "--", "s")):
        for sign, colour in (("positive", POSITIVE), ("negative", NEGATIVE)):
            column = f"mean_{sign}_{kind}"
            if column not in scale:
                continue
            errors = scale.get(f"{column}_std")
            symbol = ("D" if kind == "transferability" else "Θ") + ("+" if sign == "positive" else "-")
            ax.errorbar(
                x,
                scale[column].astype(float),
                yerr=None if errors is None else errors.astype(float),
                color=colour,
                linestyle=style,
                marker=marker,
                markersize=4,
                capsize=2,
                linewidth=1.2,
                label=f"mean {symbol}",
            )
    ax.axhline(0, color="#888888", linewidth=0.6)
    ax.set_xticks(x, list(scale.index))
    ax.set_xlabel("model")
    ax.set_ylabel("mean over tasks (± seed std)")
    ax.set_title("Scale trend of transfer")
    ax.legend(ncol=2)
    return figure


def persona_figure(data: ReportData) -> Figure | None:
    """Per persona, each member's score against the model mean in every model, with Welch-test stars.

    None when no persona has a member (a persona must hold in every model analysed together).
    """
    kinds = [k for k in PERSONA_SCORES if data.personas.get(k)]
    if not kinds:
        return None
    figure = Figure(figsize=(2.6 * len(kinds), 2.9), layout="constrained")
    axes = figure.subplots(1, len(kinds), squeeze=False)[0]
    for ax, kind in zip(axes, kinds, strict=True):
        _draw_persona(ax, data, kind)
    figure.suptitle("Task personas (hold in every model; * p<.05, ** p<.01, *** p<.001, one-sided Welch)")
    return figure


def _draw_persona(ax: Axes, data: ReportData, kind: str) -> None:
    role, sign, symbol = PERSONA_SCORES[kind]
    models = list(data.model_order)
    x = np.arange(len(models))
    means = [_mean_score(data.models[m], role, sign) for m in models]
    ax.bar(x, means, color="#d9d9d9", width=0.6, label="model mean")
    members = data.personas.get(kind, ())
    offsets = np.linspace(-0.26, 0.26, len(members)) if len(members) > 1 else [0.0]
    markers = "oDs^v<>ph"
    for k, (task, offset) in enumerate(zip(members, offsets, strict=True)):
        values = [_task_score(data.models[m], role, sign, task) for m in models]
        ax.plot(
            x + offset,
            values,
            linestyle="none",
            marker=markers[k % len(markers)],
            markersize=5,
            color=POSITIVE if sign == "positive" else NEGATIVE,
            label=data.abbreviation(task),
        )
        for xi, value, model in zip(x + offset, values, models, strict=True):
            stars = significance_stars(_p_value(data, kind, task, model))
            if stars and math.isfinite(value):
                ax.annotate(
                    stars,
                    (xi, value),
                    textcoords="offset points",
                    xytext=(0, 4 if value >= 0 else -9),
                    ha="center",
                    fontsize=6,
                )
    ax.axhline(0, color="#888888", linewidth=0.6)
    ax.margins(y=0.2)  # room for the stars above (below) the outermost markers
    ax.set_xticks(x, models)
    ax.set_title(f"{kind} ({symbol})")
    # Below the axes, where it covers neither bars nor markers.
    ax.legend(
        fontsize=6,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=min(len(members) + 1, 3),
        frameon=False,
    )


def _mean_score(model: ModelView, role: str, sign: str) -> float:
    table = model.transferability if role == "transferability" else model.malleability
    return float(table[sign].mean())


def _task_score(model: ModelView, role: str, sign: str, task: str) -> float:
    table = model.transferability if role == "transferability" else model.malleability
    return float(table[sign].get(task, math.nan))


def _p_value(data: ReportData, kind: str, task: str, model: str) -> float:
    tests = data.persona_tests
    match = tests[(tests["persona"] == kind) & (tests["task"] == task) & (tests["model"] == model)]
    return float(match["p_value"].iloc[0]) if len(match) else math.nan


def significance_stars(p_value: float) -> str:
    """``***`` below 0.001, ``**`` below 0.01, ``*`` below 0.05, else (or for NaN) nothing."""
    if not math.isfinite(p_value):
        return ""
    return "***" if p_value < 0.001 else "**" if p_value < 0.01 else "*" if p_value < 0.05 else ""


def baseline_figure(data: ReportData, order: Sequence[str]) -> Figure | None:
    """Base-model accuracy per target (± seed std) against its ceiling, for models with baselines.

    None when no model has one (PGF inputs carry no accuracies).
    """
    models = [data.models[m] for m in data.model_order if data.models[m].baseline is not None]
    if not models:
        return None
    rank = {t: i for i, t in enumerate(order)}
    targets = sorted({t for m in models for t in m.baseline.index}, key=lambda t: (rank.get(t, len(rank)), t))
    width = 0.8 / len(models)
    figure = Figure(figsize=(max(4.0, 0.45 * len(targets) + 1.5), 3.0), layout="constrained")
    ax = figure.add_subplot()
    x = np.arange(len(targets))
    palette = colormaps["tab10"]
    for k, model in enumerate(models):
        base = model.baseline.reindex(targets)
        offset = (k - (len(models) - 1) / 2) * width
        errors = base["accuracy_std"].to_numpy(dtype=float)
        ax.bar(
            x + offset,
            base["accuracy"],
            width=width * 0.9,
            color=palette(k % 10),
            label=model.label,
            # One baseline for all seeds has no std: no error bar, rather than a cap of height 0.
            yerr=np.where(np.isfinite(errors), errors, 0.0) if np.isfinite(errors).any() else None,
            error_kw={"linewidth": 0.6, "capsize": 1.5},
        )
        ax.plot(
            x + offset,
            base["ceiling"],
            linestyle="none",
            marker="_",
            markersize=9,
            color="black",
            markeredgewidth=1.5,
            label="ceiling" if k == 0 else None,
        )
    _chance_lines(ax, x, targets)
    ax.set_xticks(x, [data.abbreviation(t) for t in targets], rotation=90 if len(targets) > 15 else 0)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Baseline accuracy vs ceiling (the gap PGF measures against)")
    ax.legend(ncol=min(len(models) + 2, 4), loc="upper left", bbox_to_anchor=(0, -0.12), frameon=False)
    abbreviation_key(figure, targets, data)
    return figure


def _chance_lines(ax: Axes, x: np.ndarray, targets: Sequence[str]) -> None:
    """A dotted line across each target's bars at chance accuracy (100 / its number of choices, from the
    task registry; none for a task it does not know, nor for a numeric one, scored by closeness): how
    much of a bar is above guessing."""
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415

    registry = default_registry()
    chances = [
        100.0 / spec.choices
        if (spec := registry.find(t)) and spec.extra.get("answer_type") != "number"
        else math.nan
        for t in targets
    ]
    known = [(xi, chance) for xi, chance in zip(x, chances, strict=True) if math.isfinite(chance)]
    if known:
        positions, levels = zip(*known, strict=True)
        ax.hlines(
            levels,
            np.asarray(positions) - 0.42,
            np.asarray(positions) + 0.42,
            colors="#555555",
            linestyles=":",
            linewidth=1.2,
            label="chance",
        )
