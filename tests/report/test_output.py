"""Writing a report: all or nothing, and only into what the report owns."""

from __future__ import annotations

import pytest

from vlmtransfer.fsutil import OutputDirectoryError
from vlmtransfer.report import output
from vlmtransfer.report.output import publish_report
from vlmtransfer.report.page import GENERATOR_TAG

PAGE = f"<html><head>{GENERATOR_TAG}</head></html>".encode()
FIGURES = {"figures.json": b"{}", "a.png": b"png"}


def test_a_failure_while_publishing_changes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    publish_report(out, PAGE, FIGURES)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output, "publish_directory", fail)
    with pytest.raises(OSError, match="No space left"):
        publish_report(out, PAGE + b"new", {"figures.json": b"{}", "b.png": b"png"})
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.rglob(".*"))  # no staged page left behind
    fresh = tmp_path / "fresh"
    with pytest.raises(OSError, match="No space left"):
        publish_report(fresh, PAGE, FIGURES)
    assert not fresh.exists()  # a directory made for the report goes with it


def test_only_the_page_and_the_figures_are_touched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    page, figures = publish_report(tmp_path, PAGE, FIGURES)
    assert page == tmp_path / "report.html"
    assert sorted(p.name for p in figures) == ["a.png", "figures.json"]
    publish_report(tmp_path, PAGE, {"figures.json": b"{}"})  # a rerun replaces figures/ whole
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["figures.json"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "report.html").stat().st_mode & 0o044  # readable by others, unlike mkstemp's 0600


def test_outputs_in_the_way_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirectoryError, match="is not a directory"):
        publish_report(tmp_path / "file", PAGE, None)
    with pytest.raises(OutputDirectoryError, match="is not a directory"):
        publish_report(tmp_path / "file" / "sub", PAGE, None)
    (tmp_path / "report.html").write_text("<html>someone's</html>")
    with pytest.raises(OutputDirectoryError, match="not written by vlmtransfer"):
        publish_report(tmp_path, PAGE, None)
    publish_report(tmp_path, None, FIGURES)  # figures alone do not need the page
    assert (tmp_path / "report.html").read_text() == "<html>someone's</html>"
