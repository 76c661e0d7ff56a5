"""Gradient alignment: the vector is the loss gradient (checked by a step along it), deterministic,
only in LoRA's B factors at initialisation, and leaves the model as it found it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.finetune.alignment import lora_gradients, task_gradient
from vlmtransfer.finetune.lora import LoraSettings, attach_lora, detach_lora
from vlmtransfer.finetune.trainer import target_loss_sum
from vlmtransfer.models import load_model
from vlmtransfer.models.encoding import encode_question


@pytest.fixture(scope="module")
def loaded(untrained_tiny):
    return load_model(str(untrained_tiny))


def encoded(loaded, task, n=6):
    items = generate_examples(task, "train", n, seed=0)
    return [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items]


def mean_loss(model, questions, processor):
    with torch.no_grad():
        total = target_loss_sum(model, questions, processor, torch.device("cpu"))
    return float(total) / sum(q.target_length for q in questions)


def test_the_vector_is_the_loss_gradient_and_lives_in_b(loaded):
    questions = encoded(loaded, "Syn_Counting")
    lora = LoraSettings(rank=4, alpha=8, dropout=0.0)
    peft_model = attach_lora(loaded.model, lora, seed=0)
    try:
        gradient = task_gradient(peft_model, questions, loaded.processor, batch_size=4)
        parameters = [(n, p) for n, p in peft_model.named_parameters() if p.requires_grad]
        sizes = [p.numel() for _, p in parameters]
        pieces = np.split(gradient, np.cumsum(sizes)[:-1])
        for (name, _), piece in zip(parameters, pieces, strict=True):
            assert ("lora_B" in name) == bool(np.any(piece)), name  # B starts at zero: A has no gradient
        before = mean_loss(peft_model, questions, loaded.processor)
        step = 1e-2 / np.linalg.norm(gradient)
        with torch.no_grad():
            for (_, p), piece in zip(parameters, pieces, strict=True):
                p.sub_(torch.as_tensor(step * piece, dtype=p.dtype).reshape(p.shape))
        after = mean_loss(peft_model, questions, loaded.processor)
        # first order: the loss falls by step * |g|^2 (within the curvature's share)
        assert before - after == pytest.approx(step * float(gradient @ gradient), rel=0.1)
    finally:
        detach_lora(peft_model)


def test_gradients_are_deterministic_and_the_model_is_restored(loaded):
    tasks = {"a": encoded(loaded, "Syn_Counting"), "b": encoded(loaded, "Syn_Relative_Depth")}
    lora = LoraSettings(rank=4, alpha=8)
    state = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in loaded.model.named_parameters()}
    first = lora_gradients(loaded.model, tasks, loaded.processor, lora, seed=1, batch_size=4)
    second = lora_gradients(loaded.model, tasks, loaded.processor, lora, seed=1, batch_size=2)
    for name in tasks:
        np.testing.assert_allclose(first[name], second[name], rtol=1e-3, atol=1e-8)  # float32 sums
    assert not np.allclose(first["a"], first["b"])
    assert "peft_config" not in vars(loaded.model)
    assert all(torch.equal(state[k], v) for k, v in loaded.model.state_dict().items())
    assert {n: p.requires_grad for n, p in loaded.model.named_parameters()} == flags


def test_questions_without_answers_are_refused(loaded):
    items = generate_examples("Syn_Counting", "train", 2, seed=0)
    bare = [encode_question(r, images, loaded.processor) for r, images in items]
    peft_model = attach_lora(loaded.model, LoraSettings(rank=2, alpha=4), seed=0)
    try:
        with pytest.raises(ValueError, match="answer tokens"):
            task_gradient(peft_model, bare, loaded.processor)
        with pytest.raises(ValueError, match="no questions"):
            task_gradient(peft_model, [], loaded.processor)
    finally:
        detach_lora(peft_model)
