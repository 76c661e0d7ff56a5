"""What `make demo` prints when it is done: the sections in order, with the study's own numbers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from rich.console import Console

from tests.analysis.simulation import question_table
from vlmtransfer.cli.analyze import analyze
from vlmtransfer.cli.demo import DemoSummary

TASKS = ["Syn_Counting", "Syn_Jigsaw", "Syn_Relative_Depth", "Syn_Forensic_Detection"]
PLANTED = {
    ("Syn_Counting", "Syn_Counting"): 0.7,
    ("Syn_Jigsaw", "Syn_Jigsaw"): 0.7,
    ("Syn_Counting", "Syn_Jigsaw"): 0.6,
}


def _accuracy_table(questions: pd.DataFrame) -> pd.DataFrame:
    grouped = questions.groupby(["model", "seed", "source", "target"])["correct"]
    table = pd.concat([grouped.mean().mul(100).rename("accuracy"), grouped.size().rename("n")], axis=1)
    return table.reset_index()


def _planted_study(tmp_path):
    """A demo-shaped config, the accuracy table and the analysis of a planted per-question study."""
    questions = question_table(TASKS, 3, 150, flip_rate=0.15, planted=PLANTED, rng=np.random.default_rng(1))
    path = tmp_path / "questions.csv"
    questions.to_csv(path, index=False)
    result = analyze([path], out=str(tmp_path / "analysis"), quiet=True, bootstrap=1000)
    return _config(tmp_path), _accuracy_table(questions), result


def _config(tmp_path):
    return SimpleNamespace(
        output=tmp_path / "study",
        seeds=[0, 1, 2],
        lora=SimpleNamespace(rank=16),
        train=SimpleNamespace(max_steps=192),
    )


def test_the_summary_reads_what_ran_baselines_matrix_own_task_effects_what_to_look_at_next_steps(tmp_path):
    config, table, result = _planted_study(tmp_path)
    summary = DemoSummary(config, table, result, tmp_path / "analysis", tmp_path)
    console = Console(record=True, width=400)
    summary.print(console, seconds=12.0)
    text = console.export_text()

    order = [
        "a baseline and 4 sources x 3 seeds = 12 LoRA finetunes (rank 16, 192 steps)",
        "Baseline accuracy of the tiny model",
        "off-diagonal cells are significant",
        "Seed-mean PGF",
        "Finetuned on a task, evaluated on that task",
        "mean own-task PGF",
        "What to look at",
        "Next steps",
        "demo finished in 12 s",
    ]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "each model evaluated on 600 questions of 4 tasks" in text
    # the planted self-transfers are starred, and the planted transfer is listed as a significant one
    own = text.split("Finetuned on a task, evaluated on that task")[1].split("mean own-task PGF")[0]
    rows = {line.split("│")[1].strip(): line for line in own.splitlines() if line.startswith("│ s")}
    assert "*" in rows["sCN"]
    assert "*" in rows["sJG"]
    assert "tasks significantly improved by finetuning on themselves (q < 0.05)" in text
    look = text.split("What to look at")[1].split("Next steps")[0]
    assert "significant transfers (finetuned on -> evaluated on):" in look
    assert "Syn_Counting -> Syn_Jigsaw +0." in look
    assert str(Path(tmp_path / "analysis" / "report.html")) in text
    # data selection is suggested where a donor was found: jigsaw, which counting raises
    steps = " ".join(text.split("Next steps")[1].split())
    assert "--target Syn_Jigsaw --top-k 2" in steps


def test_the_summary_says_which_own_task_gains_are_letter_prior(tmp_path):
    config, table, result = _planted_study(tmp_path)
    prior = {(t, t): (0.01, False) for t in TASKS} | {("Syn_Jigsaw", "Syn_Jigsaw"): (0.3, True)}
    summary = DemoSummary(config, table, result, tmp_path / "analysis", tmp_path, prior=prior)
    console = Console(record=True, width=400)
    summary.print(console, seconds=1.0)
    text = console.export_text()
    own = text.split("Finetuned on a task, evaluated on that task")[1].split("mean own-task PGF")[0]
    assert "w/o prior" in own
    rows = {line.split("│")[1].strip(): line for line in own.splitlines() if line.startswith("│ s")}
    assert "+0.30*" in rows["sJG"]
    assert "+0.01 " in rows["sCN"]
    look = text.split("What to look at")[1].split("Next steps")[0]
    significant = sum("*" in rows[t].split("│")[5] for t in rows)  # the q column's star
    assert f"{significant - 1} of the {significant} significant own-task gains vanish" in look


def test_targets_never_finetuned_on_get_their_own_line(tmp_path):
    """The demo's video targets are evaluated after every finetune but never trained on: the summary
    says how many of their cells are significant, and names the largest (here a planted one)."""
    video = "Syn_Video_Object_Counting"
    planted = {**PLANTED, ("Syn_Counting", video): 0.6}
    questions = question_table(
        [*TASKS, video], 3, 150, flip_rate=0.15, planted=planted, rng=np.random.default_rng(1)
    )
    questions = questions[questions["source"] != video]
    path = tmp_path / "questions.csv"
    questions.to_csv(path, index=False)
    result = analyze([path], out=str(tmp_path / "analysis"), quiet=True, bootstrap=1000)
    summary = DemoSummary(
        _config(tmp_path), _accuracy_table(questions), result, tmp_path / "analysis", tmp_path
    )
    console = Console(record=True, width=400)
    summary.print(console, seconds=1.0)
    text = console.export_text()
    look = " ".join(text.split("What to look at")[1].split("Next steps")[0].split())
    assert "targets never finetuned on (vOC):" in look
    assert f"the largest: Syn_Counting -> {video} +0." in look
    own = text.split("Finetuned on a task, evaluated on that task")[1].split("mean own")[0]
    assert "vOC" not in own  # no diagonal for a target that is no source
