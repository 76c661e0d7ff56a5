"""Evaluating a base model and many LoRA adapters on many questions, doing each piece of work once.

- Questions are rendered, tokenised and batched by length once, not once per adapter.
- The base model is loaded once; each adapter is attached to it for its run and detached after
  (PEFT, no merging), so the model is the untouched base between runs and can be finetuned meanwhile.
- LoRA adapters made by vlmtransfer never touch the vision tower, so each question's vision features are
  computed once and passed to every later forward pass (``mm_encoder_outputs``, transformers' pre-encoded
  multimodal input). An adapter that does adapt vision modules is refused while the cache is on, since
  the cached features would then be wrong. Models without pre-encoded input support run uncached.
- Log-likelihood mode computes vocabulary logits for the answer position only (``logits_to_keep=1``).
- ``both`` mode scores every question both ways under one adapter attachment (the log-likelihood choice
  in ``predicted``, the greedy answer in ``text`` and ``generated``), so format effects can be told from
  perception per question; each protocol keeps its own prompt and batches.
- Videos go through the same path as images (decoded when their batch's pixels are made; their
  features cached like images'). Numeric questions (``answer_type: number``) have no letters to score:
  they are answered by greedy generation in every mode (in ``loglik`` mode too, so that a benchmark
  mixing multiple-choice and numeric questions, as VSI-Bench does, is evaluated whole in one run) and
  scored by mean relative accuracy.

:class:`Evaluator` is the Hugging Face :class:`~vlmtransfer.evaluate.scorer.Scorer`: it scores requests
and attaches adapters; which question goes to which protocol, and how answers become results, is the
contract's (:func:`~vlmtransfer.evaluate.scorer.evaluate_requests`), the same for every scorer. Requests
are rendered, tokenised and batched once per request list (the questions given at construction are
planned at once), so the base model and every adapter reuse the plan and its vision features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vlmtransfer.data.records import MCQRecord
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.feature_cache import FeatureCache, batch_key
from vlmtransfer.evaluate.scorer import PROTOCOLS, Request, answers_by, evaluate_requests
from vlmtransfer.evaluate.scoring import QuestionResult, accuracy_by_task, answer_position
from vlmtransfer.models.encoding import (
    EncodedQuestion,
    collate,
    encode_images,
    encode_question,
    pixel_inputs,
    pre_encoded_inputs,
    supports_pre_encoded_images,
)
from vlmtransfer.models.loading import LoadedModel, offloaded_parameters
from vlmtransfer.settings import MODES, EvalSettings

__all__ = ["MODES", "EvalSettings", "Evaluator", "accuracy_by_task", "score_questions"]


@dataclass(eq=False)
class _Batch:
    """Questions evaluated together: their input positions, collated text inputs, and (once computed)
    their vision features. Pixels are made when needed and not kept (see ``models.encoding``)."""

    indices: list[int]
    questions: list[EncodedQuestion]
    inputs: dict[str, torch.Tensor]
    key: str = ""


@dataclass(eq=False)
class _Plan:
    """A request list rendered for one protocol and batched by length; ``cached``: whether its vision
    features are computed once and reused (the model takes them pre-encoded, the settings allow it)."""

    records: list[MCQRecord]
    cached: bool
    identity: str
    batches: list[_Batch] = field(default_factory=list)


class Evaluator:
    """Evaluates one loaded base model, with or without adapters, on a fixed list of questions.

    Usage::

        evaluator = Evaluator(loaded, questions)
        base = evaluator.run()                      # the base model
        tuned = evaluator.run("adapters/counting")  # the same questions, one adapter swapped in

    Results come back in question order. Between runs the model is the untouched base model.
    As a :class:`~vlmtransfer.evaluate.scorer.Scorer` it also scores other request lists
    (``score_choices``, ``generate``) under the adapter it has attached (``attach``, ``detach``).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        questions: Sequence[tuple[MCQRecord, Sequence[Any]]] = (),
        settings: EvalSettings | None = None,
    ) -> None:
        if "peft_config" in vars(loaded.model):
            raise ValueError("the model already has adapters attached (detach them first)")
        self.loaded = loaded
        self.settings = settings or EvalSettings()
        self.requests = [Request(*question) for question in questions]
        self.records = [request.record for request in self.requests]
        self.features = FeatureCache(self.settings.cache_budget_bytes, self.settings.cache_dir)
        size = getattr(loaded.processor, "image_processor", None)
        self._identity = f"{loaded.source}|{loaded.dtype}|{getattr(size, 'size', None)}"
        self._plans: dict[tuple[str, tuple[tuple[str, str], ...]], _Plan] = {}
        self._attached: tuple[Any, dict[str, bool], bool] | None = None  # (PEFT model, flags, adapts vision)
        for protocol in PROTOCOLS:
            chosen = [r for r in self.requests if answers_by(r.record, self.settings.mode, protocol)]
            if chosen:
                self._planned(chosen, protocol)

    def _suffix(self, record: MCQRecord, protocol: str) -> str:
        if protocol == "generate":
            return ""
        return answer_position(self.loaded.processor.tokenizer, record.letters).prefix

    @property
    def caches_vision(self) -> bool:
        """Whether vision features are computed once and reused (model support and settings allowing)."""
        if self._plans:
            return any(plan.cached for plan in self._plans.values())
        return self.settings.cache_vision and supports_pre_encoded_images(self.loaded.model)

    def run(self, adapter: str | Path | None = None) -> list[QuestionResult]:
        """Evaluate the base model (``adapter=None``) or the base with one PEFT adapter.

        Raises:
            InputError: the adapter directory is incomplete, corrupt or made for another model (checked
                before it touches the model).

        An adapter that also adapts the vision tower or merger (``LoraSettings(vision=True)``) changes
        the image features, so its run encodes every image afresh (the cache keeps the base model's
        features for the other runs).
        """
        return evaluate_requests(
            self, self.requests, self.settings.mode, None if adapter is None else Path(adapter)
        )

    def close(self) -> None:
        """Free the cached vision features in RAM (the model never keeps an adapter between runs;
        shards spilled to disk stay for later runs)."""
        self.features.clear()

    # The Scorer contract.

    def score_choices(self, requests: Sequence[Request]) -> list[tuple[float, ...]]:
        """Each choice letter's log-probability over the vocabulary at the answer position, per request."""
        plan = self._planned(requests, "loglik")
        values: list[tuple[float, ...]] = [()] * len(plan.records)
        for batch in plan.batches:
            for index, letters in zip(batch.indices, self._letter_logprobs(batch, plan), strict=True):
                values[index] = letters
        return values

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """The greedy answer of each request (``settings.max_new_tokens`` at most)."""
        plan = self._planned(requests, "generate")
        texts = [""] * len(plan.records)
        for batch in plan.batches:
            for index, text in zip(batch.indices, self._generate(batch, plan), strict=True):
                texts[index] = text
        return texts

    def attach(self, adapter: Path) -> None:
        """Attach a PEFT adapter (checked first: files, config, and weights that fit this model).

        Raises:
            InputError: naming the adapter's file at fault, before the model is touched.
            ValueError: an adapter is attached already.
        """
        if self._attached is not None:
            raise ValueError("an adapter is attached already (detach it first)")
        from peft import PeftModel  # noqa: PLC0415 - heavy import

        from vlmtransfer.evaluate.adapters import check_adapter_files, check_adapter_fits  # noqa: PLC0415
        from vlmtransfer.finetune.lora import quiet_peft, trainable_flags  # noqa: PLC0415

        check_adapter_fits(adapter, check_adapter_files(adapter), self.loaded.model)
        offloaded = offloaded_parameters(self.loaded.model)
        if offloaded:  # PEFT would leave the LoRA factors of those layers unloaded (meta): wrong answers
            raise InputError(
                f"cannot be attached to a model whose device map offloads weights to the CPU or disk"
                f" ({len(offloaded)} parameters, e.g. {offloaded[0]}); give it GPUs that hold it whole",
                source=adapter,
            )
        flags = trainable_flags(self.loaded.model)
        try:
            with quiet_peft():
                peft_model = PeftModel.from_pretrained(self.loaded.model, str(adapter)).eval()
        except ValueError as exc:  # what the checks above cannot see: PEFT's own refusal of the config
            raise InputError(str(exc), source=adapter) from None
        self._attached = (peft_model, flags, bool(_adapted_outside_language_model(peft_model)))

    def detach(self) -> None:
        """Unload the adapter (no merging): the model is the untouched base again."""
        if self._attached is None:
            return
        from vlmtransfer.finetune.lora import detach_lora  # noqa: PLC0415

        peft_model, flags, _ = self._attached
        self._attached = None
        detach_lora(peft_model, flags)

    # Planning and running batches.

    def _planned(self, requests: Sequence[Request], protocol: str) -> _Plan:
        """The plan of ``requests`` for ``protocol``: made once per request list, then reused."""
        requests = [Request(*request) for request in requests]
        records = [request.record for request in requests]
        key = (protocol, tuple((record.task, record.id) for record in records))
        plan = self._plans.get(key)
        if plan is not None and plan.records == records:
            return plan
        videos = any(record.videos for record in records)
        identity = self._identity
        if videos:  # the frames' resolution too (image-only keys stay as they were: their shards stay valid)
            frames = getattr(self.loaded.processor, "video_processor", None)
            identity += f"|video:{getattr(frames, 'size', None)}"
        cached = self.settings.cache_vision and supports_pre_encoded_images(self.loaded.model, videos=videos)
        plan = _Plan(records, cached, identity)
        encoded = {
            i: encode_question(
                request.record,
                request.media,
                self.loaded.processor,
                suffix=self._suffix(request.record, protocol),
            )
            for i, request in enumerate(requests)
        }
        order = sorted(encoded, key=lambda i: (encoded[i].length, i))
        number = len(self._plans)
        for start in range(0, len(order), self.settings.batch_size):
            indices = order[start : start + self.settings.batch_size]
            questions = [encoded[i] for i in indices]
            batch_key_ = self._key(plan, questions, f"{number}:{protocol}:{start}")
            inputs = collate(questions, self.loaded.processor, pixels=False)
            plan.batches.append(_Batch(indices, questions, inputs, batch_key_))
        self._plans[key] = plan
        return plan

    def _key(self, plan: _Plan, questions: list[EncodedQuestion], position: str) -> str:
        """A batch's cache key: its images' content hash where shards on disk outlive this evaluator
        (hashing every image's pixels is not free), else its place in this evaluator's plans."""
        if not plan.cached:
            return ""
        return batch_key(plan.identity, questions) if self.settings.cache_dir is not None else position

    def _model(self) -> tuple[Any, bool]:
        """The model answering now (the base, or the base with the attached adapter), and whether the
        adapter changes anything outside the language model (the image features)."""
        if self._attached is None:
            return self.loaded.model, False
        return self._attached[0], self._attached[2]

    def _inputs(self, batch: _Batch, plan: _Plan, adapts_vision: bool) -> dict[str, Any]:
        device = self.loaded.device
        inputs = {key: value.to(device) for key, value in batch.inputs.items()}
        inputs.update(self._vision_inputs(batch, plan, adapts_vision))
        return inputs

    @torch.inference_mode()
    def _letter_logprobs(self, batch: _Batch, plan: _Plan) -> list[tuple[float, ...]]:
        model, adapts_vision = self._model()
        inputs = self._inputs(batch, plan, adapts_vision)
        logits = model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        tokenizer = self.loaded.processor.tokenizer
        rows = []
        for row, index in enumerate(batch.indices):
            ids = answer_position(tokenizer, plan.records[index].letters).ids
            rows.append(tuple(float(logprobs[row][i]) for i in ids))
        return rows

    def _vision_inputs(self, batch: _Batch, plan: _Plan, adapts_vision: bool) -> dict[str, Any]:
        """Pixels, or (with the cache) the base model's vision features, computed by the first run that
        needs them; pixels for an adapter that changes the vision tower."""
        if not any(q.images or q.videos for q in batch.questions):
            return {}
        device = self.loaded.device
        if not plan.cached or adapts_vision:
            return {
                key: value.to(device)
                for key, value in pixel_inputs(batch.questions, self.loaded.processor).items()
            }
        features = self.features.get(batch.key)
        if features is None:
            # The attached adapter (if any) leaves the vision tower alone: these are the base's features.
            features = encode_images(
                self.loaded.model, batch.questions, self.loaded.processor, batch_size=len(batch.questions)
            )
            self.features.put(batch.key, features)
        return pre_encoded_inputs(features, device)

    @torch.inference_mode()
    def _generate(self, batch: _Batch, plan: _Plan) -> list[str]:
        model, adapts_vision = self._model()
        inputs = self._inputs(batch, plan, adapts_vision)
        tokenizer = self.loaded.processor.tokenizer
        output = model.generate(
            **inputs,
            max_new_tokens=self.settings.max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        width = inputs["input_ids"].shape[1]
        return tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)


def _adapted_outside_language_model(peft_model: Any) -> list[str]:
    """The modules an adapter changes (any PEFT tuner layer, or a fully trained ``modules_to_save``
    copy) outside the language model: where it does, the base model's image features are not its own."""
    from peft.tuners.tuners_utils import BaseTunerLayer  # noqa: PLC0415
    from peft.utils import ModulesToSaveWrapper  # noqa: PLC0415

    from vlmtransfer.finetune.lora import language_model_path  # noqa: PLC0415

    prefix = language_model_path(peft_model.get_base_model())
    return [
        name
        for name, module in peft_model.get_base_model().named_modules()
        if isinstance(module, (BaseTunerLayer, ModulesToSaveWrapper)) and not name.startswith(prefix + ".")
    ]


def score_questions(
    loaded: LoadedModel, questions: Sequence[tuple[MCQRecord, Sequence[Any]]], *, batch_size: int = 8
) -> list[QuestionResult]:
    """Log-likelihood results of the loaded model on ``questions`` (no adapter), in question order."""
    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=batch_size, cache_vision=False))
    return evaluator.run()
