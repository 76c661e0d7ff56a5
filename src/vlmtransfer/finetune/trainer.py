"""The training loop shared by LoRA finetuning and the tiny model's pretraining.

Loss is next-token cross-entropy on the target tokens only (the answer ``(B)`` and the end of the turn),
averaged over all target tokens of an optimiser step, so gradient accumulation over micro-batches gives
the same update as one large batch. Vocabulary logits are computed only for the positions that predict
targets (``logits_to_keep``): with left padding, targets are the last tokens of every row, so a real
VLM's 150k-wide logits are never materialised for the prompt.

Schedules: linear warm-up, then linear decay to 0 (finetuning's default), a constant rate, or a cosine
decay to 0. A constant rate matters for learning from scratch: a tiny model learns a perception task only
after a plateau of several hundred steps at chance, and a decaying rate can end before it is crossed.

Frozen vision: when only the language model trains, each question's image features can be computed once
(``models.encoding.encode_images``) and passed as ``image_features``; every step then skips the image
processor and the vision tower. The loss is the same up to float rounding (the vision tower has no
dropout), so this is a speed-up, not a different training. When the vision tower trains too (LoRA on it),
the images go through the processor and the tower at every step.

Determinism: the seed fixes the default data order (one permutation per epoch from its own generator) and the
global torch RNG (dropout, and parameter initialisation when the caller seeds before building adapters),
so on the same hardware the same seed gives bit-identical weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from vlmtransfer.finetune.record import LossPoint, learning_rate_factor, total_steps, warmup_steps
from vlmtransfer.models.encoding import (
    IGNORE_INDEX,
    EncodedQuestion,
    ImageFeatures,
    collate,
    pre_encoded_inputs,
)
from vlmtransfer.models.loading import input_device
from vlmtransfer.settings import SCHEDULES, Schedule, TrainSettings

__all__ = ["SCHEDULES", "LossPoint", "Schedule", "TrainSettings", "target_loss_sum", "total_steps", "train"]


def train(
    model: Any,
    questions: Sequence[EncodedQuestion],
    settings: TrainSettings,
    *,
    processor: Any,
    on_step: Callable[[LossPoint, int], None] | None = None,
    order: Iterator[int] | None = None,
    should_stop: Callable[[LossPoint], bool] | None = None,
    image_features: Sequence[ImageFeatures | None] | None = None,
) -> list[LossPoint]:
    """Train ``model``'s trainable parameters on ``questions``; return the loss curve.

    ``on_step(point, total)`` is called after every optimiser step (progress bars, logging).
    ``order`` replaces the default data order (a fresh seeded permutation per epoch) with any endless
    stream of question indices, e.g. a curriculum's task mixture. ``should_stop(point)``, asked after every
    step, ends training early when it returns true; it sees the model in eval mode, so it may score it,
    and the next step switches back to training mode. ``image_features`` (one entry per question,
    from ``encode_images`` on the model before training) replaces the pixels: only valid while nothing
    in the vision tower or merger trains, which the caller guarantees.

    Raises:
        ValueError: no questions, a question without targets, a model with nothing to train, an
            ``order`` that ends or leaves the question list, or ``image_features`` of another length.
    """
    if not questions:
        raise ValueError("no training questions")
    if any(q.target_length == 0 for q in questions):
        raise ValueError("every training question needs target tokens (encode with with_answer=True)")
    if image_features is not None and len(image_features) != len(questions):
        raise ValueError(f"{len(image_features)} image features for {len(questions)} questions")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters")
    torch.manual_seed(settings.seed)
    steps = total_steps(len(questions), settings)
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    warmup = warmup_steps(settings, steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, warmup, steps, settings.schedule)
    )
    device = input_device(model)  # where the embeddings are (several devices: a device map)
    order = order if order is not None else _order(len(questions), settings.seed)
    try:
        curve: list[LossPoint] = []
        examples = 0
        start = time.perf_counter()
        for step in range(1, steps + 1):
            model.train()
            micro_batches = [
                [_next_index(order, len(questions)) for _ in range(settings.batch_size)]
                for _ in range(settings.grad_accum)
            ]
            n_targets = sum(questions[i].target_length for batch in micro_batches for i in batch)
            loss_sum = 0.0
            for batch in micro_batches:
                features = None if image_features is None else [image_features[i] for i in batch]
                loss = target_loss_sum(model, [questions[i] for i in batch], processor, device, features)
                loss = loss / n_targets
                loss.backward()
                loss_sum += float(loss.detach())
            if settings.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)
            learning_rate = schedule.get_last_lr()[0]
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            examples += settings.batch_size * settings.grad_accum
            point = LossPoint(step, examples, loss_sum, learning_rate, time.perf_counter() - start)
            curve.append(point)
            if on_step:
                on_step(point, steps)
            if should_stop:
                model.eval()  # a check that scores the model must not see dropout
                if should_stop(point):
                    break
    finally:
        model.eval()
    return curve


def _next_index(order: Iterator[int], n: int) -> int:
    try:
        index = next(order)
    except StopIteration:
        raise ValueError("the data order ended before training did (it must be endless)") from None
    if not 0 <= index < n:
        raise ValueError(f"the data order gave index {index}, outside the {n} questions")
    return index


def _order(n: int, seed: int) -> Iterator[int]:
    """Question indices, one fresh permutation per epoch, forever."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from torch.randperm(n, generator=generator).tolist()


def target_loss_sum(
    model: Any,
    batch: Sequence[EncodedQuestion],
    processor: Any,
    device: Any,
    features: Sequence[ImageFeatures | None] | None = None,
) -> torch.Tensor:
    """The summed cross-entropy of ``batch``'s answer tokens (only those: the prompt is masked), so a
    caller can normalise by the answer tokens of a whole step; ``features`` replace the pixels."""
    inputs: dict[str, Any] = collate(batch, processor, pixels=features is None)
    labels = inputs.pop("labels")
    width = max(q.target_length for q in batch)
    inputs = {key: value.to(device) for key, value in inputs.items()}
    if features is not None:
        inputs.update(pre_encoded_inputs(features, device))
    logits = model(**inputs, logits_to_keep=width + 1, use_cache=False).logits.float()
    targets = labels[:, -width:].to(device)
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
