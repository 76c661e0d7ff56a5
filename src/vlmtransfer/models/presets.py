"""Named model presets: the paper's reference models, and the embedded tiny model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.registry import Registry

__all__ = ["EMBEDDED_TINY", "PRESETS", "ModelPreset", "find_preset"]

EMBEDDED_TINY = Path(__file__).resolve().parent.parent / "assets" / "tiny-qwen2.5-vl"
"""The pretrained tiny Qwen2.5-VL shipped with the package (``vlmtransfer model tiny --rebuild`` makes it)."""


@dataclass(frozen=True)
class ModelPreset:
    """A model known by a short name.

    Attributes:
        name: the short name users type (``qwen2.5-vl-7b``).
        hub_id: Hugging Face model id.
        label: the model's label in results and figures (``7B``).
        revision: hub revision to load (record the resolved commit with results).
    """

    name: str
    hub_id: str
    label: str
    revision: str = "main"


PRESETS: Registry[ModelPreset] = Registry(
    "model preset",
    (
        (p.name, p)
        for p in (
            ModelPreset("qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct", "3B"),
            ModelPreset("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", "7B"),
            ModelPreset("qwen2.5-vl-32b", "Qwen/Qwen2.5-VL-32B-Instruct", "32B"),
            ModelPreset("tiny", str(EMBEDDED_TINY), "tiny"),
        )
    ),
    field="model",
    suggest=1,
    cutoff=0.8,
    normalize=str.lower,
)
"""The presets by (lower-case) name; a name is looked up case-insensitively. Only a name this close to a
preset's (difflib's ratio >= 0.8) is taken for a mistyped preset rather than a hub id or a path."""


def find_preset(name: str) -> ModelPreset | None:
    """The preset called ``name`` (case-insensitive), or None when ``name`` is a hub id or a path.

    A name that looks like a preset but is not one (no ``/``, close to a preset name) is an error
    with the near match, so ``qwen2.5-vl-7B-instruct`` typos do not turn into hub lookups.
    """
    preset = PRESETS.find(name)
    if preset or "/" in name:
        return preset
    if PRESETS.near_matches(name):
        raise PRESETS.unknown(name)
    return None
