"""Reading analysis.json: the real reference analysis, and every kind of malformed file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vlmtransfer.errors import InputError
from vlmtransfer.report import load_report_data, parse_report_data


def test_reference_analysis_is_read_whole(paper_analysis):
    data = load_report_data(paper_analysis)
    document = json.loads((paper_analysis / "analysis.json").read_text())
    assert data.model_order == ("3B", "7B", "32B")
    assert len(data.all_tasks()) == 13
    assert data.abbreviation("Relative_Depth") == "RD"
    assert data.task("Relative_Depth").level == "low"
    model = data.models["32B"]
    assert model.seeds == ("initial", "seed_0", "seed_1", "seed_2")
    np.testing.assert_array_equal(model.pgf_mean.to_numpy(), np.array(document["models"]["32B"]["pgf_mean"]))
    assert model.pgf_mean.loc["Jigsaw", "Visual_Similarity"] == document["models"]["32B"]["pgf_mean"][4][12]
    assert list(model.transferability.columns) == ["positive", "negative", "positive_std", "negative_std"]
    assert model.baseline is None  # PGF inputs carry no accuracies
    assert model.cliques["positive"][0].tasks == tuple(
        document["models"]["32B"]["cliques"]["positive"][0]["tasks"]
    )
    assert data.personas["donor"] == ("Semantic_Correspondence",)
    assert set(data.persona_tests["persona"]) == {"donor", "pirate", "sponge", "sieve"}


def test_accuracy_analysis_has_baselines(accuracy_analysis):
    data = load_report_data(accuracy_analysis / "analysis.json")  # the file itself works too
    baseline = data.models["small"].baseline
    assert list(baseline.columns) == ["accuracy", "accuracy_std", "ceiling"]
    assert baseline.loc["Counting", "accuracy"] == 52.0  # accuracy_rows: base + index of the target
    assert np.isnan(baseline.loc["Counting", "accuracy_std"])  # one baseline shared by all seeds


def test_unknown_tasks_fall_back_to_their_name(paper_analysis):
    data = load_report_data(paper_analysis)
    assert data.abbreviation("Not_A_Task") == "Not_A_Task"
    assert data.task("Not_A_Task").level is None


def _document(paper_analysis):
    return json.loads((paper_analysis / "analysis.json").read_text())


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(schema_version=1), "schema_version: is 1; this vlmtransfer reads 2"),
        (
            lambda d: d["models"]["3B"]["pgf_significant"][0].__setitem__(0, 1),
            "models.3B.pgf_significant: expected 13 rows of 13 booleans",
        ),
        (lambda d: d.pop("models"), "models: missing (is this an analysis.json?)"),
        (lambda d: d.update(model_order=["3B"]), "model_order: ['3B'] does not list the models"),
        (lambda d: d["models"]["7B"]["pgf_mean"].pop(), "models.7B.pgf_mean: 12 rows, expected 13"),
        (lambda d: d["models"]["7B"]["pgf_std"][3].pop(), "models.7B.pgf_std[3]: expected 13 values"),
        (lambda d: d["models"]["7B"]["pgf_mean"][0].__setitem__(0, "x"), "pgf_mean[0]: expected numbers"),
        (lambda d: d["models"]["3B"].pop("seeds"), "models.3B.seeds: missing"),
        (
            lambda d: d["models"]["3B"]["pgf_per_seed"].pop("seed_1"),
            "holds seeds ['initial', 'seed_0', 'seed_2']",
        ),
        (
            lambda d: d["models"]["3B"]["transferability"]["Jigsaw"].pop("negative"),
            "Jigsaw.negative: missing",
        ),
        (lambda d: d["models"]["3B"]["edges"][0].pop("pgf"), "models.3B.edges[0].pgf: missing"),
        (lambda d: d.update(tasks=[]), "tasks: expected an object, got list"),
        (lambda d: d.update(model_order="3B"), "model_order: expected a list of strings"),
    ],
)
def test_malformed_documents_name_the_json_path(paper_analysis, change, fragment):
    document = _document(paper_analysis)
    change(document)
    with pytest.raises(InputError, match=r"analysis\.json") as caught:
        parse_report_data(document, paper_analysis / "analysis.json")
    assert fragment in str(caught.value)


def test_files_that_are_missing_or_not_json(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_report_data(tmp_path)
    (tmp_path / "analysis.json").write_text('{"schema_version": 2,\n  oops}')
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        load_report_data(tmp_path)
    (tmp_path / "analysis.json").write_text("[]")
    with pytest.raises(InputError, match="expected an object, got list"):
        load_report_data(tmp_path)
