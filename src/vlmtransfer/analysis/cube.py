"""`TransferCube`: one model's per-seed transfer matrices, and the per-seed task scores derived from it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vlmtransfer.analysis.metrics import counted_mask, gap_scores, seed_std, self_transfer_mask

__all__ = ["SeedScores", "TransferCube", "natural_key"]


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically (``seed_2`` < ``seed_10``)."""
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", str(name)))
    return (parts, str(name))  # the raw name breaks ties such as "0" vs "00"


@dataclass(frozen=True, eq=False)
class TransferCube:
    """Per-seed transfer values of one model: ``values[s, i, j]`` = mu(source i -> target j) in seed s.

    Sources and targets are task names and need not coincide (e.g. image sources evaluated on
    video targets); where a name is both, that cell is self-transfer.
    """

    seeds: tuple[str, ...]
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    values: np.ndarray

    def __post_init__(self) -> None:
        expected = (len(self.seeds), len(self.sources), len(self.targets))
        if self.values.shape != expected:
            raise ValueError(f"values have shape {self.values.shape}, expected {expected}")
        for axis, names in (
            ("seeds", self.seeds),
            ("sources", self.sources),
            ("targets", self.targets),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate {axis}: {names}")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, value: str = "pgf") -> TransferCube:
        """Build from a long table with columns ``seed, source, target, <value>``.

        Seeds, sources and targets are sorted (naturally: ``seed_2`` before ``seed_10``) so that
        cubes of different models line up.
        The table must hold every (seed, source, target) exactly once.
        """
        seeds, sources, targets = (
            tuple(sorted(frame[c].unique(), key=natural_key)) for c in ("seed", "source", "target")
        )
        wide = frame.pivot(index=["seed", "source"], columns="target", values=value)
        wide = wide.reindex(pd.MultiIndex.from_product([seeds, sources]), columns=list(targets))
        values = wide.to_numpy(dtype=float).reshape(len(seeds), len(sources), len(targets))
        return cls(seeds, sources, targets, values)

    def to_frame(self, value: str = "pgf") -> pd.DataFrame:
        """Long table ``seed, source, target, <value>`` (the inverse of :meth:`from_frame`)."""
        index = pd.MultiIndex.from_product(
            [self.seeds, self.sources, self.targets], names=["seed", "source", "target"]
        )
        return pd.DataFrame({value: self.values.reshape(-1)}, index=index).reset_index()

    def mean(self) -> pd.DataFrame:
        """Seed-mean matrix (sources x targets)."""
        return self._matrix(self.values.mean(axis=0))

    def std(self) -> pd.DataFrame:
        """Across-seed sample std (sources x targets); NaN with one seed."""
        return self._matrix(seed_std(self.values))

    def seed_matrix(self, seed: str) -> pd.DataFrame:
        """The matrix of one seed."""
        return self._matrix(self.values[self.seeds.index(seed)])

    def self_mask(self) -> np.ndarray:
        """Boolean (sources x targets), True on self-transfer cells."""
        return self_transfer_mask(self.sources, self.targets)

    def counted(self, include_self: bool = False) -> np.ndarray:
        """Boolean (sources x targets): the cells transferability counts (see ``counted_mask``)."""
        return counted_mask(self.sources, self.targets, include_self)

    def transferability(self, include_self: bool = False) -> SeedScores:
        """Per-seed D+/D- of every source over the targets (self excluded unless asked).

        A source with no counted target has NaN scores (undefined, not zero).
        """
        positive, negative = gap_scores(self.values, self.counted(include_self))
        return SeedScores(self.seeds, self.sources, positive, negative)

    def malleability(self, include_self: bool = False) -> SeedScores:
        """Per-seed Theta+/Theta- of every target over the sources (self excluded unless asked)."""
        return self.transposed().transferability(include_self)

    def transposed(self) -> TransferCube:
        """The cube with the roles of sources and targets swapped."""
        return TransferCube(self.seeds, self.targets, self.sources, self.values.transpose(0, 2, 1))

    def select(self, sources: list[str] | None = None, targets: list[str] | None = None) -> TransferCube:
        """A sub-cube restricted to the given sources and/or targets (order as given)."""
        sources = list(self.sources) if sources is None else list(sources)
        targets = list(self.targets) if targets is None else list(targets)
        rows = [self.sources.index(s) for s in sources]
        cols = [self.targets.index(t) for t in targets]
        return TransferCube(self.seeds, tuple(sources), tuple(targets), self.values[:, rows][:, :, cols])

    def matrix(self, values: np.ndarray) -> pd.DataFrame:
        """A (sources x targets) array as a labelled DataFrame."""
        return self._matrix(values)

    def _matrix(self, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            values,
            index=pd.Index(self.sources, name="source"),
            columns=pd.Index(self.targets, name="target"),
        )


@dataclass(frozen=True, eq=False)
class SeedScores:
    """Per-seed positive/negative scores of a set of tasks (transferability or malleability).

    ``positive[s, k]`` and ``negative[s, k]`` belong to task ``tasks[k]`` in seed ``seeds[s]``.
    """

    seeds: tuple[str, ...]
    tasks: tuple[str, ...]
    positive: np.ndarray
    negative: np.ndarray

    def summary(self) -> pd.DataFrame:
        """Per task: ``positive, negative`` (seed means) and ``positive_std, negative_std``.

        Tasks with undefined scores (nothing counted) have NaN in every column.
        """
        return pd.DataFrame(
            {
                "positive": self.positive.mean(axis=0),
                "negative": self.negative.mean(axis=0),
                "positive_std": seed_std(self.positive),
                "negative_std": seed_std(self.negative),
            },
            index=pd.Index(self.tasks, name="task"),
        )

    def per_seed(self) -> pd.DataFrame:
        """Long table ``seed, task, positive, negative``."""
        index = pd.MultiIndex.from_product([self.seeds, self.tasks], names=["seed", "task"])
        return pd.DataFrame(
            {"positive": self.positive.reshape(-1), "negative": self.negative.reshape(-1)},
            index=index,
        ).reset_index()

    def defined(self) -> np.ndarray:
        """Boolean per task: False for tasks whose scores are undefined (NaN in every seed)."""
        return ~np.isnan(self.positive).all(axis=0)

    def values(self, sign: str) -> np.ndarray:
        """The (seeds x tasks) array of ``sign`` (``"positive"`` or ``"negative"``)."""
        if sign not in ("positive", "negative"):
            raise ValueError(f"sign must be 'positive' or 'negative', not {sign!r}")
        return self.positive if sign == "positive" else self.negative
