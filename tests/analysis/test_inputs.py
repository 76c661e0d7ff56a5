"""Loading accuracy and PGF tables: exact PGF from accuracies, baselines, ceilings, labels, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import accuracy_rows
from vlmtransfer.analysis import load_inputs, perfection_gap_factor
from vlmtransfer.errors import InputError

HEADER = ["model", "seed", "source", "target", "accuracy"]


def test_pgf_from_a_shared_baseline_matches_the_formula_cell_by_cell(write_csv):
    rows = accuracy_rows(seeds=("0", "1"))
    (model,) = load_inputs([write_csv("acc.csv", rows)])
    base = {r[3]: r[4] for r in rows[1:] if r[2] == "base"}
    for seed, source, target, accuracy in ((r[1], r[2], r[3], r[4]) for r in rows[1:] if r[2] != "base"):
        cube = model.pgf
        value = cube.values[cube.seeds.index(seed), cube.sources.index(source), cube.targets.index(target)]
        assert value == perfection_gap_factor(accuracy, base[target], 100.0)
    assert model.label == "m"
    assert model.relative_gain is not None


def test_per_seed_baselines_are_used_for_their_own_seed(write_csv):
    rows = [
        HEADER,
        ["m", "0", "base", "A", 50],
        ["m", "1", "base", "A", 60],
        ["m", "0", "A", "A", 75],
        ["m", "1", "A", "A", 80],
    ]
    (model,) = load_inputs([write_csv("acc.csv", rows)])
    assert model.pgf.values[:, 0, 0] == pytest.approx([25 / 50, 20 / 40], rel=1e-6)
    assert model.accuracies["base_accuracy"].tolist() == [50.0, 60.0]


def test_ceilings_from_the_column_and_overridden_on_the_command_line(write_csv):
    rows = [
        [*HEADER, "ceiling"],
        ["m", "", "base", "A", 90, 95],
        ["m", "", "base", "B", 40, ""],
        ["m", "0", "A", "A", 93, 95],
        ["m", "0", "A", "B", 50, ""],
    ]
    path = write_csv("acc.csv", rows)
    (model,) = load_inputs([path])
    assert model.pgf.values[0, 0].tolist() == pytest.approx([0.6, 10 / 60], rel=1e-5)
    (overridden,) = load_inputs([path], ceilings={"B": 95.0})
    assert overridden.pgf.values[0, 0, 1] == pytest.approx(10 / 55, rel=1e-5)


def test_several_models_in_one_accuracy_file_keep_their_order(write_csv):
    rows = accuracy_rows(model="small") + accuracy_rows(model="large")[1:]
    models = load_inputs([write_csv("acc.csv", rows)])
    assert [m.label for m in models] == ["small", "large"]


def test_pgf_files_are_labelled_by_stem_then_by_label_in_order(write_csv):
    pgf = [["seed", "ft_task", "task", "perfection_gap_factor"]] + [
        [s, a, b, 0.1] for s in ("0", "1") for a in "AB" for b in "AB"
    ]
    first, second = write_csv("first.csv", pgf), write_csv("second.csv", pgf)
    assert [m.label for m in load_inputs([first, second], labels=["one", "two"])] == ["one", "two"]
    assert [m.label for m in load_inputs([first, second], labels=["one"])] == ["one", "second"]
    with pytest.raises(InputError, match="both"):
        load_inputs([first, first])


def test_sources_and_targets_may_differ(write_csv):
    rows = [HEADER] + [["m", "", "base", t, 40] for t in ("A", "V1", "V2")]
    rows += [["m", "0", s, t, 50] for s in ("A", "B") for t in ("A", "V1", "V2")]
    (model,) = load_inputs([write_csv("acc.csv", rows)])
    assert model.pgf.sources == ("A", "B")
    assert model.pgf.targets == ("A", "V1", "V2")
    assert model.pgf.self_mask().tolist() == [[True, False, False], [False, False, False]]


def test_natural_seed_order(write_csv):
    pgf = [["seed", "ft_task", "task", "perfection_gap_factor"]] + [
        [s, "A", "A", 0.1] for s in ("seed_10", "seed_2", "seed_1")
    ]
    (model,) = load_inputs([write_csv("p.csv", pgf)])
    assert model.pgf.seeds == ("seed_1", "seed_2", "seed_10")


def test_relative_gain_is_nan_where_the_baseline_is_zero(write_csv):
    rows = [HEADER, ["m", "", "base", "A", 0], ["m", "0", "A", "A", 10]]
    (model,) = load_inputs([write_csv("acc.csv", rows)])
    assert np.isnan(model.relative_gain.values).all()
    assert model.pgf.values[0, 0, 0] == pytest.approx(0.1, rel=1e-6)
