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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from vlmtransfer.data.records import MCQRecord
from vlmtransfer.evaluate.feature_cache import FeatureCache, batch_key
from vlmtransfer.evaluate.scoring import QuestionResult, answer_position, from_logprobs, from_text
from vlmtransfer.models.encoding import (
    EncodedQuestion,
    collate,
    encode_images,
    encode_question,
    pixel_inputs,
    pre_encoded_inputs,
    supports_pre_encoded_images,
)
from vlmtransfer.models.loading import LoadedModel
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


class Evaluator:
    """Evaluates one loaded base model, with or without adapters, on a fixed list of questions.

    Usage::

        evaluator = Evaluator(loaded, questions)
        base = evaluator.run()                      # the base model
        tuned = evaluator.run("adapters/counting")  # the same questions, one adapter swapped in

    Results come back in question order. Between runs the model is the untouched base model.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        questions: Sequence[tuple[MCQRecord, Sequence[Any]]],
        settings: EvalSettings | None = None,
    ) -> None:
        if "peft_config" in vars(loaded.model):
            raise ValueError("the model already has adapters attached (detach them first)")
        self.loaded = loaded
        self.settings = settings or EvalSettings()
        questions = list(questions)
        self.records = [record for record, _ in questions]
        videos = any(record.videos for record in self.records)
        self._cache = self.settings.cache_vision and supports_pre_encoded_images(loaded.model, videos=videos)
        self.features = FeatureCache(self.settings.cache_budget_bytes, self.settings.cache_dir)
        size = getattr(loaded.processor, "image_processor", None)
        self._identity = f"{loaded.source}|{loaded.dtype}|{getattr(size, 'size', None)}"
        if videos:  # the frames' resolution too (image-only keys stay as they were: their shards stay valid)
            frames = getattr(loaded.processor, "video_processor", None)
            self._identity += f"|video:{getattr(frames, 'size', None)}"
        self._plans: dict[str, list[_Batch]] = {}
        for protocol in ("loglik", "generate"):
            chosen = [i for i, record in enumerate(self.records) if self._answers_by(record, protocol)]
            if chosen:
                encoded = {
                    i: encode_question(
                        questions[i][0],
                        questions[i][1],
                        loaded.processor,
                        suffix=self._suffix(questions[i][0], protocol),
                    )
                    for i in chosen
                }
                self._plans[protocol] = list(self._plan(encoded, protocol))

    def _answers_by(self, record: MCQRecord, protocol: str) -> bool:
        """Whether ``record`` is evaluated with ``protocol`` (numeric questions: generation, always)."""
        if record.is_numeric:
            return protocol == "generate"
        return self.settings.mode in (protocol, "both")

    def _suffix(self, record: MCQRecord, protocol: str) -> str:
        if protocol == "generate":
            return ""
        return answer_position(self.loaded.processor.tokenizer, record.letters).prefix

    @property
    def caches_vision(self) -> bool:
        """Whether vision features are computed once and reused (model support and settings allowing)."""
        return self._cache

    def run(self, adapter: str | Path | None = None) -> list[QuestionResult]:
        """Evaluate the base model (``adapter=None``) or the base with one PEFT adapter.

        Raises:
            InputError: the adapter directory is incomplete, corrupt or made for another model (checked
                before it touches the model).

        An adapter that also adapts the vision tower or merger (``LoraSettings(vision=True)``) changes
        the image features, so its run encodes every image afresh (the cache keeps the base model's
        features for the other runs).
        """
        per_protocol: dict[str, list[QuestionResult | None]] = {}
        with self._activated(adapter) as (model, adapts_vision):
            for protocol in ("loglik", "generate"):
                results: list[QuestionResult | None] = [None] * len(self.records)
                for batch in self._plans.get(protocol, []):
                    evaluated = self._evaluate_batch(model, batch, protocol, adapts_vision)
                    for index, result in zip(batch.indices, evaluated, strict=True):
                        results[index] = result
                per_protocol[protocol] = results
        merged = []
        for scored, greedy in zip(per_protocol["loglik"], per_protocol["generate"], strict=True):
            if scored is None:  # generate mode, or a numeric question
                assert greedy is not None
                merged.append(greedy)
            elif greedy is None:  # loglik mode
                merged.append(scored)
            else:  # both modes: the log-likelihood choice, with the greedy answer beside it
                merged.append(replace(scored, text=greedy.text, generated=greedy.generated))
        return merged

    def close(self) -> None:
        """Free the cached vision features in RAM (the model never keeps an adapter between runs;
        shards spilled to disk stay for later runs)."""
        self.features.clear()

    def _plan(self, encoded: dict[int, EncodedQuestion], protocol: str) -> Iterator[_Batch]:
        order = sorted(encoded, key=lambda i: (encoded[i].length, i))
        for start in range(0, len(order), self.settings.batch_size):
            indices = order[start : start + self.settings.batch_size]
            questions = [encoded[i] for i in indices]
            key = self._key(questions, f"{protocol}:{start}")
            yield _Batch(indices, questions, collate(questions, self.loaded.processor, pixels=False), key)

    def _key(self, questions: list[EncodedQuestion], position: str) -> str:
        """A batch's cache key: its images' content hash where shards on disk outlive this evaluator
        (hashing every image's pixels is not free), else its place in this evaluator's plan."""
        if not self._cache:
            return ""
        return batch_key(self._identity, questions) if self.settings.cache_dir is not None else position

    @contextmanager
    def _activated(self, adapter: str | Path | None) -> Iterator[tuple[Any, bool]]:
        """The base model, or the base with ``adapter`` attached for the duration (then detached), and
        whether the adapter changes anything outside the language model (the image features)."""
        if adapter is None:
            yield self.loaded.model, False
            return
        from peft import PeftModel  # noqa: PLC0415 - heavy import

        from vlmtransfer.evaluate.adapters import check_adapter_files, check_adapter_fits  # noqa: PLC0415
        from vlmtransfer.finetune.lora import detach_lora, quiet_peft, trainable_flags  # noqa: PLC0415

        check_adapter_fits(adapter, check_adapter_files(adapter), self.loaded.model)
        flags = trainable_flags(self.loaded.model)
        with quiet_peft():
            peft_model = PeftModel.from_pretrained(self.loaded.model, str(adapter)).eval()
        try:
            yield peft_model, bool(_adapted_outside_language_model(peft_model))
        finally:
            detach_lora(peft_model, flags)

    @torch.inference_mode()
    def _evaluate_batch(
        self, model: Any, batch: _Batch, protocol: str, adapts_vision: bool
    ) -> list[QuestionResult]:
        device = self.loaded.device
        inputs = {key: value.to(device) for key, value in batch.inputs.items()}
        inputs.update(self._vision_inputs(batch, adapts_vision))
        records = [self.records[i] for i in batch.indices]
        if protocol == "generate":
            return self._generate(model, inputs, records)
        logits = model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        tokenizer = self.loaded.processor.tokenizer
        return [
            from_logprobs(record, logprobs[row], answer_position(tokenizer, record.letters).ids)
            for row, record in enumerate(records)
        ]

    def _vision_inputs(self, batch: _Batch, adapts_vision: bool) -> dict[str, Any]:
        """Pixels, or (with the cache) the base model's vision features, computed by the first run that
        needs them; pixels for an adapter that changes the vision tower."""
        if not any(q.images or q.videos for q in batch.questions):
            return {}
        device = self.loaded.device
        if not self._cache or adapts_vision:
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

    def _generate(self, model: Any, inputs: dict[str, Any], records: list[MCQRecord]) -> list[QuestionResult]:
        tokenizer = self.loaded.processor.tokenizer
        output = model.generate(
            **inputs,
            max_new_tokens=self.settings.max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        width = inputs["input_ids"].shape[1]
        texts = tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        return [from_text(record, text) for record, text in zip(records, texts, strict=True)]


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


def accuracy_by_task(results: Sequence[QuestionResult]) -> dict[str, tuple[float, int]]:
    """Per task: (accuracy in percent, number of questions), tasks in first-seen order. A numeric
    question counts its mean relative accuracy (so a task's accuracy is the mean score x 100)."""
    counts: dict[str, list[float]] = {}
    for result in results:
        correct_total = counts.setdefault(result.task, [0, 0])
        correct_total[0] += result.points
        correct_total[1] += 1
    return {task: (100.0 * correct / total, total) for task, (correct, total) in counts.items()}


def score_questions(
    loaded: LoadedModel, questions: Sequence[tuple[MCQRecord, Sequence[Any]]], *, batch_size: int = 8
) -> list[QuestionResult]:
    """Log-likelihood results of the loaded model on ``questions`` (no adapter), in question order."""
    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=batch_size, cache_vision=False))
    return evaluator.run()
