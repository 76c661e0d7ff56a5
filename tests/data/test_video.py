"""Video questions: container metadata, frame sampling, lazy decoding, and validation errors that name the
file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.data.videos import write_frames, write_mp4
from vlmtransfer.cli.main import app
from vlmtransfer.data import MCQRecord, read_records
from vlmtransfer.data.dataset import load_questions
from vlmtransfer.data.prompts import NUMBER_INSTRUCTION, answer_target, build_messages, user_text
from vlmtransfer.data.video import (
    FrameSampling,
    VideoClip,
    VideoError,
    VideoInfo,
    probe_video,
    sample_indices,
)
from vlmtransfer.errors import InputError

MCQ = {
    "id": "v1",
    "task": "V",
    "videos": ["videos/a.mp4"],
    "prompt": "These are frames of a video.\nWhich?\nOptions:\nA. red\nB. blue",
    "choices": ["red", "blue"],
    "answer": "A",
    "meta": {},
}
NUMERIC = {
    "id": "n1",
    "task": "V",
    "videos": ["videos/a.mp4"],
    "prompt": "These are frames of a video.\nHow many chairs are in this room?",
    "answer": 4,
    "answer_type": "number",
    "meta": {},
}


def _video_dataset(tmp_path: Path, lines: list[object]) -> Path:
    task_dir = tmp_path / "ds" / "V"
    write_mp4(task_dir / "videos" / "a.mp4", frames=10, fps=5)
    write_frames(task_dir / "videos" / "frames", frames=6)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (task_dir / "val.jsonl").write_text(text + "\n")
    return task_dir / "val.jsonl"


def test_probe_reads_the_container_metadata(tmp_path):
    info = probe_video(write_mp4(tmp_path / "a.mp4", frames=10, width=64, height=56, fps=5))
    assert info == VideoInfo(10, 5.0, 64, 56)
    assert info.duration == pytest.approx(2.0)
    folder = probe_video(write_frames(tmp_path / "f", frames=6), folder_fps=2.0)
    assert folder == VideoInfo(6, 2.0, 64, 56, is_folder=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.write_bytes(b"\x00not a video" * 50), p)[1], "is not a readable video"),
        (lambda p: (p.write_bytes(b""), p)[1], "is not a readable video"),
        (lambda p: (p.mkdir(), p)[1], "is a folder without frames"),
    ],
)
def test_probe_refuses_bad_videos(tmp_path, make, message):
    with pytest.raises(VideoError, match=message):
        probe_video(make(tmp_path / "bad.mp4"))


def test_uniform_sampling_is_the_official_linspace():
    info = VideoInfo(100, 10.0, 8, 8)
    assert sample_indices(info, FrameSampling(frames=8)) == tuple(np.linspace(0, 99, 8, dtype=int))
    assert sample_indices(VideoInfo(5, 10.0, 8, 8), FrameSampling(frames=32)) == (0, 1, 2, 3, 4)
    assert sample_indices(info, FrameSampling(frames=1)) == (0,)
    by_fps = sample_indices(info, FrameSampling(frames=None, fps=1.0))  # 10 s at 1 fps
    assert len(by_fps) == 10
    assert len(sample_indices(info, FrameSampling(frames=None, fps=5.0, max_frames=16))) == 16


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"frames": 0}, "frames"),
        ({"frames": None}, "frames"),
        ({"frames": 4, "fps": 1.0}, "fps"),
        ({"frames": None, "fps": -1.0}, "fps"),
        ({"frames": None, "fps": float("inf")}, "fps"),
        ({"max_frames": 0}, "max_frames"),
        ({"folder_fps": 0.0}, "folder_fps"),
    ],
)
def test_frame_sampling_refuses_nonsense_naming_the_field(kwargs, field):
    """FrameSampling is the settings' VideoSettings: a bad value is an InputError naming its field."""
    with pytest.raises(InputError) as caught:
        FrameSampling(**kwargs)
    assert caught.value.field == field


def test_clip_decodes_only_the_sampled_frames_with_their_metadata(tmp_path):
    clip = VideoClip.open(write_mp4(tmp_path / "a.mp4", frames=10, fps=5), FrameSampling(frames=4))
    assert clip.indices == (0, 3, 6, 9)
    frames = clip.frames()
    assert frames.shape == (4, 56, 64, 3)
    assert frames.dtype == np.uint8
    levels = frames[:, 0, -1, 0].astype(int)  # frame k is grey 20 + 20 k (lossless encoding, +-1 for YUV)
    assert np.abs(levels - np.array([20, 80, 140, 200])).max() <= 2
    metadata = clip.metadata()
    assert metadata["fps"] == 5.0
    assert metadata["total_num_frames"] == 10
    assert metadata["frames_indices"] == [0, 3, 6, 9]
    assert clip.sampled_fps == pytest.approx(2.0)  # 4 frames over 2 s
    folder = VideoClip.open(write_frames(tmp_path / "f", frames=6), FrameSampling(frames=3))
    assert folder.frames()[:, 0, 0, 0].tolist() == [20, 60, 120]


def test_fingerprint_follows_content_and_sampling(tmp_path):
    a = write_mp4(tmp_path / "a.mp4", seed=1)
    b = write_mp4(tmp_path / "b.mp4", seed=1)
    c = write_mp4(tmp_path / "c.mp4", seed=2)
    assert VideoClip.open(a).fingerprint == VideoClip.open(b).fingerprint
    assert VideoClip.open(a).fingerprint != VideoClip.open(c).fingerprint
    assert VideoClip.open(a).fingerprint != VideoClip.open(a, FrameSampling(frames=2)).fingerprint


def test_video_and_numeric_records_round_trip(tmp_path):
    path = _video_dataset(tmp_path, [MCQ, NUMERIC, {**NUMERIC, "id": "n2", "videos": ["videos/frames"]}])
    records = read_records(path)
    assert [r.videos for r in records] == [("videos/a.mp4",), ("videos/a.mp4",), ("videos/frames",)]
    assert records[0].images == ()
    assert records[1].is_numeric
    assert records[1].answer == "4"
    assert records[1].numeric_answer == 4.0
    assert records[1].to_dict() == NUMERIC
    assert records[0].to_dict() == MCQ


def test_image_only_records_serialise_as_before():
    record = MCQRecord("q", "T", ("a.png",), "p", ("x", "y"), "A", {})
    assert list(record.to_dict()) == ["id", "task", "images", "prompt", "choices", "answer", "meta"]


def test_prompts_carry_a_video_part_and_the_numeric_instruction():
    record = MCQRecord("n", "T", (), "How many?", (), "3", {}, videos=("v.mp4",), answer_type="number")
    messages = build_messages(record)
    assert [part["type"] for part in messages[0]["content"]] == ["video", "text"]
    assert user_text(record) == f"How many?\n{NUMBER_INSTRUCTION}"
    assert answer_target(record) == "3"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ({**MCQ, "videos": ["videos/missing.mp4"]}, "field 'videos'[0]: 'videos/missing.mp4' does not exist"),
        (
            {**MCQ, "videos": ["videos/bad.mp4"]},
            "field 'videos'[0]: 'videos/bad.mp4' is not a readable video",
        ),
        ({**MCQ, "videos": ["../a.mp4"]}, "field 'videos': must be a non-empty list of relative paths"),
        ({**MCQ, "videos": []}, "field 'videos': must be a non-empty list"),
        ({k: v for k, v in MCQ.items() if k != "videos"}, "missing field 'images'"),
        ({**NUMERIC, "answer": 0}, "field 'answer': 0 is not a finite, non-zero number"),
        ({**NUMERIC, "answer": "many"}, "field 'answer': 'many' is not a finite, non-zero number"),
        ({**NUMERIC, "choices": ["1", "2"]}, "field 'choices': a numeric question"),
        ({**NUMERIC, "answer_type": "count"}, "field 'answer_type': must be one of choice, number"),
        ({k: v for k, v in MCQ.items() if k != "choices"}, "missing field 'choices'"),
    ],
)
def test_bad_video_records_name_file_line_and_field(tmp_path, line, fragment):
    path = _video_dataset(tmp_path, [MCQ, {**line, "id": "second"}])
    (path.parent / "videos" / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(InputError) as caught:
        read_records(path)
    assert str(caught.value).startswith(f"{path}: line 2: ")
    assert fragment in str(caught.value)


def test_cli_validate_a_video_dataset_and_a_bad_one(tmp_path):
    path = _video_dataset(tmp_path, [MCQ, NUMERIC])
    runner = CliRunner()
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.stderr
    assert "number:1" in result.stdout
    (path.parent / "videos" / "a.mp4").write_bytes(b"broken")
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "ds")])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {path}: line 1: field 'videos'[0]: 'videos/a.mp4' is not a readable"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_load_questions_gives_lazy_clips_shared_per_video(tmp_path):
    _video_dataset(tmp_path, [MCQ, NUMERIC])
    questions = load_questions(tmp_path / "ds", "V", "val", sampling=FrameSampling(frames=2))
    (first, [clip]), (_, [same]) = questions
    assert first.id == "v1"
    assert isinstance(clip, VideoClip)
    assert clip is same
    assert clip.indices == (0, 9)
    assert "frames" not in vars(clip)  # nothing decoded yet
