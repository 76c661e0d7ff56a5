"""Scorers by name: ``hf`` (any Hugging Face image-text-to-text model, the default) and ``dummy`` (a
deterministic stand-in for tests and dry runs of the machinery). No torch here.

A study's model names its scorer (``models: [{name: tiny, scorer: hf}]``), so do ``finetune --scorer``
and ``evaluate --scorer``; each entry knows how to load a model as a
:class:`~vlmtransfer.evaluate.scorer.TrainableScorer`, which libraries' releases its results depend on
(in every job key, ``study.jobs``), and how to check things early (a device, the hub, an adapter
directory) before anything heavy loads. Like the executors, a :class:`~vlmtransfer.registry.Registry`: add
an entry with :func:`register_scorer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vlmtransfer.evaluate.scorer import TrainableScorer
from vlmtransfer.registry import Registry
from vlmtransfer.settings import EvalSettings

__all__ = [
    "DEFAULT_SCORER",
    "SCORERS",
    "ScorerKind",
    "ScorerOptions",
    "check_adapter",
    "get_scorer",
    "load_scorer",
    "prepare_scorer",
    "register_scorer",
]

DEFAULT_SCORER = "hf"


@dataclass(frozen=True)
class ScorerOptions:
    """How to load a model as a scorer; a scorer ignores what does not apply to it.

    Attributes:
        device: ``auto``, ``cpu``, ``cuda:1`` ...
        dtype: ``auto`` or a dtype name.
        max_pixels: cap on pixels per image (part of a result's identity).
        revision: hub revision.
        seed: seed the library's random generators with this at load (None: leave them).
        eval: batch size, generation budget and vision cache of evaluation.
        gpus: more than 1 splits the model over this process's first ``gpus`` GPUs (a model too big
            for one; ``device`` is then ignored).
    """

    device: str = "auto"
    dtype: str = "auto"
    max_pixels: int | None = None
    revision: str | None = None
    seed: int | None = None
    eval: EvalSettings = field(default_factory=EvalSettings)
    gpus: int = 1


@dataclass(frozen=True)
class ScorerKind:
    """A registered scorer.

    Attributes:
        name: what configs and flags call it.
        load: ``load(model, options)``: the model (a preset, hub id or path; for the dummy, any name)
            as a scorer.
        libraries: packages whose minor release can change its results: they are in every job key.
        prepare: ``prepare(model, options, source)``, run before loading in a process that talks to
            the user: refuse what would fail later (a missing device, an unreachable hub, naming
            ``source``), and quiet the library's own progress output; returns a note to show, or None.
        quiet: silence the library's own logging and progress bars (a Ray worker, which has no user).
        check_adapter: refuse an adapter directory this scorer cannot attach, before loading anything.
        summary: one line for listings.
    """

    name: str
    load: Callable[[str, ScorerOptions], TrainableScorer]
    libraries: tuple[str, ...] = ()
    prepare: Callable[[str, ScorerOptions, str | None], str | None] | None = None
    quiet: Callable[[], None] | None = None
    check_adapter: Callable[[Path], None] | None = None
    summary: str = ""


def _load_hf(model: str, options: ScorerOptions) -> TrainableScorer:
    from vlmtransfer.evaluate.hf import load_hf_scorer  # noqa: PLC0415 - torch only when loading

    return load_hf_scorer(model, options)


def _prepare_hf(model: str, options: ScorerOptions, source: str | None) -> str | None:
    from vlmtransfer.evaluate.hf import prepare_hf  # noqa: PLC0415

    return prepare_hf(model, options, source)


def _quiet_hf() -> None:
    from vlmtransfer.evaluate.hf import quiet_transformers  # noqa: PLC0415

    quiet_transformers()


def _check_hf_adapter(path: Path) -> None:
    from vlmtransfer.evaluate.adapters import check_adapter_files  # noqa: PLC0415 - safetensors only

    check_adapter_files(path)


def _load_dummy(model: str, options: ScorerOptions) -> TrainableScorer:
    from vlmtransfer.evaluate.dummy import DummyScorer  # noqa: PLC0415

    return DummyScorer(model, options.eval)


def _check_dummy_adapter(path: Path) -> None:
    from vlmtransfer.evaluate.dummy import read_dummy_adapter  # noqa: PLC0415

    read_dummy_adapter(path)


SCORERS: Registry[ScorerKind] = Registry(
    "scorer",
    (
        (kind.name, kind)
        for kind in (
            ScorerKind(
                "hf",
                _load_hf,
                libraries=("torch", "transformers", "peft"),
                prepare=_prepare_hf,
                quiet=_quiet_hf,
                check_adapter=_check_hf_adapter,
                summary="Hugging Face transformers + PEFT: any image-text-to-text model, LoRA adapters",
            ),
            ScorerKind(
                "dummy",
                _load_dummy,
                check_adapter=_check_dummy_adapter,
                summary="deterministic answers from hashes of model, adapter and question (tests; no torch)",
            ),
        )
    ),
    field="scorer",
)


def register_scorer(kind: ScorerKind, *, replace: bool = False) -> None:
    """Add ``kind`` to :data:`SCORERS`.

    Raises:
        InputError: a scorer of that name exists and ``replace`` is false.
    """
    SCORERS.register(kind.name, kind, replace=replace)


def get_scorer(name: str) -> ScorerKind:
    """The scorer registered as ``name``.

    Raises:
        InputError: naming the field ``scorer``, with the near match and the known names.
    """
    return SCORERS.get(name)


def load_scorer(name: str, model: str, options: ScorerOptions | None = None) -> TrainableScorer:
    """``model`` loaded as the scorer ``name`` (``load_scorer("hf", "tiny")``).

    Raises:
        InputError: an unknown scorer (field ``scorer``), or a model that does not load (``model``).
    """
    return get_scorer(name).load(model, options or ScorerOptions())


def prepare_scorer(
    name: str, model: str, options: ScorerOptions | None = None, source: str | None = None
) -> str | None:
    """Run the scorer's early checks for ``model`` (see :attr:`ScorerKind.prepare`; ``source`` is what
    a refusal names as its origin); a note to show, or None."""
    kind = get_scorer(name)
    return kind.prepare(model, options or ScorerOptions(), source) if kind.prepare else None


def check_adapter(name: str, adapter: Path) -> None:
    """Refuse an adapter directory the scorer ``name`` cannot attach, before any model loads.

    Raises:
        InputError: naming the adapter's file at fault.
    """
    kind = get_scorer(name)
    if kind.check_adapter:
        kind.check_adapter(Path(adapter))
