"""`vlmtransfer report` through the CLI: outputs, ownership of the output directory, bad input, studies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO, accuracy_rows
from tests.report.conftest import BLINK_TASKS, analyse_into, write_rows
from tests.report.helpers import assert_png_not_blank
from vlmtransfer.cli.main import app

FAST = ("--format", "png", "--dpi", "40", "--max-cliques", "1", "--no-embed")


def run(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_analysis(tmp_path_factory) -> Path:
    """One model, three BLINK tasks, two seeds: every kind of figure, drawn quickly."""
    root = tmp_path_factory.mktemp("tiny")
    table = write_rows(root / "acc.csv", accuracy_rows(model="tiny", tasks=BLINK_TASKS[:3]))
    return analyse_into(root / "analysis", [table])


@pytest.fixture
def analysis_copy(tiny_analysis, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_analysis, tmp_path / "analysis"))


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_report_is_written_next_to_the_analysis_and_reruns_identically(analysis_copy):
    before = _tree(analysis_copy)
    result = run("report", analysis_copy, *FAST)
    assert result.exit_code == 0, result.output
    assert "report.html" in result.stdout
    after = _tree(analysis_copy)
    assert {k: v for k, v in after.items() if k in before} == before  # the analysis is untouched
    index = json.loads(after["figures/figures.json"])
    names = [f["name"] for f in index["figures"]]
    per_model = ["pgf_heatmap", "pgf_std", "transfer_graph", "categories"]
    expected = ["pgf_panel", *(f"{kind}_tiny" for kind in per_model), "personas", "baseline_accuracy"]
    assert names == expected  # no cliques among three tasks here; no scale trend with one model
    assert set(after) - set(before) == {"report.html", "figures/figures.json"} | {
        f"figures/{n}.png" for n in names
    }
    for name in names:
        assert_png_not_blank(after[f"figures/{name}.png"], min_ink=0.01)
    assert run("report", analysis_copy, *FAST).exit_code == 0
    assert _tree(analysis_copy) == after  # byte-identical, nothing stale, no temporary files left
    assert not list(analysis_copy.parent.rglob(".*"))


def test_out_elsewhere_and_only_what_is_asked(analysis_copy, tmp_path):
    result = run(
        "report",
        analysis_copy / "analysis.json",
        "--out",
        tmp_path / "a" / "b",
        "--no-figures",
        "--no-embed",
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["report.html"]
    assert run("report", analysis_copy, "--out", tmp_path / "c", "--no-html", *FAST).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["figures"]


@pytest.mark.parametrize(
    ("prepare", "fragment"),
    [
        (lambda out: (out / "report.html").write_text("<html>mine</html>"), "was not written by vlmtransfer"),
        (
            lambda out: (out / "figures").mkdir() or (out / "figures" / "plot.png").write_bytes(b"x"),
            "figures",
        ),
        (lambda out: (out / "report.html").mkdir(), "was not written by vlmtransfer"),
    ],
)
def test_files_vlmtransfer_did_not_write_are_never_replaced(analysis_copy, tmp_path, prepare, fragment):
    out = tmp_path / "theirs"
    out.mkdir()
    prepare(out)
    before = _tree(out)
    result = run("report", analysis_copy, "--out", out, *FAST)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --out: ")
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _tree(out) == before


def _with_analysis(directory: Path, text: str) -> Path:
    (directory / "analysis.json").write_text(text)
    return directory


@pytest.mark.parametrize(
    ("make_dir", "fragment"),
    [
        (lambda tmp: tmp / "missing", "missing: no such file or directory"),
        (lambda tmp: tmp, "holds neither analysis.json"),
        (lambda tmp: _with_analysis(tmp, "{"), "not valid JSON"),
        (lambda tmp: _with_analysis(tmp, '{"schema_version": 9}'), "schema_version: is 9"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, make_dir, fragment):
    directory = make_dir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    result = run("report", directory)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--order", "random"], "error: --order: must be one of category, cluster, input; got 'random'"),
        (["--format", "gif"], "error: --format: must be one of png, pdf, svg; got 'gif'"),
        (["--dpi", "3"], "error: --dpi: must be in [30, 1200], got 3"),
        (["--no-html", "--no-figures"], "error: --no-html: nothing to write"),
        (["--out", " "], "error: --out: the output directory is empty"),
    ],
)
def test_bad_options(analysis_copy, options, message):
    before = _tree(analysis_copy)
    result = run("report", analysis_copy, *options)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert _tree(analysis_copy) == before


def test_help_shows_examples():
    result = run("report", "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout
    assert "vlmtransfer report out/" in result.stdout


def _study(directory: Path, shift: float = 0.0) -> Path:
    from vlmtransfer.store import RunRecord, StudyStore
    from vlmtransfer.study.runner import export_results

    rows = accuracy_rows(model="tiny", tasks=BLINK_TASKS[:3])[1:]
    with StudyStore(directory) as store:
        runs: dict[tuple[str, str], dict[str, tuple[float, int]]] = {}
        for _, seed, source, target, accuracy in rows:
            runs.setdefault((source, seed), {})[target] = (accuracy + (shift if source != "base" else 0), 100)
        for (source, seed), accuracies in runs.items():
            store.add_run(
                RunRecord(
                    "tiny", source, int(seed) if seed else None, "h", [], accuracies, {"vlmtransfer": "t"}
                )
            )
        export_results(store, directory)
    return directory


def test_a_study_directory_is_analysed_once_then_reported(tmp_path):
    study = _study(tmp_path / "study")
    result = run("report", study, "--no-figures", "--no-embed", "-q")
    assert result.exit_code == 0, result.output
    assert "has no analysis yet; analysing it" in result.stderr
    assert (study / "analysis" / "analysis.json").is_file()
    assert (study / "analysis" / "report.html").is_file()
    again = run("report", study, "--no-figures", "--no-embed", "-q")
    assert again.exit_code == 0
    assert again.stderr == ""  # analysed already and up to date
    _study(study, shift=1.0)  # new results for the same runs: the analysis is now stale
    stale = run("report", study, "--no-figures", "--no-embed", "-q")
    assert stale.exit_code == 0
    assert "warning:" in stale.stderr
    assert f"run `vlmtransfer analyze {study}`" in stale.stderr


def test_report_never_imports_torch(tiny_analysis, tmp_path):
    code = (
        "import sys\n"
        "from vlmtransfer.cli.main import main\n"
        "import vlmtransfer.report, vlmtransfer.cli.report\n"
        "from vlmtransfer.report import ReportOptions, write_report\n"
        "options = ReportOptions(figures=False, embed_figures=False)\n"
        f"write_report({str(tiny_analysis)!r}, {str(tmp_path / 'out')!r}, options)\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "out" / "report.html").is_file()
