"""The BLINK loader on a local snapshot with BLINK's exact parquet schema, through the real code path."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from datasets import Dataset, Features, Image, List, Value
from PIL import Image as PILImage

from vlmtransfer.data import read_records, validate_dataset
from vlmtransfer.data.blink import BlinkSource, export_blink, load_blink, resolve_revision
from vlmtransfer.errors import InputError

FEATURES = Features(
    {
        "idx": Value("string"),
        "question": Value("string"),
        "sub_task": Value("string"),
        "image_1": Image(),
        "image_2": Image(),
        "image_3": Image(),
        "image_4": Image(),
        "choices": List(Value("string")),
        "answer": Value("string"),
        "prompt": Value("string"),
        "explanation": Value("string"),
    }
)


def _jpeg(colour: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (24, 16), colour).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _png(colour: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (10, 10), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _rows(task: str, split: str, n_images: int, answers: list[str]) -> dict[str, list]:
    rows: dict[str, list] = {name: [] for name in FEATURES}
    for i, answer in enumerate(answers, start=1):
        images = [
            {"bytes": _jpeg("red"), "path": None},
            {"bytes": _png("blue"), "path": None},
            {"bytes": _jpeg("green"), "path": None},
        ]
        rows["idx"].append(f"{split}_{task}_{i}")
        rows["question"].append(f"Question {i}?")
        rows["sub_task"].append(task.replace("_", " "))
        for k in range(4):
            rows[f"image_{k + 1}"].append(images[k] if k < n_images else None)
        rows["choices"].append(["first", "second"])
        rows["answer"].append(answer)
        rows["prompt"].append(f"Question {i}?\nSelect from the following choices.\n(A) first\n(B) second")
        rows["explanation"].append("")
    return rows


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A local BLINK snapshot: Jigsaw (3 images) and Counting (1 image), val and hidden-answer test."""
    root = tmp_path / "BLINK"
    for task, n_images in (("Jigsaw", 3), ("Counting", 1)):
        (root / task).mkdir(parents=True)
        val = Dataset.from_dict(_rows(task, "val", n_images, ["(A)", "(B)", "(B)"]), features=FEATURES)
        val.to_parquet(root / task / "val-00000-of-00001.parquet")
        test = Dataset.from_dict(_rows(task, "test", n_images, ["", ""]), features=FEATURES)
        test.to_parquet(root / task / "test-00000-of-00001.parquet")
    return root


def _source(snapshot: Path) -> BlinkSource:
    return BlinkSource(local_dir=snapshot, cache_dir=str(snapshot.parent / "hf-cache"))


def test_rows_become_records_with_original_image_bytes(snapshot):
    items = list(load_blink("Jigsaw", "val", _source(snapshot)))
    assert [record.id for record, _ in items] == ["val_Jigsaw_1", "val_Jigsaw_2", "val_Jigsaw_3"]
    record, images = items[1]
    assert record.answer == "B"
    assert record.prompt == "Question 2?\nSelect from the following choices.\n(A) first\n(B) second"
    assert record.images == (
        "images/val_Jigsaw_2_1.jpg",
        "images/val_Jigsaw_2_2.png",
        "images/val_Jigsaw_2_3.jpg",
    )
    assert images == [_jpeg("red"), _png("blue"), _jpeg("green")]  # in order, not re-encoded
    assert record.meta["sub_task"] == "Jigsaw"
    assert record.meta["question"] == "Question 2?"


def test_none_images_are_skipped(snapshot):
    record, images = next(load_blink("Counting", "val", _source(snapshot)))
    assert record.images == ("images/val_Counting_1_1.jpg",)
    assert len(images) == 1


def test_export_writes_a_valid_dataset_with_provenance(snapshot, tmp_path):
    out = tmp_path / "blink-mcq"
    counts = export_blink(out, ["Jigsaw", "Counting"], "val", _source(snapshot))
    assert counts == {"Jigsaw": {"val": 3}, "Counting": {"val": 3}}
    assert [s.records for s in validate_dataset(out)] == [3, 3]
    manifest = json.loads((out / "manifest.json").read_text())
    parquet = snapshot / "Jigsaw" / "val-00000-of-00001.parquet"
    assert manifest["kind"] == "blink"
    assert manifest["tasks"] == {"Jigsaw": {"val": 3}, "Counting": {"val": 3}}
    record = read_records(out / "Jigsaw" / "val.jsonl")[0]
    assert record.meta["sha256"] == [hashlib.sha256(parquet.read_bytes()).hexdigest()]
    assert (out / "Jigsaw" / record.images[1]).read_bytes() == _png("blue")


def test_hidden_test_answers_are_a_clear_error_and_leave_nothing(snapshot, tmp_path):
    out = tmp_path / "blink-test"
    with pytest.raises(InputError, match=r"answer .. is not a choice letter.*use the val split"):
        export_blink(out, ["Jigsaw"], "test", _source(snapshot))
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_task_in_snapshot_names_the_expected_file(snapshot):
    with pytest.raises(InputError, match="no val parquet for task 'Art_Style'"):
        list(load_blink("Art_Style", "val", _source(snapshot)))


def test_hub_revision_resolution_fails_clearly_offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert resolve_revision("0" * 40) == "0" * 40  # a commit needs no hub
    with pytest.raises(InputError, match="cannot resolve revision 'main'"):
        resolve_revision("main")


@pytest.mark.parametrize(
    ("task", "split", "fragment"),
    [
        ("../evil", "val", "'../evil' is not a BLINK task"),
        ("Countng", "val", "did you mean 'Counting'"),
        ("Counting", "../x/val", "is not a split name"),
        ("Counting", "val*", "is not a split name"),
    ],
)
def test_task_and_split_names_are_checked_before_anything_is_read(snapshot, tmp_path, task, split, fragment):
    out = tmp_path / "out"
    with pytest.raises(InputError) as excinfo:
        export_blink(out, [task], split, _source(snapshot))
    assert fragment in str(excinfo.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BLINK"]


def _write_task(root: Path, task: str, rows: dict[str, list], features: Features = FEATURES) -> None:
    (root / task).mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(root / task / "val-00000-of-00001.parquet")


def test_bad_snapshots_are_input_errors(tmp_path):
    root = tmp_path / "BLINK"
    duplicate = _rows("Counting", "val", 1, ["(A)", "(B)"])
    duplicate["idx"] = ["val_Counting_1", "val_Counting_1"]
    _write_task(root, "Counting", duplicate)
    no_answer = {k: v for k, v in _rows("Jigsaw", "val", 1, ["(A)"]).items() if k != "answer"}
    _write_task(root, "Jigsaw", no_answer, Features({k: v for k, v in FEATURES.items() if k != "answer"}))
    broken_image = _rows("Art_Style", "val", 1, ["(A)"])
    broken_image["image_1"] = [{"bytes": b"not an image", "path": None}]
    _write_task(root, "Art_Style", broken_image)
    (root / "Spatial_Relation").mkdir()
    (root / "Spatial_Relation" / "val-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    source = BlinkSource(local_dir=root, cache_dir=str(tmp_path / "cache"))
    cases = {
        "Counting": "idx 'val_Counting_1' appears twice",
        "Jigsaw": "Jigsaw/val lacks column(s) answer",
        "Art_Style": "row val_Art_Style_1: image_1 is not a readable image",
        "Spatial_Relation": "cannot load Spatial_Relation/val",
    }
    for task, fragment in cases.items():
        with pytest.raises(InputError) as excinfo:
            export_blink(tmp_path / "out", [task], "val", source)
        assert fragment in str(excinfo.value), task
        assert not (tmp_path / "out").exists()
