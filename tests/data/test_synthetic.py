"""The synthetic suite: deterministic, balanced, valid, shaped like BLINK, and solvable without a network."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmtransfer.data import LETTERS, MANIFEST, read_records, validate_dataset
from vlmtransfer.data.prompts import format_question
from vlmtransfer.data.synthetic import SYNTHETIC_TASKS, generate_examples, generate_suite, solve
from vlmtransfer.data.synthetic.render import PALETTE, patch_side
from vlmtransfer.data.synthetic.suite import ANSWER_BLOCK, answer_indices
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
    full = n // (ANSWER_BLOCK * k) * ANSWER_BLOCK * k  # complete blocks do not depend on n
    assert answers[:full] == answer_indices(task, "train", n + 7, seed)[:full]


@pytest.mark.parametrize("task", ["Syn_Art_Style", "Syn_Relative_Reflectance", "Syn_Semantic_Correspondence"])
def test_neighbouring_answers_do_not_give_each_other_away(task):
    """With blocks of k, the last answer of each block was the letter missing from the k - 1 before it."""
    k = default_registry().get(task).choices
    hits = trials = 0
    for seed in range(3):
        answers = answer_indices(task, "train", 400, seed)
        assert all(abs(c - 400 / k) <= 1 for c in Counter(answers).values())
        for i in range(k - 1, len(answers), k):
            before = answers[i - k + 1 : i]
            if len(set(before)) == k - 1:  # the missing letter is the shortcut's guess
                trials += 1
                hits += answers[i] not in before
    assert trials >= 100
    assert abs(hits / trials - 1 / k) <= 0.12, (hits, trials)
    if k == 2:  # "the answer alternates"
        answers = answer_indices(task, "val", 600, 0)
        flips = sum(a != b for a, b in itertools.pairwise(answers)) / (len(answers) - 1)
        assert abs(flips - 0.5) <= 0.1


def test_examples_do_not_depend_on_how_many_are_asked_for():
    block = 2 * ANSWER_BLOCK  # complete blocks of answers (Syn_Relative_Depth has 2 choices)
    short = list(generate_examples("Syn_Relative_Depth", "train", block, seed=9))
    long = list(generate_examples("Syn_Relative_Depth", "train", block + 3, seed=9))
    for (r1, i1), (r2, i2) in zip(short, long[:block], strict=True):
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


def test_forensics_pretrains_on_strong_grids_and_is_scored_on_weak_ones_too():
    """The pretrain split's fakes carry only strong grids; train and val mix in weak ones, so the tiny
    model pretrained on the former stays below the ceiling on the latter."""
    from vlmtransfer.data.synthetic.tasks.forensic import FORENSIC_AMPLITUDE, FORENSIC_PRETRAIN_AMPLITUDE

    def amplitudes(split: str) -> list[float]:
        items = generate_examples("Syn_Forensic_Detection", split, 40, seed=0)
        return [
            i["amplitude"] for record, _ in items for i in record.meta["render"]["images"] if i["artifact"]
        ]

    pretrain, val = amplitudes("pretrain"), amplitudes("val")
    assert all(FORENSIC_PRETRAIN_AMPLITUDE[0] <= a <= FORENSIC_PRETRAIN_AMPLITUDE[1] for a in pretrain)
    assert all(FORENSIC_AMPLITUDE[0] <= a <= FORENSIC_AMPLITUDE[1] for a in val)
    assert sum(a < FORENSIC_PRETRAIN_AMPLITUDE[0] for a in val) >= len(val) // 2  # log-uniform: ~80 %


def test_multiview_pretrains_on_large_moves_and_is_scored_on_small_ones_too():
    """The pretrain split renders only large camera moves; train and val mix in moves finer than a
    patch, so the tiny model pretrained on the former stays below the ceiling on the latter."""
    from vlmtransfer.data.synthetic.tasks.multiview import MULTIVIEW_PRETRAIN_TRAVEL, MULTIVIEW_TRAVEL

    def travels(split: str) -> list[float]:
        items = generate_examples("Syn_Multi-view_Reasoning", split, 60, seed=0)
        return [record.meta["render"]["travel"] for record, _ in items]

    pretrain, val = travels("pretrain"), travels("val")
    assert all(MULTIVIEW_PRETRAIN_TRAVEL[0] <= t <= MULTIVIEW_PRETRAIN_TRAVEL[1] for t in pretrain)
    assert all(MULTIVIEW_TRAVEL[0] <= t <= MULTIVIEW_TRAVEL[1] for t in val)
    assert sum(t < 7 for t in val) >= 15  # log-uniform in 2-30: about two in five below 7 px
    assert travels("train") != val


def test_similarity_pretrains_on_colour_changes_and_is_scored_on_shape_changes_too():
    """The pretrain split's odd image always changes colour; train and val change its shape half the
    time, a cue the tiny model was never pretrained on."""

    def changes(split: str) -> Counter:
        counts: Counter = Counter()
        for record, _ in generate_examples("Syn_Visual_Similarity", split, 60, seed=0):
            ref, *candidates = record.meta["render"]["images"]
            odd = candidates[1 - "AB".index(record.answer)]
            counts[(odd["shape"] != ref["shape"], odd["color"] != ref["color"])] += 1
        return counts

    assert changes("pretrain") == {(False, True): 60}
    val = changes("val")
    assert set(val) == {(False, True), (True, False)}
    assert min(val.values()) >= 20


def _glyph_pixels(image, box) -> np.ndarray:
    """Where the white glyph pixels of a label are, relative to its box (one row and column more, where a
    shifted glyph spills)."""
    x0, y0, x1, y1 = box
    px = np.asarray(image, dtype=np.int32)[y0 : y1 + 2, x0 : x1 + 2]
    return np.argwhere(px.min(axis=2) > 235)


@pytest.mark.parametrize(
    "task", ["Syn_Relative_Depth", "Syn_Object_Localization", "Syn_Relative_Reflectance"]
)
def test_marker_tasks_draw_a_share_of_train_and_val_labels_off_the_grid_and_never_pretrain_ones(task):
    """Train and val questions draw their letters one pixel right and down of their patch with
    probability LABELS_OFF_GRID_SHARE (all the labels of a question alike); pretrain never does, and the
    glyphs really move by that pixel."""
    from vlmtransfer.data.synthetic.tasks.base import LABELS_OFF_GRID_SHARE

    def offsets(split: str) -> list[tuple[int, np.ndarray]]:
        found = []
        for record, images in generate_examples(task, split, 80, seed=0):
            render = record.meta["render"]
            boxes = render["labels"] if "labels" in render else [m["box"] for m in render["markers"]]
            glyph = _glyph_pixels(images[0], boxes[0])
            found.append((render["glyph_offset"], glyph.min(axis=0)))
        return found

    assert {offset for offset, _ in offsets("pretrain")} == {0}
    for split in ("train", "val"):
        found = offsets(split)
        shifted = sum(offset for offset, _ in found)
        assert abs(shifted - 80 * LABELS_OFF_GRID_SHARE) <= 16, (split, shifted)
        # where each glyph starts in its box (a neighbour's spilled row can add a pixel, so the most
        # common start stands for the glyph's)
        corners = {
            offset: Counter(tuple(int(v) for v in c) for o, c in found if o == offset) for offset in (0, 1)
        }
        (y0, x0), aligned = corners[0].most_common(1)[0]
        assert aligned >= 0.9 * corners[0].total()
        (y1, x1), moved = corners[1].most_common(1)[0]
        assert moved >= 0.9 * corners[1].total()
        assert (y1, x1) == (y0 + 1, x0 + 1)


def test_jigsaw_train_and_val_pieces_differ_more_at_the_edge_than_pretrain_ones():
    """The wrong piece's edge mismatch exceeds the right one's by JIGSAW_MIN_MARGIN in train and val, by
    the pretrain split's smaller margin there (recomputed from the images)."""
    from vlmtransfer.data.synthetic.tasks.jigsaw import (
        JIGSAW_MIN_MARGIN,
        JIGSAW_PRETRAIN_MIN_MARGIN,
        border_mismatch,
    )

    def margins(split: str) -> list[float]:
        found = []
        for record, images in generate_examples("Syn_Jigsaw", split, 30, seed=0):
            first, *pieces = (np.asarray(im, dtype=np.int32) for im in images)
            right = LETTERS.index(record.answer)
            found.append(border_mismatch(first, pieces[1 - right]) - border_mismatch(first, pieces[right]))
        return found

    assert min(margins("val")) >= JIGSAW_MIN_MARGIN
    assert min(margins("train")) >= JIGSAW_MIN_MARGIN
    pretrain = margins("pretrain")
    assert min(pretrain) >= JIGSAW_PRETRAIN_MIN_MARGIN
    assert min(pretrain) < JIGSAW_MIN_MARGIN  # the pretrain split keeps its harder questions


PRETRAIN_DIGEST = "1f03e1aa8f29fb400f4de7e3497c23e893cc0e05dbddce9e16a1a5807428db8b"
"""sha256 over the first 12 ``pretrain`` examples (images and answers) of every task at seed 0: the data
the shipped tiny model was pretrained on. A rendering change made for the ``train``/``val`` splits must
leave it alone, or ``vlmtransfer model tiny --rebuild`` no longer rebuilds the shipped model."""


def test_the_pretrain_split_is_what_the_shipped_model_was_pretrained_on():
    digest = hashlib.sha256()
    for task in SYNTHETIC_TASKS:
        for record, images in generate_examples(task, "pretrain", 12, seed=0):
            for image in images:
                digest.update(image.tobytes())
            digest.update(record.answer.encode())
    assert digest.hexdigest() == PRETRAIN_DIGEST


MARKER_TASKS = (
    "Syn_Relative_Depth",
    "Syn_Relative_Reflectance",
    "Syn_Visual_Correspondence",
    "Syn_Semantic_Correspondence",
)


def _marker_sets(render: dict) -> list[list[dict]]:
    """Every image's markers: the render keeps them per view or per image."""
    if "views" in render:
        return [view["markers"] for view in render["views"]]
    return [render["markers"], *([[render["ref_marker"]]] if "ref_marker" in render else [])]


@pytest.mark.parametrize("image_size", [84, 112, 160, 224])
def test_labels_sit_on_the_patch_grid_next_to_their_own_marker(image_size):
    """A tiny vision tower reads a letter only where it fills whole patches (the probes in
    docs/synthetic-suite.md), and a label must point at its own circle, not a neighbour's. At 84 px a
    creature's four limbs are too close for four 14-px labels, so there only the grid is checked."""
    side = patch_side(image_size)
    assert side == (13 if image_size == 160 else 14)
    for task in MARKER_TASKS:
        for record, _ in generate_examples(task, "val", 30, seed=1, image_size=image_size):
            for markers in _marker_sets(record.meta["render"]):
                for marker in markers:
                    x0, y0, x1, y1 = marker["box"]
                    grid = (x0 % side, y0 % side, y1 - y0 + 1, (x1 - x0 + 1) % side)
                    assert grid == (0, 0, side, 0), (record.id, marker)
                    if image_size < 112:
                        continue
                    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
                    nearest = min(markers, key=lambda m: (m["x"] - mx) ** 2 + (m["y"] - my) ** 2)
                    assert nearest is marker, (record.id, marker)
    for record, _ in generate_examples("Syn_Object_Localization", "val", 30, seed=1, image_size=image_size):
        render = record.meta["render"]
        for (x0, y0, x1, y1), box in zip(render["labels"], render["boxes"], strict=True):
            assert (x0 % side, y0 % side, x1 - x0 + 1, y1 - y0 + 1) == (0, 0, side, side), record.id
            corners = [(x, y) for x in (box[0], box[2]) for y in (box[1], box[3])]
            if image_size % 28:
                continue  # the grid does not tile the image: a corner may lie past the last whole patch
            assert any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in corners), record.id


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


# --- shortcuts: rules unrelated to a task's skill stay near chance --------------------------------------

N_SHORTCUT = 300  # examples per task on which a shortcut rule is measured (and the solver checked)


@pytest.fixture(scope="module")
def many() -> dict[str, list]:
    tasks = ("Syn_Art_Style", "Syn_Jigsaw", "Syn_Visual_Correspondence", "Syn_Relative_Reflectance")
    return {task: list(generate_examples(task, "val", N_SHORTCUT, seed=0)) for task in tasks}


def _palette_colors(px: np.ndarray) -> set[str]:
    flat = px.reshape(-1, 3)
    return {
        name for name, rgb in PALETTE.items() if (np.abs(flat - np.array(rgb)).max(axis=1) == 0).sum() >= 3
    }


def _two_way(flags: list[bool], answer: str) -> float:
    """Score of "pick the candidate the rule flags" (0.5 when it flags both or neither)."""
    if flags[0] == flags[1]:
        return 0.5
    return float("AB"[flags.index(True)] == answer)


@pytest.mark.parametrize(
    "task", ["Syn_Art_Style", "Syn_Jigsaw", "Syn_Visual_Correspondence", "Syn_Relative_Reflectance"]
)
def test_solver_recovers_every_answer_on_many_examples(many, task):
    for record, images in many[task]:
        assert solve(record, images) == record.answer, record.id


def test_art_style_shape_does_not_tell_the_style(many):
    """Choosing the candidate whose shape differs from the reference's (or matches it) is at chance."""
    score = 0.0
    for record, _ in many["Syn_Art_Style"]:
        ref, *candidates = record.meta["render"]["images"]
        score += _two_way([c["shape"] != ref["shape"] for c in candidates], record.answer)
    assert abs(score / N_SHORTCUT - 0.5) <= 0.12, score


def test_jigsaw_colours_do_not_tell_the_piece(many):
    """Choosing the candidate showing no colour absent from the first image is at chance."""
    score = 0.0
    for record, images in many["Syn_Jigsaw"]:
        first, *candidates = (np.asarray(im, dtype=np.int32) for im in images)
        seen = _palette_colors(first)
        score += _two_way([_palette_colors(c) <= seen for c in candidates], record.answer)
    assert abs(score / N_SHORTCUT - 0.5) <= 0.12, score


def test_visual_correspondence_position_does_not_tell_the_point(many):
    """Choosing the marker of the second image nearest to REF's pixel position is at chance (1/4)."""
    hits = 0
    for record, _ in many["Syn_Visual_Correspondence"]:
        render = record.meta["render"]
        ref = render["ref_marker"]
        nearest = min(render["markers"], key=lambda m: (m["x"] - ref["x"]) ** 2 + (m["y"] - ref["y"]) ** 2)
        hits += nearest["label"] == record.answer
    assert abs(hits / N_SHORTCUT - 0.25) <= 0.1, hits


def test_relative_reflectance_needs_the_shading(many):
    """No pair of points shares a rectangle, and raw brightness (ratio < 0.8 / > 1.25) is near chance."""
    hits = 0
    for record, images in many["Syn_Relative_Reflectance"]:
        render = record.meta["render"]
        px = np.asarray(images[0], dtype=np.float64)

        def cell(marker: dict, render: dict = render) -> int:
            return next(
                i
                for i, (x0, y0, x1, y1) in enumerate(render["cells"])
                if x0 <= marker["x"] < x1 and y0 <= marker["y"] < y1
            )

        a, b = render["markers"]
        assert cell(a) != cell(b), record.id
        brightness = {m["label"]: px[m["y"], m["x"]].mean() for m in render["markers"]}
        ratio = brightness["A"] / brightness["B"]
        hits += ("A" if ratio < 0.8 else "B" if ratio > 1.25 else "C") == record.answer
    assert abs(hits / N_SHORTCUT - 1 / 3) <= 0.12, hits
