"""The target-only block of a non-square transfer matrix: targets that are never sources (paper §5.3).

A study of image sources evaluated on video targets as well (``data.target_dirs``) has a PGF matrix whose
columns are the image tasks *and* the video tasks, while its rows are the image tasks only. The paper's
Figure 7 reads that off-square block on its own: which image sources are donors or pirates *over the
video targets* (transferability counted on those columns only), and which video targets are sponges or
sieves *among themselves* (malleability, compared with the other video targets' mean rather than the
image tasks'). This module computes exactly that, for whatever targets are not sources in a model
(video targets in that study; any evaluation-only task elsewhere, such as BLINK's IQ_Test).

The block's scores are the ordinary ones on the sub-cube ``sources x target-only targets`` (no cell there
is self-transfer), and its personas follow the paper's rule across models with the same tests as the
main analysis: per-question bootstrap where the input has questions (its own draws, from a generator of
its own, so the main analysis' numbers do not change), else the seeds.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vlmtransfer.analysis.cube import SeedScores, TransferCube
from vlmtransfer.analysis.inputs import ModelData
from vlmtransfer.analysis.personas import PERSONAS, persona_table
from vlmtransfer.analysis.questions import QuestionData
from vlmtransfer.analysis.significance import persona_tests
from vlmtransfer.analysis.uncertainty import Replicates, bootstrap_replicates, score_intervals

__all__ = ["TargetOnlyAnalysis", "target_only_analysis", "target_only_tasks"]


@dataclass(frozen=True, eq=False)
class TargetOnlyAnalysis:
    """The target-only block of every model that has one.

    Attributes:
        targets: per model, its targets that are not sources (in the cube's order).
        transferability: per model, each source's D+/D- counted over those targets only.
        malleability: per model, each target-only target's Theta+/Theta- over the sources.
        intervals: per model and role, the 95 % intervals of those scores (as the main analysis').
        persona_table: as :func:`vlmtransfer.analysis.persona_tests` returns it, for donors and pirates
            over the target-only targets and sponges and sieves among them.
        personas: ``{persona: [tasks]}``: members by the paper's rule (or the significant ones only,
            when the analysis restricts to significant results).
    """

    targets: dict[str, tuple[str, ...]]
    transferability: dict[str, SeedScores]
    malleability: dict[str, SeedScores]
    intervals: dict[str, dict[str, pd.DataFrame]]
    persona_table: pd.DataFrame
    personas: dict[str, list[str]]

    def summary(self, label: str, role: str) -> pd.DataFrame:
        """Model ``label``'s ``role`` scores (seed means and stds) joined with their intervals."""
        scores = self.transferability if role == "transferability" else self.malleability
        return scores[label].summary().join(self.intervals[label][role])


def target_only_tasks(cube: TransferCube) -> tuple[str, ...]:
    """The targets of ``cube`` that are not among its sources, in target order."""
    sources = set(cube.sources)
    return tuple(t for t in cube.targets if t not in sources)


def target_only_analysis(
    models: Sequence[ModelData],
    *,
    alpha: float,
    n_resamples: int,
    random_state: int,
    significant_only: bool = False,
) -> TargetOnlyAnalysis | None:
    """The target-only block of ``models`` (in the order given), or None when no model has one.

    Models without target-only targets are left out (the block's personas need the block in a model).
    """
    blocks = {m.label: target_only_tasks(m.pgf) for m in models}
    with_block = [m for m in models if blocks[m.label]]
    if not with_block:
        return None
    transfer, malleable, replicates, intervals = {}, {}, {}, {}
    for model in with_block:
        sub = model.pgf.select(targets=list(blocks[model.label]))
        transfer[model.label] = sub.transferability()
        malleable[model.label] = sub.malleability()
        replicates[model.label] = draws = _block_replicates(model, sub, n_resamples, random_state)
        intervals[model.label] = {
            "transferability": score_intervals(transfer[model.label], draws, "transferability"),
            "malleability": score_intervals(malleable[model.label], draws, "malleability"),
        }
    scores = {"transferability": transfer, "malleability": malleable}
    table = persona_tests(persona_table(transfer, malleable), scores, replicates, alpha)
    chosen = table[table["significant"] if significant_only else table["member"]]
    members = {p.name: sorted(chosen.loc[chosen["persona"] == p.name, "task"].unique()) for p in PERSONAS}
    targets = {m.label: blocks[m.label] for m in with_block}
    return TargetOnlyAnalysis(targets, transfer, malleable, intervals, table, members)


def _block_replicates(
    model: ModelData, sub: TransferCube, n_resamples: int, random_state: int
) -> Replicates | None:
    """Bootstrap replicates of the block (per-question inputs only; seeds-only inputs test by seeds),
    drawn from a generator of the block's own, so the main analysis' draws are untouched."""
    if model.questions is None:
        return None
    questions = _select_targets(model.questions, sub.targets)
    rng = np.random.default_rng([random_state, zlib.crc32(model.label.encode()), zlib.crc32(b"target-only")])
    counted = np.ones((len(sub.sources), len(sub.targets)), dtype=bool)
    return bootstrap_replicates(questions, sub.values, n_resamples, rng, counted)


def _select_targets(questions: QuestionData, targets: Sequence[str]) -> QuestionData:
    """``questions`` restricted to ``targets`` (in that order)."""
    keep = [questions.targets.index(t) for t in targets]
    return QuestionData(
        questions.seeds,
        questions.sources,
        tuple(targets),
        tuple(questions.question_ids[j] for j in keep),
        tuple(questions.base[j] for j in keep),
        tuple(questions.tuned[j] for j in keep),
        np.asarray(questions.ceilings)[keep],
    )
