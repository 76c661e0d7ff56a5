"""Frame sampling per study (issue 24 item 1): a study's ``video:`` section is the library's
VideoSettings, its worker samples every video as it says, and it is part of a job's key exactly when the
job reads video questions, so image-only studies keep their keys and a changed ``frames`` (or default)
makes a video study's runs stale. With the dummy scorer and synthetic clips (folders of 8 frames)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.data.video import VideoClip
from vlmtransfer.errors import InputError
from vlmtransfer.settings import VideoSettings
from vlmtransfer.study.config import load_study_config
from vlmtransfer.study.jobs import job_key, results_spec, training_key
from vlmtransfer.study.plan import plan_jobs, resolve_tasks
from vlmtransfer.study.worker import ModelWorker

IMAGE_TASKS = ("Syn_Spatial_Relation", "Syn_Art_Style")
VIDEO_TASK = "Syn_Video_Object_Counting"
CLIP_FRAMES = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate_suite(root / "images", tasks=IMAGE_TASKS, n_train=8, n_val=4, seed=0)
    generate_suite(root / "videos", tasks=[VIDEO_TASK], n_train=0, n_val=4, seed=0)
    return root


def study(tmp_path, root, name="study", videos=True, **changes):
    """A dummy-scorer study of image sources; with ``videos``, the synthetic video task as a target."""
    targets = {"target_dirs": [str(root / "videos")]} if videos else {}
    config = {
        "name": name,
        "output": str(tmp_path / name),
        "models": [{"name": "toy", "scorer": "dummy"}],
        "data": {"dirs": [str(root / "images")]} | targets,
        "seeds": [0],
        "train": {"max_steps": 2, "batch_size": 4},
    } | changes
    path = tmp_path / f"{name}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def invoke(*args, code=0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def keys(path):
    config = load_study_config(path)
    tasks = resolve_tasks(config)
    return {job.key: job_key(config, tasks, job) for job in plan_jobs(config, tasks)}


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        ({"frames": 16}, VideoSettings(frames=16)),
        ({"fps": 1.0}, VideoSettings(frames=None, fps=1.0)),
        ({"fps": 2, "max_frames": 64}, VideoSettings(frames=None, fps=2.0, max_frames=64)),
        ({"frames": None, "fps": 0.5, "folder_fps": 2}, VideoSettings(None, 0.5, folder_fps=2.0)),
        ({}, VideoSettings()),
    ],
)
def test_the_video_section_resolves_into_the_library_settings(tmp_path, data, video, expected):
    config = load_study_config(study(tmp_path, data, video=video))
    assert config.video == expected
    assert isinstance(config.video, VideoSettings)
    assert load_study_config(study(tmp_path, data)).video == VideoSettings()  # one default: the library's


@pytest.mark.parametrize(
    ("video", "where", "problem"),
    [
        ({"frames": 0}, "video.frames", "must be a whole number >= 1, got 0"),
        ({"frames": 16, "fps": 1.0}, "video.fps", "give frames or fps, not both"),
        ({"frames": None}, "video.frames", "give frames or fps"),
        ({"fps": -1.0}, "video.fps", "must be in (0, 1000]"),
        ({"frames": "8"}, "video.frames", "Input should be a valid integer"),
        ({"frames": 8.0}, "video.frames", "Input should be a valid integer"),
        ({"max_frames": 0, "fps": 1.0}, "video.max_frames", "must be a whole number >= 1"),
        ({"frame": 8}, "video.frame", "unknown key"),
    ],
)
def test_bad_video_settings_are_one_line_naming_the_key(tmp_path, data, video, where, problem):
    path = study(tmp_path, data, video=video)
    with pytest.raises(InputError) as caught:
        load_study_config(path)
    assert caught.value.where == where
    assert problem in caught.value.problem
    result = invoke("run", path, "--dry-run", code=2)
    assert result.stderr.startswith(f"error: {path}: {where}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_plan_records_which_splits_hold_videos(tmp_path, data):
    tasks = resolve_tasks(load_study_config(study(tmp_path, data)))
    assert tasks.videos == {f"{VIDEO_TASK}/val"}
    assert tasks.has_videos(VIDEO_TASK, "val")
    assert not any(tasks.has_videos(task, split) for task in IMAGE_TASKS for split in ("train", "val"))


def test_image_only_studies_keep_their_keys_whatever_the_sampling(tmp_path, data, monkeypatch):
    """Frames change no image question's answer: no ``video`` in an image-only job's spec, and neither
    the study's sampling nor the library's default moves its keys (the stored keys of tests/study/
    fixtures/regression are checked by test_regression.py)."""
    plain = study(tmp_path, data, videos=False)
    config = load_study_config(plain)
    tasks = resolve_tasks(config)
    assert tasks.videos == frozenset()
    assert all("video" not in results_spec(config, tasks, job) for job in plan_jobs(config, tasks))
    before = keys(plain)
    assert keys(study(tmp_path, data, videos=False, video={"frames": 4})) == before
    assert keys(study(tmp_path, data, videos=False, video={"fps": 2.0})) == before
    _set_default_frames(monkeypatch, 16)
    assert keys(plain) == before


def test_a_video_target_puts_the_sampling_in_every_results_key_but_not_in_training(tmp_path, data):
    default = load_study_config(study(tmp_path, data))
    fewer = load_study_config(study(tmp_path, data, video={"frames": 4}))
    tasks = resolve_tasks(default)
    for job in plan_jobs(default, tasks):
        spec = results_spec(default, tasks, job)
        assert spec["video"] == dataclasses.asdict(VideoSettings())
        assert results_spec(fewer, tasks, job)["video"]["frames"] == 4
        assert job_key(fewer, tasks, job) != job_key(default, tasks, job)
        if not job.is_baseline:  # image sources: their adapters do not depend on frames
            assert "video" not in spec["training"]
            assert training_key(fewer, tasks, job) == training_key(default, tasks, job)


def test_a_video_source_puts_the_sampling_in_its_training_key(tmp_path, data):
    """A training split with videos (a video task in data.dirs with a train split) is sampled too."""
    generate_suite(tmp_path / "train-videos", tasks=[VIDEO_TASK], n_train=4, n_val=2, seed=1)
    changes = {"data": {"dirs": [str(tmp_path / "train-videos")]}}
    default = load_study_config(study(tmp_path, data, videos=False, **changes))
    fewer = load_study_config(study(tmp_path, data, videos=False, video={"frames": 4}, **changes))
    tasks = resolve_tasks(default)
    job = next(job for job in plan_jobs(default, tasks) if job.source == VIDEO_TASK)
    assert results_spec(fewer, tasks, job)["training"]["video"]["frames"] == 4
    assert training_key(fewer, tasks, job) != training_key(default, tasks, job)


def test_the_worker_samples_the_configured_frames(tmp_path, data):
    """Every target clip (8 frames) is sampled as the study says: all 8 under the default 32, 4 with
    ``frames: 4``, and by frame rate with ``fps`` (the folder played at ``folder_fps``)."""
    for video, count in (({}, CLIP_FRAMES), ({"frames": 4}, 4), ({"fps": 0.5, "folder_fps": 2.0}, 2)):
        config = load_study_config(study(tmp_path, data, video=video))
        worker = ModelWorker(config, config.models[0], resolve_tasks(config))
        clips = [m for r in worker.requests if r.record.task == VIDEO_TASK for m in r.media]
        assert len(clips) == 4
        assert all(isinstance(clip, VideoClip) and clip.sampling == config.video for clip in clips)
        assert {len(clip.indices) for clip in clips} == {count}
        assert clips[0].frames().shape[0] == count  # decoded: only the sampled frames


def test_changed_frames_make_a_video_study_stale_and_only_evaluation_reruns(tmp_path, data):
    config = study(tmp_path, data)
    invoke("run", config)
    adapters = sorted((tmp_path / "study" / "adapters").rglob("adapter_config.json"))
    stamps = {path: path.stat().st_mtime_ns for path in adapters}
    assert "0 to run" in invoke("run", config, "--dry-run").stdout

    fewer = study(tmp_path, data, video={"frames": 4})
    dry = invoke("run", fewer, "--dry-run").stdout
    assert "3 jobs: 0 done, 3 to run" in dry
    row = next(line for line in dry.splitlines() if line.startswith("│ toy"))
    assert [cell.strip() for cell in row.strip("│").split("│")][-1] == "3"  # the stale column
    refused = invoke("run", fewer, code=2)
    assert "3 stored runs" in refused.stderr
    assert "video.frames: 32 -> 4" in refused.stderr
    invoke("run", fewer, "--reset-changed")
    assert {path: path.stat().st_mtime_ns for path in adapters} == stamps  # image adapters reused
    assert "3 jobs: 3 done, 0 to run" in invoke("run", fewer, "--dry-run").stdout


def test_a_changed_library_default_makes_a_video_study_stale(tmp_path, data, monkeypatch):
    config = study(tmp_path, data)
    invoke("run", config)
    _set_default_frames(monkeypatch, 16)
    assert "3 to run" in invoke("status", config).stdout
    refused = invoke("run", config, code=2)
    assert "video.frames: 32 -> 16" in refused.stderr


def _set_default_frames(monkeypatch, frames):
    names = [field.name for field in dataclasses.fields(VideoSettings)]
    defaults = list(VideoSettings.__init__.__defaults__)
    defaults[names.index("frames")] = frames
    monkeypatch.setattr(VideoSettings.__init__, "__defaults__", tuple(defaults))


def test_evaluate_takes_the_same_settings_and_names_its_flags(tmp_path, data):
    """``vlmtransfer evaluate --frames/--video-fps`` build the same VideoSettings; a bad value is one line
    naming the flag."""
    out = tmp_path / "eval.json"
    common = ["evaluate", "--scorer", "dummy", "--model", "toy", "--data", data / "videos", "--out", out]
    invoke(*common, "--frames", 4)
    assert json.loads(out.read_text())["video_sampling"] == dataclasses.asdict(VideoSettings(frames=4))
    invoke(*common, "--video-fps", 1)
    assert json.loads(out.read_text())["video_sampling"] == dataclasses.asdict(VideoSettings(None, 1.0))
    refused = invoke(*common, "--video-fps", 0, code=2)
    assert refused.stderr.strip() == "error: --video-fps: must be in (0, 1000], got 0.0"
