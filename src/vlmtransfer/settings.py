"""The settings that change results: LoRA, training, evaluation and video sampling. Their one definition
(issue 29).

A study's YAML sections (``lora:``, ``train:``, ``eval:``, ``video:``), the CLI's flags and Python
callers all resolve into these dataclasses, so a default lives in one place and every setting a study can
change is one a study can set. Validation lives here too, in ``__post_init__``: a bad value raises
:class:`~vlmtransfer.errors.InputError` naming the *field* (``learning_rate``), never a CLI flag or a
YAML key; the CLI maps fields to its flags and the study config to its keys.

:func:`settings_from` is the edge for untyped input (a YAML mapping): types are checked strictly by
pydantic (``true`` is not 1, ``"8"`` is not 8, no inf or nan), then the dataclass is built through its own
``__init__``, so its defaults are whatever the library's are at that moment. A changed default is a
changed setting: the study's job keys hash the resolved values (``study.jobs``), not the YAML.

No torch here: planning a study, validating a config and ``--help`` stay light.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import ConfigDict, Strict

from vlmtransfer.errors import InputError

__all__ = [
    "DEFAULT_TARGET_MODULES",
    "MAX_FPS",
    "MODES",
    "SCHEDULES",
    "EvalSettings",
    "LoraSettings",
    "Mode",
    "Schedule",
    "TrainSettings",
    "VideoSettings",
    "result_fields",
    "settings_from",
]

Schedule = Literal["linear", "constant", "cosine"]
SCHEDULES: tuple[Schedule, ...] = ("linear", "constant", "cosine")
Mode = Literal["loglik", "generate", "both"]
MODES: tuple[Mode, ...] = ("loglik", "generate", "both")
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every attention and MLP projection of a Qwen2-style language model."""
MAX_FPS = 1000.0
"""Highest frame rate a video may have or be sampled at."""

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # strict floats still take ints (``alpha: 16``), not bools or strings
_EDGE = ConfigDict(extra="forbid", allow_inf_nan=False)  # how settings_from reads a mapping


def _check(checks: Mapping[str, tuple[bool, str]], owner: object) -> None:
    for name, (ok, rule) in checks.items():
        if not ok:
            raise InputError(f"{rule}, got {getattr(owner, name)!r}", field=name)
    for f in fields(owner):  # type: ignore[arg-type]
        value = getattr(owner, f.name)
        if f.type in ("Float", "Float | None") and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(owner, f.name, float(value))  # 16 and 16.0 are one setting (and one key)


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: int, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyperparameters; defaults are the paper's (rank 8, alpha 16) and the usual dropout.

    ``target_modules`` are leaf names of the language model's linear layers (all attention and MLP
    projections by default). ``vision`` also adapts every linear layer outside the language model and
    the output head (for Qwen2.5-VL: the vision blocks' projections and the merger), at the same rank;
    its features then change with the adapter (``finetune.lora``).
    """

    __pydantic_config__: ClassVar[ConfigDict] = _EDGE

    rank: Int = 8
    alpha: Float = 16.0
    dropout: Float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    vision: Annotated[bool, Strict()] = False

    def __post_init__(self) -> None:
        modules = self.target_modules
        _check(
            {
                "rank": (self.rank >= 1, "must be >= 1"),
                "alpha": (_finite(self.alpha) and self.alpha > 0, "must be > 0"),
                "dropout": (_finite(self.dropout) and 0 <= self.dropout < 1, "must be in [0, 1)"),
                "target_modules": (
                    bool(modules) and all(isinstance(m, str) and re.fullmatch(r"\w+", m) for m in modules),
                    "need module leaf names (q_proj, ...)",
                ),
            },
            self,
        )
        object.__setattr__(self, "target_modules", tuple(modules))  # a list from Python callers


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings.

    Attributes:
        learning_rate: peak AdamW learning rate, reached after the linear warm-up.
        schedule: after the warm-up, ``linear`` decay to 0, ``constant``, or ``cosine`` decay to 0.
        epochs: passes over the data (fractional allowed); ignored when ``max_steps`` is set.
        max_steps: number of optimiser steps, overriding ``epochs``.
        batch_size: questions per forward pass (micro-batch).
        grad_accum: micro-batches per optimiser step; the effective batch is their product.
        warmup_ratio: fraction of the steps spent warming up.
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient clipping norm (0 disables).
        seed: data order and RNG seed (a study sets it per job from its ``seeds``).
    """

    __pydantic_config__: ClassVar[ConfigDict] = _EDGE

    learning_rate: Float = 2e-4
    schedule: Schedule = "linear"
    epochs: Float = 1.0
    max_steps: Int | None = None
    batch_size: Int = 8
    grad_accum: Int = 1
    warmup_ratio: Float = 0.03
    weight_decay: Float = 0.0
    max_grad_norm: Float = 1.0
    seed: Int = 0

    def __post_init__(self) -> None:
        _check(
            {
                "learning_rate": (_finite(self.learning_rate) and self.learning_rate > 0, "must be > 0"),
                "schedule": (self.schedule in SCHEDULES, f"must be one of {', '.join(SCHEDULES)}"),
                "epochs": (_finite(self.epochs) and self.epochs > 0, "must be > 0"),
                "max_steps": (self.max_steps is None or self.max_steps > 0, "must be >= 1"),
                "batch_size": (self.batch_size >= 1, "must be >= 1"),
                "grad_accum": (self.grad_accum >= 1, "must be >= 1"),
                "warmup_ratio": (
                    _finite(self.warmup_ratio) and 0 <= self.warmup_ratio < 1,
                    "must be in [0, 1)",
                ),
                "weight_decay": (_finite(self.weight_decay) and self.weight_decay >= 0, "must be >= 0"),
                "max_grad_norm": (_finite(self.max_grad_norm) and self.max_grad_norm >= 0, "must be >= 0"),
                "seed": (0 <= self.seed <= 2**32 - 1, "must be between 0 and 2**32 - 1"),
            },
            self,
        )


@dataclass(frozen=True)
class EvalSettings:
    """How to evaluate.

    Attributes:
        mode: ``loglik`` (letter log-probabilities, one forward pass), ``generate`` (greedy decoding
            and the answer parser, the paper's protocol) or ``both`` (each question scored both ways).
        batch_size: questions per forward pass (padding in a batch can move a log-probability in the
            last digits, so it is part of a result's identity).
        max_new_tokens: generation budget in generate mode.
        cache_vision: compute each question's vision features once and reuse them for every adapter.
        cache_budget_bytes: RAM the cached features may hold (None: unbounded); batches past it are
            spilled to ``cache_dir`` or, without one, recomputed when needed.
        cache_dir: where spilled features go (content-keyed shards, reused by later runs).

    The ``cache_*`` fields (:attr:`RUNTIME`) say where work is done, not what is computed: they are not
    part of a result's identity, and a study sets them itself.
    """

    __pydantic_config__: ClassVar[ConfigDict] = _EDGE
    RUNTIME: ClassVar[frozenset[str]] = frozenset({"cache_vision", "cache_budget_bytes", "cache_dir"})

    mode: Mode = "loglik"
    batch_size: Int = 16
    max_new_tokens: Int = 16
    cache_vision: Annotated[bool, Strict()] = True
    cache_budget_bytes: Int | None = None
    cache_dir: str | Path | None = None

    def __post_init__(self) -> None:
        _check(
            {
                "mode": (self.mode in MODES, f"must be one of {', '.join(MODES)}"),
                "batch_size": (self.batch_size >= 1, "must be >= 1"),
                "max_new_tokens": (self.max_new_tokens >= 1, "must be >= 1"),
                "cache_budget_bytes": (
                    self.cache_budget_bytes is None or self.cache_budget_bytes >= 0,
                    "must be >= 0",
                ),
            },
            self,
        )


@dataclass(frozen=True)
class VideoSettings:
    """Which frames of a video the model sees (``data.video``; ``FrameSampling`` there).

    Attributes:
        frames: this many frames spread uniformly over the video, first to last (fewer when it has
            fewer); the default is VSI-Bench's setting for Qwen2.5-VL. None to sample by ``fps``.
        fps: frames per second of video, at most ``max_frames``; only with ``frames`` None (a study's
            ``video: {fps: 1.0}`` alone means that).
        max_frames: cap on the frames ``fps`` sampling takes (Qwen2.5-VL's processor caps at 768).
        folder_fps: the frame rate a folder of frames was extracted at (a folder has none of its own).

    They change the answers to video questions only: a study's job keys hold them when its targets (or
    a job's training data) have videos, not otherwise (``study.jobs``).
    """

    __pydantic_config__: ClassVar[ConfigDict] = _EDGE

    frames: Int | None = 32
    fps: Float | None = None
    max_frames: Int = 768
    folder_fps: Float = 1.0

    def __post_init__(self) -> None:
        if self.frames is None and self.fps is None:
            raise InputError("give frames or fps (frames sampled in all, or per second)", field="frames")
        if self.frames is not None and self.fps is not None:
            raise InputError(
                f"give frames or fps, not both (frames: null to sample by fps), got {self.fps!r}", field="fps"
            )
        _check(
            {
                "frames": (self.frames is None or _whole(self.frames, 1), "must be a whole number >= 1"),
                "fps": (
                    self.fps is None or (_finite(self.fps) and 0 < self.fps <= MAX_FPS),
                    f"must be in (0, {MAX_FPS:g}]",
                ),
                "max_frames": (_whole(self.max_frames, 1), "must be a whole number >= 1"),
                "folder_fps": (
                    _finite(self.folder_fps) and 0 < self.folder_fps <= MAX_FPS,
                    f"must be in (0, {MAX_FPS:g}]",
                ),
            },
            self,
        )


T = TypeVar("T")


def result_fields(settings: Any) -> dict[str, Any]:
    """A settings object's fields that identify results (JSON-ready: tuples as lists), in field order."""
    runtime = getattr(type(settings), "RUNTIME", frozenset())
    return {
        f.name: list(value) if isinstance(value := getattr(settings, f.name), tuple) else value
        for f in fields(settings)
        if f.name not in runtime
    }


def settings_from(kind: type[T], values: Mapping[str, Any]) -> T:
    """Validate an untyped mapping (a YAML section) into ``kind``: unknown keys and wrong types are
    refused, and keys left out take ``kind``'s defaults as they are now.

    Raises:
        InputError: naming the field at fault (``field="rank"``), with no file or flag (the caller adds
            the file and the key path, or the flag).
    """
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415 - only where YAML is read

    if not isinstance(values, Mapping):
        raise InputError("must be a mapping of keys")
    try:
        checked = TypeAdapter(kind).validate_python(dict(values))
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, InputError):
            raise cause from None
        name = ".".join(str(part) for part in error["loc"]) or None
        unknown = error["type"] in {"unexpected_keyword_argument", "extra_forbidden"}
        raise InputError("unknown key" if unknown else error["msg"], field=name) from None
    return kind(**{name: getattr(checked, name) for name in values})
