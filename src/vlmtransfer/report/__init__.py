"""Reports of a transfer analysis: the paper's figures and one interactive, self-contained HTML page.

Reads what ``vlmtransfer analyze`` wrote (``analysis.json``), never recomputes it, and never imports
torch. Typical use::

    from vlmtransfer.report import ReportOptions, write_report
    files = write_report("out/", options=ReportOptions(order="cluster"))
    files.html   # out/report.html: open it anywhere, attach it to an email
"""

from vlmtransfer.report.data import ModelView, ReportData, TaskInfo, load_report_data, parse_report_data
from vlmtransfer.report.figures import FigureSpec, RenderedFigure, figure_specs, render_figures
from vlmtransfer.report.options import FIGURE_FORMATS, GRAPH_LAYOUTS, ORDERS, OptionError, ReportOptions
from vlmtransfer.report.order import task_order
from vlmtransfer.report.output import FIGURES_DIR, REPORT_FILE
from vlmtransfer.report.page import build_payload, render_page
from vlmtransfer.report.report import ReportFiles, render_report, write_report

__all__ = [
    "FIGURES_DIR",
    "FIGURE_FORMATS",
    "GRAPH_LAYOUTS",
    "ORDERS",
    "REPORT_FILE",
    "FigureSpec",
    "ModelView",
    "OptionError",
    "RenderedFigure",
    "ReportData",
    "ReportFiles",
    "ReportOptions",
    "TaskInfo",
    "build_payload",
    "figure_specs",
    "load_report_data",
    "parse_report_data",
    "render_figures",
    "render_page",
    "render_report",
    "task_order",
    "write_report",
]
