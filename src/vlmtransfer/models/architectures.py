"""The real Qwen2.5-VL architectures, buildable without the hub (random weights) for benchmarks and tests.

The sizes are the public ``config.json`` values of Qwen/Qwen2.5-VL-{3B,7B,32B}-Instruct; loading the
real weights still goes through the hub ids of :mod:`vlmtransfer.models.presets`. Built here with random
weights, optionally with fewer language-model layers or vision blocks, a model has the real widths, head
counts, vocabulary, vision tower, merger and rotary layout, so memory, cache sizes and FLOPs per token are
the real ones per layer. Its processor pairs Qwen's image processor at Qwen's default resolution bounds
with the embedded tiny model's tokenizer (the real tokenizer is on the hub); the model's special-token ids
are taken from that tokenizer, and its vocabulary keeps the real size.

A test checks the parameter counts of the full-depth configs against the published model sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ARCHITECTURES", "PUBLISHED_PARAMETERS", "architecture_config", "random_model", "random_processor"]

_VISION = {
    "depth": 32,
    "hidden_act": "silu",
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "in_chans": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "spatial_patch_size": 14,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
    "temporal_patch_size": 2,
}
_TEXT = {
    "hidden_act": "silu",
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24], "rope_theta": 1000000.0},
    "sliding_window": 32768,
    "use_sliding_window": False,
}

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "qwen2.5-vl-3b": {
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "tie_word_embeddings": True,
        },
        "vision": {"out_hidden_size": 2048},
    },
    "qwen2.5-vl-7b": {
        "text": {
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "vocab_size": 152064,
            "tie_word_embeddings": False,
        },
        "vision": {"out_hidden_size": 3584},
    },
    "qwen2.5-vl-32b": {
        "text": {
            "hidden_size": 5120,
            "intermediate_size": 27648,
            "num_hidden_layers": 64,
            "num_attention_heads": 40,
            "num_key_value_heads": 8,
            "vocab_size": 152064,
            "tie_word_embeddings": False,
        },
        "vision": {"out_hidden_size": 5120, "intermediate_size": 3456},
    },
}
"""Per preset: what differs from the shared text and vision settings above."""

PUBLISHED_PARAMETERS = {"qwen2.5-vl-3b": 3.75e9, "qwen2.5-vl-7b": 8.29e9, "qwen2.5-vl-32b": 33.5e9}
"""Parameter counts the model cards publish (what the full-depth configs must reproduce)."""

IMAGE_PIXELS = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280}
"""Qwen2.5-VL's default bounds on pixels per image (min_pixels, max_pixels)."""


def architecture_config(
    preset: str,
    *,
    num_layers: int | None = None,
    vision_depth: int | None = None,
    special_tokens: Mapping[str, int] | None = None,
) -> Any:
    """The ``Qwen2_5_VLConfig`` of ``preset`` (full depth unless ``num_layers`` / ``vision_depth``).

    ``special_tokens`` maps ``image_token_id``, ``video_token_id``, ``vision_start_token_id``,
    ``vision_end_token_id``, ``bos_token_id``, ``eos_token_id`` and ``pad_token_id`` to the ids of the
    tokenizer the model is paired with (default: Qwen's).

    Raises:
        ValueError: an unknown preset, or a depth below 1 or above the real one.
    """
    from transformers import Qwen2_5_VLConfig  # noqa: PLC0415 - heavy import

    if preset not in ARCHITECTURES:
        raise ValueError(f"no architecture for {preset!r} (known: {', '.join(ARCHITECTURES)})")
    spec = ARCHITECTURES[preset]
    text = {**_TEXT, **spec["text"]}
    vision = {**_VISION, **spec["vision"]}
    if num_layers is not None:
        if not 1 <= num_layers <= text["num_hidden_layers"]:
            raise ValueError(f"num_layers: must be 1-{text['num_hidden_layers']}, got {num_layers}")
        text["num_hidden_layers"] = num_layers
    if vision_depth is not None:
        if not 1 <= vision_depth <= vision["depth"]:
            raise ValueError(f"vision_depth: must be 1-{vision['depth']}, got {vision_depth}")
        # keep the real pattern: windowed blocks, with full attention in every eighth and the last one
        vision["depth"] = vision_depth
        vision["fullatt_block_indexes"] = sorted(set(range(7, vision_depth, 8)) | {vision_depth - 1})
    ids = {
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "pad_token_id": 151643,
        **(special_tokens or {}),
    }
    text |= {k: ids[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=text["tie_word_embeddings"], **ids
    )


def random_processor(max_pixels: int | None = None, min_pixels: int | None = None) -> Any:
    """Qwen's image processor at Qwen2.5-VL's default resolution bounds (or the given ones), with the
    embedded tiny model's tokenizer and chat template: what a random-weights architecture runs with."""
    from transformers import (  # noqa: PLC0415 - heavy import
        AutoTokenizer,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from vlmtransfer.models.presets import EMBEDDED_TINY  # noqa: PLC0415
    from vlmtransfer.models.tiny import CHAT_TEMPLATE  # noqa: PLC0415

    tokenizer = AutoTokenizer.from_pretrained(str(EMBEDDED_TINY))
    size = {
        "shortest_edge": min_pixels or IMAGE_PIXELS["shortest_edge"],
        "longest_edge": max_pixels or IMAGE_PIXELS["longest_edge"],
    }
    image_processor = Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def random_model(
    preset: str,
    processor: Any,
    *,
    num_layers: int | None = None,
    vision_depth: int | None = None,
    seed: int = 0,
    device: Any = "cpu",
) -> Any:
    """``preset``'s architecture with random weights (``Qwen2_5_VLForConditionalGeneration``, fp32), its
    special tokens those of ``processor``'s tokenizer; deterministic for a seed and device. Built on
    ``device`` (initialising a full-depth 7B's weights on a GPU takes seconds, on a CPU minutes)."""
    import torch  # noqa: PLC0415
    from transformers import Qwen2_5_VLForConditionalGeneration  # noqa: PLC0415

    tokenizer = processor.tokenizer
    tokens = {
        "image_token_id": "<|image_pad|>",
        "video_token_id": "<|video_pad|>",
        "vision_start_token_id": "<|vision_start|>",
        "vision_end_token_id": "<|vision_end|>",
        "bos_token_id": "<|endoftext|>",
        "eos_token_id": "<|im_end|>",
        "pad_token_id": "<|endoftext|>",
    }
    ids = {key: tokenizer.convert_tokens_to_ids(token) for key, token in tokens.items()}
    config = architecture_config(preset, num_layers=num_layers, vision_depth=vision_depth, special_tokens=ids)
    torch.manual_seed(seed)
    with torch.device(device):
        return Qwen2_5_VLForConditionalGeneration(config).eval()
