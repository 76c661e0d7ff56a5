"""CLI conventions lm-evaluation-harness users expect: plain flags in help, ``--limit`` as a count or a
fraction, ``--batch-size auto``, ``--output-path``; a dry run of the paper's study without BLINK; an
unreachable hub failing fast in one line."""

from __future__ import annotations

import shutil

import pytest
import typer
from huggingface_hub import constants
from typer.testing import CliRunner

from tests.conftest import REPO
from vlmtransfer import hub
from vlmtransfer.cli.lists import batch_size_value, question_limit
from vlmtransfer.cli.main import app
from vlmtransfer.errors import SystemRefusalError

COMMANDS = [
    ["analyze"], ["report"], ["power"], ["tasks"], ["finetune"], ["evaluate"], ["run"], ["status"],
    ["select"], ["demo"], ["data", "blink"], ["data", "synth"], ["data", "build"], ["data", "sources"],
    ["data", "validate"], ["model", "tiny"],
]  # fmt: skip


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_flags_show_as_plain_flags_in_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert "--help" in result.stdout


def test_a_flag_given_a_value_is_refused_as_an_extra_argument():
    result = run("run", "configs/demo.yaml", "--dry-run", "true")
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("text", "value"), [("50", 50), ("1", 1), ("0.1", 0.1), ("0.999", 0.999), ("2.0", 2), (None, None)]
)
def test_limit_is_a_count_or_a_fraction(text, value):
    assert question_limit(text) == value
    assert type(question_limit(text)) is type(value)


@pytest.mark.parametrize("text", ["0", "1.5", "-3", "ten", "nan", "inf"])
def test_other_limits_are_refused_while_parsing(text):
    with pytest.raises(typer.BadParameter, match="neither a number of questions"):
        question_limit(text)


def test_batch_size_is_a_whole_number_or_auto():
    assert batch_size_value("16") == 16
    assert batch_size_value("AUTO") == "auto"
    for bad in ("0", "-1", "2.5", "big"):
        with pytest.raises(typer.BadParameter, match="neither a whole number >= 1 nor 'auto'"):
            batch_size_value(bad)


def test_the_paper_study_previews_without_blink(tmp_path):
    """configs/paper.yaml's data directories do not exist here: the plan comes from the config's tasks
    and the registry's published BLINK val sizes (DESIGN.md 5)."""
    config = tmp_path / "configs" / "paper.yaml"
    config.parent.mkdir()
    shutil.copy(REPO / "configs" / "paper.yaml", config)
    result = run("run", config, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "note: preview without the data" in result.stderr
    assert "13 targets, 13 sources, seeds 0, 1, 2, 3" in result.stdout
    assert "159 jobs: 0 done, 159 to run (156 finetunes)" in result.stdout
    assert "each job evaluates 1,751 questions: 278,409 answers to compute" in result.stdout
    assert "│ Visual_Correspondence     │       172 │" in result.stdout
    assert not (tmp_path / "runs").exists()


def test_a_preview_needs_the_targets_listed(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(
        "name: s\noutput: out\nmodels: [{name: qwen2.5-vl-3b}]\ndata: {dirs: [missing]}\nseeds: [0]\n"
    )
    result = run("run", config, "--dry-run")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: data.targets: cannot preview without the data")


@pytest.fixture
def online(monkeypatch):
    """As without HF_HUB_OFFLINE, whatever the test run sets; restored afterwards."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_unreachable", lambda: "Name or service not known")


def test_an_unreachable_hub_fails_fast_in_one_line(online, monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "_cached", lambda *args: False)
    with pytest.raises(SystemRefusalError) as excinfo:
        hub.prepare_model_access("qwen2.5-vl-7b")
    assert str(excinfo.value) == (
        "cannot reach https://huggingface.co to fetch 'Qwen/Qwen2.5-VL-7B-Instruct' (Name or"
        " service not known), and it is not in the local cache; connect to the network, or pass a local"
        " copy's path"
    )
    data = tmp_path / "data"
    data.mkdir()
    result = run("evaluate", "--model", "qwen2.5-vl-7b", "--data", data, "--out", tmp_path / "e.json")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: --model: cannot reach https://huggingface.co")
    assert len(result.stderr.splitlines()) == 1


def test_an_unreachable_hub_with_a_cached_model_goes_offline(online, monkeypatch):
    monkeypatch.setattr(hub, "_cached", lambda *args: True)
    note = hub.prepare_hub_access("org/model")
    assert note == (
        "https://huggingface.co is unreachable (Name or service not known);"
        " using the cached copy of org/model (HF_HUB_OFFLINE=1)"
    )
    assert constants.HF_HUB_OFFLINE is True


def test_local_models_and_offline_mode_never_probe(monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "hub_unreachable", lambda: pytest.fail("probed"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert hub.prepare_model_access("tiny") is None  # the embedded model is a local path
    assert hub.prepare_model_access(str(tmp_path)) is None
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub.prepare_model_access("qwen2.5-vl-7b") is None


def test_the_probe_reports_a_refused_connection(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    assert hub.hub_unreachable(timeout=1.0) is not None


def _library_errors():
    """Library calls that reject a value, each with the field it names (the CLI shows a flag instead)."""
    from vlmtransfer.analysis.pipeline import resolve_model_order
    from vlmtransfer.data import vsibench
    from vlmtransfer.data.builders import BuildOptions
    from vlmtransfer.models.presets import find_preset

    return [
        (lambda: find_preset("qwen2.5-vl-7bb"), "model"),
        (lambda: BuildOptions(image_format="bmp").check(), "image_format"),
        (lambda: BuildOptions(max_side=10).check(), "max_side"),
        (lambda: resolve_model_order(["a", "b"], ["c"]), "model_order"),
        (lambda: vsibench.question_types(["nonsense"]), "types"),
    ]


def test_library_errors_name_fields_not_flags():
    from vlmtransfer.errors import InputError

    for call, field in _library_errors():
        with pytest.raises(InputError) as excinfo:
            call()
        assert excinfo.value.field == field
        assert excinfo.value.source is None
        assert str(excinfo.value).startswith(f"{field}: ")
        assert "--" not in str(excinfo.value)
