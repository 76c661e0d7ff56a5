"""Models: loading any HF image-text-to-text model, presets, and the embedded tiny Qwen2.5-VL.

Imports torch; the analysis and report layers never import this package.
"""

from vlmtransfer.models.loading import (
    LoadedModel,
    LoadOptions,
    load_model,
    load_processor,
    pick_device,
    pick_dtype,
)
from vlmtransfer.models.presets import PRESETS, ModelPreset, find_preset

__all__ = [
    "PRESETS",
    "LoadOptions",
    "LoadedModel",
    "ModelPreset",
    "find_preset",
    "load_model",
    "load_processor",
    "pick_device",
    "pick_dtype",
]
