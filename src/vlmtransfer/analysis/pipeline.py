"""`analyze`: every analysis of the paper, for every model, from loaded results."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vlmtransfer.analysis.categories import category_scores
from vlmtransfer.analysis.cube import SeedScores
from vlmtransfer.analysis.graph import Clique, transfer_cliques, transfer_edges
from vlmtransfer.analysis.inputs import ModelData
from vlmtransfer.analysis.personas import PERSONAS, persona_table
from vlmtransfer.analysis.power import detectable_pgf
from vlmtransfer.analysis.scale import scale_trend
from vlmtransfer.analysis.significance import clique_tests, null_draws, persona_tests
from vlmtransfer.analysis.target_only import TargetOnlyAnalysis, target_only_analysis
from vlmtransfer.analysis.uncertainty import (
    CellStats,
    Replicates,
    bootstrap_replicates,
    cell_statistics,
    score_intervals,
    seed_replicates,
    sign_flip_p_values,
)
from vlmtransfer.errors import InputError
from vlmtransfer.registry import did_you_mean
from vlmtransfer.tasks import GRANULARITIES, LEVELS, TaskRegistry, default_registry

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "CellEvidence",
    "ModelAnalysis",
    "analyze",
    "cell_evidence",
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
        alpha: false discovery rate of the per-cell ``significant`` flag (q < alpha), and the level
            of the clique and persona tests.
        n_resamples: bootstrap resamples and sign flips per model (per-question inputs).
        random_state: seed of every random draw; the same seed gives the same analysis.
        significant_only: restrict edges, cliques and personas to significant cells and tests.
    """

    include_self: bool = False
    edge_fraction: float = 0.2
    min_clique_size: int = 3
    model_order: tuple[str, ...] = ()
    alpha: float = 0.05
    n_resamples: int = 10_000
    random_state: int = 0
    significant_only: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha:g}")
        if self.n_resamples < 100:
            raise ValueError(
                f"the number of bootstrap resamples must be at least 100, got {self.n_resamples}"
            )
        if not 0 < self.edge_fraction <= 1:
            raise ValueError(f"edge_fraction must be in (0, 1], got {self.edge_fraction:g}")
        if self.min_clique_size < 2:
            raise ValueError(f"min_clique_size must be at least 2, got {self.min_clique_size}")


@dataclass(frozen=True, eq=False)
class ModelAnalysis:
    """Everything computed for one model.

    ``cells`` holds per-cell intervals, p, q and flags; ``score_intervals`` the 95 % intervals of
    transferability and malleability (``{role: DataFrame}`` indexed by task, columns
    ``positive_ci_low, positive_ci_high, negative_ci_low, negative_ci_high``); ``detectable`` per target
    the smallest PGF found with 80 % power at this study's sizes (NaN when the sizes are unknown).
    """

    data: ModelData
    transferability: SeedScores
    malleability: SeedScores
    edges: pd.DataFrame
    cliques: dict[str, list[Clique]]
    categories: dict[str, pd.DataFrame]
    cells: CellStats
    score_intervals: dict[str, pd.DataFrame]
    detectable: np.ndarray


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything computed for a set of models analysed together.

    ``target_only`` is the block of targets that are not sources (video targets of image sources,
    paper §5.3), read on its own; None when every target is also a source (a square matrix).
    """

    models: dict[str, ModelAnalysis]
    persona_table: pd.DataFrame
    personas: dict[str, list[str]]
    scale: pd.DataFrame
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    target_only: TargetOnlyAnalysis | None = None


def registry_categories(registry: TaskRegistry | None = None) -> dict[str, dict[str, str]]:
    """``{dimension: {task: category}}`` for every categorised task (default: built-in registry)."""
    registry = registry or default_registry()
    return {dimension: registry.categories(dimension) for dimension in CATEGORY_ORDERS}


def resolve_model_order(labels: Sequence[str], order: Sequence[str]) -> list[str]:
    """``order`` first (each must be a known label, named once), then the remaining labels."""
    for i, name in enumerate(order):
        if name not in labels:
            hint = did_you_mean(name, labels, n=1) or f" (models: {', '.join(labels)})"
            raise InputError(f"unknown model {name!r}{hint}", field="model_order")
        if name in order[:i]:
            raise InputError(f"model {name!r} is named twice", field="model_order")
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
    analysed = {label: _analyze_model(by_label[label], options, categories) for label in order}
    per_model = {label: result for label, (result, _) in analysed.items()}
    replicates = {label: draws for label, (_, draws) in analysed.items()}
    transfer = {label: result.transferability for label, result in per_model.items()}
    malleable = {label: result.malleability for label, result in per_model.items()}
    scores = {"transferability": transfer, "malleability": malleable}
    table = persona_tests(persona_table(transfer, malleable), scores, replicates, options.alpha)
    members = _persona_members(table, options.significant_only)
    block = target_only_analysis(
        [by_label[label] for label in order],
        alpha=options.alpha,
        n_resamples=options.n_resamples,
        random_state=options.random_state,
        significant_only=options.significant_only,
    )
    scale = scale_trend(transfer, malleable, order)
    return Analysis(per_model, table, members, scale, options, block)


def _persona_members(table: pd.DataFrame, significant_only: bool) -> dict[str, list[str]]:
    """``{persona: [tasks]}``: members by the paper's rule, or only the significant ones."""
    chosen = table[table["significant"] if significant_only else table["member"]]
    return {p.name: sorted(chosen.loc[chosen["persona"] == p.name, "task"].unique()) for p in PERSONAS}


def _rng(options: AnalysisOptions, label: str) -> np.random.Generator:
    """A generator per model, so that a model's draws do not depend on the other models analysed."""
    return np.random.default_rng([options.random_state, zlib.crc32(label.encode())])


@dataclass(frozen=True, eq=False)
class CellEvidence:
    """One model's per-cell statistics and the resamples they came from.

    ``replicates`` are the bootstrap resamples (per-question inputs only); ``null`` the centred
    resamples the clique tests compare against (None with one seed and no questions)."""

    cells: CellStats
    replicates: Replicates | None
    null: np.ndarray | None


def cell_evidence(model: ModelData, options: AnalysisOptions) -> CellEvidence:
    """Intervals, p, q and significance of every cell of ``model``, drawn as :func:`analyze` draws
    them (same generator per model label), so a re-analysis of the same model gives the same cells."""
    cube = model.pgf
    rng = _rng(options, model.label)
    counted = cube.counted(options.include_self)
    replicates, p_values, null = None, None, None
    n_null = min(options.n_resamples, null_draws(len(set(cube.sources) & set(cube.targets))))
    if model.questions is not None:
        replicates = bootstrap_replicates(model.questions, cube.values, options.n_resamples, rng, counted)
        p_values = sign_flip_p_values(model.questions, options.n_resamples, rng)
        null = replicates.mean[:n_null] - cube.values.mean(axis=0)
    elif len(cube.seeds) > 1:
        seeds = len(cube.seeds)
        draws = seed_replicates(cube.values, n_null, rng, counted)
        null = (draws.mean - cube.values.mean(axis=0)) * math.sqrt(seeds / (seeds - 1))
    cells = cell_statistics(
        cube, model.questions, replicates, p_values, alpha=options.alpha, known=_known_sizes(model)
    )
    return CellEvidence(cells, replicates, null)


def _analyze_model(
    model: ModelData, options: AnalysisOptions, categories: Mapping[str, Mapping[str, str]]
) -> tuple[ModelAnalysis, Replicates | None]:
    cube = model.pgf
    evidence = cell_evidence(model, options)
    cells, replicates, null = evidence.cells, evidence.replicates, evidence.null
    transferability = cube.transferability(options.include_self)
    malleability = cube.malleability(options.include_self)
    allowed = cells.significant if options.significant_only else None
    cliques = {
        sign: clique_tests(
            cube,
            transfer_cliques(cube, sign, options.min_clique_size, allowed),
            sign,
            replicates=replicates,
            null=null,
            min_size=options.min_clique_size,
            alpha=options.alpha,
        )
        for sign in ("positive", "negative")
    }
    result = ModelAnalysis(
        data=model,
        transferability=transferability,
        malleability=malleability,
        edges=_edges(cube, cells, options),
        cliques=cliques,
        categories={
            dimension: category_scores(
                cube, mapping, CATEGORY_ORDERS.get(dimension, ()), options.include_self
            )
            for dimension, mapping in categories.items()
        },
        cells=cells,
        score_intervals={
            "transferability": score_intervals(transferability, replicates, "transferability"),
            "malleability": score_intervals(malleability, replicates, "malleability"),
        },
        detectable=_detectable(cells, len(cube.seeds), options.alpha),
    )
    return result, replicates


def _known_sizes(model: ModelData) -> dict[str, np.ndarray]:
    """Per target: questions, base accuracy and ceiling where the input tells them (else NaN)."""
    targets = list(model.pgf.targets)
    nan = np.full(len(targets), np.nan)
    if model.accuracies is None:
        return {"n_questions": nan, "base_accuracy": nan, "ceiling": nan}
    per_target = model.accuracies.groupby("target")
    n = per_target["n"].max().reindex(targets) if "n" in model.accuracies else None
    return {
        "n_questions": nan if n is None else n.to_numpy(dtype=float),
        "base_accuracy": per_target["base_accuracy"].mean().reindex(targets).to_numpy(dtype=float),
        "ceiling": per_target["ceiling"].first().reindex(targets).to_numpy(dtype=float),
    }


def _edges(cube, cells: CellStats, options: AnalysisOptions) -> pd.DataFrame:
    """The strongest edges (of the significant cells only, if asked), with each cell's evidence."""
    mean = cube.mean()
    if options.significant_only:
        mean = mean.where(cells.significant)
    edges = transfer_edges(mean, options.edge_fraction)
    rows = [cube.sources.index(s) for s in edges["source"]]
    cols = [cube.targets.index(t) for t in edges["target"]]
    return edges.assign(
        ci_low=cells.ci_low[rows, cols],
        ci_high=cells.ci_high[rows, cols],
        p=cells.p[rows, cols],
        q=cells.q[rows, cols],
        significant=cells.significant[rows, cols].astype(bool),
    )


def _detectable(cells: CellStats, seeds: int, alpha: float) -> np.ndarray:
    """Per target: the smallest PGF found with 80 % power (the measured flip rate where known)."""
    values = []
    for n, a, u, flips in zip(
        cells.n_questions, cells.base_accuracy, cells.ceiling, cells.flip_rate, strict=True
    ):
        known = all(math.isfinite(x) for x in (n, a, u)) and a < u
        flip_rate = float(flips) if math.isfinite(flips) else None
        values.append(
            detectable_pgf(n, a, seeds, ceiling=u, alpha=alpha, flip_rate=flip_rate) if known else math.nan
        )
    return np.array(values, dtype=float)
