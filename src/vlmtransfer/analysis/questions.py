"""Per-question results: the table behind every accuracy, and what per-cell uncertainty is computed from.

A per-question table has one row per (model, seed, source, target, question): ``correct`` is 1 when the
run answered that question correctly, 0 when not, or a score in [0, 1] for graded answers (``graded``).
An optional ``score`` column (the study store's MRA of a numeric question, empty for multiple choice)
is the question's outcome where it is filled, as it is in the study's accuracies, without ``graded``.
``source`` is ``base`` for the un-finetuned model, whose rows leave ``seed`` empty (one baseline for every
seed) or give it per seed. The study store's ``predictions.parquet`` is in this format.

Loading aggregates the table into the accuracy table (so every check and every definition of the
accuracy path applies unchanged) and keeps the per-question outcomes, aligned with the PGF cube, as
:class:`QuestionData`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vlmtransfer.analysis.table import LINE, check_columns, nonempty_strings, numbers, reject_duplicates
from vlmtransfer.errors import InputError

__all__ = [
    "QUESTION_COLUMNS",
    "QuestionData",
    "is_question_table",
    "models_from_question_table",
    "read_table",
    "text_table",
]

QUESTION_COLUMNS = ("model", "seed", "source", "target", "question_id", "correct")
QUESTION_OPTIONAL = (
    "ceiling",
    "kind",
    "answer",
    "predicted",
    "score",
    "logprobs",
    "letter_mass",
    "text",
    "generated",
)
"""Optional columns: a per-target ceiling, and what the study store's ``predictions.parquet`` adds."""
BASE_SOURCE = "base"
EXCLUDED_KINDS = ("mixture",)
"""Run kinds of the study store that are not part of the transfer matrix (data-selection mixtures)."""


@dataclass(frozen=True, eq=False)
class QuestionData:
    """One model's per-question outcomes, aligned with its PGF cube.

    Attributes:
        seeds, sources, targets: the cube's axes, in the cube's order.
        question_ids: per target, its questions (sorted).
        base: per target, an array (1 or n_seeds, n_questions): the base run's outcomes (one row when
            one baseline serves every seed, else one row per seed).
        tuned: per target, an array (n_seeds, n_sources, n_questions) of the finetuned runs' outcomes.
        ceilings: per target, the ceiling ``U_j`` in percent.
    """

    seeds: tuple[str, ...]
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    question_ids: tuple[tuple[str, ...], ...]
    base: tuple[np.ndarray, ...]
    tuned: tuple[np.ndarray, ...]
    ceilings: np.ndarray

    @property
    def n_questions(self) -> np.ndarray:
        """Questions per target."""
        return np.array([len(ids) for ids in self.question_ids], dtype=float)

    def base_accuracy(self) -> np.ndarray:
        """Per target: the base accuracy in percent (mean over the base rows, i.e. over seeds)."""
        return np.array([100.0 * b.mean() for b in self.base])

    def flip_rate(self) -> np.ndarray:
        """Per target: the mean share of questions whose outcome differs between a finetuned run and
        its baseline, over seeds and sources (self-transfer included). What the power formula needs."""
        return np.array(
            [np.abs(t - b[:, None, :]).mean() for t, b in zip(self.tuned, self.base, strict=True)]
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """A Parquet file as the strict CSV reader returns a CSV: every cell a stripped string, plus
    :data:`LINE` (here the 1-based data row) and the bytes' sha256 in ``attrs``."""
    path = Path(path)
    try:
        data = path.read_bytes()
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read as Parquet: {exc}", source=path) from None
    return text_table(frame, hashlib.sha256(data).hexdigest())


def text_table(frame: pd.DataFrame, sha256: str | None = None) -> pd.DataFrame:
    """A typed table in the strict CSV reader's shape (every cell a stripped string, empty for missing,
    :data:`LINE` the 1-based row), so tables made in memory are checked like files."""
    text = frame.astype(object).where(frame.notna(), "")
    text = text.map(lambda v: v if isinstance(v, str) else _cell_text(v))
    text[LINE] = np.arange(1, len(text) + 1)
    text.attrs["sha256"] = sha256
    text.attrs["row_word"] = "row"
    return text


def _cell_text(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def is_question_table(frame: pd.DataFrame) -> bool:
    """True when the header has a per-question column (``question_id`` or ``correct``): the table is
    then checked as one, so a missing column is named rather than the file taken for another format."""
    return bool({"question_id", "correct"} & set(frame.columns))


def models_from_question_table(
    frame: pd.DataFrame,
    path: str | Path,
    ceilings: Mapping[str, float] | None = None,
    default_ceilings: Mapping[str, float] | None = None,
    graded: bool = False,
) -> list:
    """Every model of a per-question table, with its PGF cube and its :class:`QuestionData`.

    Raises:
        InputError: a missing column, an empty or non-binary ``correct`` (unless ``graded``; a row with
            a ``score`` takes the score, in [0, 1], instead), a duplicate row, a question evaluated under
            one run but not another, and everything the accuracy path refuses (missing base rows,
            incomplete grids, a baseline at the ceiling).
    """
    from vlmtransfer.analysis.inputs import accuracy_model  # noqa: PLC0415 - inputs imports this module

    check_columns(frame, QUESTION_COLUMNS, QUESTION_OPTIONAL, path)
    frame = _drop_excluded_kinds(frame)
    if frame.empty:
        raise InputError("has a header but no data rows", source=path)
    correct = _validate(frame, path, graded)
    table = frame.assign(correct=correct)
    models = []
    for model in table["model"].unique():
        rows = table[table["model"] == model]
        _check_question_coverage(rows, path)
        accuracy = _accuracy_rows(rows, path)
        accuracy.attrs["sha256"] = frame.attrs.get("sha256")
        data = accuracy_model(accuracy, str(model), path, ceilings or {}, default_ceilings or {})
        models.append(replace(data, questions=_question_data(rows, data)))
    return models


def _drop_excluded_kinds(frame: pd.DataFrame) -> pd.DataFrame:
    if "kind" not in frame.columns:
        return frame
    return frame[~frame["kind"].isin(EXCLUDED_KINDS)]


def _where(frame: pd.DataFrame, index: object, column: str) -> str:
    word = frame.attrs.get("row_word", "line")
    return f"{word} {frame.loc[index, LINE]}, column {column!r}"


@contextmanager
def _naming_column(frame: pd.DataFrame, column: str) -> Iterator[None]:
    """Errors of the shared cell checks (``line N``) re-raised naming the column, and for Parquet the row."""
    try:
        yield
    except InputError as exc:
        where = exc.where or ""
        if where.startswith("line ") and frame.attrs.get("row_word") == "row":
            where = "row " + where.removeprefix("line ")
        raise InputError(exc.problem, source=exc.source, where=f"{where}, column {column!r}") from None


def _validate(frame: pd.DataFrame, path: str | Path, graded: bool) -> pd.Series:
    for column in ("model", "source", "target", "question_id"):
        with _naming_column(frame, column):
            nonempty_strings(frame, column, path)
    finetuned = frame["source"] != BASE_SOURCE
    empty_seed = finetuned & (frame["seed"] == "")
    if empty_seed.any():
        raise InputError(
            "empty 'seed' (only base rows may leave it empty)",
            source=path,
            where=_where(frame, empty_seed.idxmax(), "seed"),
        )
    text = frame["correct"].str.lower().replace({"true": "1", "false": "0"})
    with _naming_column(frame, "correct"):
        correct = numbers(frame.assign(correct=text), "correct", path, low=0.0, high=1.0)
    scored = pd.Series(False, index=frame.index)
    if "score" in frame.columns:
        with _naming_column(frame, "score"):
            score = numbers(frame, "score", path, low=0.0, high=1.0, allow_empty=True)
        scored = score.notna()
        correct = correct.where(~scored, score)  # a graded outcome, as the --graded path reads it
    if not graded:
        fractional = ~scored & ~correct.isin((0.0, 1.0))
        if fractional.any():
            index = fractional.idxmax()
            raise InputError(
                f"'correct' is {frame.loc[index, 'correct']}, not 0 or 1"
                " (scores in [0, 1] for graded answers need graded scoring)",
                source=path,
                where=_where(frame, index, "correct"),
            )
    reject_duplicates(frame, ("model", "seed", "source", "target", "question_id"), path)
    return correct


def _check_question_coverage(rows: pd.DataFrame, path: str | Path) -> None:
    """Every run evaluated on a target saw the same questions: pairing needs the same questions."""
    runs = rows.groupby(["target", "source", "seed"], sort=False)["question_id"]
    sizes = runs.size()
    expected = rows.groupby("target", sort=False)["question_id"].nunique()
    short = sizes[sizes.to_numpy() < expected.reindex(sizes.index.get_level_values(0)).to_numpy()]
    if short.empty:
        return
    target, source, seed = short.index[0]
    run = rows[(rows["target"] == target) & (rows["source"] == source) & (rows["seed"] == seed)]
    others = rows[(rows["target"] == target) & ~rows["question_id"].isin(run["question_id"])]
    missing = others.iloc[0]
    run_name = f"source {source!r}" + (f" seed {seed!r}" if seed else "")
    other_name = f"source {missing['source']!r}" + (f" seed {missing['seed']!r}" if missing["seed"] else "")
    raise InputError(
        f"question {missing['question_id']!r} of target {target!r} is evaluated under {other_name}"
        f" but not under {run_name} (every run on a target must answer the same questions)",
        source=path,
        where=_where(rows, missing.name, "question_id"),
    )


def _accuracy_rows(rows: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """One accuracy row per run and target, as the accuracy table's loader expects them."""
    ceiling = (
        numbers(rows, "ceiling", path, low=0.0, high=100.0, low_inclusive=False, allow_empty=True)
        if "ceiling" in rows.columns
        else pd.Series(np.nan, index=rows.index)
    )
    grouped = rows.assign(ceiling=ceiling).groupby(["model", "seed", "source", "target"], sort=False)
    table = grouped.agg(
        accuracy=("correct", "mean"),
        n=("correct", "size"),
        ceiling=("ceiling", "first"),
        **{LINE: (LINE, "min")},
    ).reset_index()
    table["accuracy"] = 100.0 * table["accuracy"]
    table["n"] = table["n"].astype(float)
    return table


def _question_data(rows: pd.DataFrame, data) -> QuestionData:
    cube = data.pgf
    ceilings = data.accuracies.drop_duplicates("target").set_index("target")["ceiling"]
    ids, base, tuned = [], [], []
    for target in cube.targets:
        sub = rows[rows["target"] == target]
        questions = sorted(sub["question_id"].unique())
        ids.append(tuple(questions))
        is_base = sub["source"] == BASE_SOURCE
        base_wide = sub[is_base].pivot(index="seed", columns="question_id", values="correct")
        base_seeds = [""] if data.shared_baseline else list(cube.seeds)
        base.append(base_wide.reindex(index=base_seeds, columns=questions).to_numpy(dtype=float))
        wide = sub[~is_base].pivot(index=["seed", "source"], columns="question_id", values="correct")
        wide = wide.reindex(pd.MultiIndex.from_product([cube.seeds, cube.sources]), columns=questions)
        tuned.append(wide.to_numpy(dtype=float).reshape(len(cube.seeds), len(cube.sources), len(questions)))
    return QuestionData(
        cube.seeds,
        cube.sources,
        cube.targets,
        tuple(ids),
        tuple(base),
        tuple(tuned),
        ceilings.reindex(list(cube.targets)).to_numpy(dtype=float),
    )
