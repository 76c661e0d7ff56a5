"""PGF-guided data selection (paper §5.4): which tasks' data to train on for a target without data.

Pure functions over the analysis (no torch). Sources are ranked by their seed-mean PGF on the target
(the target itself excluded); the mixture is every source above a threshold, or the top k; the budget
is split between them uniformly or in proportion to their PGF, by largest remainders so the counts add
up to the budget exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from vlmtransfer.errors import InputError

__all__ = ["Candidate", "Recipe", "SelectionRule", "choose_recipe", "load_candidates", "split_budget"]

Weighting = Literal["uniform", "pgf"]


@dataclass(frozen=True)
class Candidate:
    """A source task and the evidence for it: seed-mean PGF on the target and its seed std."""

    task: str
    pgf: float
    pgf_std: float | None


@dataclass(frozen=True)
class SelectionRule:
    """Either ``threshold`` (PGF strictly above it) or ``top_k``; ``weighting`` splits the budget."""

    threshold: float | None = None
    top_k: int | None = None
    weighting: Weighting = "uniform"

    def __post_init__(self) -> None:
        if (self.threshold is None) == (self.top_k is None):
            raise InputError("give exactly one of threshold and top_k", field="threshold")
        if self.top_k is not None and self.top_k < 1:
            raise InputError(f"must be >= 1, got {self.top_k}", field="top_k")
        if self.weighting not in {"uniform", "pgf"}:
            raise InputError(f"must be 'uniform' or 'pgf', got {self.weighting!r}", field="weighting")


@dataclass(frozen=True)
class Recipe:
    """The chosen mixture for ``target``: per source its weight and number of examples."""

    model: str
    target: str
    rule: SelectionRule
    budget: int | None
    ranking: list[Candidate]
    sources: list[str]
    weights: list[float]
    examples: list[int] | None

    def to_dict(self) -> dict[str, Any]:
        evidence = {c.task: c for c in self.ranking}
        return {
            "model": self.model,
            "target": self.target,
            "rule": asdict(self.rule),
            "budget": self.budget,
            "mixture": [
                {
                    "task": task,
                    "pgf": evidence[task].pgf,
                    "pgf_std": evidence[task].pgf_std,
                    "weight": weight,
                    "examples": None if self.examples is None else self.examples[k],
                }
                for k, (task, weight) in enumerate(zip(self.sources, self.weights, strict=True))
            ],
            "ranking": [asdict(c) for c in self.ranking],
        }


def load_candidates(analysis_dir: str | Path, model: str, target: str) -> list[Candidate]:
    """Sources ranked by seed-mean PGF on ``target`` (best first, ties by name), ``target`` excluded.

    Raises:
        InputError: no analysis.json, unknown model label, or a target the analysis does not have.
    """
    from vlmtransfer.report.data import load_report_data  # noqa: PLC0415 - pandas, only when needed

    path = Path(analysis_dir) / "analysis.json"
    if not path.is_file():
        raise InputError("no analysis.json (run `vlmtransfer analyze` first)", source=analysis_dir)
    data = load_report_data(path)  # checked as `report` checks it: a damaged file names its JSON path
    models = data.models
    if model not in models:
        raise InputError(f"no model {model!r} (models: {', '.join(models)})", field="model")
    result = models[model]
    if target not in result.targets:
        raise InputError(f"no target {target!r} for model {model!r}", field="target")
    mean, std = result.pgf_mean[target], result.pgf_std[target]
    candidates = [
        Candidate(source, float(mean[source]), None if math.isnan(std[source]) else float(std[source]))
        for source in result.sources
        if source != target and not math.isnan(mean[source])
    ]
    return sorted(candidates, key=lambda c: (-c.pgf, c.task))


def _maybe(value: Any) -> float | None:
    return None if value is None else float(value)


def choose_recipe(
    model: str, target: str, ranking: list[Candidate], rule: SelectionRule, budget: int | None = None
) -> Recipe:
    """Apply ``rule`` to the ranking and split ``budget`` (if given) over the chosen sources.

    Raises:
        InputError: nothing qualifies (the message says what the best source scored).
    """
    if rule.top_k is not None:
        chosen = ranking[: rule.top_k]
    else:
        chosen = [c for c in ranking if c.pgf > rule.threshold]
    if not chosen:
        best = f"; the best is {ranking[0].task} at {ranking[0].pgf:+.4f}" if ranking else ""
        raise InputError(f"no source has PGF above {rule.threshold} on {target}{best}", field="threshold")
    if rule.weighting == "pgf" and any(c.pgf <= 0 for c in chosen):
        raise InputError("PGF weighting needs positive PGF for every chosen source", field="weighting")
    raw = [1.0] * len(chosen) if rule.weighting == "uniform" else [c.pgf for c in chosen]
    weights = [w / sum(raw) for w in raw]
    examples = split_budget(budget, weights) if budget is not None else None
    return Recipe(model, target, rule, budget, ranking, [c.task for c in chosen], weights, examples)


def split_budget(budget: int, weights: list[float]) -> list[int]:
    """Integer counts proportional to ``weights`` that sum to ``budget`` (largest remainders; ties to
    the earlier, i.e. better-ranked, source)."""
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    shares = [budget * w for w in weights]
    counts = [math.floor(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda k: (-(shares[k] - counts[k]), k))
    for k in order[: budget - sum(counts)]:
        counts[k] += 1
    return counts
