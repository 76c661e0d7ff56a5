"""The generic registry: registration order, lookups, and the one unknown-name error style."""

from __future__ import annotations

import pytest

from vlmtransfer.errors import InputError
from vlmtransfer.registry import Registry, did_you_mean, known_names


def test_a_registry_keeps_registration_order_and_looks_names_up():
    registry = Registry("colour", [("red", 1), ("green", 2)])
    assert registry.register("blue", 3) == 3
    assert list(registry) == ["red", "green", "blue"] == list(registry.names())
    assert registry.values() == (1, 2, 3)
    assert registry.items() == (("red", 1), ("green", 2), ("blue", 3))
    assert registry.get("green") == registry["green"] == 2
    assert registry.find("purple") is None
    assert "red" in registry
    assert "purple" not in registry
    assert 1 not in registry
    assert len(registry) == 3


def test_an_unknown_name_is_an_input_error_with_near_matches_and_the_known_names():
    registry = Registry("colour", [("red", 1), ("green", 2), ("grey", 3)], field="colour")
    with pytest.raises(InputError) as caught:
        registry.get("gren")
    assert (
        caught.value.problem
        == "unknown colour 'gren' (did you mean 'green', 'grey'?); known: red, green, grey"
    )
    assert caught.value.field == "colour"
    assert str(registry.unknown("blue")) == "colour: unknown colour 'blue'; known: red, green, grey"


def test_registering_a_name_twice_needs_replace():
    registry = Registry("colour", [("red", 1)])
    with pytest.raises(InputError, match="colour 'red' is already registered"):
        registry.register("red", 2)
    registry.register("red", 2, replace=True)
    assert registry.get("red") == 2
    assert list(registry) == ["red"]


def test_normalized_names_and_a_stricter_cutoff_with_one_suggestion():
    registry = Registry(
        "preset", [("qwen-7b", 7), ("qwen-3b", 3)], normalize=str.lower, cutoff=0.8, suggest=1
    )
    assert registry.get("QWEN-7B") == 7
    assert "Qwen-3B" in registry
    assert registry.near_matches("Qwen-7bb") == ["qwen-7b"]
    assert registry.near_matches("mistral") == []
    assert registry.unknown("Qwen-7bb").problem == (
        "unknown preset 'Qwen-7bb' (did you mean 'qwen-7b'?); known: qwen-7b, qwen-3b"
    )


def test_long_lists_of_known_names_are_cut_and_counted():
    assert known_names(["a", "b"]) == "a, b"
    assert known_names([f"t{i}" for i in range(25)], shown=3) == "t0, t1, t2 and 22 more"
    registry = Registry("task", [(f"task{i:02d}", i) for i in range(30)])
    assert registry.unknown("nothing").problem.endswith("task19 and 10 more")


def test_did_you_mean_is_the_hint_alone():
    assert did_you_mean("choises", ["choices", "answer"], n=1) == " (did you mean 'choices'?)"
    assert did_you_mean("zzz", ["choices", "answer"]) == ""


def _unknown(lookup) -> str:
    with pytest.raises(InputError) as caught:
        lookup()
    return str(caught.value)


def test_the_projects_registries_share_the_unknown_name_style():
    from vlmtransfer.data.builders import get_builder
    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.evaluate.registry import get_scorer
    from vlmtransfer.models.presets import find_preset
    from vlmtransfer.study.executors import get_executor
    from vlmtransfer.tasks import default_registry

    assert _unknown(lambda: get_executor("rey")) == (
        "executor.kind: unknown executor 'rey' (did you mean 'ray'?); known: local, ray"
    )
    assert _unknown(lambda: get_scorer("dumy")) == (
        "scorer: unknown scorer 'dumy' (did you mean 'dummy'?); known: hf, dummy"
    )
    assert _unknown(lambda: find_preset("tinyy")) == (
        "model: unknown model preset 'tinyy' (did you mean 'tiny'?);"
        " known: qwen2.5-vl-3b, qwen2.5-vl-7b, qwen2.5-vl-32b, tiny"
    )
    assert _unknown(lambda: get_builder("Countng")).startswith(
        "TASK: unknown training-set builder 'Countng' (did you mean 'Counting'?); known: Art_Style, Counting,"
    )
    assert _unknown(lambda: next(generate_examples("Syn_Countng", "val", 1, 0))).startswith(
        "unknown synthetic task 'Syn_Countng' (did you mean 'Syn_Counting', 'Syn_Video_Object_Counting'?);"
        " known: Syn_Art_Style,"
    )
    assert _unknown(lambda: default_registry().get("Countng")).startswith(
        "unknown task 'Countng' (did you mean 'Counting'"
    )
