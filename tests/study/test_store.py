"""The study store: whole runs or nothing, replacement by key, the exported accuracy table."""

from __future__ import annotations

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
    assert columns[-1] == "generated"
