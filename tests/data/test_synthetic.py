"""The synthetic suite: deterministic, balanced, valid, shaped like BLINK, and solvable without a network."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmtransfer.data import LETTERS, MANIFEST, read_records, validate_dataset
from vlmtransfer.data.prompts import format_question
from vlmtransfer.data.synthetic import SYNTHETIC_TASKS, generate_examples, generate_suite, solve
from vlmtransfer.data.synthetic.suite import answer_indices
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import OutputDirectoryError
from vlmtransfer.tasks import default_registry

N_SOLVE = 40  # val examples per task checked by the solvers


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("syn") / "suite"
    counts = generate_suite(out, n_train=6, n_val=5, seed=0)
    assert counts == {task: {"train": 6, "val": 5} for task in SYNTHETIC_TASKS}
    return out


@pytest.fixture(scope="module")
def examples() -> dict[str, dict[str, list]]:
    """In memory: 60 train and N_SOLVE val examples of every task."""
    return {
        task: {
            "train": list(generate_examples(task, "train", 60, seed=3)),
            "val": list(generate_examples(task, "val", N_SOLVE, seed=3)),
        }
        for task in SYNTHETIC_TASKS
    }


# --- the task registry ---------------------------------------------------------------------------------


def test_registry_lists_the_synthetic_suite_mirroring_blink():
    registry = default_registry()
    suite = registry.suite("synthetic")
    assert tuple(spec.name for spec in suite) == SYNTHETIC_TASKS
    assert len(suite) >= 10
    for spec in suite:
        blink = registry.get(spec.name.removeprefix("Syn_"))
        assert blink.suite == "blink"
        assert spec.abbreviation == "s" + blink.abbreviation
        assert (spec.level, spec.granularity, spec.choices, spec.images) == (
            blink.level,
            blink.granularity,
            blink.choices,
            blink.images,
        )
        assert spec.level is not None
        assert spec.granularity is not None
        assert spec.ceiling == 100.0
        assert spec.default
    levels = registry.categories("level")
    assert {levels[t] for t in SYNTHETIC_TASKS} == {"low", "mid", "high"}
    assert {registry.categories("granularity")[t] for t in SYNTHETIC_TASKS} == {"pixel", "crop", "image"}


def test_blink_suite_is_unchanged_by_the_synthetic_one():
    assert not any(spec.name.startswith("Syn_") for spec in default_registry().suite("blink"))


# --- the written suite ------------------------------------------------------------------------------


def test_suite_validates_and_has_the_documented_layout(suite_dir):
    summaries = validate_dataset(suite_dir)
    assert {(s.path.parent.name, s.path.name) for s in summaries} == {
        (task, f"{split}.jsonl") for task in SYNTHETIC_TASKS for split in ("train", "val")
    }
    manifest = json.loads((suite_dir / MANIFEST).read_text())
    assert manifest["kind"] == "synthetic"
    assert (manifest["seed"], manifest["image_size"]) == (0, 112)
    assert manifest["tasks"] == {task: {"train": 6, "val": 5} for task in SYNTHETIC_TASKS}
    records = read_records(suite_dir / "Syn_Counting" / "val.jsonl")
    assert records[3].id == "syn_val_Syn_Counting_00003"
    assert records[3].images == ("images/val_00003_0.png",)
    images = {p.name for p in (suite_dir / "Syn_Forensic_Detection" / "images").iterdir()}
    assert "train_00005_3.png" in images
    assert len(images) == (6 + 5) * 4


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(suite_dir, tmp_path):
    again = tmp_path / "again"
    generate_suite(again, n_train=6, n_val=5, seed=0)
    first, second = _tree(suite_dir), _tree(again)
    assert first.keys() == second.keys()
    assert first == second
    other = tmp_path / "other"
    generate_suite(other, tasks=["Syn_Counting", "Syn_Jigsaw"], n_train=6, n_val=5, seed=1)
    third = _tree(other)
    for task in ("Syn_Counting", "Syn_Jigsaw"):
        for split in ("train", "val"):
            key = f"{task}/{split}.jsonl"
            assert third[key] != first[key]
        assert third[f"{task}/images/val_00000_0.png"] != first[f"{task}/images/val_00000_0.png"]


def test_rerun_replaces_an_earlier_suite_but_never_a_foreign_directory(tmp_path):
    out = tmp_path / "suite"
    generate_suite(out, tasks=["Syn_Counting", "Syn_Visual_Similarity"], n_train=3, n_val=2)
    generate_suite(out, tasks=["Syn_Counting"], n_train=2, n_val=0, seed=4)
    assert sorted(p.name for p in out.iterdir()) == ["Syn_Counting", MANIFEST]
    assert sorted(p.name for p in (out / "Syn_Counting").iterdir()) == ["images", "train.jsonl"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputDirectoryError):
        generate_suite(foreign, tasks=["Syn_Counting"], n_train=1, n_val=1)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"tasks": ["Syn_Countin"]}, "did you mean 'Syn_Counting'"),
        ({"tasks": ["Counting"]}, "unknown synthetic task 'Counting'"),
        ({"tasks": []}, "no synthetic tasks"),
        ({"tasks": ["Syn_Counting", "Syn_Counting"]}, "listed twice"),
        ({"n_train": -1}, "whole number >= 0"),
        ({"seed": -3}, "seed"),
        ({"image_size": 20}, "image size"),
    ],
)
def test_bad_arguments_are_input_errors_and_write_nothing(tmp_path, kwargs, fragment):
    out = tmp_path / "suite"
    with pytest.raises(InputError, match=fragment):
        generate_suite(out, **{"n_train": 1, "n_val": 1, **kwargs})
    assert not out.exists()


# --- the examples -------------------------------------------------------------------------------------


def test_shape_of_every_question_matches_its_task_spec(examples):
    registry = default_registry()
    for task, splits in examples.items():
        spec = registry.get(task)
        for split, items in splits.items():
            for i, (record, images) in enumerate(items):
                assert record.task == task
                assert record.id == f"syn_{split}_{task}_{i:05d}"
                assert len(record.choices) == spec.choices
                assert len(images) == len(record.images) == spec.images
                assert record.images == tuple(f"images/{split}_{i:05d}_{k}.png" for k in range(spec.images))
                assert all(im.size == (112, 112) and im.mode == "RGB" for im in images)
                assert record.answer in LETTERS[: spec.choices]


def test_prompts_are_in_blink_form(examples):
    for splits in examples.values():
        for record, _ in splits["val"][:5]:
            question, select, *options = record.prompt.split("\n")
            assert question.strip()
            assert select == "Select from the following choices."
            assert options == [f"({letter}) {c}" for letter, c in zip(LETTERS, record.choices, strict=False)]
            assert record.prompt == format_question(question, record.choices)
            assert len(set(record.choices)) == len(record.choices)


def test_meta_holds_provenance_and_json_rendering_parameters(examples):
    for task, splits in examples.items():
        record, _ = splits["val"][2]
        meta = json.loads(json.dumps(record.meta))
        assert meta == dict(record.meta)
        assert {k: meta[k] for k in ("generator", "seed", "split", "index")} == {
            "generator": "synthetic",
            "seed": 3,
            "split": "val",
            "index": 2,
        }
        assert meta["mirrors"] == task.removeprefix("Syn_")
        assert isinstance(meta["render"], dict)
        assert meta["render"]


def test_answers_are_balanced_in_every_task(examples):
    registry = default_registry()
    for task, splits in examples.items():
        k = registry.get(task).choices
        for items in splits.values():
            counts = Counter(record.answer for record, _ in items)
            assert set(counts) == set(LETTERS[:k])
            assert all(abs(c - len(items) / k) <= 1 for c in counts.values()), (task, counts)


@settings(max_examples=40, deadline=None)
@given(task=st.sampled_from(SYNTHETIC_TASKS), n=st.integers(0, 60), seed=st.integers(0, 2**32))
def test_answer_balance_holds_for_any_count(task, n, seed):
    k = default_registry().get(task).choices
    answers = answer_indices(task, "train", n, seed)
    counts = Counter(answers)
    assert all(abs(counts.get(j, 0) - n / k) <= 1 for j in range(k))
    assert answers == answer_indices(task, "train", n + 7, seed)[:n]  # a prefix does not depend on n


def test_examples_do_not_depend_on_how_many_are_asked_for():
    short = list(generate_examples("Syn_Relative_Depth", "train", 3, seed=9))
    long = list(generate_examples("Syn_Relative_Depth", "train", 7, seed=9))
    for (r1, i1), (r2, i2) in zip(short, long[:3], strict=True):
        assert r1 == r2
        assert r1.meta == r2.meta
        assert [im.tobytes() for im in i1] == [im.tobytes() for im in i2]


def test_train_and_val_images_do_not_overlap(examples):
    for task, splits in examples.items():
        hashes = {
            split: {hashlib.sha256(im.tobytes()).hexdigest() for _, images in items for im in images}
            for split, items in splits.items()
        }
        assert not hashes["train"] & hashes["val"], task


def test_image_size_is_configurable():
    for task in SYNTHETIC_TASKS:
        record, images = next(iter(generate_examples(task, "val", 1, seed=0, image_size=84)))
        assert all(im.size == (84, 84) for im in images)
        assert record.meta["image_size"] == 84
        assert solve(record, images) == record.answer


def test_unknown_task_and_bad_arguments():
    with pytest.raises(InputError, match="did you mean 'Syn_Relative_Depth'"):
        next(generate_examples("Syn_Relative_Dept", "val", 1, seed=0))
    with pytest.raises(InputError, match="split"):
        next(generate_examples("Syn_Counting", "../val", 1, seed=0))
    with pytest.raises(InputError, match="image size"):
        next(generate_examples("Syn_Counting", "val", 1, seed=0, image_size=32))


# --- the non-neural solvers ----------------------------------------------------------------------------


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_solver_recovers_every_answer(examples, task):
    for record, images in examples[task]["val"]:
        assert solve(record, images) == record.answer, record.id


def test_solver_does_not_read_the_answer_field(examples):
    for splits in examples.values():
        for record, images in splits["val"][:4]:
            wrong = next(letter for letter in record.letters if letter != record.answer)
            tampered = dataclasses.replace(record, answer=wrong)
            assert solve(tampered, images) == record.answer


def test_solver_refuses_other_tasks(examples):
    record, images = examples["Syn_Counting"]["val"][0]
    with pytest.raises(InputError, match="no synthetic solver"):
        solve(dataclasses.replace(record, task="Counting"), images)
    with pytest.raises(InputError, match="expected 1 images"):
        solve(record, [*images, *images])
