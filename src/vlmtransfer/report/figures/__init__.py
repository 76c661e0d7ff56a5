"""The report's figures: which ones exist for an analysis, and rendering them to PNG/PDF/SVG bytes.

Every figure is described by a :class:`FigureSpec` (a stable file name, a title, a caption, a function
that draws it) before anything is drawn, so the set of figures of a report is known up front and a
figure that does not apply (no baselines in PGF inputs, one seed, one model) is simply absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from matplotlib.figure import Figure

from vlmtransfer.fsutil import unique_names
from vlmtransfer.report.data import ModelView, ReportData
from vlmtransfer.report.figures.diagnostics import (
    format_matrices_figure,
    prediction_figure,
    prior_matrices_figure,
    prior_shift_figure,
    similarity_figure,
)
from vlmtransfer.report.figures.graphs import clique_figure, transfer_graph
from vlmtransfer.report.figures.heatmaps import (
    off_diagonal_limit,
    pgf_heatmap,
    pgf_panel,
    pgf_std_heatmap,
    pgf_target_only_heatmap,
    target_only_columns,
)
from vlmtransfer.report.figures.style import downscale_png, figure_style, save_figure
from vlmtransfer.report.figures.summaries import (
    baseline_figure,
    category_figure,
    persona_figure,
    scale_figure,
)
from vlmtransfer.report.layout import graph_layout
from vlmtransfer.report.options import ReportOptions
from vlmtransfer.report.order import task_order

__all__ = ["FigureSpec", "RenderedFigure", "figure_specs", "model_slugs", "render_figure", "render_figures"]


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the report, not yet drawn.

    ``name`` is the file stem (``figures/<name>.png``); ``model`` the model it shows (None: all);
    ``interactive`` marks figures the HTML page redraws interactively (it embeds no picture of those).
    ``draw`` returns the figure, or None when there is nothing to show.
    """

    name: str
    title: str
    caption: str
    draw: Callable[[], Figure | None] = field(repr=False, compare=False)
    model: str | None = None
    interactive: bool = False


@dataclass(frozen=True)
class RenderedFigure:
    """A drawn figure: ``files`` maps a format (``png``, ``pdf``, ``svg``) to its bytes; ``preview`` is a
    screen-resolution PNG for the HTML page (None for interactive figures or when not asked)."""

    name: str
    title: str
    caption: str
    model: str | None
    files: Mapping[str, bytes]
    preview: bytes | None


def figure_specs(data: ReportData, options: ReportOptions) -> list[FigureSpec]:
    """Every figure of the report for ``data``, in reading order (nothing is drawn yet)."""
    order = task_order(data, options.order)
    limit = off_diagonal_limit(list(data.models.values()))
    panel = FigureSpec(
        "pgf_panel",
        "PGF matrices of all models",
        "Seed-mean PGF, sources as rows, targets as columns, one colour scale for all models.",
        lambda: pgf_panel(data, order, limit, options.annotate_limit),
    )
    per_model = [
        spec
        for label, slug in model_slugs(data.model_order).items()
        for spec in _model_specs(data, data.models[label], slug, order, limit=limit, options=options)
    ]
    return [panel, *per_model, *_summary_specs(data, order)]


def _model_specs(
    data: ReportData, model: ModelView, slug: str, order: list[str], *, limit: float, options: ReportOptions
) -> list[FigureSpec]:
    label, annotate = model.label, options.annotate_limit
    positions = graph_layout([t for t in order if t in model.tasks], model.edges, options.graph_layout)
    edge_fraction = float(data.options.get("edge_fraction", 0.2))
    return [
        FigureSpec(
            f"pgf_heatmap_{slug}",
            f"PGF matrix, {label}",
            "Seed-mean PGF; grey diagonal: self-transfer (not counted in any score).",
            lambda: pgf_heatmap(model, data, order, limit, annotate),
            label,
            interactive=True,
        ),
        *_target_only_specs(data, model, slug, order, annotate),
        FigureSpec(
            f"pgf_std_{slug}",
            f"Seed variability of PGF, {label}",
            "Sample std (ddof 1) of PGF across seeds, per cell.",
            lambda: pgf_std_heatmap(model, data, order, annotate),
            label,
        ),
        FigureSpec(
            f"transfer_graph_{slug}",
            f"Transfer graph, {label}",
            "Top positive (green) and negative (red) edges; width and opacity by |PGF|.",
            lambda: transfer_graph(model, data, positions, edge_fraction),
            label,
            interactive=True,
        ),
        FigureSpec(
            f"cliques_{slug}",
            f"Largest cliques, {label}",
            "Sets of tasks that all transfer to each other with the same sign; one-sided "
            "Wilcoxon signed-rank p-value over the per-seed PGF of their edges.",
            lambda: clique_figure(model, data, options.max_cliques),
            label,
        ),
        FigureSpec(
            f"categories_{slug}",
            f"Transfer between categories, {label}",
            "Mean transferability and malleability from source to target category.",
            lambda: category_figure(model, data),
            label,
        ),
        *_diagnostic_specs(data, label, slug, order, limit=limit, annotate=annotate),
    ]


def _target_only_specs(
    data: ReportData, model: ModelView, slug: str, order: list[str], annotate: int
) -> list[FigureSpec]:
    """The model's target-only block (targets never finetuned on, e.g. video targets of image sources,
    paper §5.3) in a figure of its own, where it has one."""
    if not target_only_columns(model):
        return []
    return [
        FigureSpec(
            f"pgf_target_only_{slug}",
            f"PGF on target-only targets, {model.label}",
            "Seed-mean PGF from every source to the targets that are never sources (e.g. video targets of"
            " image sources), on this block's own colour scale; the static PGF matrix leaves them out.",
            lambda: pgf_target_only_heatmap(model, data, order, annotate),
            model.label,
        )
    ]


def _diagnostic_specs(
    data: ReportData, label: str, slug: str, order: list[str], *, limit: float, annotate: int
) -> list[FigureSpec]:
    """Why cells transfer, where the analysis has diagnostics for the model (study directories)."""
    view = data.diagnostics.get(label)
    if view is None:
        return []
    return [
        FigureSpec(
            f"prior_pgf_{slug}",
            f"PGF without the answer-letter prior, {label}",
            "Left: PGF as measured. Right: PGF once each run's mean log-probability of each answer letter"
            " is subtracted before the argmax (log-space batch calibration); a cell that fades on the right"
            " was a shift of the letter prior, not of perception.",
            lambda: prior_matrices_figure(label, view, data, order, limit, annotate_limit=annotate),
            label,
        ),
        FigureSpec(
            f"prior_shift_{slug}",
            f"Letter-prior shift per source, {label}",
            "Total-variation distance between the finetuned and the base model's mean probability of"
            " each answer letter, averaged over targets and seeds.",
            lambda: prior_shift_figure(label, view, data, order),
            label,
        ),
        FigureSpec(
            f"format_pgf_{slug}",
            f"PGF by scoring protocol, {label}",
            "Left: PGF from the letters' log-likelihood (needs no answer format). Right: PGF from greedy"
            " answers through the parser (the paper's protocol); a cell significant only on the right is"
            " the model learning to say its answer.",
            lambda: format_matrices_figure(label, view, data, order, limit, annotate_limit=annotate),
            label,
        ),
        FigureSpec(
            f"adapter_similarity_{slug}",
            f"Similarity of LoRA updates, {label}",
            "Cosine of the adapters' weight updates (B A, all modules), mean over seed pairs; the diagonal"
            " compares seeds of one source. The title gives its rank correlation with PGF (Mantel test).",
            lambda: similarity_figure(label, view, data, order, annotate),
            label,
        ),
    ]


def _summary_specs(data: ReportData, order: list[str]) -> list[FigureSpec]:
    return [
        FigureSpec(
            "scale_trend",
            "Scale trend",
            "Mean transferability and malleability per model.",
            lambda: scale_figure(data),
        ),
        FigureSpec(
            "personas",
            "Task personas",
            "Donors, pirates, sponges and sieves in every model.",
            lambda: persona_figure(data),
        ),
        *(
            [
                FigureSpec(
                    "prediction",
                    "Predicting transfer before finetuning",
                    "From vlmtransfer predict (the study's prediction folder): the gradient cosine it maps to"
                    " PGF, and how well each source's row is predicted from the other sources' fits.",
                    lambda: prediction_figure(data, order),
                )
            ]
            if data.prediction is not None
            else []
        ),
        FigureSpec(
            "baseline_accuracy",
            "Baseline accuracy vs ceiling",
            "Accuracy of the base model per target (± seed std) and the ceiling U.",
            lambda: baseline_figure(data, order),
        ),
    ]


def render_figures(
    data: ReportData, options: ReportOptions, preview_dpi: int | None = 96
) -> Iterator[RenderedFigure]:
    """Draw and render each applicable figure (skipping those with nothing to show), in report order.

    Files are rendered in ``options.formats`` at ``options.dpi``; with ``preview_dpi``, a PNG for the
    HTML page too (non-interactive figures only). A generator: one figure is in memory at a time, and
    a caller can show progress.
    """
    for spec in figure_specs(data, options):
        rendered = render_figure(spec, options, preview_dpi)
        if rendered is not None:
            yield rendered


def render_figure(
    spec: FigureSpec, options: ReportOptions, preview_dpi: int | None = 96
) -> RenderedFigure | None:
    """Draw ``spec`` and render its files and preview; None when it has nothing to show or to write."""
    formats = options.formats if options.figures else ()
    want_preview = preview_dpi is not None and not spec.interactive
    if not formats and not want_preview:
        return None
    with figure_style():
        figure = spec.draw()
    if figure is None:
        return None
    files = save_figure(figure, formats, options.dpi) if formats else {}
    preview = _preview(figure, files, options.dpi, preview_dpi) if want_preview else None
    return RenderedFigure(spec.name, spec.title, spec.caption, spec.model, files, preview)


def _preview(figure: Figure, files: Mapping[str, bytes], dpi: int, preview_dpi: int) -> bytes:
    if "png" in files and dpi >= preview_dpi:
        return downscale_png(files["png"], preview_dpi / dpi)
    return save_figure(figure, ["png"], preview_dpi)["png"]


def model_slugs(labels: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Filesystem-safe, unique file-name parts for model labels (``Qwen/2.5 7B`` -> ``Qwen_2.5_7B``)."""
    return unique_names(labels)
