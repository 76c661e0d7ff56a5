"""Reading ``analysis.json`` into the typed, checked view that figures and the HTML page draw from.

The report never recomputes an analysis: it draws what ``vlmtransfer analyze`` wrote, so a figure and the
numbers in ``analysis.json`` cannot disagree. The file is checked here, once, with errors that name the
file and the JSON path at fault (``models.3B.pgf_mean: 12 rows, expected 13``), because a hand-edited or
truncated file must fail as bad input (exit 2), not as an ``IndexError`` deep inside matplotlib.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlmtransfer.errors import InputError

__all__ = [
    "ANALYSIS_FILE",
    "SCHEMA_VERSION",
    "Clique",
    "DiagnosticsView",
    "ModelView",
    "PredictionView",
    "ReportData",
    "TargetOnlyView",
    "TaskInfo",
    "load_prediction",
    "load_report_data",
    "parse_report_data",
]

ANALYSIS_FILE = "analysis.json"
PREDICTION_DIR = "prediction"
PREDICTION_FILE = "predict.json"
"""A study's prediction (``vlmtransfer predict``), found beside its ``analysis`` folder by the report."""
SCHEMA_VERSION = 2
SCORE_COLUMNS = ("positive", "negative", "positive_std", "negative_std")
PERSONA_COLUMNS = (
    "persona",
    "task",
    "model",
    "value",
    "model_mean",
    "welch_t",
    "welch_p_value",
    "difference",
    "p_value",
    "q_member",
    "significant",
)
EDGE_COLUMNS = ("source", "target", "pgf", "pgf_std", "sign", "ci_low", "ci_high", "p", "q", "significant")
CATEGORY_COLUMNS = ("kind", "source_category", "target_category", *SCORE_COLUMNS, "n_tasks")


@dataclass(frozen=True)
class TaskInfo:
    """A task's display metadata: ``abbreviation`` (the name itself when unknown) and categories."""

    name: str
    abbreviation: str
    level: str | None
    granularity: str | None


@dataclass(frozen=True)
class Clique:
    """A maximal clique of mutual transfer (``sign``: positive or negative) with its selection-aware
    p-value, interval and flag, and the paper's Wilcoxon p-value beside them."""

    sign: str
    tasks: tuple[str, ...]
    p_value: float
    mean_pgf: float
    n_values: int
    wilcoxon_p_value: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    significant: bool = False


@dataclass(frozen=True)
class ModelView:
    """One model's results. Matrices are DataFrames (sources x targets); undefined values are NaN.

    ``baseline`` (columns ``accuracy, accuracy_std, ceiling``, indexed by target) is None for PGF inputs.
    ``transferability``/``malleability`` are indexed by task with columns ``positive, negative,
    positive_std, negative_std`` (and their ``*_ci_low/high``). ``cliques`` are largest first, as the
    analysis ordered them. ``pgf_ci_low/high``, ``pgf_p``, ``pgf_q`` are matrices like ``pgf_mean``;
    ``pgf_significant`` is boolean; ``resolution`` and ``detectable`` are per target (NaN when unknown);
    ``uncertainty`` says what the intervals rest on (``questions+seeds``, ``seeds`` or ``none``).
    """

    label: str
    input_format: str
    seeds: tuple[str, ...]
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    pgf_mean: pd.DataFrame
    pgf_std: pd.DataFrame
    pgf_per_seed: Mapping[str, pd.DataFrame]
    baseline: pd.DataFrame | None
    transferability: pd.DataFrame
    malleability: pd.DataFrame
    edges: pd.DataFrame
    cliques: Mapping[str, tuple[Clique, ...]]
    categories: Mapping[str, pd.DataFrame]
    uncertainty: str = "none"
    pgf_ci_low: pd.DataFrame | None = None
    pgf_ci_high: pd.DataFrame | None = None
    pgf_p: pd.DataFrame | None = None
    pgf_q: pd.DataFrame | None = None
    pgf_significant: pd.DataFrame | None = None
    resolution: pd.Series | None = None
    detectable: pd.Series | None = None

    @property
    def tasks(self) -> tuple[str, ...]:
        """Sources, then targets that are not sources, each once."""
        return tuple(dict.fromkeys((*self.sources, *self.targets)))


@dataclass(frozen=True)
class DiagnosticsView:
    """One model's diagnostics (``analysis.json`` key ``diagnostics``), where computed.

    ``prior_cells`` has one row per source and target (raw and prior-corrected PGF, their flags);
    ``format_cells`` the same for PGF by log-likelihood and by generation (``eval.mode both``);
    ``prior_shift`` the letter-prior shift per source; ``similarity`` the sources x sources cosine of
    adapter updates, with ``rho``, ``mantel_p`` and ``permutations`` of its correlation with PGF.
    """

    prior_cells: pd.DataFrame | None = None
    prior_shift: pd.Series | None = None
    format_cells: pd.DataFrame | None = None
    similarity: pd.DataFrame | None = None
    rho: float = math.nan
    mantel_p: float = math.nan
    permutations: int = 0


PRIOR_CELL_COLUMNS = ("source", "target", "pgf", "pgf_corrected", "significant", "significant_corrected")
FORMAT_CELL_COLUMNS = (
    "source",
    "target",
    "pgf_loglik",
    "pgf_generated",
    "significant_loglik",
    "significant_generated",
)


@dataclass(frozen=True)
class PredictionView:
    """What ``vlmtransfer predict`` measured on a study (its ``prediction/predict.json``).

    ``alignment`` is the sources x targets cosine of LoRA gradients at the base model; ``row_spearman``
    per source the leave-one-source-out rank correlation of predicted and measured rows.
    """

    model: str
    alignment: pd.DataFrame
    row_spearman: pd.Series
    mean_row_spearman: float
    top3_recovery: float
    top3_chance: float


@dataclass(frozen=True)
class TargetOnlyView:
    """The analysis' target-only block (``analysis.json`` key ``target_only``): targets that are never
    sources, e.g. video targets of image sources (paper §5.3).

    ``targets`` per model; ``transferability`` per model (sources' D+/D- over those targets only) and
    ``malleability`` per model (their Θ+/Θ- over the sources), indexed by task with the score columns;
    ``personas`` and ``persona_tests`` as the main analysis' (sponges and sieves among the block).
    """

    targets: Mapping[str, tuple[str, ...]]
    transferability: Mapping[str, pd.DataFrame]
    malleability: Mapping[str, pd.DataFrame]
    personas: Mapping[str, tuple[str, ...]]
    persona_tests: pd.DataFrame


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, from one ``analysis.json``.

    ``persona_tests`` holds one row per persona member and model (p-values of the Welch tests);
    ``scale`` one row per model in ``model_order``.
    """

    path: Path
    generator_version: str
    options: Mapping[str, Any]
    model_order: tuple[str, ...]
    tasks: Mapping[str, TaskInfo]
    models: Mapping[str, ModelView]
    personas: Mapping[str, tuple[str, ...]]
    persona_tests: pd.DataFrame
    scale: pd.DataFrame
    diagnostics: Mapping[str, DiagnosticsView] = field(default_factory=dict)
    prediction: PredictionView | None = None
    target_only: TargetOnlyView | None = None

    def task(self, name: str) -> TaskInfo:
        """Metadata of ``name``; a task the file does not describe gets its name and no category."""
        return self.tasks.get(name) or TaskInfo(name, name, None, None)

    def abbreviation(self, name: str) -> str:
        return self.task(name).abbreviation

    def all_tasks(self) -> tuple[str, ...]:
        """Every task of every model, in first-seen order."""
        return tuple(dict.fromkeys(t for m in self.models.values() for t in m.tasks))


def load_report_data(path: str | Path) -> ReportData:
    """Read and check ``path`` (an ``analysis.json``, or a directory holding one).

    Raises:
        InputError: the file is missing, not JSON, of another schema version, or inconsistent.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ANALYSIS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "no such file (run `vlmtransfer analyze ... --out DIR` first)", source=path
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", source=path) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", source=path, where=f"line {exc.lineno}") from None
    data = parse_report_data(document, path)
    prediction = path.parent.parent / PREDICTION_DIR / PREDICTION_FILE
    return replace(data, prediction=load_prediction(prediction)) if prediction.is_file() else data


def load_prediction(path: str | Path) -> PredictionView:
    """Read and check a ``predict.json`` (written by ``vlmtransfer predict`` beside a study's analysis).

    Raises:
        InputError: unreadable, not JSON, or missing what the report draws (naming the JSON path).
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=path) from None
    reader = _Reader(path)
    root = reader.mapping(document, "")
    alignment = reader.mapping(reader.get(root, "alignment", ""), "alignment")
    sources = reader.strings(reader.get(alignment, "sources", "alignment"), "alignment.sources")
    targets = reader.strings(reader.get(alignment, "targets", "alignment"), "alignment.targets")
    quality = reader.mapping(reader.get(root, "quality", ""), "quality")
    by_source = reader.mapping(
        reader.get(quality, "row_spearman_by_source", "quality"), "quality.row_spearman_by_source"
    )
    return PredictionView(
        model=str(reader.get(root, "model", "")),
        alignment=reader.matrix(
            reader.get(alignment, "values", "alignment"), "alignment.values", sources, targets
        ),
        row_spearman=pd.Series({k: _number(v) for k, v in by_source.items()}, dtype=float),
        mean_row_spearman=_number(quality.get("row_spearman")),
        top3_recovery=_number(quality.get("top3_recovery")),
        top3_chance=_number(quality.get("top3_chance")),
    )


def parse_report_data(document: Any, path: str | Path = ANALYSIS_FILE) -> ReportData:
    """Check a parsed ``analysis.json`` document and build the :class:`ReportData` view.

    Raises:
        InputError: naming ``path`` and the JSON path of the first problem.
    """
    reader = _Reader(Path(path))
    root = reader.mapping(document, "")
    version = reader.get(root, "schema_version", "")
    if version != SCHEMA_VERSION:
        raise reader.error("schema_version", f"is {version!r}; this vlmtransfer reads {SCHEMA_VERSION}")
    order = tuple(reader.strings(reader.get(root, "model_order", ""), "model_order"))
    models_doc = reader.mapping(reader.get(root, "models", ""), "models")
    if not models_doc or set(order) != set(models_doc):
        raise reader.error("model_order", f"{list(order)} does not list the models {sorted(models_doc)}")
    models = {label: _model(reader, label, models_doc[label]) for label in order}
    return ReportData(
        path=Path(path),
        generator_version=str(reader.mapping(root.get("generator", {}), "generator").get("version", "")),
        options=reader.mapping(reader.get(root, "options", ""), "options"),
        model_order=order,
        tasks=_tasks(reader, reader.mapping(reader.get(root, "tasks", ""), "tasks")),
        models=models,
        personas=_personas(reader, reader.get(root, "personas", "")),
        persona_tests=reader.records(reader.get(root, "persona_tests", ""), "persona_tests", PERSONA_COLUMNS),
        scale=reader.records(reader.get(root, "scale", ""), "scale", ("model",)),
        diagnostics=_diagnostics(reader, root.get("diagnostics")),
        target_only=_target_only(reader, root.get("target_only"), models),
    )


def _target_only(reader: _Reader, doc: Any, models: Mapping[str, ModelView]) -> TargetOnlyView | None:
    """The target-only block, checked against the models (None when the analysis has none)."""
    if doc is None:
        return None
    doc = reader.mapping(doc, "target_only")
    per_model = reader.mapping(reader.get(doc, "models", "target_only"), "target_only.models")
    targets, transfer, malleable = {}, {}, {}
    for label, entry in per_model.items():
        where = f"target_only.models.{label}"
        if label not in models:
            raise reader.error(where, "is not a model of the analysis")
        entry = reader.mapping(entry, where)  # noqa: PLW2901 - the checked version of it
        names = tuple(reader.strings(reader.get(entry, "targets", where), f"{where}.targets"))
        unknown = [t for t in names if t not in models[label].targets or t in models[label].sources]
        if unknown:
            raise reader.error(f"{where}.targets", f"{unknown[0]!r} is not a target-only target of {label!r}")
        targets[label] = names
        transfer[label] = reader.scores(
            reader.get(entry, "transferability", where), f"{where}.transferability"
        )
        malleable[label] = reader.scores(reader.get(entry, "malleability", where), f"{where}.malleability")
    personas = reader.mapping(reader.get(doc, "personas", "target_only"), "target_only.personas")
    return TargetOnlyView(
        targets=targets,
        transferability=transfer,
        malleability=malleable,
        personas={k: tuple(reader.strings(v, f"target_only.personas.{k}")) for k, v in personas.items()},
        persona_tests=reader.records(
            reader.get(doc, "persona_tests", "target_only"), "target_only.persona_tests", PERSONA_COLUMNS
        ),
    )


def _diagnostics(reader: _Reader, doc: Any) -> dict[str, DiagnosticsView]:
    """Per model, its diagnostics view (empty when the analysis has none)."""
    if doc is None:
        return {}
    doc = reader.mapping(doc, "diagnostics")
    prior = doc.get("prior")
    prior_models = (
        reader.mapping(reader.get(prior, "models", "diagnostics.prior"), "diagnostics.prior.models")
        if prior
        else {}
    )
    similarity = reader.mapping(doc.get("similarity") or {}, "diagnostics.similarity")
    answer_format = doc.get("format")
    format_models = (
        reader.mapping(reader.get(answer_format, "models", "diagnostics.format"), "diagnostics.format.models")
        if answer_format
        else {}
    )
    views = {}
    for label in dict.fromkeys([*prior_models, *similarity, *format_models]):
        parts: dict[str, Any] = {}
        if label in prior_models:
            where = f"diagnostics.prior.models.{label}"
            entry = reader.mapping(prior_models[label], where)
            parts["prior_cells"] = reader.records(
                reader.get(entry, "cells", where), f"{where}.cells", PRIOR_CELL_COLUMNS
            )
            shift = reader.mapping(
                reader.get(entry, "prior_shift_by_source", where), f"{where}.prior_shift_by_source"
            )
            parts["prior_shift"] = pd.Series(shift, dtype=float)
        format_entry = reader.mapping(format_models.get(label, {}), f"diagnostics.format.models.{label}")
        if "cells" in format_entry:
            where = f"diagnostics.format.models.{label}.cells"
            parts["format_cells"] = reader.records(format_entry["cells"], where, FORMAT_CELL_COLUMNS)
        if label in similarity:
            where = f"diagnostics.similarity.{label}"
            entry = reader.mapping(similarity[label], where)
            cosine = reader.mapping(reader.get(entry, "cosine", where), f"{where}.cosine")
            sources = reader.strings(
                reader.get(cosine, "sources", f"{where}.cosine"), f"{where}.cosine.sources"
            )
            parts["similarity"] = reader.matrix(
                reader.get(cosine, "values", f"{where}.cosine"), f"{where}.cosine.values", sources, sources
            )
            correlation = reader.mapping(
                reader.get(entry, "pgf_correlation", where), f"{where}.pgf_correlation"
            )
            parts["rho"] = _number(correlation.get("spearman_rho"))
            parts["mantel_p"] = _number(correlation.get("mantel_p"))
            parts["permutations"] = int(correlation.get("permutations") or 0)
        views[label] = DiagnosticsView(**parts)
    return views


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _tasks(reader: _Reader, tasks: Mapping[str, Any]) -> dict[str, TaskInfo]:
    info = {}
    for name, entry in tasks.items():
        entry = reader.mapping(entry, f"tasks.{name}")  # noqa: PLW2901 - the checked version of it
        abbreviation = entry.get("abbreviation") or name
        level, granularity = entry.get("level"), entry.get("granularity")
        for key, value in (("level", level), ("granularity", granularity)):
            if value is not None and not isinstance(value, str):
                raise reader.error(f"tasks.{name}.{key}", "expected a string or null")
        info[name] = TaskInfo(name, str(abbreviation), level, granularity)
    return info


def _personas(reader: _Reader, personas: Any) -> dict[str, tuple[str, ...]]:
    personas = reader.mapping(personas, "personas")
    return {kind: tuple(reader.strings(names, f"personas.{kind}")) for kind, names in personas.items()}


def _model(reader: _Reader, label: str, doc: Any) -> ModelView:
    where = f"models.{label}"
    doc = reader.mapping(doc, where)
    sources = tuple(reader.strings(reader.get(doc, "sources", where), f"{where}.sources"))
    targets = tuple(reader.strings(reader.get(doc, "targets", where), f"{where}.targets"))
    seeds = tuple(reader.strings(reader.get(doc, "seeds", where), f"{where}.seeds"))

    def matrix(key: str, value: Any = None) -> pd.DataFrame:
        value = reader.get(doc, key, where) if value is None else value
        return reader.matrix(value, f"{where}.{key}", sources, targets)

    per_seed_doc = reader.mapping(reader.get(doc, "pgf_per_seed", where), f"{where}.pgf_per_seed")
    if list(per_seed_doc) != list(seeds):
        raise reader.error(
            f"{where}.pgf_per_seed", f"holds seeds {list(per_seed_doc)}, expected {list(seeds)}"
        )
    cliques_doc = reader.mapping(reader.get(doc, "cliques", where), f"{where}.cliques")
    categories_doc = reader.mapping(reader.get(doc, "categories", where), f"{where}.categories")
    return ModelView(
        label=label,
        input_format=str(reader.get(doc, "input_format", where)),
        seeds=seeds,
        sources=sources,
        targets=targets,
        pgf_mean=matrix("pgf_mean"),
        pgf_std=matrix("pgf_std"),
        pgf_per_seed={
            seed: matrix(f"pgf_per_seed.{seed}", reader.get(per_seed_doc, seed, f"{where}.pgf_per_seed"))
            for seed in seeds
        },
        baseline=_baseline(reader, doc.get("baseline"), f"{where}.baseline"),
        transferability=reader.scores(reader.get(doc, "transferability", where), f"{where}.transferability"),
        malleability=reader.scores(reader.get(doc, "malleability", where), f"{where}.malleability"),
        edges=reader.records(reader.get(doc, "edges", where), f"{where}.edges", EDGE_COLUMNS),
        cliques={
            sign: tuple(
                _clique(reader, sign, c, f"{where}.cliques.{sign}") for c in cliques_doc.get(sign, [])
            )
            for sign in ("positive", "negative")
        },
        categories={
            dimension: reader.records(rows, f"{where}.categories.{dimension}", CATEGORY_COLUMNS)
            for dimension, rows in categories_doc.items()
        },
        uncertainty=str(reader.get(doc, "uncertainty", where)),
        pgf_ci_low=matrix("pgf_ci_low"),
        pgf_ci_high=matrix("pgf_ci_high"),
        pgf_p=matrix("pgf_p"),
        pgf_q=matrix("pgf_q"),
        pgf_significant=_flags(reader, reader.get(doc, "pgf_significant", where), where, sources, targets),
        resolution=_per_target(reader, doc, "resolution", where, targets),
        detectable=_per_target(reader, doc, "detectable_pgf", where, targets),
    )


def _flags(
    reader: _Reader, value: Any, where: str, sources: Sequence[str], targets: Sequence[str]
) -> pd.DataFrame:
    key = f"{where}.pgf_significant"
    ok = (
        isinstance(value, list)
        and len(value) == len(sources)
        and all(
            isinstance(r, list) and len(r) == len(targets) and all(isinstance(v, bool) for v in r)
            for r in value
        )
    )
    if not ok:
        raise reader.error(key, f"expected {len(sources)} rows of {len(targets)} booleans")
    return pd.DataFrame(value, index=list(sources), columns=list(targets), dtype=bool)


def _per_target(
    reader: _Reader, doc: Mapping[str, Any], key: str, where: str, targets: Sequence[str]
) -> pd.Series:
    values = reader.mapping(reader.get(doc, key, where), f"{where}.{key}")
    return pd.Series([_number(values.get(t)) for t in targets], index=list(targets), dtype=float)


def _baseline(reader: _Reader, value: Any, where: str) -> pd.DataFrame | None:
    if value is None:
        return None
    rows = {
        target: reader.mapping(entry, f"{where}.{target}")
        for target, entry in reader.mapping(value, where).items()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["accuracy", "accuracy_std", "ceiling"])
    return frame.astype(float)


def _clique(reader: _Reader, sign: str, value: Any, where: str) -> Clique:
    entry = reader.mapping(value, where)
    return Clique(
        sign=sign,
        tasks=tuple(reader.strings(reader.get(entry, "tasks", where), f"{where}.tasks")),
        p_value=_number(entry.get("p_value")),
        mean_pgf=_number(entry.get("mean_pgf")),
        n_values=int(entry.get("n_values") or 0),
        wilcoxon_p_value=_number(entry.get("wilcoxon_p_value")),
        ci_low=_number(entry.get("ci_low")),
        ci_high=_number(entry.get("ci_high")),
        significant=bool(entry.get("significant", False)),
    )


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


class _Reader:
    """Typed access to a JSON document with errors that name the file and the JSON path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, problem: str) -> InputError:
        return InputError(problem, source=self.path, where=where or None)

    def get(self, mapping: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in mapping:
            raise self.error(f"{where}.{key}" if where else key, "missing (is this an analysis.json?)")
        return mapping[key]

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(where, f"expected an object, got {type(value).__name__}")
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(where, "expected a list of strings")
        return value

    def matrix(self, value: Any, where: str, rows: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
        """A rows x columns matrix of numbers or nulls (NaN)."""
        if not isinstance(value, list) or len(value) != len(rows):
            got = len(value) if isinstance(value, list) else type(value).__name__
            raise self.error(where, f"{got} rows, expected {len(rows)} (one per source)")
        for i, row in enumerate(value):
            if not isinstance(row, list) or len(row) != len(columns):
                raise self.error(f"{where}[{i}]", f"expected {len(columns)} values (one per target)")
            if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in row):
                raise self.error(f"{where}[{i}]", "expected numbers or null")
        array = np.array([[math.nan if v is None else v for v in row] for row in value], dtype=float)
        return pd.DataFrame(array.reshape(len(rows), len(columns)), index=list(rows), columns=list(columns))

    def scores(self, value: Any, where: str) -> pd.DataFrame:
        """Per task ``{positive, negative, positive_std, negative_std}`` -> DataFrame indexed by task."""
        entries = {task: self.mapping(v, f"{where}.{task}") for task, v in self.mapping(value, where).items()}
        for task, entry in entries.items():
            for column in SCORE_COLUMNS:
                self.get(entry, column, f"{where}.{task}")
        frame = pd.DataFrame.from_dict(entries, orient="index", columns=list(SCORE_COLUMNS))
        return frame.astype(float)

    def records(self, value: Any, where: str, required: Sequence[str]) -> pd.DataFrame:
        """A list of objects -> DataFrame, each object holding ``required`` (nulls -> NaN)."""
        if not isinstance(value, list):
            raise self.error(where, "expected a list")
        for i, entry in enumerate(value):
            for column in required:
                self.get(self.mapping(entry, f"{where}[{i}]"), column, f"{where}[{i}]")
        frame = pd.DataFrame(value, columns=_columns(value, required))
        # Columns pandas left as objects because of nulls (e.g. all p-values null) become floats (NaN);
        # integer columns (n_tasks, size) stay integers.
        nullable = [
            c
            for c in frame.columns
            if c not in _TEXT_COLUMNS and frame[c].dtype == object and frame[c].map(_is_number).all()
        ]
        return frame.astype(dict.fromkeys(nullable, float))


_TEXT_COLUMNS = frozenset(
    {"persona", "task", "model", "source", "target", "sign", "kind", "source_category", "target_category"}
)


def _columns(records: list[Mapping[str, Any]], required: Sequence[str]) -> list[str]:
    extra = dict.fromkeys(k for r in records for k in r if k not in required)
    return [*required, *extra]


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))
