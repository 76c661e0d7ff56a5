"""The HTML report in a real browser: headless Chromium, the page opened from disk.

Uses the system's Chromium (Debian package ``chromium``; ``.ci/run`` installs it) driven by Playwright,
which downloads nothing here. Skipped, saying why, only where no such browser exists. Screenshots are
kept as test artifacts in ``test-artifacts/`` (or ``$VLMTRANSFER_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.report.conftest import XSS_MODEL, XSS_TASKS
from vlmtransfer.report import ReportOptions, write_report

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _chromium() -> str | None:
    return os.environ.get("VLMTRANSFER_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright (the 'test' extra) is not installed"
    )
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found (looked for "
            + ", ".join(BROWSERS)
            + "); install the Debian package `chromium`"
            " (as .ci/run does) or set VLMTRANSFER_CHROMIUM"
        )
    with sync_api.sync_playwright() as playwright:
        # Chromium refuses to run as root inside its sandbox (containers, CI); the page is our own file.
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=executable, args=args)
        yield launched
        launched.close()


class Page:
    """A page opened from disk that records console errors, page errors and dialogs."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on(
            "console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=10_000)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def highlighted(self, panel: str) -> set[tuple[str, str]]:
        script = "els => els.map(e => [e.dataset.source, e.dataset.target])"
        return {tuple(e) for e in self.page.eval_on_selector_all(f"{panel} path.edge.highlighted", script)}

    def visible_edges(self, panel: str) -> list[str]:
        script = "els => els.filter(e => e.style.display !== 'none').map(e => e.getAttribute('stroke'))"
        return self.page.eval_on_selector_all(f"{panel} path.edge", script)

    def screenshot(self, tmp_path: Path, name: str) -> Path:
        path = tmp_path / name
        self.page.screenshot(path=str(path), full_page=True)
        artifacts = Path(os.environ.get("VLMTRANSFER_TEST_ARTIFACTS", REPO / "test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / ".gitignore").write_text("*\n")  # artifacts are never committed
        shutil.copy2(path, artifacts / name)
        return path


@pytest.fixture(scope="module")
def paper_page_file(paper_analysis, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("paper-report")
    return write_report(paper_analysis, out, ReportOptions(figures=False)).html


def test_reference_report_works_in_chromium(browser, paper_page_file, paper_analysis, tmp_path):
    counts = json.loads((paper_analysis / "analysis.json").read_text())["models"]["3B"]["significant_cells"]
    significant = counts["significant_off_diagonal"]
    view = Page(browser, paper_page_file)
    page = view.page
    assert page.title() == "Task transfer: 3B, 7B, 32B"
    assert page.locator("#panel-0 table").first.locator("tbody tr").count() == 3  # the scale trend
    page.click("#tab-1")  # 3B
    panel = "#panel-1"
    assert page.locator(f"{panel} rect.cell").count() == 13 * 13
    drawn = page.evaluate(
        """() => {
          const svg = document.querySelector('#panel-1 svg.heatmap-svg');
          const box = svg.getBoundingClientRect(), view = svg.viewBox.baseVal;
          const scale = Math.min(box.width / view.width, box.height / view.height);
          return [view.width * scale / document.querySelector('#panel-1').getBoundingClientRect().width,
                  view.height * scale / window.innerHeight];
        }"""
    )
    # The matrix fills the page's width, or (a square matrix on a wide screen) the screen's height.
    assert drawn[0] > 0.95 or drawn[1] > 0.9, drawn

    page.hover(f"{panel} rect.cell[data-i='4'][data-j='12']")  # Jigsaw -> Visual_Similarity
    tooltip = page.text_content("#tooltip")
    assert "Jigsaw → Visual_Similarity" in tooltip
    assert "PGF mean +0.424" in tooltip
    assert all(seed in tooltip for seed in ("initial:", "seed_0:", "seed_1:", "seed_2:"))
    assert "95 % CI [" in tooltip
    assert "q " in tooltip
    assert "across seeds only" in tooltip
    assert page.locator(f"{panel} rect.hatch").count() == counts["off_diagonal"] - significant

    assert view.highlighted(panel) == set()
    page.click(f"{panel} g.node[data-task='Relative_Depth']")
    selected = view.highlighted(panel)
    assert selected, "a click on a node highlights its edges"
    assert all("Relative_Depth" in edge for edge in selected)
    assert any(edge[0] == "Relative_Depth" for edge in selected)  # outgoing
    assert any(edge[1] == "Relative_Depth" for edge in selected)  # and incoming
    assert "Relative_Depth: " in page.text_content(f"{panel} .graph-info")
    page.click(f"{panel} g.node[data-task='Spatial_Relation']")
    assert view.highlighted(panel) != selected
    assert all("Spatial_Relation" in edge for edge in view.highlighted(panel))

    node = page.locator(f"{panel} g.node[data-task='Counting']")
    before = node.get_attribute("transform")
    box = node.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 60, steps=5)
    page.mouse.up()
    assert node.get_attribute("transform") != before  # dragged
    assert all("Spatial_Relation" in edge for edge in view.highlighted(panel))  # a drag is not a click

    shown = len(view.visible_edges(panel))
    assert shown == 32  # the analysis' top 20 % per sign
    page.uncheck(f"{panel} .top-only")
    assert len(view.visible_edges(panel)) == 13 * 12 - 0  # every off-diagonal cell (none is exactly 0)
    page.check(f"{panel} .significant-only")
    assert len(view.visible_edges(panel)) == significant
    page.uncheck(f"{panel} .significant-only")
    page.locator(f"{panel} .threshold").evaluate(
        "e => { e.value = 0.2; e.dispatchEvent(new Event('input')); }"
    )
    strong = view.visible_edges(panel)
    assert 0 < len(strong) < shown
    page.select_option(f"{panel} .sign-filter", "negative")
    assert set(view.visible_edges(panel)) == {"#d73027"}

    with page.expect_download() as download:
        page.click(f"{panel} .table-block[data-table='transferability_3B.csv'] button.download")
    assert download.value.suggested_filename == "transferability_3B.csv"
    assert Path(download.value.path()).read_text().startswith("task,abbreviation,positive,positive_std")

    page.select_option(f"{panel} select[aria-label='task order']", "cluster")
    assert page.locator(f"{panel} rect.cell").count() == 13 * 13
    view.screenshot(tmp_path, "report-3B.png")
    page.click("text=Figures")
    page.wait_for_function("[...document.images].every(image => image.complete)")
    images = page.eval_on_selector_all("figure img", "els => els.map(e => e.complete && e.naturalWidth)")
    assert images, "the static figures are embedded"
    assert all(images), "every embedded figure decodes"
    assert view.errors == []


@pytest.fixture(scope="module")
def hostile_page_file(hostile_analysis, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile-report")
    return write_report(hostile_analysis, out, ReportOptions(formats=("png",), dpi=40)).html


def test_markup_in_names_is_shown_as_text_and_runs_nothing(browser, hostile_page_file, tmp_path):
    view = Page(browser, hostile_page_file)
    page = view.page
    for tab in range(page.locator("#tabs button").count()):
        page.click(f"#tab-{tab}")
    page.click("#tab-1")
    page.hover("#panel-1 rect.cell[data-i='0'][data-j='1']")
    page.click("#panel-1 g.node >> nth=0")
    assert page.evaluate("window.__xss") is None, "an injected script or handler ran"
    assert view.dialogs == []
    assert view.errors == []  # also: no Content-Security-Policy violation was even attempted
    assert page.locator("img[src=x], b[onmouseover]").count() == 0  # no element was injected
    assert page.locator("#tab-1").text_content() == XSS_MODEL
    cells = page.eval_on_selector_all("#panel-1 td", "els => els.map(e => e.textContent)")
    for task in XSS_TASKS:
        assert task in cells, f"{task!r} is not shown as text"
    assert page.title() == f"Task transfer: {XSS_MODEL}"
    view.screenshot(tmp_path, "report-hostile-names.png")
