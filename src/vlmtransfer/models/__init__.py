"""Models: loading any HF image-text-to-text model, presets, and the embedded tiny Qwen2.5-VL.

Loading imports torch; the analysis and report layers never import this package. The names below load
their modules on first use (PEP 562), so ``models.presets`` (what planning a study needs: which names
are presets) stays free of torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtransfer.lazy import lazy_exports

if TYPE_CHECKING:
    from vlmtransfer.models.loading import (
        LoadedModel,
        LoadOptions,
        load_model,
        load_processor,
        pick_device,
        pick_dtype,
    )
    from vlmtransfer.models.presets import PRESETS, ModelPreset, find_preset

_WHERE = {
    "LoadedModel": "vlmtransfer.models.loading",
    "LoadOptions": "vlmtransfer.models.loading",
    "load_model": "vlmtransfer.models.loading",
    "load_processor": "vlmtransfer.models.loading",
    "pick_device": "vlmtransfer.models.loading",
    "pick_dtype": "vlmtransfer.models.loading",
    "PRESETS": "vlmtransfer.models.presets",
    "ModelPreset": "vlmtransfer.models.presets",
    "find_preset": "vlmtransfer.models.presets",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals(), __all__)
