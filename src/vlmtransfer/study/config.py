"""The study config: one YAML file describes a whole transfer study.

Validated at the edge with pydantic; any problem becomes one line naming the file and the key
(``study.yaml: train.learning_rate: must be > 0``). Paths in the file are relative to the file.

The ``lora``, ``train``, ``eval`` and ``video`` sections are the settings dataclasses of
:mod:`vlmtransfer.settings` (their one definition): every field is a key, keys left out take the
library's defaults, and the config holds the resolved settings. What a run's results depend on, and so
when stored results are stale, is decided from those resolved settings by :mod:`vlmtransfer.study.jobs`,
not from this file's text. ``video: {fps: 1.0}`` alone samples by frame rate (``frames`` is then null).
Not settable here: ``train.seed`` (the top-level ``seeds`` list) and the evaluation's vision-cache
fields (the study places its cache itself).
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.registry import DEFAULT_SCORER, get_scorer
from vlmtransfer.settings import EvalSettings, LoraSettings, TrainSettings, VideoSettings, settings_from

__all__ = ["DataConfig", "ExecutorConfig", "ModelConfig", "StudyConfig", "load_study_config"]


class _Frozen(BaseModel):
    # No inf or nan; numbers must be numbers (``true`` is not 1, ``"8"`` is not 8), see Int and Float.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


MAX_SEED = 2**32 - 1
"""Largest seed: NumPy's and CUDA's generators take 32-bit seeds."""


class ModelConfig(_Frozen):
    """A model of the study: preset, hub id or path, its label in results, and the scorer that runs it
    (``evaluate.registry``: ``hf`` by default; ``dummy`` for tests of the machinery).

    ``gpus``: GPUs each worker of this model holds (default: the executor's ``num_gpus``). More than 1
    splits the model over them (``device_map: auto``, balanced, each GPU up to its free memory): a model
    too big for one GPU, such as the 32B on 80 GB cards. Where jobs run, not what they compute: not part
    of any job key.
    """

    name: str = Field(min_length=1)
    label: str | None = None
    revision: str | None = None
    scorer: str = DEFAULT_SCORER
    gpus: Annotated[int, Field(strict=True, ge=1)] | None = None

    @field_validator("scorer")
    @classmethod
    def _known_scorer(cls, scorer: str) -> str:
        try:
            get_scorer(scorer)
        except InputError as exc:  # the key is the field: say the problem (with the near match) only
            raise ValueError(exc.problem) from None
        return scorer

    @property
    def key(self) -> str:
        return self.label or self.name


_SET_BY_THE_STUDY = {
    "train": {"seed": "set by the top-level seeds list"},
    "eval": dict.fromkeys(EvalSettings.RUNTIME, "set by the study (its vision-cache folder and budget)"),
}


def _study_settings(kind: type, section: str, value: Any) -> Any:
    """A YAML section (or a copy's) resolved into its settings dataclass; keys the study sets itself are
    refused unless at their default (a study.json copy lists every field)."""
    if isinstance(value, kind):
        return value
    if isinstance(value, dict):
        defaults = {f.name: f.default for f in fields(kind)}
        for key, why in _SET_BY_THE_STUDY.get(section, {}).items():
            if key in value and value[key] != defaults[key]:
                raise InputError(why, field=key)
        value = {k: v for k, v in value.items() if k not in _SET_BY_THE_STUDY.get(section, {})}
        if kind is VideoSettings and value.get("fps") is not None and "frames" not in value:
            value["frames"] = None  # `video: {fps: 1.0}` samples by fps instead of the default count
    return settings_from(kind, value)


class ExecutorConfig(_Frozen):
    """Where jobs run: ``local`` (this machine: in-process, or in ``workers`` processes) or ``ray`` (a
    cluster or a local Ray instance, ``workers`` actors per model)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    workers: Annotated[int, Field(strict=True, ge=1)] = 1
    num_cpus: Annotated[float, Field(strict=True, ge=0)] = 1
    num_gpus: Annotated[float, Field(strict=True, ge=0)] = 0
    max_retries: Annotated[int, Field(strict=True, ge=0)] = 2


class DataConfig(_Frozen):
    """Which questions: dataset directories, splits, per-task limits, and the task lists.

    ``target_dirs`` are target-only dataset directories (e.g. a VSI-Bench export beside BLINK): their
    tasks are evaluated by the baseline and every adapter but never finetuned on, whatever splits they
    hold, so a study of image sources can measure transfer to video targets (a non-square PGF matrix).
    """

    dirs: list[Path] = Field(min_length=1)
    target_dirs: list[Path] = Field(default_factory=list)
    targets: list[str] | None = None
    sources: list[str] | None = None
    train_split: str = "train"
    eval_split: str = "val"
    train_limit: Annotated[int, Field(strict=True, ge=1)] | None = None
    eval_limit: Annotated[int, Field(strict=True, ge=1)] | None = None

    @property
    def eval_dirs(self) -> list[Path]:
        """Every directory targets are read from: ``dirs``, then ``target_dirs`` (that order is part of
        each eval split's fingerprint, so a study without target directories keeps its keys)."""
        return [*self.dirs, *self.target_dirs]


class StudyConfig(_Frozen):
    """A transfer study: per model, a baseline on every target, then per (source, seed) a LoRA finetune
    evaluated on every target."""

    name: str = "study"
    output: Path
    models: list[ModelConfig] = Field(min_length=1)
    data: DataConfig
    seeds: list[Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)]] = Field(min_length=1)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    max_pixels: Annotated[int, Field(strict=True, ge=1)] | None = None
    executor: ExecutorConfig = ExecutorConfig()

    @field_validator("lora", "train", "eval", "video", mode="before")
    @classmethod
    def _settings(cls, value: Any, info: ValidationInfo) -> Any:
        kinds = {"lora": LoraSettings, "train": TrainSettings, "eval": EvalSettings, "video": VideoSettings}
        return _study_settings(kinds[info.field_name], info.field_name, value)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds

    @model_validator(mode="after")
    def _distinct_labels(self) -> StudyConfig:
        keys = [m.key for m in self.models]
        if len(set(keys)) != len(keys):
            raise ValueError("models: labels must be distinct (give each model a label)")
        return self


def load_study_config(path: str | Path, *, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """Read and validate a study YAML; relative paths resolve against the file's directory.

    Raises:
        InputError: unreadable file, invalid YAML, or the first invalid key (named with its path).
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", source=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', exc)}", source=path, where=where) from None
    if not isinstance(raw, dict):
        raise InputError("a study config must be a mapping of keys", source=path)
    raw = {**raw, **(overrides or {})}
    _check_output(raw.get("output"), path)
    try:
        config = StudyConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, InputError):  # a settings section names its field
            key = ".".join(part for part in (key, cause.field) if part)
            message = cause.problem
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        raise InputError(message, source=path, where=key) from None
    return _resolved(config, path.parent)


class _StrictLoader(yaml.SafeLoader):
    """YAML as people write it: ``1e-3`` is a number (PyYAML's YAML 1.1 reads it as a string), and a key
    given twice is an error (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)


def _check_output(output: Any, path: Path) -> None:
    """The output must be (or become) a directory: not a file, nor below one."""
    if not isinstance(output, str):
        return  # pydantic names the problem
    target = Path(output).expanduser()
    target = target if target.is_absolute() else path.parent / target
    for candidate in (target, *target.parents):
        if candidate.exists():
            if not candidate.is_dir():
                what = "is" if candidate == target else f"is below {candidate}, which is"
                raise InputError(f"{output} {what} a file, not a directory", source=path, where="output")
            return


def _resolved(config: StudyConfig, base: Path) -> StudyConfig:
    def resolve(p: Path) -> Path:
        p = p.expanduser()
        return p if p.is_absolute() else (base / p).resolve()

    data = config.data.model_copy(
        update={
            "dirs": [resolve(d) for d in config.data.dirs],
            "target_dirs": [resolve(d) for d in config.data.target_dirs],
        }
    )
    models = [
        m.model_copy(update={"name": str(resolve(Path(m.name)))}) if _looks_like_path(m.name, base) else m
        for m in config.models
    ]
    return config.model_copy(update={"output": resolve(config.output), "data": data, "models": models})


def _looks_like_path(name: str, base: Path) -> bool:
    """A model name is a local path when it starts like one or exists relative to the config."""
    return name.startswith((".", "/", "~")) or (base / name).exists()
