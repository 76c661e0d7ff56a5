"""Image sources, video targets (issue 24 item 5): ``data.target_dirs`` holds target-only data, every
adapter and the baseline are evaluated on it, the analysis reads the non-square PGF matrix's target-only
block (donors/pirates over the video targets, sponges/sieves among them) and the report draws it apart.

The machinery runs with the dummy scorer (seconds); one test runs the embedded tiny model through it."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.data.videos import write_mp4
from vlmtransfer.analysis.export import analysis_schema
from vlmtransfer.cli.main import app
from vlmtransfer.data.dataset import write_split
from vlmtransfer.data.records import MCQRecord
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.errors import InputError
from vlmtransfer.store import StudyStore
from vlmtransfer.study.config import load_study_config
from vlmtransfer.study.plan import preview_tasks, resolve_tasks

IMAGE_TASKS = ("Syn_Spatial_Relation", "Syn_Art_Style", "Syn_Object_Localization")
VIDEO_MCQ, VIDEO_COUNT = "Vid_Appearance_Order", "Vid_Counting"
VIDEO_TASKS = (VIDEO_MCQ, VIDEO_COUNT)


def write_video_tasks(root, questions=3):
    """A target-only dataset: a multiple-choice and a numeric video task (val split only), small mp4s."""
    mcq, count = [], []
    for k in range(questions):
        for task in VIDEO_TASKS:
            write_mp4(root / task / "videos" / f"v{k}.mp4", frames=4, width=56, height=56, fps=2, seed=k)
        prompt = "These are frames of a video.\nWhich colour appears first?\nOptions:\nA. red\nB. blue"
        mcq.append((MCQRecord(f"m{k}", VIDEO_MCQ, (), prompt, ("red", "blue"), "AB"[k % 2], {},
                              videos=(f"videos/v{k}.mp4",)), []))  # fmt: skip
        number = "These are frames of a video.\nHow many objects are there?"
        count.append((MCQRecord(f"n{k}", VIDEO_COUNT, (), number, (), str(k + 2), {},
                                videos=(f"videos/v{k}.mp4",), answer_type="number"), []))  # fmt: skip
    write_split(root, VIDEO_MCQ, "val", mcq)
    write_split(root, VIDEO_COUNT, "val", count)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate_suite(root / "syn", tasks=IMAGE_TASKS, n_train=8, n_val=6, seed=0)
    return root / "syn", write_video_tasks(root / "video")


def study(tmp_path, dirs, name="study", model=None, **changes):
    images, videos = dirs
    config = {
        "name": name,
        "output": str(tmp_path / name),
        "models": [model or {"name": "toy", "scorer": "dummy"}],
        "data": {"dirs": [str(images)], "target_dirs": [str(videos)]},
        "seeds": [0, 1],
        "train": {"max_steps": 2, "batch_size": 4},
    } | changes
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def invoke(*args, code=0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_target_dirs_tasks_are_targets_never_sources(tmp_path, data):
    tasks = resolve_tasks(load_study_config(study(tmp_path, data)))
    assert tasks.targets == [*sorted(IMAGE_TASKS), *sorted(VIDEO_TASKS)]
    assert tasks.sources == sorted(IMAGE_TASKS)
    assert all(tasks.fingerprint(t, "val") for t in VIDEO_TASKS)  # their questions are in every key


@pytest.mark.parametrize(
    ("data_changes", "where", "problem"),
    [
        ({"sources": [VIDEO_MCQ]}, "data.sources.0", "is target-only"),
        ({"targets": list(IMAGE_TASKS)}, "data.target_dirs.0", "is in data.targets"),
        ({"target_dirs": ["IMAGES"]}, "data.target_dirs.0", "is also in data.dirs"),
        ({"target_dirs": ["missing"]}, "data.target_dirs.0", "not found"),
    ],
)
def test_bad_target_dirs_name_the_key(tmp_path, data, data_changes, where, problem):
    images, videos = data
    changes = {"dirs": [str(images)], "target_dirs": [str(videos)]} | data_changes
    if changes["target_dirs"] == ["IMAGES"]:
        changes["target_dirs"] = [str(images)]
    elif changes["target_dirs"] == ["missing"]:
        changes["target_dirs"] = [str(tmp_path / "missing")]
    with pytest.raises(InputError) as caught:
        resolve_tasks(load_study_config(study(tmp_path, data, data=changes)))
    assert caught.value.where == where
    assert problem in caught.value.problem


def test_a_task_in_both_a_data_dir_and_a_target_dir_is_refused(tmp_path, data):
    images, _ = data
    clash = tmp_path / "clash"
    shutil.copytree(images / IMAGE_TASKS[0], clash / IMAGE_TASKS[0])
    config = study(tmp_path, data, data={"dirs": [str(images)], "target_dirs": [str(clash)]})
    with pytest.raises(InputError, match="split here and in another data directory"):
        resolve_tasks(load_study_config(config))


def test_a_preview_without_the_data_needs_the_sources_listed(tmp_path, data):
    images, _ = data
    changes = {"dirs": [str(images)], "target_dirs": [str(tmp_path / "later")], "targets": [VIDEO_MCQ]}
    config = load_study_config(study(tmp_path, data, data=changes))
    with pytest.raises(InputError, match=r"data\.sources lists the sources") as caught:
        preview_tasks(config)
    assert caught.value.where == "data.sources"
    listed = load_study_config(study(tmp_path, data, data=changes | {"sources": [IMAGE_TASKS[0]]}))
    assert preview_tasks(listed).sources == [IMAGE_TASKS[0]]


def test_image_sources_video_targets_run_analyse_and_report(tmp_path, data):
    """Every run (baseline and each adapter) is evaluated on the video targets; the analysis' matrix is
    sources x (image + video targets) with a target-only block of the video targets, donors/pirates
    over them and sponges/sieves among them; the report draws the block in its own figure and tables."""
    out = tmp_path / "study"
    invoke("run", study(tmp_path, data))
    accuracy = pd.read_csv(out / "accuracy.csv", keep_default_na=False)
    runs = accuracy.groupby(["source", "seed"])["target"].apply(set)
    assert len(runs) == 1 + len(IMAGE_TASKS) * 2
    assert all(targets == {*IMAGE_TASKS, *VIDEO_TASKS} for targets in runs)
    assert not set(accuracy["source"]) & set(VIDEO_TASKS)
    with StudyStore(out) as store:
        numeric = store.predictions().query("target == @VIDEO_COUNT")
    assert numeric["score"].notna().all()  # a numeric video target is scored by MRA

    invoke("analyze", out, "--quiet", "--bootstrap", "200")
    document = json.loads((out / "analysis" / "analysis.json").read_text())
    jsonschema.validate(document, analysis_schema())
    model = document["models"]["toy"]
    assert model["sources"] == sorted(IMAGE_TASKS)
    assert model["targets"] == [*sorted(IMAGE_TASKS), *sorted(VIDEO_TASKS)]
    assert len(model["pgf_mean"]) == 3
    assert {len(row) for row in model["pgf_mean"]} == {5}
    block = document["target_only"]
    assert block["models"]["toy"]["targets"] == sorted(VIDEO_TASKS)
    assert set(block["models"]["toy"]["transferability"]) == set(IMAGE_TASKS)
    assert set(block["models"]["toy"]["malleability"]) == set(VIDEO_TASKS)
    assert set(block["personas"]) == {"donor", "pirate", "sponge", "sieve"}
    assert set(block["personas"]["sponge"]) | set(block["personas"]["sieve"]) <= set(VIDEO_TASKS)
    assert set(block["personas"]["donor"]) | set(block["personas"]["pirate"]) <= set(IMAGE_TASKS)
    # the numeric target has no letter prior: left out by name, the multiple-choice targets decomposed
    prior = document["diagnostics"]["prior"]
    assert list(prior["left_out"]) == [VIDEO_COUNT]
    assert {c["target"] for c in prior["models"]["toy"]["cells"]} == {*IMAGE_TASKS, VIDEO_MCQ}
    tables = out / "analysis" / "target_only"
    assert set(pd.read_csv(tables / "malleability.csv")["task"]) == set(VIDEO_TASKS)

    invoke("report", out / "analysis")
    figures = json.loads((out / "analysis" / "figures" / "figures.json").read_text())
    names = {f["name"] for f in figures["figures"]}
    assert {"pgf_heatmap_toy", "pgf_target_only_toy"} <= names
    html = (out / "analysis" / "report.html").read_text()
    assert "PGF on target-only targets, toy" in html
    assert "Personas over target-only targets" in html
    assert "Transferability over target-only targets" in html


def test_the_static_heatmap_leaves_the_target_only_block_to_its_own_figure(tmp_path):
    """The main heatmap draws the targets that are sources, the block figure the others only."""
    from vlmtransfer.analysis import analyze, load_inputs, write_analysis
    from vlmtransfer.report.data import load_report_data
    from vlmtransfer.report.figures.heatmaps import pgf_heatmap, pgf_target_only_heatmap

    cells = [(s, t) for s in "AB" for t in "ABV"]
    rows = [("m", "", "base", t, 40.0) for t in "ABV"]
    rows += [("m", 0, s, t, 45.0 + i) for i, (s, t) in enumerate(cells)]
    table = tmp_path / "accuracy.csv"
    pd.DataFrame(rows, columns=["model", "seed", "source", "target", "accuracy"]).to_csv(table, index=False)
    write_analysis(analyze(load_inputs([table])), tmp_path / "analysis")
    data = load_report_data(tmp_path / "analysis")
    assert data.target_only.targets == {"m": ("V",)}
    main = pgf_heatmap(data.models["m"], data, list("ABV"), 1.0)
    block = pgf_target_only_heatmap(data.models["m"], data, list("ABV"))
    assert [t.get_text() for t in main.axes[0].get_xticklabels()] == ["A", "B"]
    assert [t.get_text() for t in block.axes[0].get_xticklabels()] == ["V"]


@pytest.mark.slow
def test_the_tiny_model_evaluates_every_adapter_on_the_video_targets(tmp_path, data):
    """The embedded tiny model through the same study: its video path answers the target-only video
    questions for the baseline and for the adapter (one source, one seed)."""
    config = study(
        tmp_path,
        data,
        model={"name": "tiny"},
        seeds=[0],
        data={"dirs": [str(data[0])], "target_dirs": [str(data[1])], "sources": [IMAGE_TASKS[0]]},
        train={"learning_rate": 5e-3, "max_steps": 2, "batch_size": 4},
    )
    invoke("run", config)
    with StudyStore(tmp_path / "study") as store:
        predictions = store.predictions()
    video = predictions[predictions["target"].isin(VIDEO_TASKS)]
    assert set(video["source"]) == {"base", IMAGE_TASKS[0]}
    assert video.groupby("source").size().to_dict() == {"base": 6, IMAGE_TASKS[0]: 6}
    assert video.loc[video["target"] == VIDEO_COUNT, "score"].notna().all()
