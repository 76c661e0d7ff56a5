"""Loading any Hugging Face image-text-to-text model and its processor.

``AutoModelForImageTextToText`` + ``AutoProcessor`` cover Qwen2.5-VL and most current VLMs; a model
is named by preset, hub id or local path. Device and dtype are chosen for the hardware (bf16 on a
GPU that supports it, fp32 on CPU); remote code is never trusted unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vlmtransfer.errors import InputError
from vlmtransfer.models.presets import find_preset

__all__ = [
    "LoadOptions",
    "LoadedModel",
    "gpu_split",
    "input_device",
    "load_model",
    "load_processor",
    "offloaded_parameters",
    "pick_device",
    "pick_dtype",
]


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model.

    Attributes:
        dtype: ``"auto"`` (bf16 on a capable GPU, else fp32) or a torch dtype name (``"float32"``).
        device: ``"auto"`` (CUDA if available, else CPU) or a torch device string.
        trust_remote_code: allow model code from the hub (off: loading must not execute strangers' code).
        max_pixels: cap on pixels per image after resizing (Qwen2.5-VL); recorded with results, since
            it changes accuracy.
        min_pixels: floor on pixels per image.
        revision: hub revision (default: the preset's, else ``main``).
        random_weights: build the preset's real architecture with random weights instead of loading
            it (no hub; for benchmarks and tests; see :mod:`vlmtransfer.models.architectures`).
        num_layers, vision_depth: with ``random_weights``, fewer language-model layers / vision blocks
            than the real model (widths unchanged).
        device_map: spread the model over several devices instead of putting it on ``device``: a
            transformers/accelerate device map, ``"auto"`` (balanced over the devices ``max_memory``
            names, or all visible GPUs) or ``{"module.name": device}`` (a GPU index, ``"cpu"`` or
            ``"disk"``). Inputs go to the device of the input embeddings; accelerate's hooks move
            activations between devices. See :func:`gpu_split` for a model too big for one GPU.
        max_memory: with a device map, what each device may hold (``{0: "70GiB", 1: "70GiB"}``).
        offload_folder: with a device map, where ``"disk"`` entries keep their weights.
    """

    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    max_pixels: int | None = None
    min_pixels: int | None = None
    revision: str | None = None
    random_weights: bool = False
    num_layers: int | None = None
    vision_depth: int | None = None
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[Any, Any] | None = None
    offload_folder: str | None = None


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model in eval mode with its processor, and what it was loaded as."""

    model: Any
    processor: Any
    source: str
    device: torch.device
    dtype: torch.dtype


def pick_device(device: str = "auto") -> torch.device:
    """CUDA when available for ``"auto"``, else the requested device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """bf16 on a GPU that supports it, fp32 otherwise (CPU bf16 matmuls are slow and lossy)."""
    if dtype != "auto":
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise InputError(f"unknown dtype {dtype!r}", field="dtype")
        return resolved
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _resolve(name: str, revision: str | None) -> tuple[str, str | None]:
    preset = find_preset(name)
    if preset:
        return preset.hub_id, revision or preset.revision
    return name, revision


def load_processor(name: str, options: LoadOptions | None = None) -> Any:
    """The model's processor, with the image-resolution cap applied."""
    from transformers import AutoProcessor  # noqa: PLC0415 - heavy import

    options = options or LoadOptions()
    source, revision = _resolve(name, options.revision)
    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": options.trust_remote_code}
    processor = _loading(source, lambda: AutoProcessor.from_pretrained(source, **kwargs))
    if options.max_pixels is None and options.min_pixels is None:
        return processor
    # Qwen-style processors bound the pixel count by size["shortest_edge"] (min) / ["longest_edge"] (max).
    size = dict(processor.image_processor.size)
    size["longest_edge"] = options.max_pixels or size.get("longest_edge")
    size["shortest_edge"] = min(options.min_pixels or size.get("shortest_edge") or 0, size["longest_edge"])
    processor.image_processor.size = type(processor.image_processor.size)(**size)
    return processor


def load_model(name: str, options: LoadOptions | None = None) -> LoadedModel:
    """Load a model by preset name, hub id or local path, in eval mode on the chosen device."""
    from transformers import AutoModelForImageTextToText  # noqa: PLC0415 - heavy import

    options = options or LoadOptions()
    if options.random_weights:
        if options.device_map is not None:
            raise InputError("device_map applies to loaded weights, not random ones", field="model")
        return _random_model(name, options)
    if options.num_layers is not None or options.vision_depth is not None:
        raise InputError("num_layers and vision_depth apply to random weights only", field="model")
    source, revision = _resolve(name, options.revision)
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    placement: dict[str, Any] = {}
    if options.device_map is not None:
        placement = {"device_map": options.device_map, "max_memory": options.max_memory}
        if options.offload_folder is not None:
            placement["offload_folder"] = options.offload_folder

    def load() -> Any:
        return AutoModelForImageTextToText.from_pretrained(
            source, revision=revision, dtype=dtype, trust_remote_code=options.trust_remote_code, **placement
        )

    model = _loading(source, load)
    if placement:
        device = input_device(model)  # accelerate placed the modules; inputs go where the embeddings are
    else:
        model = model.to(device)
    return LoadedModel(model.eval(), load_processor(name, options), source, device, dtype)


def input_device(model: Any) -> torch.device:
    """Where ``model``'s inputs go: its input embeddings' device (their execution device when a device
    map offloads them), else its first parameter's."""
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is not None:
        hook = getattr(embeddings, "_hf_hook", None)
        execution = getattr(hook, "execution_device", None)
        if execution is not None:
            return torch.device(execution if not isinstance(execution, int) else f"cuda:{execution}")
        return embeddings.weight.device
    return next(model.parameters()).device


def offloaded_parameters(model: Any) -> list[str]:
    """The parameters a device map keeps off the model's devices (offloaded to CPU memory or disk: held
    on the ``meta`` device, their weights moved in by accelerate's hooks at every forward). PEFT cannot
    put LoRA factors on them: an adapter attached or trained there would be silently incomplete."""
    return [name for name, parameter in model.named_parameters() if parameter.device.type == "meta"]


def gpu_split(gpus: int, per_gpu: int | str | None = None) -> tuple[str, dict[int, int | str]]:
    """The device map and memory bounds that split a model over this process's first ``gpus`` GPUs
    (a Ray actor with ``num_gpus: N`` sees its N GPUs as 0..N-1): ``("auto", {0: ..., N-1: ...})``,
    each GPU bounded by ``per_gpu`` or its free memory now.

    Raises:
        InputError: fewer than ``gpus`` GPUs are visible here (field ``gpus``).
    """
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible < gpus:
        raise InputError(f"the model is split over {gpus} GPUs, but {visible} are visible here", field="gpus")
    return "auto", {i: per_gpu if per_gpu is not None else torch.cuda.mem_get_info(i)[0] for i in range(gpus)}


def _random_model(name: str, options: LoadOptions) -> LoadedModel:
    """The preset's real architecture with random weights, and the processor it runs with."""
    from vlmtransfer.models.architectures import ARCHITECTURES, random_model, random_processor  # noqa: PLC0415

    preset = find_preset(name)
    if preset is None or preset.name not in ARCHITECTURES:
        known = ", ".join(ARCHITECTURES)
        raise InputError(f"random weights need an architecture preset ({known}), not {name!r}", field="model")
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    processor = random_processor(options.max_pixels, options.min_pixels)
    try:
        model = random_model(
            preset.name,
            processor,
            num_layers=options.num_layers,
            vision_depth=options.vision_depth,
            device=device,
        )
    except ValueError as exc:
        raise InputError(str(exc), field="model") from None
    model = model.to(device=device, dtype=dtype).eval()
    return LoadedModel(model, processor, f"random:{preset.name}", device, dtype)


def _loading(source: str, load: Any) -> Any:
    """Run a loader; a missing path, unknown id or unreachable hub is bad input, not a crash."""
    try:
        return load()
    except (OSError, ValueError) as exc:
        where = "local path" if Path(source).exists() else "hub id or path"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load {where} {source!r}: {first}", field="model") from None
