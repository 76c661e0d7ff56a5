"""The settings schema (issue 29): one definition, errors that name fields, the CLI naming flags."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from vlmtransfer.cli.errors import flag_for
from vlmtransfer.errors import InputError
from vlmtransfer.select.recipe import SelectionRule
from vlmtransfer.settings import EvalSettings, LoraSettings, TrainSettings, VideoSettings, settings_from


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: TrainSettings(learning_rate=0), "learning_rate"),
        (lambda: TrainSettings(schedule="step"), "schedule"),  # type: ignore[arg-type]
        (lambda: LoraSettings(target_modules=("vision.qkv",)), "target_modules"),
        (lambda: EvalSettings(batch_size=0), "batch_size"),
        (lambda: SelectionRule(top_k=0), "top_k"),
        (lambda: settings_from(TrainSettings, {"learning_rate": "fast"}), "learning_rate"),
        (lambda: settings_from(LoraSettings, {"rnk": 4}), "rnk"),
        (lambda: VideoSettings(frames=0), "frames"),
        (lambda: VideoSettings(fps=1.0), "fps"),  # and frames (32): one or the other
        (lambda: settings_from(VideoSettings, {"frames": None, "fps": "1"}), "fps"),
    ],
)
def test_library_errors_name_the_field_never_a_flag(build, field):
    with pytest.raises(InputError) as caught:
        build()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert "--" not in str(caught.value)


def test_the_cli_maps_fields_to_flags():
    assert flag_for("max_steps") == "--max-steps"
    assert flag_for("learning_rate", {"learning_rate": "--lr"}) == "--lr"


def test_no_cli_module_parses_exception_text():
    for path in (REPO / "src" / "vlmtransfer" / "cli").glob("*.py"):
        assert 'partition(": ")' not in path.read_text(), path.name


def test_one_number_is_one_setting():
    assert LoraSettings(alpha=16) == LoraSettings(alpha=16.0)
    assert isinstance(LoraSettings(alpha=16).alpha, float)
    assert LoraSettings(target_modules=["q_proj"]).target_modules == ("q_proj",)  # type: ignore[arg-type]
    assert VideoSettings(frames=None, fps=1) == VideoSettings(frames=None, fps=1.0)
    assert isinstance(VideoSettings(frames=None, fps=1).fps, float)
