"""What a report draws and how: one frozen options object, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIGURE_FORMATS", "GRAPH_LAYOUTS", "ORDERS", "OptionError", "ReportOptions"]

ORDERS = ("category", "cluster", "input")
GRAPH_LAYOUTS = ("circle", "spring")
FIGURE_FORMATS = ("png", "pdf", "svg")


class OptionError(ValueError):
    """An invalid option; ``field`` names it, so a CLI can point at its own flag."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class ReportOptions:
    """Options of :func:`vlmtransfer.report.write_report`.

    Attributes:
        order: task order of heatmap rows/columns and graph nodes: ``category`` (perceptual level, then
            granularity, then name; the paper's grouping), ``cluster`` (hierarchical clustering of the
            tasks' transfer profiles, so that tasks that help and are helped alike sit together), or
            ``input`` (as in ``analysis.json``).
        formats: figure file formats written (``png``, ``pdf``, ``svg``).
        dpi: resolution of PNG figures.
        title: the HTML page's title (default: from the models analysed).
        graph_layout: ``circle`` (nodes on a circle in ``order``; edges never hide behind nodes) or
            ``spring`` (force-directed by |PGF|, seeded, so tasks that transfer strongly sit close).
        max_cliques: cliques drawn per sign and model (largest first).
        annotate_limit: heatmap cells carry their value when a matrix has at most this many rows and
            columns; beyond, numbers would be unreadable (the HTML tooltips still give them).
        figures: write figure files; ``html``: write ``report.html``.
        embed_figures: show the static figures (scale trend, personas, cliques, ...) in the page too, as
            screen-resolution PNGs inside the file; off, the page is smaller and faster to make.
    """

    order: str = "category"
    formats: tuple[str, ...] = ("png", "pdf")
    dpi: int = 200
    title: str | None = None
    graph_layout: str = "circle"
    max_cliques: int = 3
    annotate_limit: int = 30
    figures: bool = True
    html: bool = True
    embed_figures: bool = True

    def __post_init__(self) -> None:
        _one_of("order", self.order, ORDERS)
        _one_of("graph_layout", self.graph_layout, GRAPH_LAYOUTS)
        for fmt in self.formats:
            _one_of("formats", fmt, FIGURE_FORMATS)
        if self.figures and not self.formats:
            raise OptionError("formats", "at least one figure format is needed")
        if not 30 <= self.dpi <= 1200:
            raise OptionError("dpi", f"must be in [30, 1200], got {self.dpi}")
        for name in ("max_cliques", "annotate_limit"):
            if getattr(self, name) < 0:
                raise OptionError(name, f"must be >= 0, got {getattr(self, name)}")
        if not (self.figures or self.html):
            raise OptionError("html", "nothing to write: both the figures and the page are off")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(name, f"must be one of {', '.join(allowed)}; got {value!r}")
