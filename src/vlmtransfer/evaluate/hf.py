"""The ``hf`` scorer: a Hugging Face image-text-to-text model evaluated by :class:`Evaluator` and
finetuned with PEFT LoRA (``finetune.lora``), on one loaded base model (imports torch).

This is what a study's worker, ``finetune`` and ``evaluate`` run for a Hugging Face model: the same
object, loaded once per worker or command, so the verbs and the study compute the same things.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vlmtransfer import __version__
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.engine import Evaluator
from vlmtransfer.evaluate.registry import ScorerOptions
from vlmtransfer.evaluate.scorer import OnStep, Request, TrainedAdapter
from vlmtransfer.models.loading import LoadedModel
from vlmtransfer.settings import EvalSettings, LoraSettings, TrainSettings

__all__ = ["HFScorer", "load_hf_scorer", "package_versions", "prepare_hf", "quiet_transformers"]


def package_versions() -> dict[str, str]:
    """vlmtransfer's, torch's, transformers' and PEFT's versions (recorded with every run)."""
    import peft  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    return {
        "vlmtransfer": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


def quiet_transformers() -> None:
    """Silence transformers' own progress bars and advisory logging; callers show their own progress."""
    from transformers.utils import logging  # noqa: PLC0415 - heavy import

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def prepare_hf(model: str, options: ScorerOptions, source: str | None = None) -> str | None:
    """Before loading: the device must exist here (field ``device``), the hub must answer or hold the
    model in its cache (one line naming ``source`` otherwise; a note when the cache is used), and
    transformers is quieted.

    Raises:
        InputError: the device is not available here.
        SystemRefusalError: the hub is unreachable and the model is not cached.
    """
    from vlmtransfer.devices import check_device  # noqa: PLC0415
    from vlmtransfer.hub import prepare_model_access  # noqa: PLC0415

    check_device(options.device)
    note = prepare_model_access(model, source=source)
    quiet_transformers()
    return note


def load_hf_scorer(model: str, options: ScorerOptions) -> HFScorer:
    """``model`` (preset, hub id or path) loaded on ``options.device`` as an :class:`HFScorer`.

    Raises:
        InputError: the model does not load (field ``model``), or the seed is out of range (``seed``).
    """
    from vlmtransfer.models.loading import LoadOptions, gpu_split, load_model  # noqa: PLC0415

    if options.seed is not None:
        from transformers import set_seed  # noqa: PLC0415

        try:
            set_seed(options.seed)
        except (ValueError, OverflowError):
            raise InputError(f"must be between 0 and 2**32 - 1, got {options.seed}", field="seed") from None
    load = LoadOptions(
        dtype=options.dtype, device=options.device, max_pixels=options.max_pixels, revision=options.revision
    )
    if options.gpus > 1:  # too big for one GPU: accelerate spreads it over the process's GPUs
        device_map, max_memory = gpu_split(options.gpus)
        load = replace(load, device_map=device_map, max_memory=max_memory)
    loaded = load_model(model, load)
    return HFScorer(loaded, options.eval)


class HFScorer(Evaluator):
    """A loaded model as a :class:`~vlmtransfer.evaluate.scorer.TrainableScorer`: evaluated as
    :class:`Evaluator` does, finetuned with :func:`~vlmtransfer.finetune.lora.finetune_lora`.

    Training reuses the encoded questions and the base model's image features of the last ``reuse``
    name (a study's seeds of one source: one source's worth in memory at a time).
    """

    def __init__(self, loaded: LoadedModel, settings: EvalSettings | None = None) -> None:
        super().__init__(loaded, (), settings)
        self.source = loaded.source
        self._training: tuple[tuple[str, bool], list[Any], list[Any] | None] | None = None

    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda:0`` ...)."""
        return str(self.loaded.device)

    def versions(self) -> dict[str, str]:
        return package_versions()

    def fit_batch_size(self, requests: Sequence[Request]) -> int:
        """Set (and return) the largest evaluation batch of ``requests`` that fits on the device
        (``--batch-size auto``; on a CPU, a fixed size)."""
        from vlmtransfer.evaluate.autobatch import auto_batch_size  # noqa: PLC0415

        size = auto_batch_size(self.loaded, list(requests), self.settings)
        self.settings = replace(self.settings, batch_size=size)
        self._plans.clear()  # batched for the old size
        return size

    def train_adapter(
        self,
        requests: Sequence[Request],
        out: Path,
        *,
        lora: LoraSettings,
        settings: TrainSettings,
        provenance: dict[str, Any] | None = None,
        on_step: OnStep | None = None,
        reuse: str | None = None,
    ) -> TrainedAdapter:
        """LoRA on the loaded model (see :class:`~vlmtransfer.evaluate.scorer.TrainableScorer`)."""
        from vlmtransfer.finetune.lora import finetune_lora  # noqa: PLC0415

        if self._attached is not None:
            raise ValueError("an adapter is attached for evaluation (detach it before training)")
        encoded, features = self._training_inputs(requests, lora, reuse)
        result = finetune_lora(
            self.loaded.model,
            encoded,
            out,
            lora=lora,
            settings=settings,
            processor=self.loaded.processor,
            provenance=provenance,
            on_step=on_step,
            image_features=features,
            cache_vision=False,  # the features, when the model takes them, come from _training_inputs
        )
        first, last = result.curve[0], result.curve[-1]
        return TrainedAdapter(
            Path(out), len(encoded), len(result.curve), first.loss, last.loss, last.seconds,
            result.trainable_parameters,
        )  # fmt: skip

    def _training_inputs(
        self, requests: Sequence[Request], lora: LoraSettings, reuse: str | None
    ) -> tuple[list[Any], list[Any] | None]:
        """The requests encoded with their answers, and the base model's image features of them (None
        when LoRA trains the vision tower: it trains from the images)."""
        from vlmtransfer.finetune.lora import training_vision_inputs  # noqa: PLC0415
        from vlmtransfer.models.encoding import encode_question  # noqa: PLC0415

        key = (reuse, lora.vision)
        if reuse is not None and self._training and self._training[0] == key:
            return self._training[1], self._training[2]
        self._training = None  # free the previous requests' features first
        processor = self.loaded.processor
        encoded = [encode_question(record, media, processor, with_answer=True) for record, media in requests]
        features = training_vision_inputs(self.loaded.model, encoded, processor, lora)
        if reuse is not None:
            self._training = ((reuse, lora.vision), encoded, features)
        return encoded, features

    def close(self) -> None:
        """Free the cached vision features and training inputs."""
        self._training = None
        super().close()
