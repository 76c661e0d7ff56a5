"""End to end on the paper's released data: every figure in PNG and PDF, non-blank; one HTML file."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from tests.report.helpers import assert_pdf, assert_png_not_blank
from vlmtransfer.cli.main import app

pytestmark = pytest.mark.slow


def test_reference_report_end_to_end(paper_analysis, tmp_path):
    analysis = shutil.copytree(paper_analysis, tmp_path / "analysis")
    result = CliRunner().invoke(app, ["report", str(analysis), "--quiet"])
    assert result.exit_code == 0, result.output
    index = json.loads((analysis / "figures" / "figures.json").read_text())
    names = [f["name"] for f in index["figures"]]
    per_model = ["pgf_heatmap", "pgf_std", "transfer_graph", "cliques", "categories"]
    assert names == [
        "pgf_panel",
        *(f"{kind}_{model}" for model in ("3B", "7B", "32B") for kind in per_model),
        "scale_trend",
        "personas",
    ]  # no baseline figure: the released files hold PGF, not accuracies
    for name in names:
        assert_png_not_blank((analysis / "figures" / f"{name}.png").read_bytes())
        assert_pdf((analysis / "figures" / f"{name}.pdf").read_bytes())
    html = (analysis / "report.html").read_text()
    assert len(html) < 2_000_000, "the page should stay small enough to email"
    embedded = re.findall(r'"name":"([a-z_0-9A-Z]+)","title":"[^"]*","caption":"[^"]*","png":"', html)
    assert set(embedded) == {n for n in names if not n.startswith(("pgf_heatmap_", "transfer_graph_"))}
