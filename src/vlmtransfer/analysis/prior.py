"""Answer-prior decomposition: how much of a transfer cell is a shift of the model's letter prior.

Finetuning on a source moves the model's prior over answer letters (a two-option source pushes mass onto
A and B; a source whose answers are mostly "(A)" pushes it onto A), and that moves every other
multiple-choice target for reasons unrelated to perception. To separate the two, each run's accuracy on
a target is recomputed after removing the run's own letter bias on that target with **batch
calibration** (Zhou et al., "Batch Calibration: Rethinking Calibration for In-Context Learning and
Prompt Engineering", ICLR 2024), in its log-space form: a question's calibrated score of a letter is its
log-probability (normalised over the question's choices) minus the mean of that letter's log-probability
over all the target's questions under the same run, and the calibrated answer is the letter with the
highest score. Zhou et al. average probabilities; averaging log-probabilities instead removes exactly a
constant per-letter bias, which is what a shifted prior adds to every question's logits, so a run whose
only change is its letter prior gets exactly the base model's calibrated answers. A run that answers
every question "A" regardless of the image gets no credit from calibration; a run whose preference
tracks the image keeps it. Calibration assumes a target's correct letters are roughly balanced (the
synthetic suite balances them exactly; BLINK nearly): on a target whose answers are mostly one letter it
also removes real signal.

The prior-corrected accuracies go through the same PGF and per-cell statistics as the raw ones, so each
cell has a raw and a corrected PGF with intervals and q-values. Per cell, ``explained`` is the share of
the raw accuracy change that calibration removes, ``(d_raw - d_corrected) / d_raw``, reported where
the raw change is at least one percentage point and one question's worth; a cell *vanishes* when it is
significant raw and not after correction (or changes sign). Per run and target, ``prior_shift`` is the
total-variation distance between the run's letter prior (mean probability of each letter) and the base
model's (0: the same prior; 1: disjoint).

Stored predictions carry per-choice log-probabilities in log-likelihood mode (``logprobs``); runs
evaluated by generation have none, and are refused with a message that says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlmtransfer.analysis.inputs import ModelData
from vlmtransfer.analysis.pipeline import AnalysisOptions, CellEvidence, cell_evidence
from vlmtransfer.analysis.questions import (
    BASE_SOURCE,
    EXCLUDED_KINDS,
    QUESTION_COLUMNS,
    models_from_question_table,
    text_table,
)
from vlmtransfer.errors import InputError

__all__ = [
    "PRIOR_CELL_COLUMNS",
    "PriorDecomposition",
    "calibratable",
    "calibrated_predictions",
    "choice_log_probabilities",
    "choice_probabilities",
    "decompose_prior",
    "letter_priors",
    "prior_shift",
    "prior_to_dict",
    "read_predictions",
]

RUN_KEYS = ("model", "seed", "source", "target")
MIN_EXPLAINED_CHANGE = 1.0
"""Percentage points of raw accuracy change below which a cell's explained share is not reported (a
share of a fraction of a question is noise)."""
PRIOR_CELL_COLUMNS = (
    "source",
    "target",
    "pgf",
    "pgf_corrected",
    "delta_accuracy",
    "delta_accuracy_corrected",
    "explained",
    "q",
    "q_corrected",
    "significant",
    "significant_corrected",
    "vanishes",
)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A per-question table with per-choice log-probabilities, typed: a study directory (its
    ``predictions.parquet``), a Parquet file, or a CSV whose ``logprobs`` cells are JSON lists.

    Rows without log-probabilities (numeric questions, generate-mode runs) are kept, as empty lists:
    :func:`calibratable` sets their targets aside.

    Raises:
        InputError: the file cannot be read or lacks a column the decomposition needs.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "predictions.parquet"
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read: {exc}", source=path) from None
    missing = [c for c in (*QUESTION_COLUMNS, "answer", "logprobs") if c not in frame.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)} (needs per-choice log-probabilities)", source=path
        )
    if "kind" in frame.columns:
        frame = frame[~frame["kind"].isin(EXCLUDED_KINDS)]
    frame = frame.reset_index(drop=True)
    frame["logprobs"] = [_logprob_list(v, path, i) for i, v in enumerate(frame["logprobs"])]
    return frame


def calibratable(predictions: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The rows of the targets whose letter prior can be removed, and why each other target cannot.

    A target can be calibrated when every question has per-choice log-probabilities and all have the
    same number of choices. Numeric questions (answered by generation, as VSI-Bench's counting),
    generate-mode runs, and a target mixing 2-, 3- and 4-choice questions (VSI-Bench's relative
    direction) are left out by target, so the rest of a study is still decomposed.
    """
    reasons: dict[str, str] = {}
    for target, rows in predictions.groupby("target", sort=False):
        lengths = rows["logprobs"].map(len)
        if (lengths < 2).any():
            first = int(lengths.index[(lengths < 2).to_numpy()][0])
            reasons[str(target)] = (
                f"row {first + 1}: no per-choice log-probabilities (a numeric question, or a run"
                " evaluated in generate mode)"
            )
        elif lengths.nunique() > 1:
            reasons[str(target)] = f"questions with different numbers of choices {sorted(set(lengths))}"
    kept = predictions[~predictions["target"].astype(str).isin(reasons)].reset_index(drop=True)
    return kept, reasons


def _logprob_list(value: Any, path: Path, row: int) -> list[float]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise InputError(
                f"row {row + 1}: logprobs is not a JSON list: {value[:40]!r}", source=path
            ) from None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [float(v) for v in value]


def choice_log_probabilities(logprobs: np.ndarray) -> np.ndarray:
    """Rows of per-choice log-probabilities -> log-probabilities normalised over each row's choices."""
    logprobs = np.asarray(logprobs, dtype=float)
    top = logprobs.max(axis=1, keepdims=True)
    return logprobs - top - np.log(np.exp(logprobs - top).sum(axis=1, keepdims=True))


def choice_probabilities(logprobs: np.ndarray) -> np.ndarray:
    """Rows of per-choice log-probabilities -> probabilities normalised over each row's choices."""
    return np.exp(choice_log_probabilities(logprobs))


def _groups(predictions: pd.DataFrame) -> Any:
    keys = predictions[list(RUN_KEYS)].astype(object).where(predictions[list(RUN_KEYS)].notna(), "")
    return predictions.groupby([keys[k] for k in RUN_KEYS], sort=False)


def _stacked(rows: pd.DataFrame) -> np.ndarray:
    lengths = {len(v) for v in rows["logprobs"]}
    if len(lengths) != 1:
        target = rows["target"].iloc[0]
        raise InputError(f"target {target!r}: questions with different numbers of choices {sorted(lengths)}")
    return np.array(rows["logprobs"].tolist(), dtype=float)


def letter_priors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per run and target, the mean probability of each answer letter over the target's questions.

    Returns a long table ``model, seed, source, target, letter, prior`` (``seed`` empty for a baseline
    shared by every seed)."""
    rows = []
    for key, group in _groups(predictions):
        prior = choice_probabilities(_stacked(group)).mean(axis=0)
        rows.extend((*key, chr(ord("A") + k), float(p)) for k, p in enumerate(prior))
    return pd.DataFrame(rows, columns=[*RUN_KEYS, "letter", "prior"])


def calibrated_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with ``predicted`` and ``correct`` recomputed after batch calibration (each
    run's mean log-probability of each letter on each target subtracted before the argmax); other
    columns unchanged."""
    out = predictions.copy()
    predicted = pd.Series(index=out.index, dtype=object)
    for _, group in _groups(predictions):
        logprobs = choice_log_probabilities(_stacked(group))
        scores = logprobs - logprobs.mean(axis=0, keepdims=True)
        letters = np.array([chr(ord("A") + k) for k in range(logprobs.shape[1])])
        predicted[group.index] = letters[scores.argmax(axis=1)]
    out["predicted"] = predicted
    out["correct"] = (out["predicted"] == out["answer"].astype(str)).astype(int)
    return out


def prior_shift(priors: pd.DataFrame) -> pd.DataFrame:
    """Per finetuned run and target: total-variation distance between its letter prior and the base
    model's (``model, seed, source, target, prior_shift``); a per-seed baseline is matched by seed."""
    wide = priors.pivot_table(index=list(RUN_KEYS), columns="letter", values="prior").fillna(0.0)
    wide = wide.reset_index()
    letters = [c for c in wide.columns if c not in RUN_KEYS]
    base = wide[wide["source"] == BASE_SOURCE]
    tuned = wide[wide["source"] != BASE_SOURCE]
    rows = []
    for _, run in tuned.iterrows():
        same = base[(base["model"] == run["model"]) & (base["target"] == run["target"])]
        per_seed = same[same["seed"].astype(str) == str(run["seed"])]
        reference = per_seed if len(per_seed) else same[same["seed"].astype(str) == ""]
        if reference.empty:
            continue
        gap = 0.5 * np.abs(run[letters].to_numpy(float) - reference.iloc[0][letters].to_numpy(float)).sum()
        rows.append((*(run[k] for k in RUN_KEYS), float(gap)))
    return pd.DataFrame(rows, columns=[*RUN_KEYS, "prior_shift"])


@dataclass(frozen=True, eq=False)
class PriorDecomposition:
    """The answer-prior decomposition of one or more models.

    Attributes:
        cells: per model, a table with :data:`PRIOR_CELL_COLUMNS` (one row per source x target).
        priors: letter priors of every run and target (:func:`letter_priors`).
        shift: per finetuned run and target, the prior shift from the base model (:func:`prior_shift`).
        corrected: per model, the prior-corrected :class:`ModelData` (accuracies, PGF cube, questions).
        left_out: targets that could not be calibrated, each with the reason (:func:`calibratable`).
    """

    cells: dict[str, pd.DataFrame]
    priors: pd.DataFrame
    shift: pd.DataFrame
    corrected: dict[str, ModelData]
    left_out: dict[str, str] = field(default_factory=dict)

    def shift_by_source(self) -> pd.DataFrame:
        """Per model and source: the prior shift averaged over targets and seeds."""
        return self.shift.groupby(["model", "source"], sort=False)["prior_shift"].mean().reset_index()


def decompose_prior(
    predictions: pd.DataFrame,
    options: AnalysisOptions | None = None,
    ceilings: Mapping[str, float] | None = None,
    default_ceilings: Mapping[str, float] | None = None,
    origin: str | Path = "predictions",
) -> PriorDecomposition:
    """Raw and prior-corrected PGF with per-cell statistics, the share of each change the prior
    explains, and the letter-prior shift of every run (see the module docstring), over the targets
    that can be calibrated (the others are listed in ``left_out``).

    Raises:
        InputError: no target can be calibrated (e.g. every run was evaluated in generate mode).
    """
    options = options or AnalysisOptions()
    predictions, left_out = calibratable(predictions)
    if predictions.empty:
        reasons = "; ".join(f"{target}: {why}" for target, why in left_out.items())
        raise InputError(
            "no target has per-choice log-probabilities to calibrate (evaluate with mode loglik or"
            f" both): {reasons}",
            source=origin,
        )
    raw = models_from_question_table(text_table(predictions), origin, ceilings, default_ceilings)
    fixed = models_from_question_table(
        text_table(calibrated_predictions(predictions)), origin, ceilings, default_ceilings
    )
    corrected = {m.label: m for m in fixed}
    cells = {}
    for model in raw:
        cells[model.label] = _cell_table(
            model,
            cell_evidence(model, options),
            corrected[model.label],
            cell_evidence(corrected[model.label], options),
        )
    priors = letter_priors(predictions)
    return PriorDecomposition(cells, priors, prior_shift(priors), corrected, left_out)


def _delta_accuracy(model: ModelData) -> pd.DataFrame:
    """Seed-mean accuracy change from the base model, sources x targets (percentage points)."""
    table = model.accuracies
    if table is None:
        raise InputError("the decomposition needs accuracies (a per-question table)", source=model.origin)
    delta = table.assign(delta=table["accuracy"] - table["base_accuracy"])
    return delta.pivot_table(index="source", columns="target", values="delta", aggfunc="mean")


def _cell_table(
    raw: ModelData, raw_evidence: CellEvidence, fixed: ModelData, fixed_evidence: CellEvidence
) -> pd.DataFrame:
    cube = raw.pgf
    d_raw = _delta_accuracy(raw).reindex(index=list(cube.sources), columns=list(cube.targets)).to_numpy(float)
    d_fix = (
        _delta_accuracy(fixed).reindex(index=list(cube.sources), columns=list(cube.targets)).to_numpy(float)
    )
    raw_cells, fixed_cells = raw_evidence.cells, fixed_evidence.cells
    one_question = 100.0 / np.maximum(np.nan_to_num(raw_cells.n_questions, nan=np.inf), 1.0)
    smallest = np.maximum(one_question, MIN_EXPLAINED_CHANGE)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = np.where(np.abs(d_raw) >= smallest, (d_raw - d_fix) / d_raw, np.nan)
    pgf_raw, pgf_fix = cube.values.mean(axis=0), fixed.pgf.values.mean(axis=0)
    flipped = np.sign(pgf_raw) * np.sign(pgf_fix) < 0
    vanishes = raw_cells.significant & (~fixed_cells.significant | flipped)
    rows = []
    for i, source in enumerate(cube.sources):
        for j, target in enumerate(cube.targets):
            rows.append(
                (
                    source,
                    target,
                    float(pgf_raw[i, j]),
                    float(pgf_fix[i, j]),
                    float(d_raw[i, j]),
                    float(d_fix[i, j]),
                    float(explained[i, j]),
                    float(raw_cells.q[i, j]),
                    float(fixed_cells.q[i, j]),
                    bool(raw_cells.significant[i, j]),
                    bool(fixed_cells.significant[i, j]),
                    bool(vanishes[i, j]),
                )
            )
    return pd.DataFrame(rows, columns=list(PRIOR_CELL_COLUMNS))


def prior_to_dict(decomposition: PriorDecomposition, sources: Sequence[str] | None = None) -> dict[str, Any]:
    """JSON-ready form: per model its cells, the per-source prior shift, and summary counts."""
    shift = decomposition.shift_by_source()
    models = {}
    for label, cells in decomposition.cells.items():
        off = cells[cells["source"] != cells["target"]]
        per_source = shift[shift["model"] == label]
        models[label] = {
            "cells": _records(cells),
            "prior_shift_by_source": {
                str(s): float(v)
                for s, v in zip(per_source["source"], per_source["prior_shift"], strict=True)
                if sources is None or s in sources
            },
            "significant_off_diagonal": int(off["significant"].sum()),
            "significant_off_diagonal_corrected": int(off["significant_corrected"].sum()),
            "vanishing_cells": int(cells["vanishes"].sum()),
            "median_explained_off_diagonal": _median(off["explained"]),
        }
    return {
        "method": "batch calibration in log space (after Zhou et al., ICLR 2024): each run's mean"
        " log-probability of each letter on a target subtracted before the argmax",
        "models": models,
        "left_out": dict(decomposition.left_out),
    }


def _median(values: pd.Series) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.median()) if len(finite) else None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
