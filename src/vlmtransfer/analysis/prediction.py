"""Predicting a source's PGF row from a cheap signal, and how good that prediction is on a study.

The signal is a sources x targets matrix measured without finetuning (``vlmtransfer predict`` uses the
cosine between the source's and each target's LoRA gradients at the base model). It becomes a PGF
prediction through a per-target linear fit, ``PGF(s, t) ~ a_t + b_t * signal(s, t)``, fitted on the
study's measured sources (self-transfer cells left out): a new source's row is predicted from the fits
over all of them; each study source's row, for judging the method, from the fits over the *other*
sources (leave one source out), so no source is scored by a fit that saw it.

Two scores, each against what chance gives:

- ``row_spearman``: per held-out source, the Spearman correlation between its predicted and measured
  row over the targets other than itself; the mean over sources. Chance: 0.
- ``top3_recovery``: per target, the share of its three best measured donors (sources other than the
  target, by seed-mean PGF) that are among the three with the highest signal; the mean over targets.
  Chance: ``3 / m`` for ``m`` candidate donors (the expected overlap of a random three).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

__all__ = ["TOP_DONORS", "cosine_matrix", "fit_rows", "loso_rows", "prediction_quality"]

TOP_DONORS = 3
MIN_FIT_SOURCES = 2
"""Sources a per-target fit needs; with fewer, or a constant signal, the prediction is the mean PGF."""


def cosine_matrix(sources: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> pd.DataFrame:
    """Cosine between every source vector and every target vector (sources x targets); NaN where a
    vector is zero."""
    values = np.full((len(sources), len(targets)), math.nan)
    for i, s in enumerate(sources.values()):
        for j, t in enumerate(targets.values()):
            norm = float(np.linalg.norm(s) * np.linalg.norm(t))
            values[i, j] = float(s @ t) / norm if norm else math.nan
    return pd.DataFrame(values, index=list(sources), columns=list(targets))


def _fit_predict(signal: np.ndarray, pgf: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Least-squares line through (signal, pgf) evaluated at ``new``; the mean where it cannot be fit."""
    keep = np.isfinite(signal) & np.isfinite(pgf)
    if keep.sum() < MIN_FIT_SOURCES or np.ptp(signal[keep]) == 0:
        mean = float(np.mean(pgf[keep])) if keep.any() else math.nan
        return np.full(new.shape, mean)
    slope, intercept = np.polyfit(signal[keep], pgf[keep], 1)
    return intercept + slope * new


def fit_rows(signal: pd.DataFrame, pgf: pd.DataFrame, new_signal: pd.DataFrame) -> pd.DataFrame:
    """Predicted PGF rows for the sources of ``new_signal`` (rows: new sources, columns: targets), from
    per-target fits over the measured sources of ``signal`` and ``pgf`` (same rows and columns)."""
    predicted = pd.DataFrame(math.nan, index=new_signal.index, columns=new_signal.columns)
    for target in new_signal.columns:
        if target not in pgf.columns:
            continue
        x = signal[target].reindex(pgf.index).to_numpy(float)
        y = pgf[target].to_numpy(float).copy()
        y[pgf.index == target] = math.nan  # self-transfer is another kind of effect: not in the fit
        predicted[target] = _fit_predict(x, y, new_signal[target].to_numpy(float))
    return predicted


def loso_rows(signal: pd.DataFrame, pgf: pd.DataFrame) -> pd.DataFrame:
    """Each measured source's row predicted from the fits over the other sources (sources x targets)."""
    rows = {}
    for source in pgf.index:
        others = pgf.index != source
        rows[source] = fit_rows(signal.loc[pgf.index[others]], pgf.loc[others], signal.loc[[source]]).iloc[0]
    return pd.DataFrame(rows).T.reindex(index=pgf.index, columns=pgf.columns)


def prediction_quality(signal: pd.DataFrame, pgf: pd.DataFrame) -> dict[str, Any]:
    """Leave-one-source-out row correlation and top-3 donor recovery of ``signal`` on a study's
    measured ``pgf`` (both sources x targets), with what chance gives (see the module docstring)."""
    predicted = loso_rows(signal, pgf)
    per_source = {}
    for source in pgf.index:
        columns = [t for t in pgf.columns if t != source]
        x = predicted.loc[source, columns].to_numpy(float)
        y = pgf.loc[source, columns].to_numpy(float)
        keep = np.isfinite(x) & np.isfinite(y)
        enough = keep.sum() >= 3 and np.ptp(x[keep]) > 0 and np.ptp(y[keep]) > 0
        per_source[source] = float(spearmanr(x[keep], y[keep]).statistic) if enough else math.nan
    recovered, chance = [], []
    for target in pgf.columns:
        donors = [s for s in pgf.index if s != target and math.isfinite(pgf.loc[s, target])]
        donors = [s for s in donors if math.isfinite(signal.loc[s, target])]
        if len(donors) <= TOP_DONORS:
            continue
        best = set(pgf.loc[donors, target].astype(float).nlargest(TOP_DONORS).index)
        guessed = set(signal.loc[donors, target].astype(float).nlargest(TOP_DONORS).index)
        recovered.append(len(best & guessed) / TOP_DONORS)
        chance.append(TOP_DONORS / len(donors))
    finite = [v for v in per_source.values() if math.isfinite(v)]
    return {
        "row_spearman": float(np.mean(finite)) if finite else None,
        "row_spearman_by_source": {s: (v if math.isfinite(v) else None) for s, v in per_source.items()},
        "top3_recovery": float(np.mean(recovered)) if recovered else None,
        "top3_chance": float(np.mean(chance)) if chance else None,
        "targets_scored": len(recovered),
        "predicted": predicted,
    }
