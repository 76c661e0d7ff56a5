"""Writing a report into its output directory: owned files only, all or nothing.

A report owns exactly two things in its output directory, which may also hold an analysis or other
files: ``report.html`` and the ``figures/`` directory. It replaces them only if it wrote them (the
page carries a generator tag; ``figures/`` holds ``figures.json``), so a mistyped output directory never
clobbers someone's work. The page is staged next to its final name before the figures are published
and moved into place last; if anything fails, neither is changed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from vlmtransfer.fsutil import OutputDirectoryError, check_replaceable, publish_directory, staging_file
from vlmtransfer.report.page import GENERATOR_TAG

__all__ = ["FIGURES_DIR", "FIGURES_INDEX", "REPORT_FILE", "check_report_target", "publish_report"]

REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
FIGURES_INDEX = "figures.json"


def check_report_target(out_dir: str | Path, *, html: bool = True, figures: bool = True) -> None:
    """Refuse, before any work, an output the report may not (re)write.

    Raises:
        OutputDirectoryError: ``out_dir`` (or a parent) is a file, ``report.html`` was not written by
            vlmtransfer, or ``figures/`` holds files without ``figures.json``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputDirectoryError(f"{out_dir} exists and is not a directory")
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputDirectoryError(f"{parent} is not a directory")
            break
    page = out_dir / REPORT_FILE
    if html and (page.is_dir() or (page.exists() and not _is_our_page(page))):
        raise OutputDirectoryError(
            f"{page} exists and was not written by vlmtransfer report; choose another output directory"
        )
    if figures:
        check_replaceable(out_dir / FIGURES_DIR, FIGURES_INDEX)


def publish_report(
    out_dir: str | Path, html: bytes | None, figures: Mapping[str, bytes] | None
) -> tuple[Path | None, list[Path]]:
    """Write ``report.html`` (unless None) and ``figures/`` (exactly ``figures``, unless None).

    ``figures`` maps relative paths to bytes and must include ``figures.json``. Returns the page's
    path (or None) and the figure files' paths. A failure before the last step (an atomic rename of
    the staged page) changes nothing, and a directory created for the purpose is removed.
    """
    out_dir = Path(out_dir)
    check_report_target(out_dir, html=html is not None, figures=figures is not None)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            staged = (
                stack.enter_context(staging_file(out_dir / REPORT_FILE, html)) if html is not None else None
            )
            if figures is not None:
                publish_directory(figures, out_dir / FIGURES_DIR, marker=FIGURES_INDEX)
            if staged is not None:
                os.replace(staged, out_dir / REPORT_FILE)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    page = out_dir / REPORT_FILE if html is not None else None
    return page, [out_dir / FIGURES_DIR / name for name in sorted(figures or {})]


def _is_our_page(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError:
        return False
    return GENERATOR_TAG.encode() in head
