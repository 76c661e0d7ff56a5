"""Checking a LoRA adapter directory before it is attached: its files, its config, its weights' shapes.

``PeftModel.from_pretrained`` on a broken directory gives a traceback from deep inside PEFT, leaves LoRA
layers injected into the base model when the shapes do not fit, and, when the weights file is missing,
takes the local path for a hub repo id and asks the hub. These checks turn each of those into an
:class:`~vlmtransfer.errors.InputError` naming the file, before anything touches the model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlmtransfer.errors import InputError

__all__ = ["ADAPTER_WEIGHTS", "check_adapter_files", "check_adapter_fits"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PREFIX = "base_model.model."
_SUPPORTED = ("LORA",)


def check_adapter_files(adapter: str | Path) -> dict[str, tuple[int, ...]]:
    """Check what can be checked without the base model; return the weights' shapes by name.

    Raises:
        InputError: the directory, its config or its weights file is missing or unreadable, the config is
            not a LoRA config, or the weights file is not a complete safetensors file.
    """
    from safetensors import SafetensorError, safe_open  # noqa: PLC0415

    adapter = Path(adapter)
    if not adapter.is_dir():
        raise InputError("adapter directory not found", source=adapter)
    config_path = adapter / ADAPTER_CONFIG
    if not config_path.is_file():
        raise InputError(f"not an adapter directory (no {ADAPTER_CONFIG})", source=adapter)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"unreadable adapter config ({exc})", source=config_path) from None
    if not isinstance(config, dict):
        raise InputError("an adapter config must be a JSON object", source=config_path)
    peft_type = config.get("peft_type")
    if peft_type not in _SUPPORTED:
        raise InputError(
            f"peft_type {peft_type!r} is not supported (vlmtransfer attaches LoRA adapters: 'LORA')",
            source=config_path,
        )
    weights = adapter / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise InputError(f"no {ADAPTER_WEIGHTS} (the adapter's weights are missing)", source=adapter)
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise InputError(
            f"not a complete safetensors file ({exc}); delete the adapter and train it again", source=weights
        ) from None
    if not shapes:
        raise InputError("holds no weights", source=weights)
    return shapes


def check_adapter_fits(adapter: str | Path, shapes: Mapping[str, tuple[int, ...]], model: Any) -> None:
    """Every weight must adapt a module of ``model`` with the shape that module needs.

    Raises:
        InputError: a weight names a module the model lacks, or its shape does not fit (an adapter of
            another model).
    """
    weights = Path(adapter) / ADAPTER_WEIGHTS
    for key, shape in shapes.items():
        module_name, kind = _lora_module(key)
        if module_name is None:
            continue
        try:
            module = model.get_submodule(module_name)
        except AttributeError:
            raise InputError(
                f"adapts {module_name}, which the base model lacks (an adapter of another model?)",
                source=weights,
            ) from None
        expected = _expected_shape(module, kind, shape)
        if expected is not None and tuple(shape) != expected:
            raise InputError(
                f"{key} has shape {list(shape)} but the base model needs {list(expected)} "
                "(an adapter of another model?)",
                source=weights,
            )


def _lora_module(key: str) -> tuple[str | None, str]:
    """``base_model.model.<module>.lora_A.weight`` -> (``<module>``, ``lora_A``)."""
    for kind in ("lora_A", "lora_B"):
        suffix = f".{kind}.weight"
        if key.startswith(_PREFIX) and key.endswith(suffix):
            return key[len(_PREFIX) : -len(suffix)], kind
    return None, ""


def _expected_shape(module: Any, kind: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """A Linear layer's LoRA A is ``[r, in_features]`` and B ``[out_features, r]``; None for other layers."""
    in_features, out_features = getattr(module, "in_features", None), getattr(module, "out_features", None)
    if not isinstance(in_features, int) or not isinstance(out_features, int) or len(shape) != 2:
        return None
    return (shape[0], in_features) if kind == "lora_A" else (out_features, shape[1])
