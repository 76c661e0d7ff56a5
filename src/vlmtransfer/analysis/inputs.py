"""Loading results for analysis: accuracy tables (DESIGN.md §3.2) and released PGF tables (§3.3).

Every check that can fail on user data happens here, before any computation or output, so a bad
file costs the user one line of error and leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vlmtransfer.analysis.cube import TransferCube
from vlmtransfer.analysis.metrics import perfection_gap_factor, relative_gain
from vlmtransfer.analysis.questions import (
    QuestionData,
    is_question_table,
    models_from_question_table,
    read_table,
)
from vlmtransfer.analysis.table import (
    LINE,
    check_columns,
    nonempty_strings,
    numbers,
    read_csv_strict,
    reject_duplicates,
    require_rows,
)
from vlmtransfer.errors import InputError

__all__ = [
    "ACCURACY_COLUMNS",
    "BASE_SOURCE",
    "DEFAULT_CEILING",
    "PGF_COLUMNS",
    "ModelData",
    "accuracy_model",
    "load_inputs",
    "models_from_accuracy_table",
    "models_from_pgf_table",
]

ACCURACY_COLUMNS = ("model", "seed", "source", "target", "accuracy")
ACCURACY_OPTIONAL = ("n", "ceiling")
MAX_QUESTIONS = 1e9
"""Largest ``n`` (questions behind an accuracy) accepted: beyond it, a typo rather than a benchmark."""
PGF_COLUMNS = ("seed", "ft_task", "task", "perfection_gap_factor")
BASE_SOURCE = "base"
"""The ``source`` value of rows that evaluate the un-finetuned model."""
DEFAULT_CEILING = 100.0


@dataclass(frozen=True, eq=False)
class ModelData:
    """One model's results, ready for analysis.

    Attributes:
        label: the model's name in outputs.
        pgf: per-seed PGF matrices.
        relative_gain: per-seed relative-gain matrices (accuracy inputs only).
        accuracies: long table ``seed, source, target, accuracy, base_accuracy, ceiling`` (+ ``n``
            when given), accuracy inputs only.
        origin: the file the model came from.
        sha256: hash of the bytes that were read from ``origin``.
        shared_baseline: True when one baseline serves every seed (accuracy inputs only).
        warnings: suspicious but valid things about the input, for the user to see.
        questions: per-question outcomes (per-question inputs only): what per-cell uncertainty
            from questions and seeds needs; without them it comes from seeds alone.
    """

    label: str
    pgf: TransferCube
    relative_gain: TransferCube | None
    accuracies: pd.DataFrame | None
    origin: str
    sha256: str | None = None
    shared_baseline: bool | None = None
    warnings: tuple[str, ...] = ()
    questions: QuestionData | None = None


def load_inputs(
    paths: Sequence[str | Path],
    labels: Sequence[str] = (),
    ceilings: Mapping[str, float] | None = None,
    default_ceilings: Mapping[str, float] | None = None,
    graded: bool = False,
) -> list[ModelData]:
    """Read every input file and return its models in input order.

    A target's ceiling is, in order of precedence: ``ceilings``, the table's ``ceiling`` column,
    ``default_ceilings`` (the task registry's), 100.

    Args:
        paths: accuracy tables and/or PGF tables; the format is detected from the header.
        labels: names for the PGF files, in order (the rest keep their file stem).
        ceilings: per-target ceilings overriding any ``ceiling`` column (accuracy tables only).
        default_ceilings: per-task ceilings used where the table gives none.
        graded: per-question tables may hold scores in [0, 1], not only 0/1 outcomes.
    """
    ceilings = dict(ceilings or {})
    tables = [(Path(p), _read(Path(p))) for p in paths]
    kinds = [_detect_format(frame, path) for path, frame in tables]
    pgf_count = kinds.count("pgf")
    if len(labels) > pgf_count:
        raise InputError(f"{len(labels)} labels given for {pgf_count} PGF file(s)", field="labels")
    if ceilings and not {"accuracy", "questions"} & set(kinds):
        raise InputError(
            "ceilings apply to accuracy tables only; PGF files already include them",
            field="ceilings",
        )
    models: list[ModelData] = []
    pending_labels = list(labels)
    for (path, frame), kind in zip(tables, kinds, strict=True):
        if kind == "pgf":
            label = pending_labels.pop(0) if pending_labels else path.stem
            models.append(models_from_pgf_table(frame, label, path))
        elif kind == "questions":
            models.extend(models_from_question_table(frame, path, ceilings, default_ceilings, graded))
        else:
            models.extend(models_from_accuracy_table(frame, path, ceilings, default_ceilings))
    _check_unique_labels(models)
    _check_ceiling_targets(ceilings, models)
    return models


def _read(path: Path) -> pd.DataFrame:
    """CSV through the strict reader; Parquet (by extension) as strings in the same shape."""
    if path.suffix.lower() in (".parquet", ".pq") and path.is_file():
        return read_table(path)
    return read_csv_strict(path)


def _detect_format(frame: pd.DataFrame, path: Path) -> str:
    if is_question_table(frame):
        require_rows(frame, path)
        return "questions"
    columns = set(frame.columns)
    accuracy_hits = len(columns & set(ACCURACY_COLUMNS)) / len(ACCURACY_COLUMNS)
    pgf_hits = len(columns & set(PGF_COLUMNS)) / len(PGF_COLUMNS)
    if max(accuracy_hits, pgf_hits) == 0:
        found = [c for c in frame.columns if c != LINE]
        raise InputError(
            f"not an accuracy table (columns {', '.join(ACCURACY_COLUMNS)}) or a PGF table "
            f"(columns {', '.join(PGF_COLUMNS)}); found columns: {', '.join(found)}{_header_hint(found)}",
            source=path,
        )
    kind = "pgf" if pgf_hits > accuracy_hits else "accuracy"
    if kind == "pgf":
        check_columns(frame, PGF_COLUMNS, (), path)
    else:
        check_columns(frame, ACCURACY_COLUMNS, ACCURACY_OPTIONAL, path)
    require_rows(frame, path)
    return kind


def _header_hint(found: list[str]) -> str:
    known = {*ACCURACY_COLUMNS, *PGF_COLUMNS}
    if any(c.lower() in known for c in found):
        return " (column names are lowercase)"
    if len(found) == 1 and any(d in found[0] for d in ";\t|"):
        return " (fields must be separated by commas)"
    return ""


def _check_unique_labels(models: list[ModelData]) -> None:
    seen: dict[str, str] = {}
    for model in models:
        if model.label in seen:
            raise InputError(
                f"model label {model.label!r} is used by both {seen[model.label]} and {model.origin}"
                " (rename with labels or the 'model' column)"
            )
        seen[model.label] = model.origin


def _check_ceiling_targets(ceilings: Mapping[str, float], models: list[ModelData]) -> None:
    targets = {t for m in models if m.accuracies is not None for t in m.pgf.targets}
    for task in ceilings:
        if task not in targets:
            raise InputError(f"{task!r} is not a target of any accuracy table", field="ceilings")


# --- PGF tables -------------------------------------------------------------------------------


def models_from_pgf_table(frame: pd.DataFrame, label: str, path: str | Path) -> ModelData:
    """A released PGF table (``seed, ft_task, task, perfection_gap_factor``) as one model."""
    for column in ("seed", "ft_task", "task"):
        nonempty_strings(frame, column, path)
    values = numbers(frame, "perfection_gap_factor", path)
    reject_duplicates(frame, ("seed", "ft_task", "task"), path)
    long = pd.DataFrame(
        {
            "seed": frame["seed"],
            "source": frame["ft_task"],
            "target": frame["task"],
            "pgf": values,
            LINE: frame[LINE],
        }
    )
    _check_complete_grid(long, str(path))
    warnings = _above_one_warning(long, path)
    cube = TransferCube.from_frame(long, "pgf")
    return ModelData(label, cube, None, None, str(path), frame.attrs.get("sha256"), None, warnings)


def _above_one_warning(long: pd.DataFrame, path: str | Path) -> tuple[str, ...]:
    above = long[long["pgf"] > 1]
    if above.empty:
        return ()
    worst = above.loc[above["pgf"].idxmax()]
    return (
        f"{path}: {len(above)} PGF value(s) above 1 (max {worst['pgf']:g} on line {worst[LINE]}):"
        " the finetuned accuracy exceeded the ceiling",
    )


# --- accuracy tables --------------------------------------------------------------------------


def models_from_accuracy_table(
    frame: pd.DataFrame,
    path: str | Path,
    ceilings: Mapping[str, float] | None = None,
    default_ceilings: Mapping[str, float] | None = None,
) -> list[ModelData]:
    """Every model of an accuracy table, in order of first appearance, with PGF computed.

    Base rows (``source == "base"``) give the baseline: either once per target with an empty
    seed (shared by all seeds) or once per seed and target (each seed uses its own baseline).
    """
    _validate_accuracy_cells(frame, path)
    accuracy = numbers(frame, "accuracy", path, low=0.0, high=100.0)
    _reject_fractions(accuracy, path)
    table = frame.assign(accuracy=accuracy, ceiling=_ceiling_column(frame, path), n=_n_column(frame, path))
    table.attrs["sha256"] = frame.attrs.get("sha256")
    defaults = default_ceilings or {}
    return [
        accuracy_model(table[table["model"] == model], str(model), path, ceilings or {}, defaults)
        for model in table["model"].unique()
    ]


def _reject_fractions(accuracy: pd.Series, path: str | Path) -> None:
    """Accuracies are percentages; a table whose every value is <= 1 almost surely holds fractions."""
    if accuracy.max() <= 1 and (accuracy > 0).any():
        raise InputError(
            f"every accuracy is <= 1 (max {accuracy.max():g}): accuracies must be percentages (0-100),"
            " not fractions; multiply by 100",
            source=path,
            where="column 'accuracy'",
        )


def _validate_accuracy_cells(frame: pd.DataFrame, path: str | Path) -> None:
    for column in ("model", "source", "target"):
        nonempty_strings(frame, column, path)
    finetuned = frame["source"] != BASE_SOURCE
    empty_seed = finetuned & (frame["seed"] == "")
    if empty_seed.any():
        line = frame.loc[empty_seed.idxmax(), LINE]
        raise InputError(
            "empty 'seed' (only base rows may leave it empty)", source=path, where=f"line {line}"
        )
    reject_duplicates(frame, ("model", "seed", "source", "target"), path)


def _ceiling_column(frame: pd.DataFrame, path: str | Path) -> pd.Series:
    if "ceiling" not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return numbers(frame, "ceiling", path, low=0.0, high=100.0, low_inclusive=False, allow_empty=True)


def _n_column(frame: pd.DataFrame, path: str | Path) -> pd.Series:
    """The optional number of questions behind each accuracy: a positive whole number, or empty."""
    if "n" not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    n = numbers(frame, "n", path, low=1.0, high=MAX_QUESTIONS, allow_empty=True)
    fractional = n.notna() & (n != np.round(n))
    if fractional.any():
        index = fractional.idxmax()
        raise InputError(
            f"'n' is {frame.loc[index, 'n']}, not a whole number",
            source=path,
            where=f"line {frame.loc[index, LINE]}",
        )
    return n


def accuracy_model(
    rows: pd.DataFrame,
    model: str,
    path: str | Path,
    overrides: Mapping[str, float],
    defaults: Mapping[str, float],
) -> ModelData:
    where = f"{path}: model {model!r}"
    base = rows[rows["source"] == BASE_SOURCE]
    finetuned = rows[rows["source"] != BASE_SOURCE]
    if base.empty:
        raise InputError(f"model {model!r} has no base rows (source = {BASE_SOURCE!r})", source=path)
    if finetuned.empty:
        raise InputError(f"model {model!r} has only base rows, no finetuned ones", source=path)
    _check_complete_grid(finetuned, where)
    shared = _baseline_mode(base, where)
    _check_baseline_coverage(base, finetuned, shared, where)
    ceilings = _target_ceilings(rows, overrides, defaults, where)
    joined = _join_baseline(finetuned, base, shared).assign(ceiling=lambda t: t["target"].map(ceilings))
    _check_headroom(joined, where)
    warnings = _above_ceiling_warning(joined, where)
    sha256 = rows.attrs.get("sha256")
    return _model_from_joined(
        joined, model, origin=str(path), sha256=sha256, shared=shared, warnings=warnings
    )


def _above_ceiling_warning(joined: pd.DataFrame, where: str) -> tuple[str, ...]:
    above = joined[joined["accuracy"] > joined["ceiling"]]
    if above.empty:
        return ()
    first = above.iloc[0]
    return (
        f"{where}: {len(above)} finetuned accuracies exceed their target's ceiling (first: line"
        f" {first[LINE]}, {first['accuracy']:g} > {first['ceiling']:g}), giving PGF above 1",
    )


def _baseline_mode(base: pd.DataFrame, where: str) -> bool:
    """True when base rows leave the seed empty (one baseline shared by every seed)."""
    empty = base["seed"] == ""
    if empty.any() and not empty.all():
        line = base.loc[empty.idxmax(), LINE]
        raise InputError(
            f"base rows mix an empty seed (line {line}) with per-seed baselines; use one style"
            f" ({BASE_SOURCE!r} is the reserved source name of the un-finetuned model)",
            source=where,
        )
    return bool(empty.all())


def _check_baseline_coverage(base: pd.DataFrame, finetuned: pd.DataFrame, shared: bool, where: str) -> None:
    """Every (seed,) target of the finetuned rows has a base row and no base row is unused; a refusal
    cites the line of the first row concerned (a seed typed ``1.0`` here and ``1`` there is found)."""

    def line(rows: pd.DataFrame, mask: pd.Series) -> str | None:
        return f"line {rows.loc[mask.idxmax(), LINE]}" if LINE in rows.columns and mask.any() else None

    targets = set(finetuned["target"])
    extra = sorted(set(base["target"]) - targets)
    if extra:
        raise InputError(
            f"base row for target {extra[0]!r}, which no finetuned run was evaluated on",
            source=where,
            where=line(base, base["target"] == extra[0]),
        )
    seeds = [""] if shared else sorted(set(finetuned["seed"]) | set(base["seed"]))
    for seed in seeds:
        have = set(base.loc[base["seed"] == seed, "target"])
        missing = sorted(targets - have)
        if missing:
            in_seed = f" for seed {seed!r}" if seed else ""
            first = (finetuned["target"] == missing[0]) & ((finetuned["seed"] == seed) if seed else True)
            raise InputError(
                f"no base accuracy{in_seed} on target {missing[0]!r}",
                source=where,
                where=line(finetuned, first),
            )
    if not shared:
        orphan = sorted(set(base["seed"]) - set(finetuned["seed"]))
        if orphan:
            raise InputError(
                f"base rows for seed {orphan[0]!r}, which has no finetuned rows",
                source=where,
                where=line(base, base["seed"] == orphan[0]),
            )


def _target_ceilings(
    rows: pd.DataFrame, overrides: Mapping[str, float], defaults: Mapping[str, float], where: str
) -> dict[str, float]:
    ceilings: dict[str, float] = {}
    for target, group in rows.groupby("target", sort=False):
        given = group["ceiling"].dropna()
        if given.nunique() > 1:
            first, other = given.index[0], given[given != given.iloc[0]].index[0]
            raise InputError(
                f"target {target!r} has ceiling {given[first]:g} on line {rows.loc[first, LINE]} "
                f"but {given[other]:g} on line {rows.loc[other, LINE]}",
                source=where,
            )
        fallback = defaults.get(str(target), DEFAULT_CEILING)
        ceilings[str(target)] = float(given.iloc[0]) if len(given) else fallback
    ceilings.update({t: v for t, v in overrides.items() if t in ceilings})
    return ceilings


def _join_baseline(finetuned: pd.DataFrame, base: pd.DataFrame, shared: bool) -> pd.DataFrame:
    keys = ["target"] if shared else ["seed", "target"]
    baseline = base[[*keys, "accuracy", LINE]].rename(
        columns={"accuracy": "base_accuracy", LINE: "base_line"}
    )
    columns = ["seed", "source", "target", "accuracy", "n", LINE]
    return finetuned[columns].merge(baseline, on=keys, how="left", validate="many_to_one")


def _check_headroom(joined: pd.DataFrame, where: str) -> None:
    stuck = joined[joined["base_accuracy"] >= joined["ceiling"]]
    if len(stuck):
        row = stuck.iloc[0]
        raise InputError(
            f"target {row['target']!r}: baseline {row['base_accuracy']:g} (line {row['base_line']}) "
            f"is at or above its ceiling {row['ceiling']:g}, so PGF is undefined"
            " (set a higher ceiling for it)",
            source=where,
        )


def _model_from_joined(
    joined: pd.DataFrame,
    model: str,
    *,
    origin: str,
    sha256: str | None,
    shared: bool,
    warnings: tuple[str, ...],
) -> ModelData:
    table = joined.assign(
        pgf=perfection_gap_factor(joined["accuracy"], joined["base_accuracy"], joined["ceiling"]),
        relative_gain=relative_gain(joined["accuracy"], joined["base_accuracy"]),
    )
    columns = ["seed", "source", "target", "accuracy", "base_accuracy", "ceiling"]
    if table["n"].notna().any():
        columns.append("n")
    accuracies = table[columns].reset_index(drop=True)
    return ModelData(
        label=model,
        pgf=TransferCube.from_frame(table, "pgf"),
        relative_gain=TransferCube.from_frame(table, "relative_gain"),
        accuracies=accuracies,
        origin=origin,
        sha256=sha256,
        shared_baseline=shared,
        warnings=warnings,
    )


# --- shared checks ----------------------------------------------------------------------------


def _check_complete_grid(long: pd.DataFrame, where: str) -> None:
    """Every seed has the same (source, target) pairs: metrics compare seeds cell by cell."""
    pairs_by_seed = {
        seed: set(zip(g["source"], g["target"], strict=True)) for seed, g in long.groupby("seed", sort=False)
    }
    every = set().union(*pairs_by_seed.values())
    for seed, pairs in pairs_by_seed.items():
        missing = sorted(every - pairs)
        if missing:
            source, target = missing[0]
            more = f" and {len(missing) - 1} more pair(s)" if len(missing) > 1 else ""
            raise InputError(
                f"seed {seed!r} lacks {source} -> {target}{more} that other seeds have"
                " (tasks missing from some seeds)",
                source=where,
            )
    sources = {s for s, _ in every}
    targets = {t for _, t in every}
    if len(every) != len(sources) * len(targets):
        source, target = sorted((s, t) for s in sources for t in targets if (s, t) not in every)[0]
        raise InputError(f"no value for {source} -> {target}: every source needs every target", source=where)
