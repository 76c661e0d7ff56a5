"""Questions as model inputs: encode once, batch many times.

Training and evaluation both see the same rendered prompt (``data.prompts.render_prompt``); this module
turns a record and its images into token ids once, so that a training epoch or the evaluation of many
adapters does not re-render and re-tokenise, and batches encoded questions with left padding (the answer
position is then the last column of every row, which the log-likelihood scorer relies on).

Pixels are made per batch by the processor's image processor, not stored: Qwen2.5-VL's patch tensors
are float32 and duplicated along time, about 150 times the size of the PNG, so storing them for a
pretraining mixture would take tens of gigabytes.

Vision features: while only the language model trains (LoRA as vlmtransfer applies it) or is evaluated
with adapters, a question's image features, the vision tower and merger's output, never change. They
can be computed once (:func:`encode_images`) and handed to every later forward pass as transformers'
pre-encoded multimodal input (:func:`pre_encoded_inputs`), which skips the vision tower and the image
processor entirely.

Training targets: the rendered training text is the evaluation prompt followed by the assistant's answer
``(B)<|im_end|>...``; the target tokens are that suffix, tokenised on its own and checked to be the
exact tail of the full token sequence (a tokeniser merging across the boundary would silently train on
the wrong tokens otherwise).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vlmtransfer.data.prompts import render_prompt
from vlmtransfer.data.records import MCQRecord

__all__ = [
    "IGNORE_INDEX",
    "EncodedQuestion",
    "ImageFeatures",
    "ImagePixels",
    "VisionInput",
    "collate",
    "encode_images",
    "encode_question",
    "pixel_inputs",
    "pre_encoded_inputs",
    "preprocess_images",
    "supports_pre_encoded_images",
    "vision_inputs",
]

IGNORE_INDEX = -100
"""Label value the loss ignores (PyTorch's and transformers' convention)."""


@dataclass(frozen=True, eq=False)
class EncodedQuestion:
    """One question, processed.

    Attributes:
        record: the question.
        tensors: the processor's per-question sequence tensors (``input_ids``, ``attention_mask``,
            ``mm_token_type_ids`` ...) without the batch dimension.
        images: the question's images, processed into pixels when batched.
        target_length: number of trailing tokens that are the training target (0 for evaluation).
    """

    record: MCQRecord
    tensors: dict[str, torch.Tensor]
    images: tuple[Any, ...]
    target_length: int

    @property
    def length(self) -> int:
        return int(self.tensors["input_ids"].shape[0])


_SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


def encode_question(
    record: MCQRecord, images: Sequence[Any], processor: Any, *, with_answer: bool = False, suffix: str = ""
) -> EncodedQuestion:
    """Encode a question for evaluation (prompt + ``suffix``) or training (prompt + answer turn).

    Raises:
        ValueError: the answer's tokens are not the tail of the full sequence (see module docstring).
    """
    prompt = render_prompt(record, processor)
    text = render_prompt(record, processor, with_answer=True) if with_answer else prompt + suffix
    tensors = _sequence_tensors(processor, text, list(images))
    target_length = 0
    if with_answer:
        if not text.startswith(prompt):
            raise ValueError(f"{record.id}: the training text does not start with the evaluation prompt")
        target = processor.tokenizer(text[len(prompt) :], add_special_tokens=False)["input_ids"]
        if tensors["input_ids"][-len(target) :].tolist() != list(target):
            raise ValueError(f"{record.id}: the answer's tokens are not the tail of the training sequence")
        target_length = len(target)
    return EncodedQuestion(record, tensors, tuple(images), target_length)


_PLACEHOLDERS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], tuple[int, ...] | None]] = (
    weakref.WeakKeyDictionary()
)
"""Per processor: the image sizes of a question -> how many placeholder tokens each image expands to
(None: this processor's expansion could not be reproduced). A memo of a pure function of the processor's
settings and the sizes, so it is shared, not state: see :func:`_sequence_tensors`."""


def _sequence_tensors(processor: Any, text: str, images: list[Any]) -> dict[str, torch.Tensor]:
    """The processor's sequence tensors for ``text`` and ``images``, without the batch dimension.

    Why not always the processor with the images: it also makes the pixels, which encoding discards
    (they are made again per batch), and that was most of the cost of encoding a study's questions.
    How many tokens an image's placeholder expands to depends only on the image's size, so the first
    question with images of given sizes runs the full processor, which tells the counts; later ones
    expand the placeholders themselves and tokenise text only. The shortcut is taken only after it
    reproduced the full processor's tensors exactly on that first question."""
    token = getattr(processor, "image_token", None)
    sizes = tuple(getattr(image, "size", None) for image in images)
    usable = (
        bool(images) and isinstance(token, str) and None not in sizes and text.count(token) == len(images)
    )
    memo = _PLACEHOLDERS.setdefault(processor, {}) if usable else None
    if memo is not None and memo.get(sizes) is not None:
        return _text_only(processor, _expand(text, token, memo[sizes]))
    full = _text_only(processor, text, images)
    if memo is not None and sizes not in memo:
        counts = _placeholder_counts(
            full["input_ids"], getattr(processor, "image_token_id", None), len(images)
        )
        same = counts is not None and _same(_text_only(processor, _expand(text, token, counts)), full)
        memo[sizes] = counts if same else None
    return full


def _text_only(processor: Any, text: str, images: list[Any] | None = None) -> dict[str, torch.Tensor]:
    """The processor's call (with ``images``), or its text half only: the tokenizer, and each token's
    modality type, which is what a multimodal processor adds to the token ids."""
    if images:
        batch = processor(text=[text], images=images, return_tensors="pt")
    else:
        batch = dict(processor.tokenizer([text], return_tensors="pt"))
        if hasattr(processor, "create_mm_token_type_ids"):
            types = processor.create_mm_token_type_ids(batch["input_ids"].tolist())
            batch["mm_token_type_ids"] = torch.tensor(types, dtype=batch["input_ids"].dtype)
    return {key: value[0] for key, value in batch.items() if key in _SEQUENCE_KEYS}


def _expand(text: str, token: str, counts: Sequence[int]) -> str:
    """``text`` with its k-th ``token`` repeated ``counts[k]`` times."""
    parts = text.split(token)
    return "".join(part + token * count for part, count in zip(parts, counts, strict=False)) + parts[-1]


def _placeholder_counts(input_ids: torch.Tensor, token_id: int | None, images: int) -> tuple[int, ...] | None:
    """Lengths of the runs of ``token_id`` in ``input_ids``: one per image, or None."""
    if token_id is None:
        return None
    runs: list[int] = []
    previous = False
    for is_token in (input_ids == token_id).tolist():
        if is_token:
            if previous:
                runs[-1] += 1
            else:
                runs.append(1)
        previous = is_token
    return tuple(runs) if len(runs) == images else None


def _same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def collate(
    questions: Sequence[EncodedQuestion], processor: Any, *, pixels: bool = True
) -> dict[str, torch.Tensor]:
    """A left-padded batch, with its pixels unless ``pixels=False``; ``labels`` (targets only, else
    ``IGNORE_INDEX``) when any question has targets."""
    pad_id = processor.tokenizer.pad_token_id
    width = max(q.length for q in questions)
    batch: dict[str, torch.Tensor] = {}
    for key in _SEQUENCE_KEYS:
        if key not in questions[0].tensors:
            continue
        fill = pad_id if key == "input_ids" else 0
        batch[key] = torch.stack([_left_pad(q.tensors[key], width, fill) for q in questions])
    if pixels:
        batch.update(pixel_inputs(questions, processor))
    if any(q.target_length for q in questions):
        labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        for row, q in enumerate(questions):
            if q.target_length:
                labels[row, width - q.target_length :] = batch["input_ids"][row, width - q.target_length :]
        batch["labels"] = labels
    return batch


def pixel_inputs(questions: Sequence[EncodedQuestion], processor: Any) -> dict[str, torch.Tensor]:
    """The image processor's outputs (``pixel_values``, ``image_grid_thw`` ...) for the questions' images
    in order, exactly what the processor makes when given text and images together; empty without images."""
    images = [image for q in questions for image in q.images]
    if not images:
        return {}
    return dict(processor.image_processor(images=images, return_tensors="pt"))


def _left_pad(values: torch.Tensor, width: int, fill: int) -> torch.Tensor:
    pad = width - values.shape[0]
    if not pad:
        return values
    return torch.cat([values.new_full((pad,), fill), values])


@dataclass(frozen=True, eq=False)
class ImageFeatures:
    """A question's images as the model's vision tower and merger encode them.

    Attributes:
        tokens: one ``(merged tokens, hidden)`` tensor per image, on the CPU.
        grid: the images' ``image_grid_thw`` rows, ``(images, 3)``.
    """

    tokens: tuple[torch.Tensor, ...]
    grid: torch.Tensor

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tokens)


@dataclass(frozen=True, eq=False)
class ImagePixels:
    """A question's images as the image processor prepares them, before the vision tower.

    What a model whose vision tower is being adapted (LoRA on the vision tower) must encode afresh at
    every step or adapter, while the preprocessing (resizing, normalising, patching: most of the cost of
    encoding small images on a CPU) is the same every time and is done once.

    Attributes:
        values: the images' ``pixel_values`` rows, in order.
        grid: the images' ``image_grid_thw`` rows, ``(images, 3)``.
    """

    values: torch.Tensor
    grid: torch.Tensor

    @property
    def nbytes(self) -> int:
        return self.values.numel() * self.values.element_size()


VisionInput = ImageFeatures | ImagePixels
"""What stands in for a question's images in a forward pass: encoded features (vision tower frozen) or
preprocessed pixels (vision tower adapted)."""


def preprocess_images(
    questions: Sequence[EncodedQuestion], processor: Any, *, batch_size: int = 32
) -> list[ImagePixels | None]:
    """Each question's preprocessed pixels (None for a question without images), in question order;
    the processor prepares each image independently, so batching here changes nothing."""
    pixels: list[ImagePixels | None] = [None] * len(questions)
    with_images = [i for i, q in enumerate(questions) if q.images]
    for start in range(0, len(with_images), batch_size):
        indices = with_images[start : start + batch_size]
        batch = pixel_inputs([questions[i] for i in indices], processor)
        grid = batch["image_grid_thw"]
        rows = grid.prod(dim=1).tolist()
        values = torch.split(batch["pixel_values"], rows)
        position = 0
        for i in indices:
            count = len(questions[i].images)
            pixels[i] = ImagePixels(
                torch.cat(values[position : position + count]), grid[position : position + count]
            )
            position += count
    return pixels


def vision_inputs(items: Sequence[VisionInput | None], device: Any) -> dict[str, Any]:
    """Forward-pass inputs for a batch whose questions have ``items`` (all features or all pixels):
    :func:`pre_encoded_inputs` for features, ``pixel_values`` and ``image_grid_thw`` for pixels; empty
    when no question has images."""
    present = [item for item in items if item is not None]
    if not present:
        return {}
    if all(isinstance(item, ImageFeatures) for item in present):
        return pre_encoded_inputs(present, device)  # type: ignore[arg-type]
    if all(isinstance(item, ImagePixels) for item in present):
        return {
            "pixel_values": torch.cat([item.values for item in present]).to(device),  # type: ignore[union-attr]
            "image_grid_thw": torch.cat([item.grid for item in present]).to(device),
        }
    raise ValueError("a batch mixes encoded image features and preprocessed pixels")


def supports_pre_encoded_images(model: Any) -> bool:
    """Whether ``model`` computes image features on its own (``get_image_features``) and accepts them
    back in ``forward`` (``mm_encoder_outputs``, transformers' pre-encoded multimodal input)."""
    import inspect  # noqa: PLC0415

    return (
        hasattr(model, "get_image_features")
        and "mm_encoder_outputs" in inspect.signature(model.forward).parameters
    )


@torch.inference_mode()
def encode_images(
    model: Any, questions: Sequence[EncodedQuestion], processor: Any, *, batch_size: int = 32
) -> list[ImageFeatures | None]:
    """Each question's image features (None for a question without images), in question order.

    The features are those of ``model`` as it is now: call this on the base model, before any adapter
    that could change the vision tower is attached. Computed in batches of ``batch_size`` questions,
    kept on the CPU (a study's features would not fit beside a large model on its GPU).
    """
    device = next(model.parameters()).device
    features: list[ImageFeatures | None] = [None] * len(questions)
    with_images = [i for i, q in enumerate(questions) if q.images]
    for start in range(0, len(with_images), batch_size):
        indices = with_images[start : start + batch_size]
        pixels = pixel_inputs([questions[i] for i in indices], processor)
        grid = pixels["image_grid_thw"]
        output = model.get_image_features(
            pixels["pixel_values"].to(device), grid.to(device), return_dict=True
        )
        tokens = [part.detach().cpu() for part in output.pooler_output]
        position = 0
        for i in indices:
            count = len(questions[i].images)
            features[i] = ImageFeatures(
                tuple(tokens[position : position + count]), grid[position : position + count]
            )
            position += count
    return features


def pre_encoded_inputs(features: Sequence[ImageFeatures | None], device: Any) -> dict[str, Any]:
    """Forward-pass inputs that stand in for the pixels of a batch whose questions have ``features``
    (``image_grid_thw`` and ``mm_encoder_outputs``); empty when no question has images.

    A fresh dict on every call: generation writes into it.
    """
    present = [f for f in features if f is not None]
    if not present:
        return {}
    from transformers.modeling_outputs import BaseModelOutputWithPooling  # noqa: PLC0415

    return {
        "image_grid_thw": torch.cat([f.grid for f in present]).to(device),
        "mm_encoder_outputs": {
            "image": BaseModelOutputWithPooling(
                pooler_output=tuple(t.to(device) for f in present for t in f.tokens)
            )
        },
    }
