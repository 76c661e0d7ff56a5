"""The study config: one YAML file describes a whole transfer study.

Validated at the edge with pydantic; any problem becomes one line naming the file and the key
(``study.yaml: train.learning_rate: must be > 0``). Paths in the file are relative to the file.
The *results hash* covers everything that changes a result (model, data directories, splits and limits,
LoRA, training, evaluation, image cap, and the list of targets every run is evaluated on); seeds and
sources are not in it, so adding a seed or a source extends a study instead of invalidating it, while
adding a target makes earlier runs stale (they lack its accuracy). Data are identified by their paths
here; the study's plan adds a fingerprint of each split file it reads (``plan.split_fingerprint``), so a
dataset regenerated in place makes the runs that read it stale too.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vlmtransfer.errors import InputError

__all__ = ["ExecutorConfig", "ModelConfig", "StudyConfig", "load_study_config"]


class _Frozen(BaseModel):
    # No inf or nan; numbers must be numbers (``true`` is not 1, ``"8"`` is not 8), see Int and Float.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


MAX_SEED = 2**32 - 1
"""Largest seed: NumPy's and CUDA's generators take 32-bit seeds."""


class ModelConfig(_Frozen):
    """A model of the study: preset, hub id or path, and its label in results."""

    name: str = Field(min_length=1)
    label: str | None = None
    revision: str | None = None

    @property
    def key(self) -> str:
        return self.label or self.name


class LoraConfig(_Frozen):
    rank: Annotated[int, Field(strict=True, ge=1)] = 8
    alpha: Annotated[float, Field(strict=True, gt=0)] = 16
    dropout: Annotated[float, Field(strict=True, ge=0, lt=1)] = 0.05
    vision: Annotated[bool, Field(strict=True)] = False

    def hashed(self) -> dict[str, object]:
        """What goes into the study's hashes: ``vision`` only when set, so that studies made before it
        existed (language-model adapters, the same training) keep their hashes and results."""
        return self.model_dump(mode="json", exclude={"vision"} if not self.vision else None)


class TrainConfig(_Frozen):
    learning_rate: Annotated[float, Field(strict=True, gt=0)] = 2e-4
    epochs: Annotated[float, Field(strict=True, gt=0)] = 1.0
    max_steps: Annotated[int, Field(strict=True, ge=1)] | None = None
    batch_size: Annotated[int, Field(strict=True, ge=1)] = 8
    grad_accum: Annotated[int, Field(strict=True, ge=1)] = 1
    warmup_ratio: Annotated[float, Field(strict=True, ge=0, lt=1)] = 0.03


class EvalConfig(_Frozen):
    mode: Literal["loglik", "generate", "both"] = "loglik"
    batch_size: Annotated[int, Field(strict=True, ge=1)] = 16
    max_new_tokens: Annotated[int, Field(strict=True, ge=1)] = 16


class ExecutorConfig(_Frozen):
    """Where jobs run: ``local`` (in-process) or ``ray`` (a cluster or a local Ray instance)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    workers: Annotated[int, Field(strict=True, ge=1)] = 1
    num_cpus: Annotated[float, Field(strict=True, ge=0)] = 1
    num_gpus: Annotated[float, Field(strict=True, ge=0)] = 0
    max_retries: Annotated[int, Field(strict=True, ge=0)] = 2


class DataConfig(_Frozen):
    """Which questions: dataset directories, splits, per-task limits, and the task lists."""

    dirs: list[Path] = Field(min_length=1)
    targets: list[str] | None = None
    sources: list[str] | None = None
    train_split: str = "train"
    eval_split: str = "val"
    train_limit: Annotated[int, Field(strict=True, ge=1)] | None = None
    eval_limit: Annotated[int, Field(strict=True, ge=1)] | None = None


class StudyConfig(_Frozen):
    """A transfer study: per model, a baseline on every target, then per (source, seed) a LoRA finetune
    evaluated on every target."""

    name: str = "study"
    output: Path
    models: list[ModelConfig] = Field(min_length=1)
    data: DataConfig
    seeds: list[Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)]] = Field(min_length=1)
    lora: LoraConfig = LoraConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    max_pixels: Annotated[int, Field(strict=True, ge=1)] | None = None
    executor: ExecutorConfig = ExecutorConfig()

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

    def training_hash(self, model: ModelConfig) -> str:
        """Hash of what determines a model's adapters besides source and seed (their reuse key)."""
        return _hash(
            {
                "model": model.model_dump(mode="json"),
                "dirs": [str(d) for d in self.data.dirs],
                "split": self.data.train_split,
                "limit": self.data.train_limit,
                "lora": self.lora.hashed(),
                "train": self.train.model_dump(mode="json"),
                "max_pixels": self.max_pixels,
            }
        )

    def results_hash(self, model: ModelConfig, targets: list[str], *, baseline: bool = False) -> str:
        """Hash of everything that changes a model's results: its training (not for the baseline), the
        evaluation settings and questions (targets included). Seeds, sources, executor and output are not
        in it, so adding a seed or a source extends a study; changing anything in it makes results stale."""
        evaluated = {"model": model.model_dump(mode="json"), "dirs": [str(d) for d in self.data.dirs]}
        return _hash(
            {
                "training": evaluated | {"max_pixels": self.max_pixels}
                if baseline
                else self.training_hash(model),
                "targets": sorted(targets),
                "split": self.data.eval_split,
                "limit": self.data.eval_limit,
                "eval": self.eval.model_dump(mode="json"),
            }
        )


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


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

    data = config.data.model_copy(update={"dirs": [resolve(d) for d in config.data.dirs]})
    models = [
        m.model_copy(update={"name": str(resolve(Path(m.name)))}) if _looks_like_path(m.name, base) else m
        for m in config.models
    ]
    return config.model_copy(update={"output": resolve(config.output), "data": data, "models": models})


def _looks_like_path(name: str, base: Path) -> bool:
    """A model name is a local path when it starts like one or exists relative to the config."""
    return name.startswith((".", "/", "~")) or (base / name).exists()
