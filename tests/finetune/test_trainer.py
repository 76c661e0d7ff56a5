"""The training loop's schedules, custom data order and early stopping (tiny Qwen2.5-VL, LoRA)."""

from __future__ import annotations

import itertools
import math

import pytest

from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.finetune.lora import LoraSettings, attach_lora
from vlmtransfer.finetune.trainer import TrainSettings, train
from vlmtransfer.models import load_model
from vlmtransfer.models.encoding import encode_question


@pytest.fixture(scope="module")
def loaded(untrained_tiny):
    return load_model(str(untrained_tiny))


@pytest.fixture(scope="module")
def questions(loaded):
    items = generate_examples("Syn_Counting", "train", 8, seed=0)
    return [encode_question(record, images, loaded.processor, with_answer=True) for record, images in items]


def _rates(loaded, questions, **settings):
    peft_model = attach_lora(loaded.model, LoraSettings(), seed=0)
    try:
        base = {"learning_rate": 1e-3, "max_steps": 10, "batch_size": 1, "warmup_ratio": 0.2}
        curve = train(
            peft_model, questions, TrainSettings(**{**base, **settings}), processor=loaded.processor
        )
    finally:
        peft_model.unload()
    return [point.learning_rate for point in curve]


def test_schedules_warm_up_then_decay_linearly_stay_constant_or_follow_a_cosine(loaded, questions):
    linear = _rates(loaded, questions)
    constant = _rates(loaded, questions, schedule="constant")
    cosine = _rates(loaded, questions, schedule="cosine")
    warmup = [1e-3 / 3, 2e-3 / 3]
    for rates in (linear, constant, cosine):
        assert rates[:2] == pytest.approx(warmup)
    assert linear[2:] == pytest.approx([1e-3 * (10 - s) / 8 for s in range(2, 10)])
    assert constant[2:] == pytest.approx([1e-3] * 8)
    assert cosine[2:] == pytest.approx(
        [1e-3 * 0.5 * (1 - math.cos(math.pi * (10 - s) / 8)) for s in range(2, 10)]
    )
    with pytest.raises(ValueError, match="schedule"):
        TrainSettings(schedule="step")


def test_a_custom_order_decides_the_data_and_should_stop_ends_training(loaded, questions):
    """Training on question 0 only equals training on a list holding just question 0."""

    def final_weights(items, order=None, **kwargs):
        peft_model = attach_lora(loaded.model, LoraSettings(dropout=0.0), seed=0)
        try:
            settings = TrainSettings(learning_rate=1e-2, max_steps=3, batch_size=2, warmup_ratio=0.0)
            curve = train(peft_model, items, settings, processor=loaded.processor, order=order, **kwargs)
            weights = {n: p.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}
        finally:
            peft_model.unload()
        return curve, weights

    _, only_first = final_weights(questions, order=itertools.repeat(0))
    _, alone = final_weights(questions[:1])
    for name, value in alone.items():
        assert only_first[name].equal(value)
    modes = []

    def stop_after_two(point):
        modes.append((point.step, loaded.model.training))
        return point.step == 2

    curve, _ = final_weights(
        questions,
        on_step=lambda point, _: modes.append((point.step, loaded.model.training)),
        should_stop=stop_after_two,
    )
    assert [point.step for point in curve] == [1, 2]
    assert modes == [(1, True), (1, False), (2, True), (2, False)]  # trains, then is checked in eval mode
    with pytest.raises(ValueError, match="order ended"):
        final_weights(questions, order=iter([0, 1, 2]))
    with pytest.raises(ValueError, match="index 8, outside the 8 questions"):
        final_weights(questions, order=itertools.repeat(8))
