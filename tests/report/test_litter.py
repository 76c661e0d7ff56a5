"""What killed writers leave behind (staging directories, temporaries) is removed by the next writer,
unless a live writer still holds it."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import accuracy_rows
from tests.report.conftest import BLINK_TASKS, write_rows
from vlmtransfer.cli.main import app
from vlmtransfer.fsutil import atomic_write_bytes

FAST = ("--format", "png", "--dpi", "40", "--max-cliques", "1", "--no-embed", "--quiet")


def _abandoned(path: Path, *, directory: bool = True) -> Path:
    """What a killed process left: a staging directory (with 4 MB in it) or a temporary file, an hour old."""
    if directory:
        path.mkdir()
        (path / "pgf.csv").write_bytes(b"x" * 4_000_000)
    else:
        path.write_bytes(b"<html>half a page")
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    return path


def test_a_killed_analyze_leaves_nothing_after_the_next_one(tmp_path):
    table = write_rows(tmp_path / "acc.csv", accuracy_rows(tasks=BLINK_TASKS[:3]))
    out = tmp_path / "aout"
    staging = _abandoned(tmp_path / ".aout.0123456789ab.staging")
    retired = _abandoned(tmp_path / ".aout.ba9876543210.old")
    live = _abandoned(tmp_path / ".aout.00000000beef.staging")
    other = _abandoned(tmp_path / ".bout.0123456789ab.staging")  # another output's: not ours to judge
    holder = os.open(live, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a writer still at work
    try:
        result = CliRunner().invoke(app, ["analyze", str(table), "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
    finally:
        os.close(holder)
    assert (out / "analysis.json").is_file()
    assert not staging.exists()
    assert not retired.exists()
    assert live.exists()
    assert other.exists()


def test_a_killed_report_leaves_nothing_after_the_next_one(tmp_path):
    table = write_rows(tmp_path / "acc.csv", accuracy_rows(tasks=BLINK_TASKS[:3]))
    analysis = tmp_path / "analysis"
    assert CliRunner().invoke(app, ["analyze", str(table), "--out", str(analysis), "--quiet"]).exit_code == 0
    out = tmp_path / "report"
    out.mkdir()
    page = _abandoned(out / ".report.html.k3_x9a2b.tmp", directory=False)
    figures = _abandoned(out / ".figures.0123456789ab.old")
    staging = _abandoned(out / ".figures.ffffffffffff.staging")
    result = CliRunner().invoke(app, ["report", str(analysis), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.html"]
    assert not page.exists()
    assert not figures.exists()
    assert not staging.exists()


def test_an_atomic_write_removes_abandoned_temporaries_of_its_file_only(tmp_path):
    mine = _abandoned(tmp_path / ".accuracy.csv.abcd1234.tmp", directory=False)
    fresh = tmp_path / ".accuracy.csv.zzzz9999.tmp"  # a writer that has just begun
    fresh.write_bytes(b"")
    theirs = _abandoned(tmp_path / ".notes.txt.abcd1234.tmp", directory=False)
    atomic_write_bytes(tmp_path / "accuracy.csv", b"a,b\n")
    assert (tmp_path / "accuracy.csv").read_bytes() == b"a,b\n"
    assert not mine.exists()
    assert fresh.exists()
    assert theirs.exists()
