"""Serialising an :class:`Analysis`: ``analysis.json`` (schema: docs/analysis-json.md) and CSV tables."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlmtransfer import __version__
from vlmtransfer.analysis.diagnostics import Diagnostics
from vlmtransfer.analysis.graph import Clique
from vlmtransfer.analysis.metrics import PGF_EPSILON
from vlmtransfer.analysis.pipeline import Analysis, ModelAnalysis
from vlmtransfer.analysis.table import csv_text
from vlmtransfer.analysis.target_only import TargetOnlyAnalysis
from vlmtransfer.analysis.uncertainty import CI_LEVEL
from vlmtransfer.fsutil import publish_directory, unique_names
from vlmtransfer.tasks import TaskRegistry, default_registry

__all__ = ["SCHEMA_VERSION", "analysis_schema", "analysis_tables", "analysis_to_dict", "write_analysis"]

SCHEMA_VERSION = 2


def analysis_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every ``analysis.json`` of this version satisfies."""
    text = resources.files("vlmtransfer.analysis").joinpath("analysis.schema.json").read_text("utf-8")
    return json.loads(text)


def write_analysis(
    analysis: Analysis,
    out_dir: str | Path,
    registry: TaskRegistry | None = None,
    diagnostics: Diagnostics | None = None,
) -> list[str]:
    """Write ``analysis.json`` and every CSV table as ``out_dir``, all or nothing; return the file names.

    ``out_dir`` is created, or replaced if it holds an earlier analysis (stale files go with it);
    a non-empty directory without ``analysis.json`` is refused (see ``publish_directory``).
    ``diagnostics`` (a study's prior decomposition and adapter similarity) go into the same document
    (key ``diagnostics``) and tables, so the report finds everything in one place.
    """
    document = analysis_to_dict(analysis, registry)
    tables = analysis_tables(analysis)
    if diagnostics is not None:
        document["diagnostics"] = _clean(diagnostics.to_dict())
        tables |= diagnostics.tables()
    files = {"analysis.json": (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()}
    for name, table in tables.items():
        files[name] = csv_text(table, index=name.startswith("matrices/")).encode()
    publish_directory(files, out_dir, marker="analysis.json")
    return sorted(files)


def analysis_to_dict(analysis: Analysis, registry: TaskRegistry | None = None) -> dict[str, Any]:
    """The JSON document, as plain Python (NaN -> None); stable for identical input."""
    registry = registry or default_registry()
    members = analysis.persona_table[analysis.persona_table["member"]]
    document = {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "vlmtransfer", "version": __version__},
        "options": {
            "include_self": analysis.options.include_self,
            "edge_fraction": analysis.options.edge_fraction,
            "min_clique_size": analysis.options.min_clique_size,
            "pgf_epsilon": PGF_EPSILON,
            "std_ddof": 1,
            "alpha": analysis.options.alpha,
            "ci_level": CI_LEVEL,
            "bootstrap": analysis.options.n_resamples,
            "random_state": analysis.options.random_state,
            "significant_only": analysis.options.significant_only,
        },
        "inputs": _inputs(analysis),
        "model_order": list(analysis.models),
        "tasks": _task_info(analysis, registry),
        "models": {label: _model_dict(result) for label, result in analysis.models.items()},
        "personas": analysis.personas,
        "personas_significant": _significant_personas(analysis.persona_table),
        "persona_tests": _records(members.drop(columns=["qualifies", "member"])),
        "scale": _records(analysis.scale),
    }
    if analysis.target_only is not None:  # only then: a square study's document keeps its bytes
        document["target_only"] = _target_only_dict(analysis.target_only)
    return _clean(document)


def _target_only_dict(block: TargetOnlyAnalysis) -> dict[str, Any]:
    """The target-only block: per model its targets, the sources' scores over them and theirs over the
    sources; personas by the paper's rule and the significant ones, with their tests."""
    members = block.persona_table[block.persona_table["member"]]
    return {
        "models": {
            label: {
                "targets": list(targets),
                "transferability": _scores(block.summary(label, "transferability")),
                "malleability": _scores(block.summary(label, "malleability")),
            }
            for label, targets in block.targets.items()
        },
        "personas": block.personas,
        "personas_significant": _significant_personas(block.persona_table),
        "persona_tests": _records(members.drop(columns=["qualifies", "member"])),
    }


def _inputs(analysis: Analysis) -> list[dict[str, Any]]:
    """One entry per input file, hashed from the bytes that were analysed (not re-read)."""
    entries: dict[str, dict[str, Any]] = {}
    for label, result in analysis.models.items():
        entry = entries.setdefault(
            result.data.origin, {"path": result.data.origin, "sha256": result.data.sha256, "models": []}
        )
        entry["models"].append(label)
    return list(entries.values())


def _task_info(analysis: Analysis, registry: TaskRegistry) -> dict[str, dict[str, Any]]:
    names = sorted({t for r in analysis.models.values() for t in (*r.data.pgf.sources, *r.data.pgf.targets)})
    info = {}
    for name in names:
        spec = registry.find(name)
        info[name] = {
            "abbreviation": spec.abbreviation if spec else name,
            "level": spec.level if spec else None,
            "granularity": spec.granularity if spec else None,
        }
    return info


def _model_dict(result: ModelAnalysis) -> dict[str, Any]:
    cube, gain = result.data.pgf, result.data.relative_gain
    return {
        "origin": result.data.origin,
        "input_format": "pgf" if result.data.accuracies is None else "accuracy",
        "seeds": list(cube.seeds),
        "sources": list(cube.sources),
        "targets": list(cube.targets),
        "pgf_mean": cube.mean().to_numpy().tolist(),
        "pgf_std": cube.std().to_numpy().tolist(),
        "pgf_per_seed": {seed: cube.values[s].tolist() for s, seed in enumerate(cube.seeds)},
        **_cell_dict(result),
        "relative_gain_mean": None if gain is None else gain.mean().to_numpy().tolist(),
        "relative_gain_std": None if gain is None else gain.std().to_numpy().tolist(),
        "baseline": _baseline(result),
        "transferability": _scores(_score_summary(result, "transferability")),
        "malleability": _scores(_score_summary(result, "malleability")),
        "edges": _records(_edges_with_std(result)),
        "cliques": {sign: [_clique_dict(c) for c in cliques] for sign, cliques in result.cliques.items()},
        "categories": {dim: _records(table) for dim, table in result.categories.items()},
    }


def _cell_dict(result: ModelAnalysis) -> dict[str, Any]:
    """Per-cell uncertainty, per-target sizes and the significance count of one model."""
    cells, cube = result.cells, result.data.pgf
    off_diagonal = ~cube.self_mask()

    def per_target(values: np.ndarray) -> dict[str, float]:
        return {t: float(v) for t, v in zip(cube.targets, values, strict=True)}

    return {
        "uncertainty": cells.uncertainty,
        "pgf_ci_low": cells.ci_low.tolist(),
        "pgf_ci_high": cells.ci_high.tolist(),
        "pgf_p": cells.p.tolist(),
        "pgf_q": cells.q.tolist(),
        "pgf_significant": cells.significant.tolist(),
        "significant_cells": {
            "off_diagonal": int(off_diagonal.sum()),
            "significant_off_diagonal": int(cells.significant[off_diagonal].sum()),
            "self": int((~off_diagonal).sum()),
            "significant_self": int(cells.significant[~off_diagonal].sum()),
        },
        "n_questions": {t: _count(v) for t, v in zip(cube.targets, cells.n_questions, strict=True)},
        "resolution": per_target(cells.resolution()),
        "flip_rate": per_target(cells.flip_rate),
        "detectable_pgf": per_target(result.detectable),
    }


def _score_summary(result: ModelAnalysis, role: str) -> pd.DataFrame:
    scores = result.transferability if role == "transferability" else result.malleability
    return scores.summary().join(result.score_intervals[role])


def _significant_personas(table: pd.DataFrame) -> dict[str, list[str]]:
    chosen = table[table["significant"]]
    names = ("donor", "pirate", "sponge", "sieve")
    return {p: sorted(chosen.loc[chosen["persona"] == p, "task"].unique()) for p in names}


def _baseline(result: ModelAnalysis) -> dict[str, dict[str, Any]] | None:
    """Per target (sorted): mean base accuracy over seeds, its seed std (NaN if shared), the ceiling."""
    accuracies = result.data.accuracies
    if accuracies is None:
        return None
    per_seed = accuracies.drop_duplicates(["seed", "target"]).groupby("target", sort=True)
    return {
        str(target): {
            "accuracy": float(group["base_accuracy"].mean()),
            "accuracy_std": math.nan if result.data.shared_baseline else _sample_std(group["base_accuracy"]),
            "ceiling": float(group["ceiling"].iloc[0]),
        }
        for target, group in per_seed
    }


def _sample_std(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def _scores(summary: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {str(task): {k: float(v) for k, v in row.items()} for task, row in summary.iterrows()}


EDGE_COLUMNS = ["source", "target", "pgf", "pgf_std", "sign", "ci_low", "ci_high", "p", "q", "significant"]


def _edges_with_std(result: ModelAnalysis) -> pd.DataFrame:
    std = result.data.pgf.std().stack().rename("pgf_std")
    std.index.names = ["source", "target"]
    return result.edges.merge(std.reset_index(), on=["source", "target"], how="left")[EDGE_COLUMNS]


def _clique_dict(clique: Clique) -> dict[str, Any]:
    return {
        "tasks": list(clique.tasks),
        "p_value": clique.p_value,
        "mean_pgf": clique.mean_pgf,
        "size": len(clique.tasks),
        "n_values": clique.n_values,
        "ci_low": clique.ci_low,
        "ci_high": clique.ci_high,
        "significant": clique.significant,
        "wilcoxon_p_value": clique.wilcoxon_p_value,
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row, strict=True)) for row in frame.itertuples(index=False, name=None)]


def _clean(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN/inf -> None, tuples -> lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- CSV tables -------------------------------------------------------------------------------


def analysis_tables(analysis: Analysis) -> dict[str, pd.DataFrame]:
    """Every result as a tidy table, keyed by its file name in the output directory."""
    results = analysis.models
    tables = {
        "pgf.csv": _concat({label: _long_values(r) for label, r in results.items()}),
        "pgf_summary.csv": _concat({label: _summary_values(r) for label, r in results.items()}),
        "transferability.csv": _concat(
            {label: _score_summary(r, "transferability").reset_index() for label, r in results.items()}
        ),
        "malleability.csv": _concat(
            {label: _score_summary(r, "malleability").reset_index() for label, r in results.items()}
        ),
        "power.csv": _concat({label: _power_table(r) for label, r in results.items()}),
        "task_scores_per_seed.csv": _concat({label: _per_seed_scores(r) for label, r in results.items()}),
        "edges.csv": _concat({label: _edges_with_std(r) for label, r in results.items()}),
        "cliques.csv": _concat({label: _clique_table(r) for label, r in results.items()}),
        "categories.csv": _concat({label: _category_table(r) for label, r in results.items()}),
        "personas.csv": analysis.persona_table,
        "scale.csv": analysis.scale,
    }
    if analysis.target_only is not None:
        tables |= _target_only_tables(analysis.target_only)
    for label, slug in unique_names(results).items():
        tables[f"matrices/{slug}.pgf_mean.csv"] = results[label].data.pgf.mean()
        tables[f"matrices/{slug}.pgf_std.csv"] = results[label].data.pgf.std()
        tables[f"matrices/{slug}.pgf_q.csv"] = results[label].data.pgf.matrix(results[label].cells.q)
    return tables


def _target_only_tables(block: TargetOnlyAnalysis) -> dict[str, pd.DataFrame]:
    """``target_only/{transferability,malleability,personas}.csv``: the block's scores and personas."""
    return {
        f"target_only/{role}.csv": _concat(
            {label: block.summary(label, role).reset_index() for label in block.targets}
        )
        for role in ("transferability", "malleability")
    } | {"target_only/personas.csv": block.persona_table}


def _concat(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(
        [f.assign(model=label)[["model", *f.columns]] for label, f in frames.items()],
        ignore_index=True,
    )


def _long_values(result: ModelAnalysis) -> pd.DataFrame:
    long = result.data.pgf.to_frame("pgf")
    if result.data.accuracies is None:
        return long
    gain = result.data.relative_gain.to_frame("relative_gain")
    return long.merge(result.data.accuracies, on=["seed", "source", "target"]).merge(
        gain, on=["seed", "source", "target"]
    )


def _summary_values(result: ModelAnalysis) -> pd.DataFrame:
    cube, gain = result.data.pgf, result.data.relative_gain
    frame = pd.DataFrame({"pgf_mean": cube.mean().stack(), "pgf_std": cube.std().stack()})
    if gain is not None:
        frame["relative_gain_mean"] = gain.mean().stack()
        frame["relative_gain_std"] = gain.std().stack()
    frame["n_seeds"] = len(cube.seeds)
    cells = result.cells
    frame["self"] = cube.self_mask().reshape(-1)
    frame["ci_low"] = cells.ci_low.reshape(-1)
    frame["ci_high"] = cells.ci_high.reshape(-1)
    frame["p"] = cells.p.reshape(-1)
    frame["q"] = cells.q.reshape(-1)
    frame["significant"] = cells.significant.reshape(-1)
    frame["resolution"] = np.tile(cells.resolution(), len(cube.sources))
    frame["uncertainty"] = cells.uncertainty
    return frame.reset_index()


def _count(value: float) -> int | None:
    """A question count as the whole number it is (``150``, not ``150.0``); None when unknown."""
    return int(value) if math.isfinite(value) else None


def _power_table(result: ModelAnalysis) -> pd.DataFrame:
    """Per target: the sizes behind its noise floor, one question's worth of PGF and the detectable PGF."""
    cells = result.cells
    return pd.DataFrame(
        {
            "target": list(result.data.pgf.targets),
            "n_questions": pd.array([_count(v) for v in cells.n_questions], dtype="Int64"),
            "base_accuracy": cells.base_accuracy,
            "ceiling": cells.ceiling,
            "n_seeds": len(result.data.pgf.seeds),
            "flip_rate": cells.flip_rate,
            "resolution": cells.resolution(),
            "detectable_pgf": result.detectable,
        }
    )


def _per_seed_scores(result: ModelAnalysis) -> pd.DataFrame:
    return pd.concat(
        [
            result.transferability.per_seed().assign(role="transferability"),
            result.malleability.per_seed().assign(role="malleability"),
        ],
        ignore_index=True,
    )[["role", "seed", "task", "positive", "negative"]]


def _clique_table(result: ModelAnalysis) -> pd.DataFrame:
    rows = [
        (
            c.sign,
            len(c.tasks),
            ";".join(c.tasks),
            c.mean_pgf,
            c.ci_low,
            c.ci_high,
            c.p_value,
            c.significant,
            c.wilcoxon_p_value,
            c.n_values,
        )
        for sign in ("positive", "negative")
        for c in result.cliques[sign]
    ]
    columns = ["sign", "size", "tasks", "mean_pgf", "ci_low", "ci_high", "p_value", "significant"]
    return pd.DataFrame(rows, columns=[*columns, "wilcoxon_p_value", "n_values"])


def _category_table(result: ModelAnalysis) -> pd.DataFrame:
    frames = [table.assign(dimension=dim) for dim, table in result.categories.items()]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    return table[["dimension", *(c for c in table.columns if c != "dimension")]]
