"""Adapter similarity (the paper's supplementary A.14): how alike two finetunes' weight updates are.

A LoRA module's update is ``dW = s * B @ A`` (``s = alpha / r``, or ``alpha / sqrt(r)`` with rsLoRA). Two
updates are compared by the cosine of their Frobenius inner product, computed in rank space without
materialising either update::

    <B1 A1, B2 A2>_F = trace(A1^T B1^T B2 A2) = sum((B1^T B2) * (A1 A2^T))

which costs ``r^2 (m + n)`` per module instead of ``m n r`` (for a 7B model's MLP, about 700 times
less). The adapter-level similarity is the cosine of the whole update (inner products and norms summed
over the modules both adapters adapt), so large modules weigh as much as they change the model; the mean
of per-module cosines is reported beside it. A source pair's similarity is the mean over its seed pairs;
a source's own entry is the mean over pairs of its distinct seeds (how reproducible its update is; NaN
with one seed).

Whether similar updates mean similar transfer is tested by the rank correlation between similarity
(i, j) and PGF (i -> j) over ordered pairs of distinct tasks, with a Mantel permutation test (task labels
permuted jointly in rows and columns of the similarity matrix, all permutations when there are at most
seven tasks), since the cells of one matrix are not independent.

Reads adapters with ``safetensors.numpy``: no torch here.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from vlmtransfer.errors import InputError

__all__ = [
    "AdapterUpdate",
    "SimilarityResult",
    "adapter_similarity",
    "load_adapter",
    "mantel_spearman",
    "similarity_matrix",
    "similarity_to_dict",
    "study_adapters",
]

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
EXACT_PERMUTATIONS_UP_TO = 7
"""Tasks up to which the Mantel test enumerates every permutation (7! = 5,040)."""


@dataclass(frozen=True, eq=False)
class AdapterUpdate:
    """One adapter's LoRA factors: per module ``(scale * B, A)``, so ``dW = B' @ A``."""

    path: Path
    modules: dict[str, tuple[np.ndarray, np.ndarray]]


def load_adapter(path: str | Path) -> AdapterUpdate:
    """Read a PEFT LoRA adapter directory (``adapter_config.json`` and ``adapter_model.safetensors``).

    Raises:
        InputError: a file is missing or unreadable, a module lacks its A or B factor, or the adapter
            uses per-module alphas (``alpha_pattern``), whose scales this reader does not resolve.
    """
    from safetensors.numpy import load_file  # noqa: PLC0415 - light, but only needed here

    path = Path(path)
    try:
        config = json.loads((path / ADAPTER_CONFIG).read_text())
        tensors = load_file(str(path / ADAPTER_WEIGHTS))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the adapter: {exc}", source=path) from None
    if config.get("alpha_pattern"):
        raise InputError("per-module alphas (alpha_pattern) are not supported", source=path / ADAPTER_CONFIG)
    alpha = float(config.get("lora_alpha", config.get("r", 8)))
    factors: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key:
                factors.setdefault(key.split(marker)[0], {})[part] = value.astype(np.float64)
    modules = {}
    for name, parts in factors.items():
        if set(parts) != {"lora_A", "lora_B"}:
            raise InputError(
                f"module {name} lacks its {'A' if 'lora_A' not in parts else 'B'} factor", source=path
            )
        rank = parts["lora_A"].shape[0]
        scale = alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
        modules[name] = (scale * parts["lora_B"], parts["lora_A"])
    if not modules:
        raise InputError("holds no LoRA factors", source=path / ADAPTER_WEIGHTS)
    return AdapterUpdate(path, modules)


def _inner(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]) -> float:
    (b1, a1), (b2, a2) = first, second
    return float(np.sum((b1.T @ b2) * (a1 @ a2.T)))


def adapter_similarity(first: AdapterUpdate, second: AdapterUpdate) -> tuple[float, float]:
    """``(cosine of the whole update, mean per-module cosine)`` over the modules both adapt.

    Raises:
        InputError: the adapters share no module.
    """
    shared = sorted(set(first.modules) & set(second.modules))
    if not shared:
        raise InputError(f"shares no module with {second.path}", source=first.path)
    inner = np.array([_inner(first.modules[m], second.modules[m]) for m in shared])
    norm1 = np.array([_inner(first.modules[m], first.modules[m]) for m in shared])
    norm2 = np.array([_inner(second.modules[m], second.modules[m]) for m in shared])
    whole = (
        float(inner.sum() / math.sqrt(norm1.sum() * norm2.sum())) if norm1.sum() and norm2.sum() else math.nan
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        per_module = inner / np.sqrt(norm1 * norm2)
    finite = per_module[np.isfinite(per_module)]
    return whole, float(finite.mean()) if len(finite) else math.nan


@dataclass(frozen=True, eq=False)
class SimilarityResult:
    """One model's adapter similarity.

    Attributes:
        cosine: sources x sources, mean whole-update cosine over seed pairs.
        module_mean: sources x sources, the same for the mean per-module cosine.
        pairs: one row per adapter pair (``source_a, seed_a, source_b, seed_b, cosine, module_mean``).
        rho, p_value, permutations: rank correlation of ``cosine`` (i, j) with PGF (i -> j) over
            ordered pairs of distinct tasks, its Mantel p-value and how many permutations gave it
            (NaN / 0 without a PGF matrix or with fewer than three tasks).
    """

    cosine: pd.DataFrame
    module_mean: pd.DataFrame
    pairs: pd.DataFrame
    rho: float = math.nan
    p_value: float = math.nan
    permutations: int = 0


def similarity_matrix(
    adapters: Mapping[tuple[str, str], AdapterUpdate],
    pgf: pd.DataFrame | None = None,
    *,
    n_permutations: int = 9_999,
    random_state: int = 0,
) -> SimilarityResult:
    """Similarity of every pair of adapters, keyed ``(source, seed)``, aggregated per source pair.

    Args:
        adapters: the adapters of one model.
        pgf: the model's seed-mean PGF matrix (sources x targets) to correlate with, if any.
        n_permutations: random permutations of the Mantel test when there are more than
            :data:`EXACT_PERMUTATIONS_UP_TO` tasks.
        random_state: seed of those permutations.
    """
    keys = sorted(adapters)
    sources = list(dict.fromkeys(source for source, _ in keys))
    rows = []
    for first, second in itertools.combinations(keys, 2):
        whole, per_module = adapter_similarity(adapters[first], adapters[second])
        rows.append((*first, *second, whole, per_module))
    pairs = pd.DataFrame(rows, columns=["source_a", "seed_a", "source_b", "seed_b", "cosine", "module_mean"])
    cosine, module_mean = (_per_source(pairs, sources, column) for column in ("cosine", "module_mean"))
    if pgf is None:
        return SimilarityResult(cosine, module_mean, pairs)
    rho, p_value, count = mantel_spearman(
        cosine, pgf, n_permutations=n_permutations, random_state=random_state
    )
    return SimilarityResult(cosine, module_mean, pairs, rho, p_value, count)


def _per_source(pairs: pd.DataFrame, sources: Sequence[str], column: str) -> pd.DataFrame:
    both = pd.concat(
        [
            pairs[["source_a", "source_b", column]],
            pairs[["source_b", "source_a", column]].set_axis(["source_a", "source_b", column], axis=1),
        ]
    )
    # a same-source pair appears twice in ``both``; its mean is unchanged
    table = both.groupby(["source_a", "source_b"])[column].mean().unstack()
    return table.reindex(index=list(sources), columns=list(sources)).rename_axis(index=None, columns=None)


def mantel_spearman(
    similarity: pd.DataFrame, pgf: pd.DataFrame, *, n_permutations: int = 9_999, random_state: int = 0
) -> tuple[float, float, int]:
    """Spearman correlation of ``similarity`` (i, j) with ``pgf`` (i -> j) over ordered pairs of distinct
    tasks that are both sources and targets, and its two-sided Mantel permutation p-value.

    Returns ``(rho, p, permutations)``; ``(nan, nan, 0)`` with fewer than three shared tasks or a
    constant matrix.
    """
    tasks = [t for t in similarity.index if t in pgf.index and t in pgf.columns]
    if len(tasks) < 3:  # two tasks give two pairs and one permutation
        return math.nan, math.nan, 0
    x = similarity.loc[tasks, tasks].to_numpy(float)
    y = pgf.loc[tasks, tasks].to_numpy(float)
    off = ~np.eye(len(tasks), dtype=bool)
    y_ranks = rankdata(y[off])
    observed = _spearman(rankdata(x[off]), y_ranks)
    if not math.isfinite(observed):
        return math.nan, math.nan, 0
    if len(tasks) <= EXACT_PERMUTATIONS_UP_TO:
        orders = itertools.permutations(range(len(tasks)))
        count = math.factorial(len(tasks))
    else:
        rng = np.random.default_rng(random_state)
        orders = (rng.permutation(len(tasks)) for _ in range(n_permutations))
        count = n_permutations
    extreme = 0
    for order in orders:
        permuted = x[np.ix_(order, order)]
        extreme += abs(_spearman(rankdata(permuted[off]), y_ranks)) >= abs(observed) - 1e-12
    if len(tasks) <= EXACT_PERMUTATIONS_UP_TO:
        return observed, extreme / count, count  # the identity is among the permutations
    return observed, (extreme + 1) / (count + 1), count


def _spearman(x_ranks: np.ndarray, y_ranks: np.ndarray) -> float:
    if np.ptp(x_ranks) == 0 or np.ptp(y_ranks) == 0:
        return math.nan
    return float(np.corrcoef(x_ranks, y_ranks)[0, 1])


def similarity_to_dict(result: SimilarityResult) -> dict[str, Any]:
    """JSON-ready form (NaN as null)."""

    def matrix(frame: pd.DataFrame) -> dict[str, Any]:
        values = [[None if not math.isfinite(v) else float(v) for v in row] for row in frame.to_numpy(float)]
        return {"sources": list(frame.index), "values": values}

    def number(value: float) -> float | None:
        return float(value) if math.isfinite(value) else None

    return {
        "method": "cosine of LoRA weight updates dW = s*B@A, computed in rank space; mean over seed pairs",
        "cosine": matrix(result.cosine),
        "module_mean": matrix(result.module_mean),
        "pgf_correlation": {
            "spearman_rho": number(result.rho),
            "mantel_p": number(result.p_value),
            "permutations": result.permutations,
        },
    }


def study_adapters(study_dir: str | Path) -> dict[str, dict[tuple[str, str], AdapterUpdate]]:
    """Per model, the LoRA adapters of a study's finetuned runs (data-selection mixtures excluded),
    keyed ``(source, seed)``, found through the study store. Adapters of a scorer that has no LoRA
    weights (``peft_type`` other than ``LORA``: the dummy scorer's) are left out.

    Raises:
        InputError: the directory is not a study, or a recorded adapter is missing or unreadable.
    """
    from vlmtransfer.store import STORE_FILE, StudyStore  # noqa: PLC0415

    study_dir = Path(study_dir)
    if not (study_dir / STORE_FILE).is_file():
        raise InputError(f"not a study directory (no {STORE_FILE})", source=study_dir)
    with StudyStore(study_dir) as store:
        runs = store.runs()
    tuned = runs[runs["adapter"].notna() & (runs["kind"] != "mixture")]
    found: dict[str, dict[tuple[str, str], AdapterUpdate]] = {}
    for run in tuned.itertuples():
        if _peft_type(study_dir / run.adapter) not in (None, "LORA"):
            continue
        found.setdefault(run.model, {})[(run.source, str(run.seed))] = load_adapter(study_dir / run.adapter)
    return found


def _peft_type(path: Path) -> str | None:
    """The adapter config's ``peft_type``, or None when it cannot be read (:func:`load_adapter` then
    says why)."""
    try:
        value = json.loads((path / ADAPTER_CONFIG).read_text()).get("peft_type")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
