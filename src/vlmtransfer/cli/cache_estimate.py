"""What a study's vision cache will hold, printed by ``run --dry-run`` before anything runs.

Per model: every evaluation image's merged tokens (Qwen2.5-VL's resize to a multiple of 28 px within the
processor's pixel bounds, then one token per 28 x 28 px) x the model's hidden size x bytes per value
(bf16 on a GPU, fp32 on a CPU), against the cache's RAM budget; what exceeds it spills to
``STUDY_DIR/vision-cache``. Image sizes are read from the files' headers (nothing is decoded).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from rich.markup import escape

from vlmtransfer.errors import InputError

__all__ = ["model_vision_shape", "print_vision_cache_estimate", "vision_tokens"]

MERGED_PATCH = 28  # 14-px patches merged 2 x 2


def vision_tokens(width: int, height: int, min_pixels: int, max_pixels: int) -> int:
    """Merged image tokens of one image (Qwen2-VL's ``smart_resize``, then one token per 28 x 28 px)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize  # noqa: PLC0415

    resized_h, resized_w = smart_resize(
        height, width, factor=MERGED_PATCH, min_pixels=min_pixels, max_pixels=max_pixels
    )
    return (resized_h // MERGED_PATCH) * (resized_w // MERGED_PATCH)


def model_vision_shape(name: str) -> tuple[int, int, int] | None:
    """``(hidden size of the image tokens, min_pixels, max_pixels)`` of a preset or a local model
    folder, without loading it; None for a hub id (its config is not at hand offline)."""
    from vlmtransfer.models.architectures import ARCHITECTURES, IMAGE_PIXELS  # noqa: PLC0415
    from vlmtransfer.models.presets import find_preset  # noqa: PLC0415

    preset = find_preset(name)
    if preset is not None and preset.name in ARCHITECTURES:
        hidden = ARCHITECTURES[preset.name]["vision"]["out_hidden_size"]
        return hidden, IMAGE_PIXELS["shortest_edge"], IMAGE_PIXELS["longest_edge"]
    folder = Path(preset.hub_id if preset else name)
    try:
        config = json.loads((folder / "config.json").read_text())
        size = json.loads((folder / "processor_config.json").read_text())["image_processor"]["size"]
        return (
            int(config["vision_config"]["out_hidden_size"]),
            int(size["shortest_edge"]),
            int(size["longest_edge"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _image_sizes(config: Any, targets: Sequence[str]) -> Iterator[tuple[int, int]]:
    from vlmtransfer.data.dataset import limited, load_split, split_tasks  # noqa: PLC0415

    for root in config.data.eval_dirs:
        present = set(split_tasks(root, config.data.eval_split))
        for task in (t for t in targets if t in present):
            for record in limited(load_split(root, task, config.data.eval_split), config.data.eval_limit):
                for relative in record.images:
                    with Image.open(Path(root) / task / relative) as image:
                        yield image.size


def print_vision_cache_estimate(config: Any, targets: Sequence[str], console: Console) -> None:
    """One line per model: the cache's expected size in bf16 and fp32 against its RAM budget."""
    from vlmtransfer.evaluate.feature_cache import default_budget_bytes  # noqa: PLC0415
    from vlmtransfer.study.worker import VISION_CACHE  # noqa: PLC0415

    try:
        sizes = list(_image_sizes(config, targets))
    except (InputError, OSError, ValueError) as exc:  # an estimate never stops a dry run
        console.print(f"[dim]vision cache: not estimated ({escape(str(exc))})[/dim]")
        return
    budget = default_budget_bytes()
    for model in config.models:
        shape = model_vision_shape(model.name)
        if shape is None or not sizes:
            continue
        hidden, min_pixels, max_pixels = shape
        max_pixels = min(max_pixels, config.max_pixels or max_pixels)
        tokens = sum(vision_tokens(w, h, min_pixels, max_pixels) for w, h in sizes)
        bf16, fp32 = tokens * hidden * 2, tokens * hidden * 4
        line = (
            f"vision cache, {model.label or model.name}: {len(sizes):,} images, {tokens:,} image tokens:"
            f" {_gb(bf16)} in bf16 (GPU), {_gb(fp32)} in fp32 (CPU)"
        )
        if budget is not None:
            spill = max(0, bf16 - budget)
            line += f"; RAM budget {_gb(budget)}" + (
                f", ~{_gb(spill)} (bf16) spills to {config.output / VISION_CACHE}" if spill else ""
            )
        console.print(line, highlight=False)


def _gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
