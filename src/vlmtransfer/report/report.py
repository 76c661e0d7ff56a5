"""``write_report``: an analysis directory in, figures and one self-contained HTML page out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vlmtransfer import __version__
from vlmtransfer.report.data import ReportData, load_report_data
from vlmtransfer.report.figures import RenderedFigure, figure_specs, render_figure
from vlmtransfer.report.options import ReportOptions
from vlmtransfer.report.output import FIGURES_INDEX, check_report_target, publish_report
from vlmtransfer.report.page import build_payload, render_page

__all__ = ["PREVIEW_DPI", "ReportFiles", "render_report", "write_report"]

PREVIEW_DPI = 96  # figures embedded in the page: screen resolution keeps the file small enough to email

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReportFiles:
    """What a report wrote: the page (None when not asked for) and every figure file."""

    out_dir: Path
    html: Path | None
    figures: tuple[Path, ...]


def write_report(
    analysis: str | Path,
    out_dir: str | Path | None = None,
    options: ReportOptions | None = None,
    progress: Progress | None = None,
) -> ReportFiles:
    """Draw the figures and the HTML page of an analysis and write them to ``out_dir``.

    Args:
        analysis: a directory written by ``vlmtransfer analyze`` (or its ``analysis.json``).
        out_dir: where to write ``report.html`` and ``figures/`` (default: the analysis directory).
        options: what to draw (default :class:`ReportOptions`).
        progress: called as ``progress(figure_title, done, total)`` after each figure.

    Raises:
        InputError: the analysis is missing or malformed.
        OutputDirectoryError: ``out_dir`` holds a ``report.html`` or ``figures/`` vlmtransfer did not write.
        OSError: the filesystem refused; nothing was changed.
    """
    options = options or ReportOptions()
    data = load_report_data(analysis)
    out_dir = Path(out_dir) if out_dir is not None else data.path.parent
    check_report_target(out_dir, html=options.html, figures=options.figures)  # before minutes of drawing
    html, figures = render_report(data, options, progress)
    page, figure_files = publish_report(out_dir, html, figures)
    return ReportFiles(out_dir, page, tuple(figure_files))


def render_report(
    data: ReportData, options: ReportOptions, progress: Progress | None = None
) -> tuple[bytes | None, dict[str, bytes] | None]:
    """The page's bytes and the figure files (relative path -> bytes, with ``figures.json``), in memory."""
    specs = figure_specs(data, options)
    rendered: list[RenderedFigure] = []
    for done, spec in enumerate(specs, start=1):
        figure = render_figure(spec, options, PREVIEW_DPI if options.html and options.embed_figures else None)
        if figure is not None:
            rendered.append(figure)
        if progress is not None:
            progress(spec.title, done, len(specs))
    html = render_page(build_payload(data, options, rendered)).encode("utf-8") if options.html else None
    return html, _figure_files(rendered, options) if options.figures else None


def _figure_files(rendered: list[RenderedFigure], options: ReportOptions) -> dict[str, bytes]:
    files = {f"{f.name}.{fmt}": data for f in rendered for fmt, data in f.files.items()}
    index = {
        "generator": {"name": "vlmtransfer", "version": __version__},
        "formats": list(options.formats),
        "dpi": options.dpi,
        "order": options.order,
        "figures": [
            {
                "name": f.name,
                "title": f.title,
                "caption": f.caption,
                "model": f.model,
                "files": [f"{f.name}.{fmt}" for fmt in f.files],
            }
            for f in rendered
        ],
    }
    files[FIGURES_INDEX] = (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return files
