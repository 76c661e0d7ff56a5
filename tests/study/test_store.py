"""The study store: whole runs or nothing, replacement by key, the exported accuracy table."""

from __future__ import annotations

import pandas as pd
import pytest

from vlmtransfer.store import RunRecord, StudyStore


def prediction(task, qid, correct=True, answer="A"):
    predicted = "A" if correct else "B"
    return {
        "id": qid,
        "task": task,
        "answer": answer,
        "predicted": predicted,
        "correct": correct,
        "logprobs": (-0.1, -2.3),
        "letter_mass": 0.99,
        "text": None,
    }


def record(source="T1", seed=0, kind="task", predictions=None, accuracy=50.0):
    predictions = predictions or [prediction("T1", "0"), prediction("T2", "0", correct=False)]
    return RunRecord(
        "m", source, seed, "h", predictions, {"T1": (accuracy, 1), "T2": (0.0, 1)}, {"v": "1"}, kind=kind
    )


def test_question_ids_need_only_be_unique_per_target(tmp_path):
    with StudyStore(tmp_path) as store:
        store.add_run(record())
        predictions = store.predictions()
    assert sorted(zip(predictions["target"], predictions["question_id"], strict=True)) == [
        ("T1", "0"),
        ("T2", "0"),
    ]
    assert predictions["logprobs"].iloc[0] == "[-0.1, -2.3]"


def test_a_failing_run_leaves_nothing_and_a_rerun_replaces(tmp_path):
    broken = record(predictions=[prediction("T1", "0"), {**prediction("T1", "1"), "answer": None}])
    with StudyStore(tmp_path) as store:
        with pytest.raises(Exception, match="NOT NULL"):
            store.add_run(broken)
        assert store.finished() == {}
        assert store.predictions().empty
        store.add_run(record(accuracy=50.0))
        store.add_run(record(accuracy=75.0))
        table = store.accuracy_table()
    assert len(table) == 2
    assert table.loc[table["target"] == "T1", "accuracy"].item() == 75.0


def test_accuracy_table_puts_the_baseline_first_and_keeps_mixtures_out(tmp_path):
    with StudyStore(tmp_path) as store:
        store.add_run(record())
        store.add_run(record(source="base", seed=None, kind="base"))
        store.add_run(record(source="select:T1:pgf", kind="mixture"))
        table = store.accuracy_table()
        everything = store.accuracy_table(mixtures=True)
    assert table["source"].tolist() == ["base", "base", "T1", "T1"]
    assert table["seed"].isna().tolist() == [True, True, False, False]
    assert len(everything) == 6


def test_a_store_made_before_the_generated_column_gains_it_on_open(tmp_path):
    import sqlite3

    from vlmtransfer.store import STORE_FILE, StudyStore

    db = sqlite3.connect(tmp_path / STORE_FILE)
    db.executescript(
        "CREATE TABLE predictions (run_id INTEGER NOT NULL, target TEXT NOT NULL, question_id TEXT NOT NULL,"
        " answer TEXT NOT NULL, predicted TEXT, correct INTEGER NOT NULL, logprobs TEXT, letter_mass REAL,"
        " text TEXT, PRIMARY KEY (run_id, target, question_id));"
    )
    db.close()
    with StudyStore(tmp_path) as store:
        assert "generated" in store.predictions().columns
    columns = [
        row[1] for row in sqlite3.connect(tmp_path / STORE_FILE).execute("PRAGMA table_info(predictions)")
    ]
    assert columns[-2:] == ["generated", "score"]


def numeric(task, qid, answer, predicted, score):
    return {
        "id": qid,
        "task": task,
        "answer": answer,
        "predicted": predicted,
        "correct": score == 1.0,
        "text": f"about {predicted}",
        "generated": predicted,
        "score": score,
    }


NUMERIC = [
    numeric("N", "0", "10", "11", 0.9),
    numeric("N", "1", "4", "2", 0.1),
    numeric("N", "2", "2.5", None, 0.0),
    numeric("N", "3", "7", "7", 1.0),
]


def test_a_numeric_prediction_keeps_its_score_and_multiple_choice_has_none(tmp_path):
    with StudyStore(tmp_path) as store:
        store.add_run(record(predictions=[prediction("T1", "0"), *NUMERIC]))
        predictions = store.predictions().set_index(["target", "question_id"])
    assert predictions.loc[("N", "0"), "score"] == 0.9
    assert predictions.loc[("N", "0"), "correct"] == 0
    assert predictions.loc[("N", "3"), "correct"] == 1
    assert predictions.xs("N")["score"].tolist() == [0.9, 0.1, 0.0, 1.0]
    assert pd.isna(predictions.loc[("T1", "0"), "score"])


def test_a_store_made_before_the_score_column_gains_it_with_its_numeric_scores_recomputed(tmp_path):
    """Such a store lost its numeric questions' MRA (only 0/1 ``correct`` was kept); their answers and
    parsed numbers are stored, so the column is filled with exactly the scores the evaluation gave."""
    import sqlite3

    from vlmtransfer.store import STORE_FILE

    with StudyStore(tmp_path) as store:
        store.add_run(record(predictions=[prediction("T1", "0"), prediction("T1", "1", False), *NUMERIC]))
        before = store.predictions()
    with sqlite3.connect(tmp_path / STORE_FILE) as db:
        db.execute("ALTER TABLE predictions DROP COLUMN score")
    with StudyStore(tmp_path) as store:
        after = store.predictions()
    pd.testing.assert_frame_equal(after, before)
    assert after["score"].notna().sum() == len(NUMERIC)
