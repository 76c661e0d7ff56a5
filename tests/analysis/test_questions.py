"""Per-question tables: aggregation to the accuracy path, alignment, and every validation error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.analysis.simulation import question_table
from vlmtransfer.analysis import load_inputs, perfection_gap_factor
from vlmtransfer.errors import InputError

TASKS = ["A", "B", "C"]


@pytest.fixture
def table() -> pd.DataFrame:
    return question_table(TASKS, 2, 20, rng=np.random.default_rng(0))


def write(frame: pd.DataFrame, path) -> str:
    if str(path).endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_per_question_tables_give_the_accuracy_path_pgf_and_aligned_outcomes(table, tmp_path, suffix):
    (model,) = load_inputs([write(table, tmp_path / f"q{suffix}")])
    questions = model.questions
    assert questions is not None
    assert (questions.sources, questions.targets, questions.seeds) == (
        model.pgf.sources,
        model.pgf.targets,
        model.pgf.seeds,
    )
    rows = table[(table["source"] == "B") & (table["target"] == "C") & (table["seed"] == "1")]
    base = table[(table["source"] == "base") & (table["target"] == "C")]
    expected = perfection_gap_factor(100 * rows["correct"].mean(), 100 * base["correct"].mean())
    assert model.pgf.values[1, 1, 2] == pytest.approx(float(expected))
    assert questions.tuned[2][1, 1].tolist() == rows.sort_values("question_id")["correct"].tolist()
    assert model.accuracies["n"].eq(20).all()
    assert model.shared_baseline


def test_mixture_runs_of_the_study_store_are_left_out(table, tmp_path):
    mixture = table[table["source"] == "A"].assign(source="mixture:A+B", kind="mixture")
    frame = pd.concat([table.assign(kind="task"), mixture], ignore_index=True)
    (model,) = load_inputs([write(frame, tmp_path / "q.parquet")])
    assert model.pgf.sources == tuple(TASKS)


def test_graded_scores_are_accepted_only_when_declared(table, tmp_path):
    graded = table.astype({"correct": float})
    graded.loc[5, "correct"] = 0.5
    path = write(graded, tmp_path / "g.csv")
    with pytest.raises(InputError, match=r"line 7, column 'correct': 'correct' is 0.5, not 0 or 1"):
        load_inputs([path])
    (model,) = load_inputs([path], graded=True)
    assert model.questions.base[0].max() <= 1


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_score_column_is_the_outcome_where_filled_as_the_graded_path_reads_it(table, tmp_path, suffix):
    """The study store's ``score`` (a numeric question's MRA; empty for multiple choice) replaces the 0/1
    ``correct`` of its rows, without --graded, exactly as a graded ``correct`` column would."""
    rng = np.random.default_rng(1)
    numeric = table["target"] == "C"
    scores = np.round(rng.uniform(0, 1, len(table)), 1)
    scored = table.assign(score=np.where(numeric, scores, np.nan))
    (model,) = load_inputs([write(scored, tmp_path / f"s{suffix}")])
    graded = table.assign(correct=np.where(numeric, scores, table["correct"]))
    (expected,) = load_inputs([write(graded, tmp_path / "g.csv")], graded=True)
    np.testing.assert_allclose(model.pgf.values, expected.pgf.values)
    for mine, theirs in zip(model.questions.tuned, expected.questions.tuned, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    rows = scored[numeric & (scored["source"] == "base")]
    assert model.questions.base_accuracy()[2] == pytest.approx(100 * rows["score"].mean())
    plain = (load_inputs([write(table, tmp_path / "p.csv")])[0], model)
    np.testing.assert_array_equal(plain[0].questions.tuned[0], plain[1].questions.tuned[0])  # A: no scores


def test_a_score_outside_0_1_is_refused_naming_its_column(table, tmp_path):
    scored = table.assign(score="")
    scored.loc[3, "score"] = "1.5"
    with pytest.raises(InputError, match=r"line 5, column 'score'"):
        load_inputs([write(scored, tmp_path / "s.csv")])


def _drop(frame: pd.DataFrame, **match: str) -> pd.DataFrame:
    hit = np.ones(len(frame), bool)
    for key, value in match.items():
        hit &= frame[key].to_numpy() == value
    first = np.flatnonzero(hit)[0]
    return frame.drop(index=frame.index[first])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: _drop(f, source="base", target="B"),
            r"q.csv: line \d+, column 'question_id': question 'B-000' of target 'B' is evaluated under"
            r" source 'A' seed '0' but not under source 'base'",
        ),
        (
            lambda f: _drop(f, source="C", target="A", seed="1"),
            r"question 'A-000' of target 'A' is evaluated under source 'base' but not under source 'C'"
            r" seed '1'",
        ),
        (lambda f: pd.concat([f, f.iloc[[30]]]), r"q.csv: line \d+: duplicates line 32"),
        (lambda f: f.assign(correct=f["correct"].astype(str).replace({"1": "2"})), r"'correct' is 2"),
        (lambda f: f.assign(correct=f["correct"].astype(str).replace({"1": "yes"})), "not a number"),
        (lambda f: f.drop(columns="question_id"), r"line 1: missing column 'question_id'"),
        (
            lambda f: f.assign(seed=np.where(f["source"] == "A", "", f["seed"])),
            r"column 'seed': empty 'seed' \(only base rows may leave it empty\)",
        ),
        (lambda f: f[f["source"] != "base"], "has no base rows"),
    ],
)
def test_bad_per_question_tables_are_refused_naming_file_row_and_column(table, tmp_path, change, message):
    changed = change(table)
    with pytest.raises(InputError, match=message):
        load_inputs([write(changed, tmp_path / "q.csv")])


def test_parquet_errors_name_the_row(table, tmp_path):
    bad = table.astype({"correct": float})
    bad.loc[3, "correct"] = 0.25
    with pytest.raises(InputError, match=r"q.parquet: row 4, column 'correct'"):
        load_inputs([write(bad, tmp_path / "q.parquet")])
