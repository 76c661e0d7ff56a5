"""The task registry: BLINK built in as data, user task files, lookups with near matches."""

from __future__ import annotations

import pytest

from vlmtransfer.errors import InputError
from vlmtransfer.tasks import TaskSpec, default_registry, load_task_file

# DESIGN.md §5, the paper's Table 2.
BLINK = {
    "Art_Style": ("AS", "mid", "image", 2, 3),
    "Counting": ("CN", "high", "image", 4, 1),
    "Forensic_Detection": ("FD", "high", "image", 4, 4),
    "Functional_Correspondence": ("FC", "high", "pixel", 4, 2),
    "Jigsaw": ("JG", "mid", "crop", 2, 3),
    "Multi-view_Reasoning": ("MR", "mid", "image", 2, 2),
    "Object_Localization": ("OL", "high", "crop", 2, 1),
    "Relative_Depth": ("RD", "low", "pixel", 2, 1),
    "Relative_Reflectance": ("RR", "low", "pixel", 3, 1),
    "Semantic_Correspondence": ("SC", "high", "pixel", 4, 2),
    "Spatial_Relation": ("SR", "mid", "image", 2, 1),
    "Visual_Correspondence": ("VC", "low", "pixel", 4, 2),
    "Visual_Similarity": ("VS", "high", "image", 2, 3),
}


def test_blink_suite_matches_the_design_table():
    registry = default_registry()
    suite = registry.suite("blink")
    assert {spec.name for spec in suite} == set(BLINK)
    for spec in suite:
        assert (spec.abbreviation, spec.level, spec.granularity, spec.choices, spec.images) == BLINK[
            spec.name
        ]
        assert spec.ceiling == 100.0


def test_iq_test_is_known_but_not_in_the_default_selection():
    registry = default_registry()
    assert "IQ_Test" in registry
    assert "IQ_Test" not in {s.name for s in registry.suite("blink")}
    assert "IQ_Test" in {s.name for s in registry.suite("blink", include_non_default=True)}
    assert "IQ_Test" not in registry.categories("level")


def test_unknown_task_error_lists_near_matches():
    with pytest.raises(InputError, match="did you mean 'Relative_Depth'"):
        default_registry().get("Relative_Dept")
    assert default_registry().find("my_video_task") is None


def test_registries_are_independent_objects():
    first, second = default_registry(), default_registry()
    first.register(TaskSpec("mine", "MI"))
    assert "mine" in first
    assert "mine" not in second


def test_user_task_file_adds_tasks(tmp_path):
    path = tmp_path / "tasks.yaml"
    path.write_text(
        "suite: video\ntasks:\n  - {name: Temporal_Order, abbreviation: TO, level: mid, choices: 2}\n"
    )
    registry = default_registry()
    (spec,) = registry.add_file(path)
    assert spec == TaskSpec("Temporal_Order", "TO", level="mid", choices=2, suite="video")
    assert registry.categories("level")["Temporal_Order"] == "mid"
    with pytest.raises(InputError, match="already registered"):
        registry.add_file(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "tasks:\n  - {name: X, abbreviation: X, level: medium}\n",
            "tasks[0]: task 'X': level must be one of",
        ),
        (
            "tasks:\n  - {name: X, abbreviation: X, choices: 7}\n",
            "choices must be a whole number from 2 to 5",
        ),
        ("tasks:\n  - {name: X, abbreviation: X, colour: red}\n", "unknown field(s) ['colour']"),
        ("tasks:\n  - {name: X}\n", "tasks[0]"),
        ("name: X\n", "expected a mapping with a 'tasks' list"),
        ("tasks: [", "cannot read task file"),
        ("tasks:\n  - {name: 123, abbreviation: X}\n", "name must be a non-empty string"),
        ("tasks:\n  - {name: X, abbreviation: X, choices: 4.5}\n", "choices must be a whole number"),
        ("tasks:\n  - {name: X, abbreviation: X, ceiling: high}\n", "ceiling must be a number"),
        ("tasks:\n  - {name: X, abbreviation: X, extra: 5}\n", "extra must be a mapping"),
        (
            "tasks:\n  - {name: X, abbreviation: X}\n  - {name: X, abbreviation: Y}\n",
            "tasks[1]: task 'X' is defined twice",
        ),
    ],
)
def test_bad_task_files_name_the_file_and_entry(tmp_path, text, fragment):
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as excinfo:
        load_task_file(path)
    assert str(path) in str(excinfo.value)
    assert fragment in str(excinfo.value)
