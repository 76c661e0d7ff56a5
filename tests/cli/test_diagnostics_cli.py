"""`analyze STUDY_DIR` diagnostics, `prior` and `similarity` on a real (tiny) study."""

from __future__ import annotations

import json

import jsonschema
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.analysis import analysis_schema
from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite

# Tasks the shipped tiny model answers near chance: no target sits at its ceiling on 8 questions.
TASKS = ("Syn_Spatial_Relation", "Syn_Art_Style", "Syn_Visual_Correspondence")


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("diag")
    generate_suite(root / "data", tasks=TASKS, n_train=12, n_val=8, seed=0)
    config = {
        "name": "diag",
        "output": str(root / "study"),
        "models": [{"name": "tiny"}],
        "data": {"dirs": [str(root / "data")]},
        "seeds": [0, 1],
        "train": {"learning_rate": 5e-3, "max_steps": 3, "batch_size": 4},
        "eval": {"batch_size": 16, "mode": "both", "max_new_tokens": 4},
    }
    (root / "study.yaml").write_text(yaml.safe_dump(config))
    invoke("run", root / "study.yaml")
    return root / "study"


def invoke(*args, code=0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_analyze_writes_diagnostics_that_match_the_schema_and_the_verbs(study_dir, tmp_path):
    out = invoke("analyze", study_dir, "--bootstrap", "200", "--out", tmp_path / "a").output
    assert "Why it transfers" in out
    assert "Spearman with PGF" in out
    assert "answer format: unparsed greedy answers" in out
    document = json.loads((tmp_path / "a" / "analysis.json").read_text())
    jsonschema.validate(document, analysis_schema())
    diagnostics = document["diagnostics"]
    cells = diagnostics["prior"]["models"]["tiny"]["cells"]
    assert len(cells) == len(TASKS) ** 2
    similarity = diagnostics["similarity"]["tiny"]
    assert similarity["cosine"]["sources"] == sorted(TASKS)
    assert similarity["pgf_correlation"]["permutations"] == 6  # 3 tasks: every relabelling
    assert all(similarity["cosine"]["values"][i][i] is not None for i in range(len(TASKS)))
    assert len(diagnostics["format"]["models"]["tiny"]["cells"]) == len(TASKS) ** 2
    table = pd.read_csv(tmp_path / "a" / "diagnostics" / "prior_cells.csv")
    assert set(table["model"]) == {"tiny"}

    invoke("prior", study_dir, "--bootstrap", "200", "--out", tmp_path / "p")
    alone = json.loads((tmp_path / "p" / "prior.json").read_text())
    assert alone["models"]["tiny"]["cells"] == cells  # same draws, same numbers
    invoke("similarity", study_dir, "--out", tmp_path / "s")
    pairs = pd.read_csv(tmp_path / "s" / "adapter_pairs.csv")
    assert len(pairs) == (len(TASKS) * 2) * (len(TASKS) * 2 - 1) // 2
    assert json.loads((tmp_path / "s" / "similarity.json").read_text())["tiny"] == similarity


def test_no_diagnostics_and_other_inputs_leave_them_out(study_dir, tmp_path):
    invoke("analyze", study_dir, "--bootstrap", "200", "--no-diagnostics", "--out", tmp_path / "a", "-q")
    assert "diagnostics" not in json.loads((tmp_path / "a" / "analysis.json").read_text())
    predictions = study_dir / "predictions.parquet"
    invoke("analyze", predictions, "--bootstrap", "200", "--out", tmp_path / "b", "-q")
    assert "diagnostics" not in json.loads((tmp_path / "b" / "analysis.json").read_text())


def test_prior_reads_a_predictions_file_and_refuses_one_without_logprobs(study_dir, tmp_path):
    predictions = pd.read_parquet(study_dir / "predictions.parquet")
    invoke("prior", study_dir / "predictions.parquet", "--bootstrap", "200")
    predictions.drop(columns=["logprobs"]).to_csv(tmp_path / "q.csv", index=False)
    out = invoke("prior", tmp_path / "q.csv", code=2).output
    assert "missing column(s) logprobs" in out
    assert "Traceback" not in out


def test_similarity_refuses_a_folder_that_is_not_a_study(tmp_path):
    out = invoke("similarity", tmp_path, code=2).output
    assert "not a study directory" in out


def test_report_draws_the_diagnostics_and_checks_them(study_dir, tmp_path):
    from vlmtransfer.errors import InputError
    from vlmtransfer.report.data import parse_report_data

    invoke("analyze", study_dir, "--bootstrap", "200", "--out", tmp_path / "a", "-q")
    invoke("report", tmp_path / "a", "--out", tmp_path / "r")
    names = {path.stem for path in (tmp_path / "r" / "figures").glob("*.png")}
    assert {"prior_pgf_tiny", "prior_shift_tiny", "format_pgf_tiny", "adapter_similarity_tiny"} <= names
    html = (tmp_path / "r" / "report.html").read_text()
    assert "PGF without the answer-letter prior" in html
    document = json.loads((tmp_path / "a" / "analysis.json").read_text())
    view = parse_report_data(document).diagnostics["tiny"]
    assert view.similarity.shape == (len(TASKS), len(TASKS))
    assert len(view.prior_cells) == len(TASKS) ** 2
    assert len(view.format_cells) == len(TASKS) ** 2
    document["diagnostics"]["similarity"]["tiny"]["cosine"]["values"].pop()
    with pytest.raises(InputError, match=r"diagnostics\.similarity\.tiny\.cosine\.values"):
        parse_report_data(document)


def test_predict_scores_the_study_and_predicts_a_new_source(study_dir, tmp_path):
    generate_suite(tmp_path / "new", tasks=("Syn_Counting",), n_train=6, n_val=2, seed=1)
    out = invoke(
        "predict", study_dir, "--questions", "4", "--source-data", tmp_path / "new", "--out", tmp_path / "p"
    ).output
    assert "leave one source out" in out
    assert "Predicted PGF rows" in out
    document = json.loads((tmp_path / "p" / "predict.json").read_text())
    assert set(document["predicted"]) == {"Syn_Counting"}
    assert set(document["predicted"]["Syn_Counting"]) == set(TASKS)
    assert set(document["quality"]["row_spearman_by_source"]) == set(TASKS)
    alignment = pd.read_csv(tmp_path / "p" / "alignment.csv", index_col=0)
    assert alignment.shape == (len(TASKS), len(TASKS))
    assert ((alignment.to_numpy() >= -1) & (alignment.to_numpy() <= 1)).all()


def test_predict_refuses_bad_requests(study_dir, tmp_path):
    assert "needs --source-data" in invoke("predict", study_dir, "--source", "X", code=2).output
    assert "no model 'nope'" in invoke("predict", study_dir, "--model", "nope", code=2).output
    assert "at least 1" in invoke("predict", study_dir, "--questions", "0", code=2).output


def test_the_study_report_shows_its_prediction(study_dir, tmp_path):
    from vlmtransfer.errors import InputError
    from vlmtransfer.report.data import load_prediction, load_report_data

    invoke("predict", study_dir, "--questions", "4", "-q")
    prediction = study_dir / "prediction" / "predict.json"
    assert prediction.is_file()
    invoke("analyze", study_dir, "--bootstrap", "200", "-q")
    data = load_report_data(study_dir / "analysis")
    assert data.prediction is not None
    assert list(data.prediction.alignment.index) == sorted(TASKS)
    invoke("report", study_dir / "analysis", "--out", tmp_path / "r")
    assert (tmp_path / "r" / "figures" / "prediction.png").is_file()
    broken = json.loads(prediction.read_text())
    del broken["alignment"]["values"]
    (tmp_path / "bad.json").write_text(json.dumps(broken))
    with pytest.raises(InputError, match=r"alignment\.values"):
        load_prediction(tmp_path / "bad.json")
