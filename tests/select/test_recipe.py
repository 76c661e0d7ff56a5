"""The selection recipe on hand-made matrices: ranking, rules, weighting, budget split, errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.errors import InputError
from vlmtransfer.select import Candidate, SelectionRule, choose_recipe, load_candidates, split_budget

# Base accuracy 50 on every target; finetuning on S moves target T to ACC[S][T] (seed 0 and seed 1 +/- 2).
ACC = {
    "A": {"A": 90, "B": 60, "C": 45, "T": 70},
    "B": {"A": 55, "B": 90, "C": 50, "T": 60},
    "C": {"A": 50, "B": 40, "C": 90, "T": 40},
    "T": {"A": 50, "B": 50, "C": 50, "T": 95},
}


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sel")
    rows = ["model,seed,source,target,accuracy"]
    rows += [f"m,,base,{t},50" for t in ACC]
    for seed, delta in (("0", -2), ("1", 2)):
        rows += [
            f"m,{seed},{s},{t},{acc + delta}" for s, targets in ACC.items() for t, acc in targets.items()
        ]
    (root / "acc.csv").write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(
        app, ["analyze", str(root / "acc.csv"), "--out", str(root / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return root / "out"


def test_candidates_are_ranked_by_pgf_without_the_target(analysis_dir):
    ranking = load_candidates(analysis_dir, "m", "T")
    assert [c.task for c in ranking] == ["A", "B", "C"]
    assert ranking[0].pgf == pytest.approx((70 - 50) / (100 - 50 + 1e-6))
    assert ranking[2].pgf == pytest.approx(-10 / (50 + 1e-6))
    assert ranking[0].pgf_std == pytest.approx(4 / (50 + 1e-6) / 2**0.5)


def test_threshold_and_top_k(analysis_dir):
    ranking = load_candidates(analysis_dir, "m", "T")
    assert choose_recipe("m", "T", ranking, SelectionRule(threshold=0.0)).sources == ["A", "B"]
    assert choose_recipe("m", "T", ranking, SelectionRule(threshold=0.3)).sources == ["A"]
    assert choose_recipe("m", "T", ranking, SelectionRule(top_k=3)).sources == ["A", "B", "C"]
    with pytest.raises(InputError, match=r"no source has PGF above 0.5 on T; the best is A at \+0.4000"):
        choose_recipe("m", "T", ranking, SelectionRule(threshold=0.5))


def test_weights_and_budget(analysis_dir):
    ranking = load_candidates(analysis_dir, "m", "T")
    uniform = choose_recipe("m", "T", ranking, SelectionRule(threshold=0), budget=1001)
    assert uniform.weights == [0.5, 0.5]
    assert uniform.examples == [501, 500]
    by_pgf = choose_recipe("m", "T", ranking, SelectionRule(threshold=0, weighting="pgf"), budget=900)
    assert by_pgf.weights == pytest.approx([2 / 3, 1 / 3])
    assert by_pgf.examples == [600, 300]
    with pytest.raises(InputError, match="positive PGF"):
        choose_recipe("m", "T", ranking, SelectionRule(top_k=3, weighting="pgf"))


@given(st.integers(0, 10_000), st.lists(st.floats(0.01, 10), min_size=1, max_size=8))
def test_split_budget_sums_exactly_and_is_proportional(budget, raw):
    weights = [w / sum(raw) for w in raw]
    counts = split_budget(budget, weights)
    assert sum(counts) == budget
    assert all(abs(c - budget * w) < 1 for c, w in zip(counts, weights, strict=True))


def test_rules_are_validated():
    with pytest.raises(ValueError, match="exactly one"):
        SelectionRule(threshold=0.1, top_k=2)
    with pytest.raises(ValueError, match="top_k"):
        SelectionRule(top_k=0)
    assert Candidate("A", 0.1, None).pgf_std is None


def test_cli_prints_a_recipe_as_json_and_reports_bad_input(analysis_dir):
    args = ["select", "--analysis", str(analysis_dir), "--model", "m", "--target", "T"]
    result = CliRunner().invoke(app, [*args, "--top-k", "2", "--budget", "10", "--json"])
    assert result.exit_code == 0, result.output
    recipe = json.loads(result.stdout)
    assert [(m["task"], m["examples"]) for m in recipe["mixture"]] == [("A", 5), ("B", 5)]
    assert recipe["rule"] == {"threshold": None, "top_k": 2, "weighting": "uniform"}
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0
    assert "not chosen: C" in table.stdout
    for bad, message in (
        (["--model", "x"], "error: --model: no model 'x'"),
        (["--target", "Z"], "error: --target: no target 'Z'"),
        (["--top-k", "0"], "error: --top-k: must be >= 1"),
        (["--threshold", "0.9"], "error: --threshold: no source has PGF above 0.9"),
    ):
        result = CliRunner().invoke(app, [*args, *bad])
        assert result.exit_code == 2, bad
        assert result.stderr.startswith(message), result.stderr


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (lambda doc: doc["models"]["m"].pop("targets"), "models.m"),
        (lambda doc: doc["models"]["m"]["pgf_mean"].pop(), "models.m.pgf_mean"),
        (lambda doc: doc.pop("schema_version"), "schema_version"),
    ],
)
def test_a_schema_invalid_analysis_is_exit_2_naming_the_json_path(analysis_dir, tmp_path, damage, where):
    document = json.loads((analysis_dir / "analysis.json").read_text())
    damage(document)
    (tmp_path / "analysis.json").write_text(json.dumps(document))
    result = CliRunner().invoke(app, ["select", "--analysis", str(tmp_path), "--model", "m", "--target", "T"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {tmp_path / 'analysis.json'}: {where}")
    assert len(result.stderr.strip().splitlines()) == 1
