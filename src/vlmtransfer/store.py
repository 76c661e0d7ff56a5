"""The study store: one SQLite file (WAL) per study directory (DESIGN.md §3.4).

A run (model, source or ``base``, seed) is written in one transaction together with all its
predictions and accuracies, so a run is either entirely present or absent: a process killed at any
moment leaves no partial rows, and "resume" is simply "run what is absent". The driver is the only
writer. No torch here: analysis reads the store directly.

Tables: ``meta`` (key/value: the schema version), ``runs`` (one row per finished run, with
its results hash, adapter path, timings, training loss and package versions), ``predictions`` (per
question: predicted letter, correctness, a numeric question's score (its mean relative accuracy in
[0, 1]; NULL for multiple choice), per-choice log-probabilities as JSON, letter mass, generated text) and
``accuracies`` (per run and target, in percent, with the number of questions: the mean of each
question's points, its score where it has one, else 0 or 1, x 100).
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd

from vlmtransfer.errors import InputError, system_refusal

__all__ = ["STORE_FILE", "RunRecord", "StudyStore", "run_key"]

STORE_FILE = "study.sqlite"
SCHEMA_VERSION = "2"
"""2: a run's ``results_hash`` is the content-addressed key of its effective settings (``study.jobs``),
with the settings themselves in ``spec``; 1: a hash of the study YAML (``study.legacy`` migrates)."""
ADDED_PREDICTION_COLUMNS = (("generated", "TEXT"), ("score", "REAL"))
"""Prediction columns newer than some stores: added on open (``generated``: the parsed greedy answer;
``score``: a numeric question's MRA, recomputed from its stored answers when added, see
:func:`_backfill_scores`)."""
ADDED_RUN_COLUMNS = (("spec", "TEXT"),)
"""Run columns newer than some stores (``spec``: the run's effective settings as JSON)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    seed INTEGER,
    kind TEXT NOT NULL DEFAULT 'task',
    results_hash TEXT NOT NULL,
    adapter TEXT,
    train_seconds REAL,
    eval_seconds REAL,
    train_loss REAL,
    versions TEXT NOT NULL,
    spec TEXT,
    finished_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS predictions (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    question_id TEXT NOT NULL,
    answer TEXT NOT NULL,
    predicted TEXT,
    correct INTEGER NOT NULL,
    score REAL,
    logprobs TEXT,
    letter_mass REAL,
    text TEXT,
    generated TEXT,
    PRIMARY KEY (run_id, target, question_id)
);
CREATE TABLE IF NOT EXISTS accuracies (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    accuracy REAL NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (run_id, target)
);
"""


def run_key(model: str, source: str, seed: int | None) -> str:
    """The identity of a run: ``model|source|seed`` (empty seed for the base model)."""
    return f"{model}|{source}|{'' if seed is None else seed}"


@dataclass(frozen=True)
class RunRecord:
    """A finished run, ready to be stored.

    ``predictions`` are mappings with the keys of :class:`vlmtransfer.evaluate.QuestionResult`
    (``id, task, answer, predicted, correct, logprobs, letter_mass, text, generated``, and ``score``:
    a numeric question's MRA, None or absent for a multiple-choice one).
    """

    model: str
    source: str
    seed: int | None
    results_hash: str
    predictions: Sequence[Mapping[str, Any]]
    accuracies: Mapping[str, tuple[float, int]]
    versions: Mapping[str, str]
    adapter: str | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    train_loss: float | None = None
    kind: str = "task"
    spec: Mapping[str, Any] | None = None

    @property
    def key(self) -> str:
        return run_key(self.model, self.source, self.seed)


P = ParamSpec("P")
R = TypeVar("R")


def _named(method: Callable[Concatenate[StudyStore, P], R]) -> Callable[Concatenate[StudyStore, P], R]:
    """SQLite's errors as the store's: a damaged file is bad input (exit 2), a full disk or a denied
    permission a refusal of the machine (exit 3), each naming the store; a transaction is rolled back
    first, so the store stays as it was."""

    @functools.wraps(method)
    def wrapper(self: StudyStore, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            refusal = system_refusal(exc, source=self.path)
            if refusal is not None:
                raise refusal from None
            cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) else exc
            if isinstance(cause, sqlite3.DatabaseError) and not isinstance(cause, sqlite3.OperationalError):
                raise InputError(
                    f"not a readable study store ({cause}); restore it from a backup, or move it away to "
                    "start the study afresh",
                    source=self.path,
                ) from None
            raise

    return wrapper


class StudyStore:
    """The SQLite store of one study directory.

    Raises (every method):
        InputError: the file is not an SQLite database or is damaged.
        SystemRefusalError: the disk is full or the file cannot be written; nothing was changed.
    """

    @_named
    def __init__(self, study_dir: str | Path) -> None:
        self.path = Path(study_dir) / STORE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            existing = self._db.execute("SELECT name FROM sqlite_master WHERE name = 'runs'").fetchone()
            for statement in _statements(_SCHEMA):  # not executescript(), which commits on its own
                self._db.execute(statement)
            # a store without a version predates versions: schema 1 (its keys are migrated by the runner)
            version = SCHEMA_VERSION if existing is None else "1"
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (version,))
            self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Columns added since a store was created (nullable, so old rows read as unknown)."""
        for table, added in (("predictions", ADDED_PREDICTION_COLUMNS), ("runs", ADDED_RUN_COLUMNS)):
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for column, kind in added:
                if column not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                    if (table, column) == ("predictions", "score"):
                        _backfill_scores(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @_named
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @_named
    def set_meta(self, key: str, value: str) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @_named
    def finished(self) -> dict[str, str]:
        """Finished runs: key -> results hash."""
        return dict(self._db.execute("SELECT key, results_hash FROM runs"))

    @_named
    def schema_version(self) -> str:
        """``2`` for keys made from effective settings; ``1`` for a store written before them."""
        return self.get_meta("schema_version") or "1"

    @_named
    def specs(self) -> dict[str, dict[str, Any] | None]:
        """Finished runs: key -> effective settings (None for runs stored before specs were)."""
        rows = self._db.execute("SELECT key, spec FROM runs")
        return {key: None if spec is None else json.loads(spec) for key, spec in rows}

    @_named
    def run_versions(self) -> dict[str, dict[str, Any]]:
        """Finished runs: key -> the package versions recorded with them."""
        return {
            key: json.loads(versions) for key, versions in self._db.execute("SELECT key, versions FROM runs")
        }

    @_named
    def migrate_keys(self, keys: Mapping[str, tuple[str, Mapping[str, Any]]], version: str) -> None:
        """Rewrite runs' keys and specs (``run key -> (results hash, spec)``) and set the schema version,
        in one transaction."""
        with self._transaction():
            self._db.executemany(
                "UPDATE runs SET results_hash = ?, spec = ? WHERE key = ?",
                [(value, json.dumps(dict(spec), sort_keys=True), key) for key, (value, spec) in keys.items()],
            )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (version,))

    @_named
    def add_run(self, run: RunRecord) -> None:
        """Store a finished run with its predictions and accuracies, all or nothing; replaces an
        earlier run with the same key."""
        with self._transaction():
            self._db.execute("DELETE FROM runs WHERE key = ?", (run.key,))
            cursor = self._db.execute(
                "INSERT INTO runs (key, model, source, seed, kind, results_hash, adapter, train_seconds,"
                " eval_seconds, train_loss, versions, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.key,
                    run.model,
                    run.source,
                    run.seed,
                    run.kind,
                    run.results_hash,
                    run.adapter,
                    run.train_seconds,
                    run.eval_seconds,
                    run.train_loss,
                    json.dumps(dict(run.versions), sort_keys=True),
                    None if run.spec is None else json.dumps(dict(run.spec), sort_keys=True),
                ),
            )
            run_id = cursor.lastrowid
            self._db.executemany(
                "INSERT INTO predictions (run_id, target, question_id, answer, predicted, correct, score,"
                " logprobs, letter_mass, text, generated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        p["task"],
                        p["id"],
                        p["answer"],
                        p["predicted"],
                        int(bool(p["correct"])),
                        None if p.get("score") is None else float(p["score"]),
                        None if p.get("logprobs") is None else json.dumps(list(p["logprobs"])),
                        p.get("letter_mass"),
                        p.get("text"),
                        p.get("generated"),
                    )
                    for p in run.predictions
                ],
            )
            self._db.executemany(
                "INSERT INTO accuracies VALUES (?, ?, ?, ?)",
                [(run_id, target, accuracy, n) for target, (accuracy, n) in run.accuracies.items()],
            )

    @_named
    def delete_runs(self, keys: Sequence[str]) -> None:
        """Forget runs (their predictions and accuracies go with them)."""
        with self._transaction():
            self._db.executemany("DELETE FROM runs WHERE key = ?", [(k,) for k in keys])

    @_named
    def runs(self) -> pd.DataFrame:
        """One row per finished run."""
        return pd.read_sql_query(
            "SELECT key, model, source, seed, kind, results_hash, adapter, train_seconds, eval_seconds,"
            " train_loss, versions, finished_at FROM runs ORDER BY id",
            self._db,
        ).astype({"seed": "Int64"})

    @_named
    def accuracy_table(self, *, mixtures: bool = False) -> pd.DataFrame:
        """The accuracy table (DESIGN.md §3.2): ``model, seed, source, target, accuracy, n``; base rows
        have an empty seed. Mixture runs (data selection) only when asked: they are not sources of the
        transfer matrix. Sorted, so equal stores give equal tables."""
        kinds = "('base', 'task', 'mixture')" if mixtures else "('base', 'task')"
        frame = pd.read_sql_query(
            "SELECT r.model, r.seed, r.source, a.target, a.accuracy, a.n FROM accuracies a"
            f" JOIN runs r ON r.id = a.run_id WHERE r.kind IN {kinds}",
            self._db,
        ).astype({"seed": "Int64"})
        order = frame.assign(_base=frame["source"] != "base")
        return (
            order.sort_values(["model", "_base", "source", "seed", "target"], na_position="first")
            .drop(columns="_base")
            .reset_index(drop=True)
        )

    @_named
    def predictions(self) -> pd.DataFrame:
        """Every stored prediction with its run's model, source and seed: the per-question table that
        ``vlmtransfer analyze`` reads (``model, seed, source, target, question_id, correct``; base runs
        have no seed; ``score``, a numeric question's MRA, is its outcome where present, NaN for
        multiple choice), then the answer details and the run's ``kind`` (``mixture`` runs, of data
        selection, are not part of the transfer matrix and analysis skips them)."""
        return pd.read_sql_query(
            "SELECT r.model, r.seed, r.source, p.target, p.question_id, p.answer, p.predicted, p.correct,"
            " p.score, p.logprobs, p.letter_mass, p.text, p.generated, r.kind FROM predictions p"
            " JOIN runs r ON r.id = p.run_id"
            " ORDER BY r.id, p.target, p.question_id",
            self._db,
        ).astype({"seed": "Int64"})


def _backfill_scores(db: sqlite3.Connection) -> None:
    """Score the numeric questions of a store written before ``score`` was: their ``answer`` is a
    number (a multiple-choice answer is a letter, never one) and ``predicted`` the parsed number as
    ``format_number`` wrote it (or NULL), so the MRA the evaluation computed is recomputed exactly."""
    from vlmtransfer.data.numbers import mean_relative_accuracy  # noqa: PLC0415 - only when migrating

    scores = []
    for rowid, answer, predicted in db.execute("SELECT rowid, answer, predicted FROM predictions"):
        truth = _number(answer)
        if truth is not None and math.isfinite(truth) and truth != 0:
            scores.append((mean_relative_accuracy(_number(predicted), truth), rowid))
    db.executemany("UPDATE predictions SET score = ? WHERE rowid = ?", scores)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
