"""Format learning: how much of a transfer cell is the model learning to *say* its answer.

In generate mode (the paper's protocol) a question counts as wrong when the greedy answer names no
single option, so a finetune that only teaches the answer format ("(B)") raises every target's accuracy
without seeing better. Two measurements separate the two:

- **unparsed rate**: per run and target, the share of greedy answers the parser could not map to one
  option (``generated`` empty while ``text`` exists); its change from the base model shows format
  learning directly;
- **PGF by protocol** (``eval.mode: both``, each question scored by log-likelihood and by greedy
  generation in one evaluation): the log-likelihood choice needs no format, so a cell whose generated
  PGF is significant while its log-likelihood PGF is not (or has the other sign) is flagged
  ``format_only``.

Both protocols' PGF go through the same per-cell statistics (docs/statistics.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlmtransfer.analysis.pipeline import AnalysisOptions, cell_evidence
from vlmtransfer.analysis.questions import BASE_SOURCE, models_from_question_table, text_table

__all__ = [
    "FORMAT_CELL_COLUMNS",
    "FormatDecomposition",
    "decompose_format",
    "format_to_dict",
    "unparsed_rates",
]

RUN_KEYS = ("model", "seed", "source", "target")
FORMAT_CELL_COLUMNS = (
    "source",
    "target",
    "pgf_loglik",
    "pgf_generated",
    "q_loglik",
    "q_generated",
    "significant_loglik",
    "significant_generated",
    "unparsed_change",
    "format_only",
)


def _generated_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    if "text" not in predictions.columns:
        return predictions.iloc[0:0]
    return predictions[predictions["text"].notna()]


def unparsed_rates(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per run and target with generated answers: ``unparsed`` (share, 0-1) and ``n``; empty when the
    predictions hold no generated text."""
    rows = _generated_rows(predictions)
    if rows.empty:
        return pd.DataFrame(columns=[*RUN_KEYS, "unparsed", "n"])
    letters = _generated_letters(rows)
    unparsed = letters.isna() | (letters.astype(str).str.strip() == "")
    keys = rows[list(RUN_KEYS)].astype(object).where(rows[list(RUN_KEYS)].notna(), "")
    table = pd.DataFrame({**{k: keys[k] for k in RUN_KEYS}, "unparsed": unparsed.astype(float)})
    grouped = table.groupby(list(RUN_KEYS), sort=False)["unparsed"]
    return grouped.agg(unparsed="mean", n="size").reset_index()


def _has_logprobs(rows: pd.DataFrame) -> pd.Series:
    if "logprobs" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["logprobs"].map(lambda v: v is not None and not (isinstance(v, float) and np.isnan(v)))


def _generated_letters(rows: pd.DataFrame) -> pd.Series:
    """The parsed greedy answer per row: ``generated`` where the row was also scored by log-likelihood
    (``both`` mode), else ``predicted`` (generate mode, including stores older than ``generated``)."""
    if "generated" in rows.columns:
        generated = rows["generated"]
    else:
        generated = pd.Series(None, index=rows.index, dtype=object)
    return generated.where(_has_logprobs(rows), generated.fillna(rows["predicted"]))


@dataclass(frozen=True, eq=False)
class FormatDecomposition:
    """Unparsed rates of every run, and (with ``both``-mode predictions) per model a cell table with
    :data:`FORMAT_CELL_COLUMNS`."""

    unparsed: pd.DataFrame
    cells: dict[str, pd.DataFrame]

    def unparsed_by_source(self) -> pd.DataFrame:
        """Per model and source (``base`` included): the unparsed rate averaged over targets and seeds."""
        return self.unparsed.groupby(["model", "source"], sort=False)["unparsed"].mean().reset_index()


def decompose_format(
    predictions: pd.DataFrame,
    options: AnalysisOptions | None = None,
    ceilings: Mapping[str, float] | None = None,
    default_ceilings: Mapping[str, float] | None = None,
    origin: str | Path = "predictions",
) -> FormatDecomposition | None:
    """The format decomposition, or None when no run generated text. PGF by protocol needs every row
    scored both ways (``logprobs`` and ``text``); otherwise only the unparsed rates are given."""
    rates = unparsed_rates(predictions)
    if rates.empty:
        return None
    both = _all_both(predictions)
    if not both:
        return FormatDecomposition(rates, {})
    options = options or AnalysisOptions()
    generated = predictions.assign(
        predicted=predictions["generated"],
        correct=(predictions["generated"].astype(str) == predictions["answer"].astype(str)).astype(int),
    )
    loglik_models = models_from_question_table(text_table(predictions), origin, ceilings, default_ceilings)
    generated_models = {
        m.label: m
        for m in models_from_question_table(text_table(generated), origin, ceilings, default_ceilings)
    }
    cells = {}
    for model in loglik_models:
        other = generated_models[model.label]
        cells[model.label] = _cell_table(
            model.pgf,
            cell_evidence(model, options).cells,
            other.pgf,
            cell_evidence(other, options).cells,
            rates,
        )
    return FormatDecomposition(rates, cells)


def _all_both(predictions: pd.DataFrame) -> bool:
    return bool(_has_logprobs(predictions).all() and predictions["text"].notna().all())


def _cell_table(
    loglik: Any, loglik_cells: Any, generated: Any, generated_cells: Any, rates: pd.DataFrame
) -> pd.DataFrame:
    mean_loglik, mean_generated = loglik.values.mean(axis=0), generated.values.mean(axis=0)
    per_cell = rates.groupby(["source", "target"])["unparsed"].mean()
    flipped = np.sign(mean_loglik) * np.sign(mean_generated) < 0
    format_only = generated_cells.significant & (~loglik_cells.significant | flipped)
    rows = []
    for i, source in enumerate(loglik.sources):
        for j, target in enumerate(loglik.targets):
            base = per_cell.get((BASE_SOURCE, target), np.nan)
            change = 100.0 * (per_cell.get((source, target), np.nan) - base)
            rows.append(
                (
                    source,
                    target,
                    float(mean_loglik[i, j]),
                    float(mean_generated[i, j]),
                    float(loglik_cells.q[i, j]),
                    float(generated_cells.q[i, j]),
                    bool(loglik_cells.significant[i, j]),
                    bool(generated_cells.significant[i, j]),
                    float(change),
                    bool(format_only[i, j]),
                )
            )
    return pd.DataFrame(rows, columns=list(FORMAT_CELL_COLUMNS))


def format_to_dict(decomposition: FormatDecomposition) -> dict[str, Any]:
    """JSON-ready form: per model the unparsed rate per source (base included) and, with both
    protocols, the cells and their counts."""
    by_source = decomposition.unparsed_by_source()
    models: dict[str, Any] = {}
    for label in dict.fromkeys(by_source["model"]):
        rows = by_source[by_source["model"] == label]
        entry: dict[str, Any] = {
            "unparsed_by_source": {
                str(s): float(v) for s, v in zip(rows["source"], rows["unparsed"], strict=True)
            }
        }
        cells = decomposition.cells.get(label)
        if cells is not None:
            off = cells[cells["source"] != cells["target"]]
            entry |= {
                "cells": [
                    {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                    for r in cells.to_dict(orient="records")
                ],
                "significant_off_diagonal_loglik": int(off["significant_loglik"].sum()),
                "significant_off_diagonal_generated": int(off["significant_generated"].sum()),
                "format_only_cells": int(cells["format_only"].sum()),
            }
        models[str(label)] = entry
    return {
        "method": "unparsed greedy answers per run; PGF from log-likelihood and from greedy answers of the"
        " same evaluation (eval.mode both)",
        "models": models,
    }
