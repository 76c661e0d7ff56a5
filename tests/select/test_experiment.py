"""`select --run` end to end on the tiny model: the experiment's runs, summary and store entries."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.store import StudyStore

# Tasks the shipped tiny model has not learnt: on 6 val questions a learnt one can sit at its ceiling,
# where PGF is undefined.
TASKS = ("Syn_Spatial_Relation", "Syn_Object_Localization", "Syn_Art_Style")
TARGET = "Syn_Art_Style"


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
def test_select_run_compares_pgf_random_and_direct(tmp_path):
    generate_suite(tmp_path / "data", tasks=TASKS, n_train=12, n_val=6, seed=0)
    config = tmp_path / "study.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "output": "study",
                "models": [{"name": "tiny"}],
                "data": {"dirs": ["data"]},
                "seeds": [0, 1],
                "train": {"learning_rate": 5e-3, "max_steps": 3, "batch_size": 4},
            }
        )
    )
    invoke("run", config)
    invoke("analyze", tmp_path / "study", "--quiet")
    analysis = tmp_path / "study" / "analysis"
    result = invoke(
        "select", "--analysis", analysis, "--model", "tiny", "--target", TARGET, "--top-k", "1",
        "--run", config, "--draws", "2", "--json",
    )  # fmt: skip
    document = json.loads(result.stdout)
    assert document == json.loads((tmp_path / "study" / "selection" / f"{TARGET}.json").read_text())
    arms = {arm["name"]: arm for arm in document["arms"]}
    assert list(arms) == ["base", "pgf", "random-0", "random-1", "direct"]
    assert document["recipe"]["mixture"][0]["examples"] == 12  # the target's own training-set size
    assert (
        arms["base"]["position"] == pytest.approx(0) or arms["direct"]["accuracy"] == arms["base"]["accuracy"]
    )
    if arms["direct"]["accuracy"] != arms["base"]["accuracy"]:
        assert arms["direct"]["position"] == pytest.approx(1)
    assert set(arms["pgf"]["per_seed"]) == {"0", "1"}
    assert TARGET not in arms["pgf"]["sources"]
    with StudyStore(tmp_path / "study") as store:
        runs = store.runs()
        mixtures = runs[runs["kind"] == "mixture"]
        assert len(mixtures) == 3 * 2  # pgf + 2 random draws, 2 seeds each
        assert "select:" not in "".join(store.accuracy_table()["source"])
        assert len(store.accuracy_table(mixtures=True)) > len(store.accuracy_table())
    table = pd.read_csv(tmp_path / "study" / "accuracy.csv")
    assert not table["source"].str.startswith("select:").any()
    assert (analysis / "selection" / f"{TARGET}.json").read_text() == json.dumps(document, indent=2) + "\n"
    invoke("report", analysis, "--no-figures", "--quiet")
    page = (analysis / "report.html").read_text()
    assert "Data selection" in page
    assert "random-1" in page
    again = invoke(
        "select", "--analysis", analysis, "--model", "tiny", "--target", TARGET, "--top-k", "1",
        "--run", config, "--draws", "2", "--json",
    )  # fmt: skip
    assert json.loads(again.stdout) == document  # nothing rerun, same numbers
