"""Video questions through the evaluator with the embedded tiny Qwen2.5-VL (its video path, temporal
patch 2): multiple choice in both modes, numeric questions by generation and MRA, and the vision cache
giving exactly what evaluating without it gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.data.videos import write_mp4
from vlmtransfer.data.records import MCQRecord
from vlmtransfer.data.video import FrameSampling, VideoClip
from vlmtransfer.evaluate import EvalSettings, Evaluator, accuracy_by_task
from vlmtransfer.evaluate.scoring import from_text
from vlmtransfer.models import load_model
from vlmtransfer.models.encoding import encode_question, pixel_inputs

FRAME_PIXELS = (
    56 * 84
)  # keeps the tiny model's video tokens few (its processor's default floor is 100k pixels)


@pytest.fixture(scope="module")
def loaded():
    model = load_model("tiny")
    size = {"shortest_edge": FRAME_PIXELS, "longest_edge": FRAME_PIXELS}
    model.processor.video_processor.size = type(model.processor.video_processor.size)(**size)
    return model


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    items = []
    for k in range(3):
        path = write_mp4(root / f"v{k}.mp4", frames=5 + 2 * k, width=84, height=56, fps=2 + k, seed=k)
        clip = VideoClip.open(path, FrameSampling(frames=4))
        mcq = MCQRecord(
            f"m{k}",
            "Video_MCQ",
            (),
            "These are frames of a video.\nWhich colour is first?\nOptions:\nA. red\nB. blue\nC. green",
            ("red", "blue", "green"),
            "ABC"[k],
            {},
            videos=(path.name,),
        )
        number = MCQRecord(
            f"n{k}",
            "Video_Count",
            (),
            "These are frames of a video.\nHow many objects are there?",
            (),
            str(k + 2),
            {},
            videos=(path.name,),
            answer_type="number",
        )
        items += [(mcq, [clip]), (number, [clip])]
    return items


def _run(loaded, questions, **settings):
    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=2, max_new_tokens=4, **settings))
    try:
        return evaluator.caches_vision, evaluator.run(), evaluator.run()
    finally:
        evaluator.close()


@pytest.mark.parametrize("mode", ["loglik", "generate", "both"])
def test_vision_cache_gives_the_same_answers_on_video(loaded, questions, mode):
    cache_on, *cached = _run(loaded, questions, mode=mode)
    cache_off, *plain = _run(loaded, questions, mode=mode, cache_vision=False)
    assert cache_on
    assert not cache_off
    for a, b in zip([*cached, *plain], [plain[0], plain[0], plain[1], plain[1]], strict=True):
        assert [(r.id, r.predicted, r.text, r.score) for r in a] == [
            (r.id, r.predicted, r.text, r.score) for r in b
        ]
        for x, y in zip(a, b, strict=True):
            assert (x.logprobs is None) == (y.logprobs is None)
            if x.logprobs is not None:
                assert x.logprobs == pytest.approx(y.logprobs, abs=1e-5)


def test_modes_score_video_mcq_and_numeric_questions(loaded, questions):
    _, loglik, _ = _run(loaded, questions, mode="loglik")
    _, generated, _ = _run(loaded, questions, mode="generate")
    _, both, _ = _run(loaded, questions, mode="both")
    for results in (loglik, generated, both):
        assert [r.id for r in results] == [record.id for record, _ in questions]
    mcq = [r for r in loglik if r.task == "Video_MCQ"]
    assert all(r.logprobs is not None and len(r.logprobs) == 3 for r in mcq)
    numeric = [r for r in loglik if r.task == "Video_Count"]
    # numeric questions are answered by generation in loglik mode too: same text as generate mode
    assert [r.text for r in numeric] == [r.text for r in generated if r.task == "Video_Count"]
    assert all(r.score is not None and r.logprobs is None for r in numeric)
    assert [r.predicted for r in both if r.task == "Video_MCQ"] == [r.predicted for r in mcq]
    assert [r.generated for r in both if r.task == "Video_MCQ"] == [
        r.generated for r in generated if r.task == "Video_MCQ"
    ]
    accuracy = accuracy_by_task(loglik)
    assert accuracy["Video_Count"] == (pytest.approx(100 * sum(r.score for r in numeric) / 3), 3)


def test_numeric_answers_get_mra():
    record = MCQRecord("n", "T", (), "How many?", (), "10", {}, videos=("v.mp4",), answer_type="number")
    result = from_text(record, "I think 13 chairs.")
    assert (result.predicted, result.score, result.correct) == ("13", pytest.approx(0.5), False)
    assert from_text(record, "ten").points == 1.0
    assert from_text(record, "no idea").score == 0.0
    assert accuracy_by_task([from_text(record, "13"), from_text(record, "10")]) == {
        "T": (pytest.approx(75.0), 2)
    }


def test_video_inputs_match_the_processor_with_the_real_fps(loaded, questions):
    """What encoding and batching make equals one processor call with the video and its metadata, and
    the temporal spacing follows the sampled fps, not transformers' 24-fps default."""
    record, [clip] = questions[0]
    encoded = encode_question(record, [clip], loaded.processor)
    pixels = pixel_inputs([encoded], loaded.processor)
    from vlmtransfer.data.prompts import render_prompt
    from vlmtransfer.models.encoding import video_arguments

    full = loaded.processor(
        text=[render_prompt(record, loaded.processor)],
        return_tensors="pt",
        **video_arguments(loaded.processor, [clip]),
    )
    assert torch.equal(encoded.tensors["input_ids"], full["input_ids"][0])
    assert torch.equal(encoded.tensors["mm_token_type_ids"], full["mm_token_type_ids"][0])
    assert torch.equal(pixels["pixel_values_videos"], full["pixel_values_videos"])
    assert torch.equal(pixels["video_grid_thw"], full["video_grid_thw"])
    assert pixels["second_per_grid_ts"].tolist() == pytest.approx(full["second_per_grid_ts"].tolist())
    assert pixels["second_per_grid_ts"].item() == pytest.approx(2 / clip.sampled_fps)
    assert clip.sampled_fps == pytest.approx(4 / 5 * 2)  # 4 of 5 frames at 2 fps
    # a second question of the same shape takes the memoised shortcut and still agrees
    again = encode_question(record, [clip], loaded.processor)
    assert torch.equal(again.tensors["input_ids"], full["input_ids"][0])


def test_frames_are_decoded_only_when_a_batch_needs_pixels(loaded, questions, monkeypatch):
    calls: list[Path] = []
    original = VideoClip.frames

    def counting(self):
        calls.append(self.path)
        return original(self)

    monkeypatch.setattr(VideoClip, "frames", counting)
    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=2))
    before = len(calls)  # encoding decodes at most one video per distinct shape
    evaluator.run()
    after_first = len(calls)
    evaluator.run()
    assert len(calls) == after_first  # the cache: no decoding on the second run
    assert before <= 3
    evaluator.close()
