"""Questions as model inputs: encode once, batch many times.

Training and evaluation both see the same rendered prompt (``data.prompts.render_prompt``); this module
turns a record and its images into token ids once, so that a training epoch or the evaluation of many
adapters does not re-render and re-tokenise, and batches encoded questions with left padding (the answer
position is then the last column of every row, which the log-likelihood scorer relies on).

Pixels are made per batch by the processor's image processor, not stored: Qwen2.5-VL's patch tensors
are float32 and duplicated along time, about 150 times the size of the PNG, so storing them for a
pretraining mixture would take tens of gigabytes. Images loaded from a dataset directory
(:class:`vlmtransfer.data.image_file.ImageFile`) are not even decoded until then: each batch decodes its
own images and drops them with its pixels.

Vision features: while only the language model trains (LoRA as vlmtransfer applies it) or is evaluated
with adapters, a question's image features, the vision tower and merger's output, never change. They
can be computed once (:func:`encode_images`) and handed to every later forward pass as transformers'
pre-encoded multimodal input (:func:`pre_encoded_inputs`), which skips the vision tower and the image
processor entirely.

Videos: a question's videos (:class:`vlmtransfer.data.video.VideoClip`, passed among its images) are
decoded when their batch's pixels are made, one video at a time, and handed to the processor with their
real metadata (``video_metadata``: the video's fps, frame count and the sampled indices; frame sampling
is ours, so ``do_sample_frames=False``), from which it derives the sampled fps and Qwen2.5-VL's
``second_per_grid_ts``. Their features (``get_video_features``) are cached like images'.

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

from vlmtransfer.data.image_file import decoded
from vlmtransfer.data.prompts import render_prompt
from vlmtransfer.data.records import MCQRecord
from vlmtransfer.data.video import VideoClip
from vlmtransfer.models.loading import input_device

__all__ = [
    "IGNORE_INDEX",
    "EncodedQuestion",
    "ImageFeatures",
    "collate",
    "encode_images",
    "encode_question",
    "pixel_inputs",
    "pre_encoded_inputs",
    "supports_pre_encoded_images",
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
        images: the question's images (in memory, or :class:`~vlmtransfer.data.image_file.ImageFile`,
            decoded only when batched), processed into pixels when batched.
        target_length: number of trailing tokens that are the training target (0 for evaluation).
        videos: the question's videos, decoded and processed when batched.
    """

    record: MCQRecord
    tensors: dict[str, torch.Tensor]
    images: tuple[Any, ...]
    target_length: int
    videos: tuple[VideoClip, ...] = ()

    @property
    def length(self) -> int:
        return int(self.tensors["input_ids"].shape[0])


_SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


def encode_question(
    record: MCQRecord, images: Sequence[Any], processor: Any, *, with_answer: bool = False, suffix: str = ""
) -> EncodedQuestion:
    """Encode a question for evaluation (prompt + ``suffix``) or training (prompt + answer turn).

    ``images`` holds the question's images and then its videos (:class:`VideoClip`), as
    :func:`vlmtransfer.data.dataset.load_questions` gives them.

    Raises:
        ValueError: the answer's tokens are not the tail of the full sequence (see module docstring).
    """
    prompt = render_prompt(record, processor)
    text = render_prompt(record, processor, with_answer=True) if with_answer else prompt + suffix
    videos = [item for item in images if isinstance(item, VideoClip)]
    images = [item for item in images if not isinstance(item, VideoClip)]
    tensors = _sequence_tensors(processor, text, images, videos)
    target_length = 0
    if with_answer:
        if not text.startswith(prompt):
            raise ValueError(f"{record.id}: the training text does not start with the evaluation prompt")
        target = processor.tokenizer(text[len(prompt) :], add_special_tokens=False)["input_ids"]
        if tensors["input_ids"][-len(target) :].tolist() != list(target):
            raise ValueError(f"{record.id}: the answer's tokens are not the tail of the training sequence")
        target_length = len(target)
    return EncodedQuestion(record, tensors, tuple(images), target_length, tuple(videos))


_PLACEHOLDERS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], dict[str, tuple[int, ...]] | None]] = (
    weakref.WeakKeyDictionary()
)
"""Per processor: the image sizes and video shapes of a question -> how many placeholder tokens each
image and video expands to (None: this processor's expansion could not be reproduced). A memo of a pure
function of the processor's settings and the sizes, so it is shared, not state: see
:func:`_sequence_tensors`."""


def _sequence_tensors(
    processor: Any, text: str, images: list[Any], videos: Sequence[VideoClip] = ()
) -> dict[str, torch.Tensor]:
    """The processor's sequence tensors for ``text``, ``images`` and ``videos``, without the batch dimension.

    Why not always the processor with the images: it also makes the pixels, which encoding discards
    (they are made again per batch), and that was most of the cost of encoding a study's questions (for
    a video, it would also decode it). How many tokens an image's or video's placeholder expands to
    depends only on its size (a video's: sampled frames, height, width), so the first question with
    given sizes runs the full processor, which tells the counts; later ones expand the placeholders
    themselves and tokenise text only. The shortcut is taken only after it reproduced the full
    processor's tensors exactly on that first question."""
    parts = {"image": list(images), "video": list(videos)}
    tokens = {kind: getattr(processor, f"{kind}_token", None) for kind in parts}
    image_sizes = tuple(getattr(image, "size", None) for image in images)
    sizes = (*image_sizes, ("video", *(v.shape for v in videos))) if videos else image_sizes
    usable = (
        bool(images or videos)
        and None not in image_sizes
        and all(
            not items or (isinstance(tokens[kind], str) and text.count(tokens[kind]) == len(items))
            for kind, items in parts.items()
        )
    )
    memo = _PLACEHOLDERS.setdefault(processor, {}) if usable else None
    if memo is not None and memo.get(sizes) is not None:
        return _text_only(processor, _expand_all(text, tokens, memo[sizes]))
    full = _text_only(processor, text, images, videos)
    if memo is not None and sizes not in memo:
        counts = {
            kind: _placeholder_counts(
                full["input_ids"], getattr(processor, f"{kind}_token_id", None), len(items)
            )
            for kind, items in parts.items()
            if items
        }
        known = {kind: c for kind, c in counts.items() if c is not None}
        same = len(known) == len(counts) and _same(
            _text_only(processor, _expand_all(text, tokens, known)), full
        )
        memo[sizes] = known if same else None
    return full


def _text_only(
    processor: Any, text: str, images: list[Any] | None = None, videos: Sequence[VideoClip] = ()
) -> dict[str, torch.Tensor]:
    """The processor's call (with ``images`` and ``videos``), or its text half only: the tokenizer, and
    each token's modality type, which is what a multimodal processor adds to the token ids."""
    if images or videos:
        extra = video_arguments(processor, videos) if videos else {}
        batch = processor(text=[text], images=decoded(images or ()) or None, return_tensors="pt", **extra)
    else:
        batch = dict(processor.tokenizer([text], return_tensors="pt"))
        if hasattr(processor, "create_mm_token_type_ids"):
            types = processor.create_mm_token_type_ids(batch["input_ids"].tolist())
            batch["mm_token_type_ids"] = torch.tensor(types, dtype=batch["input_ids"].dtype)
    return {key: value[0] for key, value in batch.items() if key in _SEQUENCE_KEYS}


def video_arguments(processor: Any, videos: Sequence[VideoClip]) -> dict[str, Any]:
    """What a processor call takes for ``videos``: the decoded sampled frames, their real metadata, no
    re-sampling, and (where the processor has it) the reference per-frame pixel cap that Qwen2.5-VL was
    trained with (qwen-vl-utils; transformers' own default leaves it off and warns)."""
    arguments: dict[str, Any] = {
        "videos": [clip.frames() for clip in videos],
        "video_metadata": [clip.metadata() for clip in videos],
        "do_sample_frames": False,
    }
    if hasattr(getattr(processor, "video_processor", processor), "cap_pixels_per_frame"):
        arguments["cap_pixels_per_frame"] = True
    return arguments


def _expand_all(text: str, tokens: dict[str, Any], counts: dict[str, tuple[int, ...]]) -> str:
    for kind, per_item in counts.items():
        text = _expand(text, tokens[kind], per_item)
    return text


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
    """The image and video processors' outputs (``pixel_values``, ``image_grid_thw``,
    ``pixel_values_videos``, ``video_grid_thw``, ``second_per_grid_ts``) for the questions' images and
    videos in order, exactly what the processor makes when given text, images and videos together; empty
    without either. Image files are decoded here and dropped on return, so only one batch's images are
    in memory at once; videos are decoded one at a time, so only one video's frames are."""
    images = decoded(image for q in questions for image in q.images)
    videos = [video for q in questions for video in q.videos]
    inputs: dict[str, torch.Tensor] = {}
    if images:
        inputs.update(processor.image_processor(images=images, return_tensors="pt"))
    if videos:
        inputs.update(video_pixels(videos, processor))
    return inputs


def video_pixels(videos: Sequence[VideoClip], processor: Any) -> dict[str, torch.Tensor]:
    """``pixel_values_videos``, ``video_grid_thw`` and ``second_per_grid_ts`` of ``videos``, decoded and
    processed one by one. ``second_per_grid_ts`` is the processor's own formula (temporal patch size over
    the sampled fps), computed here because the video processor alone does not return it."""
    pixels, grids = [], []
    for clip in videos:
        arguments = video_arguments(processor, [clip])
        arguments.pop("do_sample_frames")
        video_processor = processor.video_processor
        output = video_processor(
            videos=arguments.pop("videos"), do_sample_frames=False, return_tensors="pt", **arguments
        )
        pixels.append(output["pixel_values_videos"])
        grids.append(output["video_grid_thw"])
    inputs = {"pixel_values_videos": torch.cat(pixels), "video_grid_thw": torch.cat(grids)}
    if "second_per_grid_ts" in getattr(processor, "model_input_names", ()):
        temporal = getattr(processor.video_processor, "temporal_patch_size", 1)
        inputs["second_per_grid_ts"] = torch.tensor([temporal / clip.sampled_fps for clip in videos])
    return inputs


def _left_pad(values: torch.Tensor, width: int, fill: int) -> torch.Tensor:
    pad = width - values.shape[0]
    if not pad:
        return values
    return torch.cat([values.new_full((pad,), fill), values])


@dataclass(frozen=True, eq=False)
class ImageFeatures:
    """A question's images and videos as the model's vision tower and merger encode them.

    Attributes:
        tokens: one ``(merged tokens, hidden)`` tensor per image, on the CPU.
        grid: the images' ``image_grid_thw`` rows, ``(images, 3)``.
        video_tokens: one ``(merged tokens, hidden)`` tensor per video.
        video_grid: the videos' ``video_grid_thw`` rows, ``(videos, 3)`` (None without videos).
        second_per_grid_ts: seconds per temporal patch of each video (Qwen2.5-VL's temporal positions;
            None without videos or for models that do not take it).
    """

    tokens: tuple[torch.Tensor, ...]
    grid: torch.Tensor
    video_tokens: tuple[torch.Tensor, ...] = ()
    video_grid: torch.Tensor | None = None
    second_per_grid_ts: torch.Tensor | None = None

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.tokens, *self.video_tokens))


def supports_pre_encoded_images(model: Any, *, videos: bool = False) -> bool:
    """Whether ``model`` computes image (and, with ``videos``, video) features on its own
    (``get_image_features``, ``get_video_features``) and accepts them back in ``forward``
    (``mm_encoder_outputs``, transformers' pre-encoded multimodal input)."""
    import inspect  # noqa: PLC0415

    return (
        hasattr(model, "get_image_features")
        and (not videos or hasattr(model, "get_video_features"))
        and "mm_encoder_outputs" in inspect.signature(model.forward).parameters
    )


@torch.inference_mode()
def encode_images(
    model: Any, questions: Sequence[EncodedQuestion], processor: Any, *, batch_size: int = 32
) -> list[ImageFeatures | None]:
    """Each question's image and video features (None for a question without either), in question order.

    The features are those of ``model`` as it is now: call this on the base model, before any adapter
    that could change the vision tower is attached. Computed in batches of ``batch_size`` questions,
    kept on the CPU (a study's features would not fit beside a large model on its GPU).
    """
    device = input_device(model)  # where the embeddings are (several devices: a device map)
    features: list[ImageFeatures | None] = [None] * len(questions)
    with_visuals = [i for i, q in enumerate(questions) if q.images or q.videos]
    for start in range(0, len(with_visuals), batch_size):
        indices = with_visuals[start : start + batch_size]
        pixels = pixel_inputs([questions[i] for i in indices], processor)
        grid = pixels.get("image_grid_thw", torch.zeros((0, 3), dtype=torch.long))
        tokens: list[torch.Tensor] = []
        if "pixel_values" in pixels:
            output = model.get_image_features(
                pixels["pixel_values"].to(device), grid.to(device), return_dict=True
            )
            tokens = [part.detach().cpu() for part in output.pooler_output]
        video_grid = pixels.get("video_grid_thw")
        video_tokens: list[torch.Tensor] = []
        if video_grid is not None:
            output = model.get_video_features(
                pixels["pixel_values_videos"].to(device), video_grid.to(device), return_dict=True
            )
            video_tokens = [part.detach().cpu() for part in output.pooler_output]
        seconds = pixels.get("second_per_grid_ts")
        position = video_position = 0
        for i in indices:
            count, videos = len(questions[i].images), len(questions[i].videos)
            span = slice(video_position, video_position + videos)
            features[i] = ImageFeatures(
                tuple(tokens[position : position + count]),
                grid[position : position + count],
                tuple(video_tokens[span]),
                video_grid[span] if videos and video_grid is not None else None,
                seconds[span] if videos and seconds is not None else None,
            )
            position += count
            video_position += videos
    return features


def pre_encoded_inputs(features: Sequence[ImageFeatures | None], device: Any) -> dict[str, Any]:
    """Forward-pass inputs that stand in for the pixels of a batch whose questions have ``features``
    (``image_grid_thw``, ``video_grid_thw``, ``second_per_grid_ts`` and ``mm_encoder_outputs``); empty
    when no question has images or videos.

    A fresh dict on every call: generation writes into it.
    """
    present = [f for f in features if f is not None]
    if not present:
        return {}
    from transformers.modeling_outputs import BaseModelOutputWithPooling  # noqa: PLC0415

    inputs: dict[str, Any] = {}
    encoded: dict[str, Any] = {}
    image_tokens = tuple(t.to(device) for f in present for t in f.tokens)
    if image_tokens:
        inputs["image_grid_thw"] = torch.cat([f.grid for f in present]).to(device)
        encoded["image"] = BaseModelOutputWithPooling(pooler_output=image_tokens)
    with_videos = [f for f in present if f.video_tokens]
    if with_videos:
        inputs["video_grid_thw"] = torch.cat([f.video_grid for f in with_videos if f.video_grid is not None])
        inputs["video_grid_thw"] = inputs["video_grid_thw"].to(device)
        seconds = [f.second_per_grid_ts for f in with_videos if f.second_per_grid_ts is not None]
        if seconds:
            inputs["second_per_grid_ts"] = torch.cat(seconds).to(device)
        encoded["video"] = BaseModelOutputWithPooling(
            pooler_output=tuple(t.to(device) for f in with_videos for t in f.video_tokens)
        )
    inputs["mm_encoder_outputs"] = encoded
    return inputs
