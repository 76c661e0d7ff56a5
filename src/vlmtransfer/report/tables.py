"""The report's tables: what the HTML page shows, each with the CSV a reader can download.

A table is plain data (``columns`` with a display format, ``rows`` of values) plus its CSV text, built
here in Python (pandas quoting) rather than in the page, so that the downloaded file is exactly what a
script reading the analysis would get.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlmtransfer.analysis.table import csv_text
from vlmtransfer.errors import InputError
from vlmtransfer.report.data import ModelView, ReportData

__all__ = ["Column", "Table", "global_tables", "model_tables", "pgf_long_table"]


@dataclass(frozen=True)
class Column:
    """A column: ``key`` in the CSV, ``label`` in the page, ``format`` one of text, num, p, int, pct."""

    key: str
    label: str
    format: str = "num"
    help: str = ""


@dataclass(frozen=True)
class Table:
    """A titled table and the file name of its CSV download."""

    title: str
    filename: str
    columns: tuple[Column, ...]
    frame: pd.DataFrame
    note: str = ""
    empty: str = "none"
    figure: str | None = None  # name of the figure the page shows with the table

    def rows(self) -> list[list[Any]]:
        """Rows as JSON-ready values (NaN -> None), in column order."""
        keys = [c.key for c in self.columns]
        return [[_plain(v) for v in row] for row in self.frame[keys].itertuples(index=False, name=None)]

    def csv(self) -> str:
        return csv_text(self.frame[[c.key for c in self.columns]])


def model_tables(model: ModelView, data: ReportData, slug: str) -> list[Table]:
    """Transferability, malleability, cliques, edges, categories (and baselines when known) of one model."""
    tables = [
        _scores(
            model.transferability,
            data,
            "transferability",
            f"transferability_{slug}.csv",
            "D+ / D-: how much finetuning on the task helps / hurts the other tasks (seed mean, std).",
        ),
        _scores(
            model.malleability,
            data,
            "malleability",
            f"malleability_{slug}.csv",
            "Θ+ / Θ-: how much finetuning on other tasks helps / hurts this task.",
        ),
        _cliques(model, f"cliques_{slug}.csv", f"cliques_{slug}"),
        _edges(model, f"edges_{slug}.csv"),
        _categories({model.label: model}, f"categories_{slug}.csv", f"categories_{slug}"),
    ]
    if model.baseline is not None:
        tables.append(_baseline(model, data, f"baseline_{slug}.csv"))
    return tables + _target_only_scores(model, data, slug)


def _target_only_scores(model: ModelView, data: ReportData, slug: str) -> list[Table]:
    """The model's scores on its target-only block (targets never finetuned on, e.g. video), if any."""
    block = data.target_only
    if block is None or model.label not in block.targets:
        return []
    named = ", ".join(data.abbreviation(t) for t in block.targets[model.label])
    return [
        _scores(
            block.transferability[model.label],
            data,
            "transferability over target-only targets",
            f"transferability_target_only_{slug}.csv",
            f"D+ / D- of each source counted over the target-only targets only ({named}): donors and"
            " pirates there.",
        ),
        _scores(
            block.malleability[model.label],
            data,
            "malleability of target-only targets",
            f"malleability_target_only_{slug}.csv",
            "Θ+ / Θ- of each target-only target over the sources: sponges and sieves among them.",
        ),
    ]


def global_tables(data: ReportData) -> list[Table]:
    """Tables across models: the scale trend, the personas with their tests, and the data-selection
    experiments (``vlmtransfer select --run``) recorded beside the analysis, if any."""
    tables = [_scale(data), _personas(data)]
    if data.target_only is not None:
        tables.append(_target_only_personas(data))
    selection = _selection(data.path.parent / SELECTION_DIR)
    return [*tables, selection] if selection is not None else tables


SELECTION_DIR = "selection"


def _selection(directory: Path) -> Table | None:
    """One row per (target, arm) of every ``selection/<target>.json`` written by ``select --run``."""
    rows = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            target = document["recipe"]["target"]
            for arm in document["arms"]:
                rows.append(
                    (target, arm["name"], "; ".join(arm["sources"]), arm["accuracy"], arm["accuracy_std"],
                     arm["position"], len(arm["per_seed"]))
                )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"not a data-selection summary ({type(exc).__name__}: {exc})", source=path
            ) from None
    if not rows:
        return None
    frame = pd.DataFrame(
        rows, columns=["target", "arm", "sources", "accuracy", "accuracy_std", "position", "seeds"]
    )
    columns = (
        Column("target", "target", "text"),
        Column("arm", "arm", "text"),
        Column("sources", "trained on", "text"),
        Column("accuracy", "accuracy %"),
        Column("accuracy_std", "± std"),
        Column(
            "position", "position", help="(accuracy - base) / (direct - base): 0 = base model, 1 = direct"
        ),
        Column("seeds", "seeds", "int"),
    )
    note = (
        "PGF-guided data selection (vlmtransfer select --run): finetuning on the PGF mixture, on random"
        " mixtures of as many tasks with the same examples, and directly on the target."
    )
    return Table("Data selection", "selection.csv", columns, frame, note)


def _scores(scores: pd.DataFrame, data: ReportData, what: str, filename: str, note: str) -> Table:
    symbol = "D" if what.startswith("transferability") else "Θ"
    frame = scores.rename_axis("task").reset_index()
    frame.insert(1, "abbreviation", [data.abbreviation(t) for t in frame["task"]])
    columns = (
        Column("task", "task", "text"),
        Column("abbreviation", "abbr.", "text"),
        Column("positive", f"{symbol}+"),
        Column("positive_std", "± std"),
        Column("negative", f"{symbol}-"),
        Column("negative_std", "± std"),
    )
    return Table(what.capitalize(), filename, columns, frame, note)


def _cliques(model: ModelView, filename: str, figure: str) -> Table:
    frame = pd.DataFrame(
        [
            (
                c.sign,
                len(c.tasks),
                "; ".join(c.tasks),
                c.mean_pgf,
                c.ci_low,
                c.ci_high,
                c.p_value,
                "yes" if c.significant else "no",
                c.wilcoxon_p_value,
                c.n_values,
            )
            for sign in ("positive", "negative")
            for c in model.cliques[sign]
        ],
        columns=[
            "sign",
            "size",
            "tasks",
            "mean_pgf",
            "ci_low",
            "ci_high",
            "p_value",
            "significant",
            "wilcoxon_p_value",
            "n_values",
        ],
    )
    columns = (
        Column("sign", "sign", "text"),
        Column("size", "size", "int"),
        Column("tasks", "tasks", "text"),
        Column("mean_pgf", "mean PGF"),
        Column("ci_low", "95 % CI low"),
        Column("ci_high", "95 % CI high"),
        Column(
            "p_value",
            "p-value",
            "p",
            "selection-aware: share of null matrices whose strongest clique of this size is as strong",
        ),
        Column("significant", "significant", "text"),
        Column(
            "wilcoxon_p_value",
            "Wilcoxon p (paper)",
            "p",
            "the paper's one-sided Wilcoxon over edge x seed values taken as independent (they are not)",
        ),
        Column("n_values", "values", "int"),
    )
    note = "Maximal sets of tasks that all transfer to each other with the same sign (largest first)."
    return Table("Cliques", filename, columns, frame, note, "no clique of the minimum size", figure)


def _edges(model: ModelView, filename: str) -> Table:
    columns = (
        Column("source", "source", "text"),
        Column("target", "target", "text"),
        Column("pgf", "PGF"),
        Column("pgf_std", "± std"),
        Column("ci_low", "95 % CI low"),
        Column("ci_high", "95 % CI high"),
        Column("q", "q", "p", "Benjamini-Hochberg q-value over the model's off-diagonal cells"),
        Column("sign", "sign", "text"),
    )
    return Table(
        "Transfer graph edges", filename, columns, model.edges, "Positive strongest first, then negative."
    )


def _baseline(model: ModelView, data: ReportData, filename: str) -> Table:
    frame = model.baseline.rename_axis("target").reset_index()
    frame["gap"] = frame["ceiling"] - frame["accuracy"]
    columns = (
        Column("target", "target", "text"),
        Column("accuracy", "base accuracy %", "pct"),
        Column("accuracy_std", "± std", "pct"),
        Column("ceiling", "ceiling %", "pct"),
        Column("gap", "gap %", "pct", "ceiling - accuracy: the gap PGF is measured against"),
    )
    return Table("Baseline accuracy", filename, columns, frame)


def _scale(data: ReportData) -> Table:
    frame = data.scale.copy()
    columns = [Column("model", "model", "text")]
    for kind, symbol in (("transferability", "D"), ("malleability", "Θ")):
        for sign, mark in (("positive", "+"), ("negative", "-")):
            key = f"mean_{sign}_{kind}"
            if key in frame:
                columns.append(Column(key, f"mean {symbol}{mark}"))
                if f"{key}_std" in frame:
                    columns.append(Column(f"{key}_std", "± std"))
    note = "Means over tasks of the seed-mean scores, per model in the given order."
    return Table("Scale trend", "scale.csv", tuple(columns), frame, note, figure="scale_trend")


_PERSONA_COLUMNS = (
    Column("persona", "persona", "text"),
    Column("task", "task", "text"),
    Column("model", "model", "text"),
    Column("value", "score"),
    Column("model_mean", "model mean"),
    Column("difference", "score - mean"),
    Column("p_value", "p-value", "p", "one-sided test of score - model mean; unit: the seed (and question)"),
    Column("q_member", "q (every model)", "p", "BH q-value of the largest p over models"),
    Column("welch_t", "Welch t (paper)"),
    Column(
        "welch_p_value",
        "Welch p (paper)",
        "p",
        "the paper's one-sided Welch t-test of the task's per-seed scores vs the others'",
    ),
)


def _personas(data: ReportData) -> Table:
    note = (
        "Donor: D+ above the model mean; pirate: D- below; sponge: Θ+ above; sieve: Θ- below; in every model."
    )
    return Table(
        "Personas",
        "personas.csv",
        _PERSONA_COLUMNS,
        data.persona_tests,
        note,
        "no task holds a persona in every model",
        figure="personas",
    )


def _target_only_personas(data: ReportData) -> Table:
    """Personas of the target-only block: donors and pirates over those targets, sponges and sieves
    among them (the paper's Figure 7 for video targets)."""
    note = (
        "Over the targets that are never sources (e.g. video targets of image sources). Donor / pirate:"
        " a source's D+ / D- counted on those targets only, beyond the sources' mean; sponge / sieve: a"
        " target-only target's Θ+ / Θ- beyond the mean of the target-only targets; in every model."
    )
    return Table(
        "Personas over target-only targets",
        "personas_target_only.csv",
        _PERSONA_COLUMNS,
        data.target_only.persona_tests,
        note,
        "no task holds a persona on the target-only targets in every model",
    )


def _categories(models: dict[str, ModelView], filename: str, figure: str) -> Table:
    frames = [
        table.assign(model=label, dimension=dimension)
        for label, model in models.items()
        for dimension, table in model.categories.items()
        if len(table)
    ]
    keys = [
        "model",
        "dimension",
        "kind",
        "source_category",
        "target_category",
        "positive",
        "positive_std",
        "negative",
        "negative_std",
        "n_tasks",
    ]
    frame = pd.concat(frames, ignore_index=True)[keys] if frames else pd.DataFrame(columns=keys)
    columns = (
        Column("model", "model", "text"),
        Column("dimension", "dimension", "text"),
        Column("kind", "kind", "text"),
        Column("source_category", "source category", "text"),
        Column("target_category", "target category", "text"),
        Column("positive", "+"),
        Column("positive_std", "± std"),
        Column("negative", "-"),
        Column("negative_std", "± std"),
        Column("n_tasks", "tasks", "int"),
    )
    note = "Transfer between perceptual levels and granularities (the tasks' categories)."
    return Table("Categories", filename, columns, frame, note, "no task has a category", figure)


def pgf_long_table(model: ModelView) -> pd.DataFrame:
    """One row per (source, target): seed mean, std and every seed's PGF; the heatmap's CSV."""
    mean = model.pgf_mean.stack(future_stack=True).rename("pgf_mean")
    parts: list[pd.Series] = [mean, model.pgf_std.stack(future_stack=True).rename("pgf_std")]
    parts += [m.stack(future_stack=True).rename(f"pgf_{seed}") for seed, m in model.pgf_per_seed.items()]
    frame = pd.concat(parts, axis=1)
    frame.index.names = ["source", "target"]
    return frame.reset_index()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
