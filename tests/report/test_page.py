"""The HTML page: self-contained, its data escaped, its CSP matching its own script and style."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from tests.report.conftest import XSS_MODEL, XSS_TASKS
from vlmtransfer.report import ReportOptions, build_payload, load_report_data, render_page
from vlmtransfer.report.page import script_json


def _page(analysis, options=None):
    data = load_report_data(analysis)
    payload = build_payload(data, options or ReportOptions(), figures=[])
    return payload, render_page(payload)


def _embedded(html: str):
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match, "no data element"
    return json.loads(match.group(1))


def test_page_is_self_contained(paper_analysis):
    _, html = _page(paper_analysis)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"<(link|iframe|object|embed)\b", html)
    assert re.findall(r"<script\b[^>]*>", html) == [
        '<script type="application/json" id="report-data">',
        "<script>",
    ]  # no <script src=...>: everything inline
    assert "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(https?:|//|file:)", html)  # url(#arrow) refers inside the page


def test_embedded_data_round_trips(paper_analysis):
    payload, html = _page(paper_analysis)
    assert _embedded(html) == payload
    model = payload["models"][0]
    assert model["label"] == "3B"
    assert len(model["mean"]) == len(model["sources"]) == 13
    assert len(model["perSeed"]) == len(model["seeds"]) == 4
    assert payload["orders"]["category"][:3] == [
        "Relative_Depth",
        "Relative_Reflectance",
        "Visual_Correspondence",
    ]


def test_user_strings_never_appear_unescaped(hostile_analysis):
    _, html = _page(hostile_analysis)
    for name in (*XSS_TASKS, XSS_MODEL):
        if "<" in name:
            assert name not in html
    assert "</script><script>" not in html.replace("</script>\n<script>", "")
    assert html.count("</script>") == 2  # only the two script elements of the template close
    assert _embedded(html)["modelOrder"] == [XSS_MODEL]
    assert {t["name"] for t in _embedded(html)["tasks"]} == set(XSS_TASKS)
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert "&lt;b onmouseover=" in title


def test_csp_allows_exactly_the_inline_script_and_style(paper_analysis):
    _, html = _page(paper_analysis)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
    style = re.search(r"<style>(.*)</style>", html, re.S).group(1)

    def digest(text):
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src '{digest(script)}'" in csp
    assert f"style-src '{digest(style)}'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp


@given(
    st.recursive(
        st.text() | st.integers() | st.none(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_script_json_parses_back_and_cannot_close_the_element(value):
    text = script_json(value)
    assert json.loads(text) == value
    for char in "<>&\u2028\u2029":
        assert char not in text


def test_tables_offer_the_analysis_numbers_as_csv(paper_analysis):
    payload, _ = _page(paper_analysis)
    tables = {t["title"]: t for t in payload["models"][0]["tables"]}
    assert set(tables) == {"Transferability", "Malleability", "Cliques", "Transfer graph edges", "Categories"}
    frame = pd.read_csv(io.StringIO(tables["Transferability"]["csv"])).set_index("task")
    expected = pd.read_csv(paper_analysis / "transferability.csv")
    expected = expected[expected["model"] == "3B"].set_index("task")
    pd.testing.assert_series_equal(frame["positive"], expected["positive"], check_names=False)
    overview = {t["title"] for t in payload["tables"]}
    assert overview == {"Scale trend", "Personas"}
    personas = next(t for t in payload["tables"] if t["title"] == "Personas")
    assert {"persona", "task", "model", "p_value"} <= {c["key"] for c in personas["columns"]}
    pgf = pd.read_csv(io.StringIO(payload["models"][0]["pgfCsv"]["csv"]))
    assert list(pgf.columns[:4]) == ["source", "target", "pgf_mean", "pgf_std"]
    assert len(pgf) == 13 * 13


def test_title_option(paper_analysis):
    payload, html = _page(paper_analysis, ReportOptions(title="Run <3> & co"))
    assert payload["title"] == "Run <3> & co"
    assert "<title>Run &lt;3&gt; &amp; co</title>" in html
