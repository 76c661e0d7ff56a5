"""Gradient alignment: what a first LoRA step on one task would do to another, measured at the base model.

A task's *gradient* here is the mean next-token loss gradient of its answers with respect to freshly
attached LoRA parameters. LoRA's B factors start at zero, so only B has a gradient at that point:
``dL/dB = (dL/dW) A^T``, the full weight gradient seen through the random down-projection A (the same A
for every task, by the seed). Two tasks' gradients are compared by their cosine: a positive cosine
means a small step that lowers the source's loss lowers the target's too (first order), which is the
cheap signal ``vlmtransfer predict`` turns into a predicted PGF row. It costs one backward pass per batch
of a few dozen questions per task, against hundreds of optimiser steps for a finetune.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from vlmtransfer.finetune.lora import LoraSettings, attach_lora, detach_lora, training_vision_inputs
from vlmtransfer.finetune.trainer import target_loss_sum
from vlmtransfer.models.encoding import EncodedQuestion
from vlmtransfer.models.loading import input_device

__all__ = ["lora_gradients", "task_gradient"]


def task_gradient(
    model: Any,
    questions: Sequence[EncodedQuestion],
    processor: Any,
    *,
    batch_size: int = 8,
    features: Sequence[Any] | None = None,
) -> np.ndarray:
    """The mean per-answer-token loss gradient over ``questions`` w.r.t. ``model``'s trainable
    parameters, flattened (float64). Dropout is off (eval mode), so the gradient is deterministic.

    Raises:
        ValueError: no questions, a question without answer tokens, or nothing trainable.
    """
    if not questions:
        raise ValueError("no questions to take a gradient over")
    if any(q.target_length == 0 for q in questions):
        raise ValueError("every question needs its answer tokens (encode with with_answer=True)")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters")
    device = input_device(model)  # where the embeddings are (several devices: a device map)
    model.eval()
    model.zero_grad(set_to_none=True)
    n_targets = sum(q.target_length for q in questions)
    for start in range(0, len(questions), batch_size):
        batch = list(questions[start : start + batch_size])
        batch_features = None if features is None else list(features[start : start + batch_size])
        loss = target_loss_sum(model, batch, processor, device, batch_features) / n_targets
        loss.backward()
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in parameters]
    )
    model.zero_grad(set_to_none=True)
    return flat.detach().double().cpu().numpy()


def lora_gradients(
    model: Any,
    tasks: Mapping[str, Sequence[EncodedQuestion]],
    processor: Any,
    lora: LoraSettings,
    *,
    seed: int = 0,
    batch_size: int = 8,
) -> dict[str, np.ndarray]:
    """Per task (key), its gradient w.r.t. one LoRA attachment (``lora``, initialised from ``seed``) to
    ``model``; the model is returned to its base state afterwards. Image features are computed once per
    task from the base model (not with ``lora.vision``, which adapts the tower: then from the images)."""
    features = {
        name: training_vision_inputs(model, list(questions), processor, lora)
        for name, questions in tasks.items()
    }
    peft_model = attach_lora(model, lora, seed)
    try:
        return {
            name: task_gradient(
                peft_model, list(questions), processor, batch_size=batch_size, features=features[name]
            )
            for name, questions in tasks.items()
        }
    finally:
        detach_lora(peft_model)
