"""LoRA finetuning of a VLM (PEFT), saved as a standard PEFT adapter.

By default only the language model is adapted: the adapter's target modules are matched by a regular
expression anchored at the language model's own module path (found through ``get_decoder()``), because
vision towers reuse the same projection names (Qwen2.5-VL's vision MLP also has ``gate_proj``/``up_proj``).
Keeping the vision tower and merger frozen is what lets evaluation encode each question's images once
for the base model and every adapter, and training encode each training question's images once for
every step, epoch and seed (``image_features``) instead of once per step.

``LoraSettings(vision=True)`` also adapts every linear layer of the vision tower and merger (everything
outside the language model and the output head), as finetuning recipes that tune the vision encoder do.
The images then go through the processor and the tower at every step and, in evaluation, for every
adapter. (Keeping the processor's output instead was measured on the tiny model: 1.0-1.1x, not kept.)

The base model is left as it was found: the adapter is attached, trained, saved and unloaded, so a
study can finetune many adapters on one loaded base.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from vlmtransfer import __version__
from vlmtransfer.errors import InputError, system_refusal
from vlmtransfer.finetune.record import (
    ADAPTER_CONFIG,
    LOSS_CURVE,
    TRAINING_CONFIG,
    LossPoint,
    curve_csv,
    read_loss_curve,
)
from vlmtransfer.finetune.trainer import TrainSettings, train
from vlmtransfer.fsutil import staged_directory
from vlmtransfer.models.encoding import (
    EncodedQuestion,
    ImageFeatures,
    encode_images,
    supports_pre_encoded_images,
)
from vlmtransfer.settings import LoraSettings

__all__ = [
    "ADAPTER_CONFIG",
    "LOSS_CURVE",
    "TRAINING_CONFIG",
    "FinetuneResult",
    "LoraSettings",
    "attach_lora",
    "detach_lora",
    "finetune_lora",
    "language_model_path",
    "quiet_peft",
    "read_loss_curve",
    "restore_trainable_flags",
    "trainable_flags",
    "training_image_features",
    "training_vision_inputs",
    "vision_linear_layers",
]


@dataclass(frozen=True)
class FinetuneResult:
    """Where the adapter went and how training went."""

    adapter_dir: Path
    curve: list[LossPoint]
    trainable_parameters: int


def language_model_path(model: Any) -> str:
    """The dotted module path of the model's language model (its decoder).

    Raises:
        ValueError: the model does not expose its decoder through ``get_decoder()``.
    """
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    for name, module in model.named_modules():
        if module is decoder and name:
            return name
    raise ValueError(f"cannot find the language model of {type(model).__name__} (no get_decoder())")


def vision_linear_layers(model: Any) -> list[str]:
    """Dotted names of the model's linear layers outside its language model and output head: what
    ``LoraSettings(vision=True)`` adapts besides the language model."""
    prefix = language_model_path(model)
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not output and not name.startswith(prefix + ".")
    ]


def _refuse_offloaded(model: Any) -> None:
    """LoRA needs every weight on a device: refuse a model whose device map offloads some."""
    from vlmtransfer.models.loading import offloaded_parameters  # noqa: PLC0415

    offloaded = offloaded_parameters(model)
    if offloaded:
        raise InputError(
            "LoRA cannot adapt a model whose device map offloads weights to the CPU or disk"
            f" ({len(offloaded)} parameters, e.g. {offloaded[0]}): give it GPUs that hold it whole",
            field="model",
        )


def attach_lora(model: Any, settings: LoraSettings, seed: int) -> Any:
    """Wrap ``model`` in a PEFT LoRA model adapting its language model (and, with ``settings.vision``, its
    vision tower and merger); initialisation from ``seed``.

    Raises:
        ValueError: no module matched, or anything outside the language model became trainable.
    """
    from peft import LoraConfig, get_peft_model  # noqa: PLC0415 - heavy import

    if "peft_config" in vars(model):
        raise ValueError(
            "the model already has adapters attached (finish the other finetune or evaluation first)"
        )
    _refuse_offloaded(model)
    prefix = language_model_path(model)
    pattern = rf"^{re.escape(prefix)}\..*\.({'|'.join(settings.target_modules)})$"
    vision = vision_linear_layers(model) if settings.vision else []
    if settings.vision and not vision:
        raise ValueError(f"vision: {type(model).__name__} has no linear layers outside its language model")
    if vision:
        pattern = rf"{pattern}|^({'|'.join(re.escape(name) for name in vision)})$"
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=pattern,
        bias="none",
    )
    flags = trainable_flags(model)
    torch.manual_seed(seed)
    try:
        with quiet_peft():
            peft_model = get_peft_model(model, config)
    except ValueError as exc:
        restore_trainable_flags(model, flags)
        raise ValueError(
            f"LoRA target modules {settings.target_modules} not found under {prefix}: {exc}"
        ) from None
    allowed = [prefix, *vision]
    stray = [
        name
        for name, parameter in peft_model.named_parameters()
        if parameter.requires_grad and not any(f".{part}." in f".{name}" for part in allowed)
    ]
    if stray:
        detach_lora(peft_model, flags)
        raise ValueError(f"LoRA would train parameters outside the modules it adapts: {stray[:3]}")
    peft_model.vlmtransfer_trainable_flags = flags
    return peft_model


def trainable_flags(model: Any) -> dict[str, bool]:
    """Each parameter's ``requires_grad``: PEFT freezes the base model and ``unload()`` does not undo it."""
    return {name: parameter.requires_grad for name, parameter in model.named_parameters()}


def restore_trainable_flags(model: Any, flags: dict[str, bool]) -> None:
    for name, parameter in model.named_parameters():
        if name in flags:
            parameter.requires_grad_(flags[name])


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """PEFT reads a transformers property that 5.x deprecates; nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def detach_lora(peft_model: Any, flags: dict[str, bool] | None = None) -> Any:
    """Remove every adapter (without merging) and return the original model, trainable flags included
    (``flags`` from :func:`trainable_flags`, by default those :func:`attach_lora` recorded)."""
    flags = flags if flags is not None else getattr(peft_model, "vlmtransfer_trainable_flags", None)
    model = peft_model.unload()
    if "peft_config" in vars(model):
        del model.peft_config  # unload() leaves it in some PEFT versions; a later attach would refuse
    if flags is not None:
        restore_trainable_flags(model, flags)
    return model


def finetune_lora(
    model: Any,
    questions: Sequence[EncodedQuestion],
    out_dir: str | Path,
    *,
    lora: LoraSettings,
    settings: TrainSettings,
    processor: Any,
    provenance: dict[str, Any] | None = None,
    on_step: Callable[[LossPoint, int], None] | None = None,
    image_features: Sequence[ImageFeatures | None] | None = None,
    cache_vision: bool = True,
) -> FinetuneResult:
    """Train a LoRA adapter on ``questions`` and save it to ``out_dir`` (all or nothing).

    ``out_dir`` receives ``adapter_model.safetensors`` and ``adapter_config.json`` (PEFT's format, so
    ``PeftModel.from_pretrained`` loads it), ``training.json`` (settings, data fingerprint, versions,
    ``provenance``) and ``loss_curve.csv``. ``model`` is returned to its original state afterwards.

    While the vision tower stays frozen, each question's image features are computed once up front
    (``cache_vision``) or taken from ``image_features`` (:func:`training_vision_inputs` of the same
    questions, e.g. shared by the seeds of one source); models without pre-encoded input support, and
    ``lora.vision`` (which trains the tower), train from the images.

    Raises:
        ValueError: ``image_features`` given while ``lora.vision`` trains the tower (they would be the
            frozen tower's features, not those of the tower being trained).
    """
    if image_features is None and cache_vision:
        image_features = training_vision_inputs(model, questions, processor, lora)
    if lora.vision and image_features is not None:
        raise ValueError(
            "image_features: encoded features go stale while LoRA trains the vision tower; "
            "train from the images (training_vision_inputs gives None for such settings)"
        )
    peft_model = attach_lora(model, lora, settings.seed)
    try:
        trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
        curve = train(
            peft_model,
            questions,
            settings,
            processor=processor,
            on_step=on_step,
            image_features=image_features,
        )
        out_dir = Path(out_dir)
        try:
            with staged_directory(out_dir, ADAPTER_CONFIG) as staging:
                peft_model.save_pretrained(staging, safe_serialization=True)
                record = _training_record(questions, lora, settings, curve, trainable, provenance or {})
                (staging / TRAINING_CONFIG).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
                (staging / LOSS_CURVE).write_text(curve_csv(curve))
        except Exception as exc:  # a full disk: safetensors' SafetensorError, or an OSError
            refusal = system_refusal(exc, source=out_dir)
            if refusal is not None:
                raise refusal from None
            raise
    finally:
        detach_lora(peft_model)
    return FinetuneResult(out_dir, curve, trainable)


def training_vision_inputs(
    model: Any, questions: Sequence[EncodedQuestion], processor: Any, lora: LoraSettings
) -> list[ImageFeatures | None] | None:
    """What :func:`finetune_lora` with ``lora`` uses in place of the questions' images, computed once
    (and shareable by several runs on the same questions): the base model's image features when only
    the language model is adapted (:func:`training_image_features`); None, to train from the images,
    when ``lora.vision`` adapts the tower too."""
    if lora.vision:
        return None
    return training_image_features(model, questions, processor)


def training_image_features(
    model: Any, questions: Sequence[EncodedQuestion], processor: Any, *, batch_size: int = 32
) -> list[ImageFeatures | None] | None:
    """The base model's image features of ``questions`` for :func:`finetune_lora`, or None when the
    model cannot take pre-encoded images (it then trains from pixels) or no question has images."""
    if hasattr(model, "peft_config"):  # a PeftModel, or a base model with adapters injected
        raise ValueError("image features must come from the base model, without adapters attached")
    if not supports_pre_encoded_images(model) or not any(q.images for q in questions):
        return None
    was_training = model.training
    model.eval()
    try:
        return encode_images(model, questions, processor, batch_size=batch_size)
    finally:
        model.train(was_training)


def _training_record(  # noqa: PLR0917 - private helper, called once
    questions: Sequence[EncodedQuestion],
    lora: LoraSettings,
    settings: TrainSettings,
    curve: list[LossPoint],
    trainable: int,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    import peft  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    tasks: dict[str, int] = {}
    for question in questions:
        tasks[question.record.task] = tasks.get(question.record.task, 0) + 1
    return {
        **provenance,
        "lora": asdict(lora),
        "train": asdict(settings),
        "examples": len(questions),
        "tasks": dict(sorted(tasks.items())),
        "data_fingerprint": data_fingerprint(questions),
        "steps": len(curve),
        "final_loss": curve[-1].loss,
        "seconds": round(curve[-1].seconds, 3),
        "trainable_parameters": trainable,
        "versions": {
            "vlmtransfer": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }


def data_fingerprint(questions: Sequence[EncodedQuestion]) -> str:
    """SHA-256 over the training questions' ids, answers and token ids (order-independent)."""
    digests = sorted(
        hashlib.sha256(
            f"{q.record.id}\t{q.record.answer}\t{q.tensors['input_ids'].tolist()}".encode()
        ).hexdigest()
        for q in questions
    )
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()
