"""The synthetic video tasks: clips written as folders of frames that validate as video questions, the
same bytes for the same seed, every answer recoverable by the solver, the suite's spec file in step with
the generators, and the tiny model's video path taking a clip at the images' resolution."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vlmtransfer.data.dataset import load_questions, load_split
from vlmtransfer.data.records import MANIFEST
from vlmtransfer.data.synthetic import (
    SYNTHETIC_TASKS,
    SYNTHETIC_VIDEO_TASKS,
    generate_examples,
    generate_suite,
    solve,
)
from vlmtransfer.data.synthetic.video_tasks import HOLD, VIDEO_FRAMES, VIDEO_TASKS, VIEWS
from vlmtransfer.errors import InputError
from vlmtransfer.tasks import default_registry

N_SOLVE = 60


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "suite"
    counts = generate_suite(out, tasks=SYNTHETIC_VIDEO_TASKS, n_train=0, n_val=6, seed=0)
    assert counts == {task: {"train": 0, "val": 6} for task in SYNTHETIC_VIDEO_TASKS}
    return out


@pytest.fixture(scope="module")
def examples() -> dict[str, list]:
    return {task: list(generate_examples(task, "val", N_SOLVE, seed=5)) for task in SYNTHETIC_VIDEO_TASKS}


def test_the_spec_file_lists_the_video_tasks_in_order():
    suite = default_registry().suite("synthetic_video")
    assert [spec.name for spec in suite] == list(SYNTHETIC_VIDEO_TASKS) == list(VIDEO_TASKS)
    assert [spec.choices for spec in suite] == [VIDEO_TASKS[name].choices for name in SYNTHETIC_VIDEO_TASKS]
    assert all(spec.level is None and spec.granularity is None for spec in suite)
    assert not set(SYNTHETIC_VIDEO_TASKS) & set(SYNTHETIC_TASKS)  # the image suite (pretraining) is as built


def test_clips_are_folders_of_frames_that_validate(video_dir):
    task = "Syn_Video_Relative_Direction"
    records = load_split(video_dir, task, "val", check_images=True)  # probes every clip
    assert [r.videos for r in records] == [(f"videos/val_{i:05d}",) for i in range(6)]
    assert all(r.images == () and r.prompt.startswith("These are frames of a video.\n") for r in records)
    frames = sorted((video_dir / task / "videos" / "val_00000").iterdir())
    assert [p.name for p in frames] == [f"{k:02d}.png" for k in range(VIDEO_FRAMES)]
    assert not (video_dir / task / "train.jsonl").exists()
    clip = load_questions(video_dir, task, "val")[0][1][0]
    assert clip.info.frames == VIDEO_FRAMES
    decoded = clip.frames()
    assert [np.asarray(f).shape for f in decoded] == [(112, 112, 3)] * VIDEO_FRAMES
    for view in range(VIEWS):  # each view is held for the temporal patch
        held = decoded[view * HOLD : (view + 1) * HOLD]
        assert all(np.array_equal(held[0], f) for f in held)
    assert not np.array_equal(decoded[0], decoded[-1])  # the camera moves


def test_same_seed_same_bytes(tmp_path, video_dir):
    again = tmp_path / "again"
    generate_suite(again, tasks=SYNTHETIC_VIDEO_TASKS, n_train=0, n_val=6, seed=0)
    assert _tree(again) == _tree(video_dir)
    other = tmp_path / "other"
    generate_suite(other, tasks=["Syn_Video_Object_Counting"], n_train=0, n_val=6, seed=1)
    first = _tree(video_dir)
    assert any(first[k] != v for k, v in _tree(other).items() if k in first and k != MANIFEST)


@pytest.mark.parametrize("task", SYNTHETIC_VIDEO_TASKS)
def test_solver_recovers_every_answer(examples, task):
    for record, frames in examples[task]:
        assert solve(record, frames) == record.answer, record.id


def test_solver_does_not_read_the_answer_field(examples):
    for task in SYNTHETIC_VIDEO_TASKS:
        for record, frames in examples[task][:5]:
            wrong = next(letter for letter in record.letters if letter != record.answer)
            assert solve(dataclasses.replace(record, answer=wrong), frames) == record.answer


def test_solver_refuses_a_clip_of_the_wrong_length(examples):
    record, frames = examples["Syn_Video_Object_Counting"][0]
    with pytest.raises(InputError, match="one clip of 8 frames"):
        solve(record, frames[:-1])


def test_answers_are_balanced_and_the_questions_vary(examples):
    for task in SYNTHETIC_VIDEO_TASKS:
        letters = Counter(record.answer for record, _ in examples[task])
        assert max(letters.values()) - min(letters.values()) <= 1, task
        assert len({record.prompt for record, _ in examples[task]}) >= 20, task
        directions = Counter(record.meta["render"]["direction"] for record, _ in examples[task])
        assert set(directions) == {"left", "right"}, task  # the pan goes both ways


def test_appearance_order_is_set_by_the_pan_direction(examples):
    """The shape that appears first is at the strip's start for the pan: leftmost when the camera
    moves right, rightmost when it moves left (so the answer is not one side of the strip)."""
    sides = Counter()
    for record, _ in examples["Syn_Video_Appearance_Order"]:
        render = record.meta["render"]
        colour = record.choices[record.letters.index(record.answer)].split()[0]
        xs = {s["color"]: s["x"] for s in render["shapes"]}
        first_is_leftmost = xs[colour] == min(xs.values())
        assert first_is_leftmost == (render["direction"] == "right")
        sides[first_is_leftmost] += 1
    assert sides[True]
    assert sides[False]


def test_unknown_names_suggest_video_tasks_too():
    with pytest.raises(InputError, match="Syn_Video_Object_Counting"):
        generate_suite("unused", tasks=["Syn_Video_Object_Countin"])


def test_the_tiny_model_takes_a_clip_at_its_image_resolution(video_dir):
    """The shipped processor keeps 112-px frames at 112 px: 4 temporal patches of 8 x 8 patches, 64
    video tokens (transformers' default floor would make each frame 316 px, 8x the tokens)."""
    from vlmtransfer.evaluate import EvalSettings, Evaluator
    from vlmtransfer.models import load_model
    from vlmtransfer.models.encoding import encode_question, pixel_inputs

    loaded = load_model("tiny")
    questions = load_questions(video_dir, "Syn_Video_Object_Counting", "val", limit=3)
    encoded = encode_question(questions[0][0], questions[0][1], loaded.processor)
    inputs = pixel_inputs([encoded], loaded.processor)
    assert inputs["video_grid_thw"].tolist() == [[VIEWS, 8, 8]]
    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=3))
    try:
        results = evaluator.run()
    finally:
        evaluator.close()
    assert [r.id for r in results] == [q[0].id for q in questions]
    assert all(r.predicted in "ABCD" for r in results)
