"""The self-contained HTML report: one file with its CSS, JavaScript and data inlined; no network.

The page is a fixed template (``assets/report.html``) with the style, the script and the data put in
verbatim. The data is JSON inside ``<script type="application/json">``, which the browser never runs;
``<``, ``>`` and ``&`` inside it are written as ``\\u003c`` etc., so no task or model name can close
the script element, and the page's script inserts every string with ``textContent``. As a second
line of defence the page carries a Content-Security-Policy that allows exactly its own inline script
and style (by SHA-256) and ``data:`` images: an injected ``<script>`` or ``onerror=`` would not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from html import escape
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex

from vlmtransfer import __version__
from vlmtransfer.analysis.table import csv_text
from vlmtransfer.report.data import ModelView, ReportData
from vlmtransfer.report.figures import RenderedFigure, model_slugs
from vlmtransfer.report.figures.heatmaps import off_diagonal_limit
from vlmtransfer.report.figures.style import DIVERGING, LEVEL_COLOURS, NEGATIVE, POSITIVE, SEQUENTIAL
from vlmtransfer.report.layout import graph_layout
from vlmtransfer.report.options import ORDERS, ReportOptions
from vlmtransfer.report.order import task_order
from vlmtransfer.report.tables import Table, global_tables, model_tables, pgf_long_table

__all__ = ["GENERATOR_TAG", "build_payload", "render_page", "report_title", "script_json"]

GENERATOR_TAG = '<meta name="generator" content="vlmtransfer report">'
MAX_GRAPH_EDGES = 3000  # candidate edges per model for the threshold slider (strongest first)
SIGNIFICANT_DIGITS = 6  # of matrix values in the page: far below what a tooltip shows, half the bytes


def render_page(payload: dict[str, Any]) -> str:
    """The HTML document for ``payload`` (see :func:`build_payload`)."""
    assets = resources.files("vlmtransfer.report").joinpath("assets")
    css = assets.joinpath("report.css").read_text("utf-8")
    script = assets.joinpath("report.js").read_text("utf-8")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src '{_sha256(script)}'",
            f"style-src '{_sha256(css)}'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    values = {"csp": csp, "title": escape(payload["title"]), "css": css, "script": script}
    values["data"] = script_json(payload)
    template = assets.joinpath("report.html").read_text("utf-8")
    # One pass: text put in is never scanned for placeholders again.
    return re.sub(r"\{\{(\w+)\}\}", lambda match: values[match.group(1)], template)


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe inside a ``<script>`` element (and parses to the same value)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def report_title(data: ReportData, options: ReportOptions) -> str:
    return options.title or f"Task transfer: {', '.join(data.model_order)}"


def build_payload(
    data: ReportData, options: ReportOptions, figures: Sequence[RenderedFigure]
) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-ready values (lists, not name-keyed objects, wherever a
    user-given name would otherwise become a key)."""
    orders = {how: task_order(data, how) for how in ORDERS}
    seeds = sorted({len(m.seeds) for m in data.models.values()})
    return {
        "title": report_title(data, options),
        "subtitle": (
            f"{len(data.models)} model{'s' * (len(data.models) != 1)}, {len(data.all_tasks())} tasks, "
            f"{'/'.join(map(str, seeds))} seeds; analysis by vlmtransfer {data.generator_version or '?'}"
        ),
        "generator": f"vlmtransfer {__version__}",
        "options": {
            "edge_fraction": float(data.options.get("edge_fraction", 0.2)),
            "include_self": bool(data.options.get("include_self", False)),
            "alpha": float(data.options.get("alpha", 0.05)),
        },
        "modelOrder": list(data.model_order),
        "tasks": [
            {
                "name": t,
                "abbreviation": data.abbreviation(t),
                "level": data.task(t).level,
                "granularity": data.task(t).granularity,
            }
            for t in orders["category"]
        ],
        "orders": orders,
        "defaultOrder": options.order,
        "annotateLimit": options.annotate_limit,
        "maxGraphEdges": MAX_GRAPH_EDGES,
        "limit": off_diagonal_limit(list(data.models.values())),
        "colormaps": {"diverging": _stops(DIVERGING), "sequential": _stops(SEQUENTIAL)},
        "colours": {"positive": POSITIVE, "negative": NEGATIVE},
        "levelColours": [[level, colour] for level, colour in LEVEL_COLOURS.items()],
        "models": [
            _model(data.models[label], data, options, orders[options.order], slug)
            for label, slug in model_slugs(data.model_order).items()
        ],
        "tables": [_table(t) for t in global_tables(data)],
        "figureFormats": list(options.formats) if options.figures else [],
        "figures": [
            {
                "name": f.name,
                "title": f.title,
                "caption": f.caption,
                "png": base64.b64encode(f.preview).decode(),
            }
            for f in figures
            if f.preview is not None
        ],
    }


def _model(model: ModelView, data: ReportData, options: ReportOptions, order: list[str], slug: str) -> dict:
    tasks = [t for t in order if t in model.tasks]
    positions = graph_layout(tasks, model.edges, options.graph_layout)
    return {
        "label": model.label,
        "seeds": list(model.seeds),
        "sources": list(model.sources),
        "targets": list(model.targets),
        "mean": _matrix(model.pgf_mean),
        "std": _matrix(model.pgf_std),
        "perSeed": [_matrix(model.pgf_per_seed[seed]) for seed in model.seeds],
        "uncertainty": model.uncertainty,
        "ciLow": _matrix(model.pgf_ci_low),
        "ciHigh": _matrix(model.pgf_ci_high),
        "p": _matrix(model.pgf_p),
        "q": _matrix(model.pgf_q),
        "sig": model.pgf_significant.to_numpy(dtype=bool).tolist(),
        "resolution": [_round(v) for v in model.resolution.to_numpy(dtype=float)],
        "edges": [[r.source, r.target, _round(r.pgf)] for r in model.edges.itertuples(index=False)],
        "positions": [[task, x, y] for task, (x, y) in positions.items()],
        "tables": [_table(t) for t in model_tables(model, data, slug)],
        "pgfCsv": {"filename": f"pgf_{slug}.csv", "csv": csv_text(pgf_long_table(model))},
    }


def _table(table: Table) -> dict[str, Any]:
    return {
        "title": table.title,
        "filename": table.filename,
        "note": table.note,
        "empty": table.empty,
        "columns": [
            {"key": c.key, "label": c.label, "format": c.format, "help": c.help} for c in table.columns
        ],
        "rows": table.rows(),
        "csv": table.csv(),
        "figure": table.figure,
    }


def _matrix(frame: pd.DataFrame) -> list[list[float | None]]:
    return [[_round(v) for v in row] for row in frame.to_numpy(dtype=float)]


def _round(value: float) -> float | None:
    value = float(value)
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if np.isfinite(value) else None


def _stops(name: str, count: int = 11) -> list[str]:
    cmap = colormaps[name]
    return [to_hex(cmap(x)) for x in np.linspace(0.0, 1.0, count)]


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
