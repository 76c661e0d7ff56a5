"""`analyze`: every analysis of the paper, for every model, from loaded results."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from vlmtransfer.analysis.categories import category_scores
from vlmtransfer.analysis.cube import SeedScores
from vlmtransfer.analysis.graph import Clique, transfer_cliques, transfer_edges
from vlmtransfer.analysis.inputs import ModelData
from vlmtransfer.analysis.personas import persona_table, personas
from vlmtransfer.analysis.scale import scale_trend
from vlmtransfer.errors import InputError
from vlmtransfer.tasks import GRANULARITIES, LEVELS, TaskRegistry, default_registry

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "ModelAnalysis",
    "analyze",
    "registry_categories",
    "resolve_model_order",
]

CATEGORY_ORDERS: dict[str, tuple[str, ...]] = {"level": LEVELS, "granularity": GRANULARITIES}


@dataclass(frozen=True)
class AnalysisOptions:
    """What to compute; the defaults are the paper's.

    Attributes:
        include_self: count self-transfer (source == target) in transferability and malleability.
        edge_fraction: fraction of positive and of negative edges kept in the transfer graph.
        min_clique_size: smallest clique reported.
        model_order: order of models in outputs and the scale trend (default: input order);
            models not named follow in input order.
    """

    include_self: bool = False
    edge_fraction: float = 0.2
    min_clique_size: int = 3
    model_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.edge_fraction <= 1:
            raise ValueError(f"edge_fraction must be in (0, 1], got {self.edge_fraction:g}")
        if self.min_clique_size < 2:
            raise ValueError(f"min_clique_size must be at least 2, got {self.min_clique_size}")


@dataclass(frozen=True, eq=False)
class ModelAnalysis:
    """Everything computed for one model."""

    data: ModelData
    transferability: SeedScores
    malleability: SeedScores
    edges: pd.DataFrame
    cliques: dict[str, list[Clique]]
    categories: dict[str, pd.DataFrame]


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything computed for a set of models analysed together."""

    models: dict[str, ModelAnalysis]
    persona_table: pd.DataFrame
    personas: dict[str, list[str]]
    scale: pd.DataFrame
    options: AnalysisOptions = field(default_factory=AnalysisOptions)


def registry_categories(registry: TaskRegistry | None = None) -> dict[str, dict[str, str]]:
    """``{dimension: {task: category}}`` for every categorised task (default: built-in registry)."""
    registry = registry or default_registry()
    return {dimension: registry.categories(dimension) for dimension in CATEGORY_ORDERS}


def resolve_model_order(labels: Sequence[str], order: Sequence[str]) -> list[str]:
    """``order`` first (each must be a known label, named once), then the remaining labels."""
    for i, name in enumerate(order):
        if name not in labels:
            close = difflib.get_close_matches(name, labels, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (models: {', '.join(labels)})"
            raise InputError(f"unknown model {name!r}{hint}", source="--model-order")
        if name in order[:i]:
            raise InputError(f"model {name!r} is named twice", source="--model-order")
    return [*order, *(label for label in labels if label not in order)]


def analyze(
    models: Sequence[ModelData],
    options: AnalysisOptions | None = None,
    categories: Mapping[str, Mapping[str, str]] | None = None,
) -> Analysis:
    """Analyse every model, then the cross-model personas and the scale trend.

    Args:
        models: loaded results (see :func:`vlmtransfer.analysis.load_inputs`).
        options: what to compute (defaults: the paper's choices).
        categories: ``{dimension: {task: category}}``; default: the built-in task registry.
    """
    options = options or AnalysisOptions()
    categories = registry_categories() if categories is None else categories
    if not models:
        raise InputError("no models to analyse")
    order = resolve_model_order([m.label for m in models], options.model_order)
    by_label = {m.label: m for m in models}
    per_model = {label: _analyze_model(by_label[label], options, categories) for label in order}
    transfer = {label: result.transferability for label, result in per_model.items()}
    malleable = {label: result.malleability for label, result in per_model.items()}
    table = persona_table(transfer, malleable)
    return Analysis(per_model, table, personas(table), scale_trend(transfer, malleable, order), options)


def _analyze_model(
    model: ModelData, options: AnalysisOptions, categories: Mapping[str, Mapping[str, str]]
) -> ModelAnalysis:
    cube = model.pgf
    return ModelAnalysis(
        data=model,
        transferability=cube.transferability(options.include_self),
        malleability=cube.malleability(options.include_self),
        edges=transfer_edges(cube.mean(), options.edge_fraction),
        cliques={
            sign: transfer_cliques(cube, sign, options.min_clique_size) for sign in ("positive", "negative")
        },
        categories={
            dimension: category_scores(
                cube, mapping, CATEGORY_ORDERS.get(dimension, ()), options.include_self
            )
            for dimension, mapping in categories.items()
        },
    )
