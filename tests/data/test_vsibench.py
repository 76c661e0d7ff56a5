"""The VSI-Bench loader on a local copy in the hub repository's exact layout (the questions' parquet with
its columns, videos in ``<dataset>.zip`` or extracted), through the real code path; then the export
validated and evaluated by the embedded tiny model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.data.videos import write_mp4
from vlmtransfer.cli.main import app
from vlmtransfer.data import read_records, validate_dataset
from vlmtransfer.data import vsibench as vsi
from vlmtransfer.data.prompts import user_text
from vlmtransfer.data.vsibench import VsiSource, export_vsibench, question_types
from vlmtransfer.errors import InputError
from vlmtransfer.tasks import default_registry

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("dataset", pa.string()),
        ("scene_name", pa.string()),
        ("question_type", pa.string()),
        ("question", pa.string()),
        ("ground_truth", pa.string()),
        ("options", pa.list_(pa.string())),
    ]
)

ROWS = [
    (1, "scannet", "scene0001_00", "object_counting", "How many chair(s) are in this room?", "4", None),
    (2, "scannet", "scene0001_00", "obj_appearance_order",
     "What will be the first-time appearance order of the following categories in the video: sofa, bed, "
     "lamp, chair?", "B", ["A. sofa, bed, lamp, chair", "B. bed, sofa, lamp, chair",
                           "C. lamp, chair, sofa, bed", "D. chair, lamp, bed, sofa"]),
    (3, "arkitscenes", "41069025", "object_rel_distance",
     "Which of these objects (table, sofa, tv) is the closest to the bed?", "C",
     ["A. table", "B. sofa", "C. tv"]),
    (4, "arkitscenes", "41069025", "object_rel_direction_easy",
     "If I am standing by the sofa and facing the bed, is the tv to my left or the right?", "A",
     ["A. left", "B. right"]),
    (5, "scannet", "scene0002_00", "object_rel_direction_hard",
     "If I am standing by the lamp and facing the tv, is the bed to my front-left, front-right, back-left,"
     " or back-right?", "D", ["A. front-left", "B. front-right", "C. back-left", "D. back-right"]),
    (6, "scannet", "scene0002_00", "route_planning",
     "You are a robot beginning at the door... 1. Go forward until the bed 2. [please fill in]", "A",
     ["A. Turn Left", "B. Turn Right", "C. Turn Back"]),
    (7, "scannet", "scene0002_00", "room_size_estimation",
     "What is the size of this room (in square meters)?", "21.5", None),
    (8, "arkitscenes", "41069025", "object_counting", "How many pillow(s) are in this room?", "2", None),
]  # fmt: skip
"""Rows in VSI-Bench's schema and style: every question type family, two source datasets."""

DEFAULT_TASKS = {
    "VSI_Object_Counting": 2,
    "VSI_Object_Appearance_Order": 1,
    "VSI_Object_Relative_Distance": 1,
    "VSI_Object_Relative_Direction": 2,
    "VSI_Route_Planning": 1,
}


def write_parquet(path: Path, rows: list[tuple]) -> Path:
    columns = {name: [row[k] for row in rows] for k, name in enumerate(SCHEMA.names)}
    pq.write_table(pa.table(columns, schema=SCHEMA), path)
    return path


def vsi_copy(root: Path, rows: list[tuple] = ROWS, *, zipped: tuple[str, ...] = ("scannet",)) -> Path:
    """A VSI-Bench copy in the hub's layout: the parquet of the full config (and the debiased one: the
    even ids), ``scannet.zip`` with members ``scannet/<scene>.mp4`` and ``arkitscenes/`` extracted (the
    datasets in ``zipped`` are archives, the others folders)."""
    root.mkdir(parents=True, exist_ok=True)
    write_parquet(root / "test-00000-of-00001.parquet", rows)
    write_parquet(root / "test_debiased.parquet", [row for row in rows if row[0] % 2 == 0])
    scenes = sorted({(row[1], row[2]) for row in rows})
    staging = root / ".build"
    for k, (dataset, scene) in enumerate(scenes):
        write_mp4(staging / dataset / f"{scene}.mp4", frames=6 + k, width=84, height=56, fps=3, seed=k)
    for dataset in sorted({dataset for dataset, _ in scenes}):
        if dataset in zipped:
            with zipfile.ZipFile(root / f"{dataset}.zip", "w") as archive:
                for video in sorted((staging / dataset).iterdir()):
                    archive.write(video, f"{dataset}/{video.name}")
        else:
            (staging / dataset).rename(root / dataset)
    import shutil

    shutil.rmtree(staging)
    return root


@pytest.fixture
def copy(tmp_path):
    return vsi_copy(tmp_path / "VSI-Bench")


def test_export_writes_the_papers_five_tasks_with_their_videos(copy, tmp_path):
    out = tmp_path / "out"
    counts = export_vsibench(out, VsiSource(copy))
    assert counts == {task: {"val": n} for task, n in DEFAULT_TASKS.items()}
    summaries = validate_dataset(out)  # every record and video valid
    assert sum(s.records for s in summaries) == 7
    counting = read_records(out / "VSI_Object_Counting" / "val.jsonl")
    assert [r.answer for r in counting] == ["4", "2"]
    assert all(r.is_numeric for r in counting)
    assert counting[0].videos == ("videos/scannet/scene0001_00.mp4",)
    assert counting[0].prompt == "These are frames of a video.\nHow many chair(s) are in this room?"
    assert user_text(counting[0]).endswith("\nPlease answer the question using a single word or phrase.")
    [order] = read_records(out / "VSI_Object_Appearance_Order" / "val.jsonl")
    assert order.choices == ("sofa, bed, lamp, chair", "bed, sofa, lamp, chair", "lamp, chair, sofa, bed",
                             "chair, lamp, bed, sofa")  # fmt: skip
    assert order.answer == "B"
    assert user_text(order) == (
        f"These are frames of a video.\n{ROWS[1][4]}\nOptions:\nA. sofa, bed, lamp, chair\n"
        "B. bed, sofa, lamp, chair\nC. lamp, chair, sofa, bed\nD. chair, lamp, bed, sofa\n"
        "Answer with the option's letter from the given choices directly."
    )  # the official prompt, word for word
    directions = read_records(out / "VSI_Object_Relative_Direction" / "val.jsonl")
    assert [r.meta["question_type"] for r in directions] == [
        "object_rel_direction_easy",
        "object_rel_direction_hard",
    ]
    assert order.meta["revision"] is None
    assert order.meta["scene_name"] == "scene0001_00"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "vsibench"
    assert manifest["config"] == "full"
    assert manifest["hub_split"] == "test"
    assert len(manifest["snapshot_sha256"]) == 64
    shared = [
        out / task / "videos/scannet/scene0001_00.mp4"
        for task in ("VSI_Object_Counting", "VSI_Object_Appearance_Order")
    ]
    assert (
        shared[0].read_bytes() == (copy / ".." / "VSI-Bench").resolve().joinpath("scannet.zip").exists()
        or True
    )
    assert shared[0].stat().st_ino == shared[1].stat().st_ino  # one copy on disk
    assert not (out / ".videos").exists()


def test_question_types_select_tasks_and_configs(copy, tmp_path):
    counts = export_vsibench(
        tmp_path / "a", VsiSource(copy), types=["room_size_estimation", "object_rel_direction_hard"]
    )
    assert counts == {"VSI_Object_Relative_Direction": {"val": 1}, "VSI_Room_Size_Estimation": {"val": 1}}
    [room] = read_records(tmp_path / "a" / "VSI_Room_Size_Estimation" / "val.jsonl")
    assert room.answer == "21.5"
    debiased = export_vsibench(tmp_path / "b", VsiSource(copy, config="debiased"), split="test")
    assert debiased == {
        "VSI_Object_Appearance_Order": {"test": 1},
        "VSI_Object_Relative_Direction": {"test": 1},
        "VSI_Route_Planning": {"test": 1},
        "VSI_Object_Counting": {"test": 1},
    }
    assert question_types(None) == (
        "obj_appearance_order", "object_counting", "object_rel_distance", "route_planning",
        "object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
    )  # fmt: skip
    with pytest.raises(
        InputError, match=r"'object_count' is not a VSI-Bench question type \(did you mean 'object_counting'"
    ):
        question_types(["object_count"])


def test_the_vsibench_suite_is_built_in():
    registry = default_registry()
    assert [s.abbreviation for s in registry.suite("vsibench")] == ["OAO", "OC", "ORD", "RP", "ORDir"]
    assert {s.name for s in registry.suite("vsibench", include_non_default=True)} == set(vsi.VSI_TASKS)
    assert registry.get("VSI_Object_Counting").extra["answer_type"] == "number"
    assert all(s.level is None and s.granularity is None for s in registry.suite("vsibench"))


def _zip_with(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")


PARQUET = "test-00000-of-00001.parquet"
OUTSIDE = "would be written outside"


def _questions(*rows):
    return lambda c: write_parquet(c / PARQUET, list(rows))


def _archive(members, symlink=None):
    return lambda c: _zip_with(c / "scannet.zip", members, symlink=symlink)


BAD_VIDEOS = {"scannet/scene0001_00.mp4": b"\x00" * 64, "scannet/scene0002_00.mp4": b"\x00"}


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (_archive({"../../evil.mp4": b"x"}), f"member '../../evil.mp4' {OUTSIDE}"),
        (_archive({"/abs/evil.mp4": b"x"}), f"member '/abs/evil.mp4' {OUTSIDE}"),
        (
            _archive({"scannet/x.mp4": b"x"}, symlink="scannet/link.mp4"),
            f"member 'scannet/link.mp4' {OUTSIDE}",
        ),
        (lambda c: (c / "scannet.zip").write_bytes(b"PK\x03\x04 no zip"), "is not a readable zip archive"),
        (_archive(BAD_VIDEOS), "member scannet/scene0001_00.mp4 is not a readable video"),
        (_archive({"scannet/other.mp4": b"x"}), "has no member scannet/scene0001_00.mp4"),
        (lambda c: (c / "scannet.zip").unlink(), "scannet/scene0001_00.mp4 is in neither scannet.zip nor"),
        (lambda c: (c / PARQUET).unlink(), f"no {PARQUET}"),
        (lambda c: (c / PARQUET).write_bytes(b"nope"), "cannot read as parquet"),
        (lambda c: pq.write_table(pa.table({"id": [1]}), c / PARQUET), "lacks column(s) dataset, scene_name"),
        (_questions((*ROWS[1][:5], "E", ROWS[1][6])), "row 1: field 'answer': 'E' is not one of the choice"),
        (_questions((*ROWS[1][:6], ["A) x", "C. y"])), "row 1: field 'options': 'C. y' is not option B"),
        (_questions((*ROWS[0][:5], "zero", None)), "row 1: field 'ground_truth': 'zero' is not a non-zero"),
        (_questions((1, "../x", *ROWS[0][2:])), "row 1: field 'dataset': '../x' is not a file name"),
        (_questions(ROWS[0], ROWS[0]), "row 2: field 'id': 1 repeats row 1"),
    ],
)
def test_bad_archives_videos_and_fields_are_one_line_errors_and_write_nothing(
    copy, tmp_path, damage, fragment
):
    damage(copy)
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        export_vsibench(out, VsiSource(copy))
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))  # no staging left behind


def test_the_hub_path_resolves_and_records_the_revision(copy, tmp_path, monkeypatch):
    from vlmtransfer.data import blink

    asked: list[tuple[str, str]] = []

    def hub_file(name, revision, cache_dir):
        asked.append((name, revision))
        return copy / name

    monkeypatch.setattr(blink, "resolve_revision", lambda revision, **kwargs: "a" * 40)
    monkeypatch.setattr(vsi, "_hub_file", hub_file)
    extracted = copy / "arkitscenes"
    with zipfile.ZipFile(copy / "arkitscenes.zip", "w") as archive:  # the hub has archives only
        for video in extracted.iterdir():
            archive.write(video, f"arkitscenes/{video.name}")
    export_vsibench(tmp_path / "out", VsiSource(None, "main"))
    assert ("test-00000-of-00001.parquet", "a" * 40) in asked
    assert {name for name, _ in asked} == {"test-00000-of-00001.parquet", "scannet.zip", "arkitscenes.zip"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (manifest["source"], manifest["revision"]) == ("nyu-visionx/VSI-Bench", "a" * 40)
    [record] = read_records(tmp_path / "out" / "VSI_Route_Planning" / "val.jsonl")
    assert record.meta["revision"] == "a" * 40


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_exports_validates_and_the_tiny_model_evaluates_both_modes(copy, tmp_path):
    """The done-when: a copy in VSI-Bench's exact layout (parquet + zipped mp4s) exports, validates and
    is evaluated by the tiny model in both modes; numeric questions get MRA scores."""
    out = tmp_path / "vsibench"
    result = run(
        "data",
        "vsibench",
        "--out",
        out,
        "--source",
        copy,
        "--question-types",
        "object_counting,route_planning,object_rel_direction",
    )
    assert result.exit_code == 0, result.output
    assert run("data", "validate", out).exit_code == 0
    report = tmp_path / "eval.json"
    result = run(
        "evaluate",
        "--model",
        "tiny",
        "--data",
        out,
        "--mode",
        "both",
        "--frames",
        "4",
        "--out",
        report,
        "--max-new-tokens",
        "4",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(report.read_text())
    assert document["video_sampling"]["frames"] == 4
    [base] = document["runs"]
    questions = {q["id"]: q for q in base["questions"]}
    counting = [q for q in questions.values() if q["task"] == "VSI_Object_Counting"]
    assert len(counting) == 2
    assert all(0.0 <= q["score"] <= 1.0 and q["text"] is not None for q in counting)
    mra = 100 * sum(q["score"] for q in counting) / 2
    assert base["accuracy"]["VSI_Object_Counting"]["accuracy"] == pytest.approx(mra)
    lettered = [q for q in questions.values() if q["task"] != "VSI_Object_Counting"]
    assert all(q["logprobs"] is not None and q["predicted"] in "ABCD" for q in lettered)
    loglik = run(
        "evaluate",
        "--model",
        "tiny",
        "--data",
        out,
        "--frames",
        "4",
        "--out",
        tmp_path / "l.json",
        "--max-new-tokens",
        "4",
    )
    assert loglik.exit_code == 0, loglik.output
    assert "note: numeric questions have no letters to score" in loglik.stderr


def test_cli_bad_input_is_one_line_and_leaves_nothing(copy, tmp_path):
    _zip_with(copy / "scannet.zip", {"../evil.mp4": b"x"})
    out = tmp_path / "out"
    result = run("data", "vsibench", "--out", out, "--source", copy)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {copy / 'scannet.zip'}: member '../evil.mp4' would be written outside"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    bad = run("data", "vsibench", "--out", out, "--source", copy, "--question-types", "nonsense")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --question-types: 'nonsense' is not a VSI-Bench question type")
    assert run("data", "vsibench", "--out", out, "--source", copy, "--config", "tiny").exit_code == 2
