"""Why a study's cells transfer: answer prior, answer format and adapter similarity, together.

Computed from a study directory (its per-question predictions and its adapters) beside the transfer
analysis, written into the same ``analysis.json`` (key ``diagnostics``) and CSV tables, and drawn by
the report. Each part is computed where its inputs exist: the prior decomposition needs per-choice
log-probabilities (log-likelihood evaluation), adapter similarity needs the adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vlmtransfer.analysis.answer_format import FormatDecomposition, decompose_format, format_to_dict
from vlmtransfer.analysis.pipeline import Analysis, AnalysisOptions
from vlmtransfer.analysis.prior import PriorDecomposition, decompose_prior, prior_to_dict, read_predictions
from vlmtransfer.analysis.similarity import (
    SimilarityResult,
    similarity_matrix,
    similarity_to_dict,
    study_adapters,
)
from vlmtransfer.errors import InputError

__all__ = ["Diagnostics", "study_diagnostics"]


@dataclass(frozen=True, eq=False)
class Diagnostics:
    """The diagnostics of one study, with what could not be computed and why.

    Attributes:
        prior: the answer-prior decomposition (None where predictions lack log-probabilities).
        similarity: per model, adapter similarity (empty where the study has no adapters).
        answer_format: unparsed greedy answers and PGF by protocol (None without generated answers).
        skipped: per part, the one-line reason it was not computed.
    """

    prior: PriorDecomposition | None = None
    similarity: dict[str, SimilarityResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    answer_format: FormatDecomposition | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``diagnostics`` section of ``analysis.json``."""
        return {
            "prior": prior_to_dict(self.prior) if self.prior is not None else None,
            "similarity": {label: similarity_to_dict(result) for label, result in self.similarity.items()},
            "format": format_to_dict(self.answer_format) if self.answer_format is not None else None,
            "skipped": dict(self.skipped),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV tables, by file name under the analysis directory."""
        tables: dict[str, pd.DataFrame] = {}
        if self.prior is not None:
            cells = [frame.assign(model=label) for label, frame in self.prior.cells.items()]
            tables["diagnostics/prior_cells.csv"] = pd.concat(cells, ignore_index=True)
            tables["diagnostics/letter_priors.csv"] = self.prior.priors
            tables["diagnostics/prior_shift.csv"] = self.prior.shift
        if self.answer_format is not None:
            tables["diagnostics/unparsed.csv"] = self.answer_format.unparsed
            cells = [frame.assign(model=label) for label, frame in self.answer_format.cells.items()]
            if cells:
                tables["diagnostics/format_cells.csv"] = pd.concat(cells, ignore_index=True)
        for label, result in self.similarity.items():
            pairs = result.pairs.assign(model=label)
            previous = tables.get("diagnostics/adapter_pairs.csv")
            tables["diagnostics/adapter_pairs.csv"] = (
                pairs if previous is None else pd.concat([previous, pairs])
            )
        return tables


def study_diagnostics(
    study_dir: str | Path,
    analysis: Analysis,
    options: AnalysisOptions | None = None,
    ceilings: Mapping[str, float] | None = None,
    default_ceilings: Mapping[str, float] | None = None,
) -> Diagnostics:
    """Both diagnostics of ``study_dir``, for the models of ``analysis`` (its PGF matrices are what
    adapter similarity is correlated with). Ceilings must be those the analysis used."""
    study_dir = Path(study_dir)
    options = options or analysis.options
    skipped: dict[str, str] = {}
    prior = None
    try:
        predictions = read_predictions(study_dir)
        prior = decompose_prior(predictions, options, ceilings, default_ceilings, origin=study_dir)
    except InputError as exc:
        skipped["prior"] = str(exc)
    answer_format = decompose_format(
        _stored_predictions(study_dir), options, ceilings, default_ceilings, origin=study_dir
    )
    if answer_format is None:
        skipped["format"] = "no generated answers (evaluate with eval.mode generate or both)"
    similarity = {}
    adapters = study_adapters(study_dir)
    for label, result in analysis.models.items():
        if label not in adapters:
            skipped.setdefault("similarity", f"no LoRA adapters recorded for model {label!r}")
            continue
        similarity[label] = similarity_matrix(
            adapters[label], result.data.pgf.mean(), random_state=options.random_state
        )
    return Diagnostics(prior, similarity, skipped, answer_format)


def _stored_predictions(study_dir: Path) -> pd.DataFrame:
    """The study's exported per-question table as stored (data-selection mixtures left out)."""
    frame = pd.read_parquet(study_dir / "predictions.parquet")
    return frame[frame["kind"] != "mixture"] if "kind" in frame.columns else frame
