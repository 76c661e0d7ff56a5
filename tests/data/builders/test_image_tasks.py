"""The builders of image- and box-level tasks, each on a fixture in its source's real format: the option
the answer names is the one the annotation makes correct, and nothing comes from a test split."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageOps

from tests.data.builders.conftest import assert_balanced, build, image_of, save, textured
from vlmtransfer.data.builders.geometry import box_iou
from vlmtransfer.data.builders.markers import MARKER_RED
from vlmtransfer.data.builders.spatial_relation import caption_to_question
from vlmtransfer.data.records import LETTERS
from vlmtransfer.errors import InputError


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


# --- Counting: TallyQA ------------------------------------------------------------------------------


def test_counting_options_hold_the_true_count_at_the_answer(tmp_path, out):
    root = tmp_path / "tally"
    questions = []
    for k, count in enumerate([0, 1, 2, 3, 5, 7, 12, 4]):
        image = f"train2014/COCO_train2014_{k:012d}.jpg"
        save(textured(120, 90, k), root / image)
        questions.append(
            {
                "image": image,
                "question": f"How many  dogs are there {k}?",
                "answer": count,
                "issimple": True,
                "data_source": "amt",
                "image_id": k,
                "question_id": 100 + k,
            }
        )
    (root / "train.json").write_text(json.dumps(questions))
    (root / "test.json").write_text(json.dumps([{**questions[0], "question": "TEST QUESTION?"}]))
    report, records = build("Counting", root, out)
    assert report.built == 8
    assert_balanced(records, "ABCD")
    for record in records:
        count = record.meta["count"]
        assert record.choices[LETTERS.index(record.answer)] == str(count)
        values = sorted(int(c) for c in record.choices)
        assert values == list(range(values[0], values[0] + 4))
        assert values[0] >= 0
        k = int(Path(record.meta["files"][0]).stem.rsplit("_", 1)[1])
        assert record.prompt.startswith(f"How many dogs are there {k}?\n")  # whitespace normalised
        assert "\nSelect from the following choices.\n(A) " in record.prompt
        assert "TEST" not in record.prompt


# --- Spatial_Relation: VSR --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caption", "question"),
    [
        ("The car is beneath the cat.", "Is the car beneath the cat?"),
        ("The cat is at the edge of the dining table.", "Is the cat at the edge of the dining table?"),
        ("The suitcase contains the cat.", "Does the suitcase contain the cat?"),
        ("The person touches the dog.", "Does the person touch the dog?"),
        ("The bowl has as a part the handle.", "Does the bowl have as a part the handle?"),
        ("A cat near a dog", None),
    ],
)
def test_captions_become_blink_questions(caption, question):
    assert caption_to_question(caption) == question


def test_spatial_relation_answers_yes_iff_the_caption_is_true_balanced(tmp_path, out):
    root = tmp_path / "vsr"
    lines = []
    for k in range(7):  # five true captions, two false: balancing keeps 3 + 2
        image = f"{k:012d}.jpg"
        save(textured(100, 80, k), root / "images" / image)
        lines.append(
            json.dumps(
                {
                    "image": image,
                    "image_link": f"http://images.cocodataset.org/train2017/{image}",
                    "caption": f"The cat {k} is under the table.",
                    "label": int(k < 5),
                    "relation": "under",
                    "annotator_id": 1,
                }
            )
        )
    (root / "splits" / "random").mkdir(parents=True)
    (root / "splits" / "random" / "train.jsonl").write_text("\n".join(lines) + "\n")
    (root / "splits" / "random" / "test.jsonl").write_text(lines[0].replace("cat 0", "TEST") + "\n")
    report, records = build("Spatial_Relation", root, out)
    assert report.built == 5
    assert report.skipped["answer balance"] == 2
    assert sorted(r.answer for r in records) == ["A", "A", "A", "B", "B"]
    for record in records:
        assert record.answer == ("A" if record.meta["label"] == 1 else "B")
        k = record.meta["caption"].split()[2]
        assert (
            record.prompt
            == f"Is the cat {k} under the table?\nSelect from the following choices.\n(A) yes\n(B) no"
        )


# --- Jigsaw -----------------------------------------------------------------------------------------


def test_jigsaw_blacks_out_the_lower_right_quadrant_and_offers_it(tmp_path, out):
    root = tmp_path / "photos"
    photos = {f"p{k}.png": save(textured(96, 64, k), root / "sub" / f"p{k}.png") for k in range(4)}
    report, records = build("Jigsaw", root, out)
    assert report.built == 4
    assert_balanced(records, "AB")
    for record in records:
        with Image.open(root / record.meta["files"][0]) as handle:
            original = handle.convert("RGB")
        masked, truth = image_of(out, record, 0), image_of(out, record, 1 + LETTERS.index(record.answer))
        decoy = image_of(out, record, 2 - LETTERS.index(record.answer))
        assert np.asarray(masked)[32:, 48:].max() == 0
        assert same_pixels(masked.crop((0, 0, 96, 32)), original.crop((0, 0, 96, 32)))
        assert same_pixels(truth, original.crop((48, 32, 96, 64)))
        assert not same_pixels(decoy, truth)
    assert len(photos) == 4


# --- Visual_Similarity: NIGHTS ----------------------------------------------------------------------


def test_similarity_offers_the_image_humans_judged_closer(tmp_path, out):
    root = tmp_path / "nights"
    rows = ["id,left_vote,right_vote,votes,ref_path,left_path,right_path,split,is_imagenet,prompt"]
    for k, (split, right_closer, votes) in enumerate(
        [("train", 1, 6), ("train", 0, 7), ("train", 1, 8), ("train", 0, 6), ("train", 1, 4), ("test", 1, 8)]
    ):
        for name, seed in (
            (f"ref/000/{k:03d}.png", 3 * k),
            (f"distort/000/{k:03d}_0.png", 3 * k + 1),
            (f"distort/000/{k:03d}_1.png", 3 * k + 2),
        ):
            save(textured(64, 64, seed), root / "nights" / name)
        rows.append(
            f"{k},{1 - right_closer},{right_closer},{votes},ref/000/{k:03d}.png,distort/000/{k:03d}_0.png,"
            f"distort/000/{k:03d}_1.png,{split},True,a photo"
        )
    (root / "nights" / "data.csv").write_text("\n".join(rows) + "\n")
    report, records = build("Visual_Similarity", root, out)
    assert report.built == 4
    assert report.excluded == {"fewer than 6 agreeing votes": 1, "test split": 1}
    for record in records:
        k = int(Path(record.meta["files"][0]).stem)
        right_closer = k in (0, 2)
        closer = root / "nights" / f"distort/000/{k:03d}_{int(right_closer)}.png"
        with Image.open(closer) as handle:
            assert same_pixels(image_of(out, record, 1 + LETTERS.index(record.answer)), handle)


# --- Art_Style: WikiArt -----------------------------------------------------------------------------


def test_art_style_candidate_at_the_answer_shares_the_reference_style(tmp_path, out):
    root = tmp_path / "wa"
    train, val = [], []
    for style, index in (("Impressionism", 12), ("Cubism", 7), ("Baroque", 4)):
        for k in range(3):
            name = f"{style}/artist{k}_painting-{k}.jpg"
            save(textured(80, 60, hash((style, k)) % 1000), root / "wikiart" / name)
            train.append(f"{name},{index}")
        val.append(f"{style}/artist9_held-out.jpg,{index}")
    (root / "wikiart_csv").mkdir()
    (root / "wikiart_csv" / "style_train.csv").write_text("\n".join(train) + "\n")
    (root / "wikiart_csv" / "style_val.csv").write_text("\n".join(val) + "\n")
    report, records = build("Art_Style", root, out)
    assert report.built == 6
    assert report.excluded == {"style not in BLINK's five": 3}
    for record in records:
        styles = [Path(f).parent.name for f in record.meta["files"]]
        match = 1 + LETTERS.index(record.answer)
        assert styles[match] == styles[0] == record.meta["style"]
        assert styles[3 - match] != styles[0]
        assert "Baroque" not in styles
        assert record.meta["files"][match] != record.meta["files"][0]
        assert "held-out" not in " ".join(record.meta["files"])


# --- Object_Localization: LVIS ----------------------------------------------------------------------


def test_localization_true_box_is_the_annotated_one(tmp_path, out):
    root = tmp_path / "lvis"
    images, annotations = [], []
    for k in range(4):
        save(textured(200, 150, k), root / "train2017" / f"{k:012d}.jpg")
        images.append(
            {
                "id": k,
                "coco_url": f"http://images.cocodataset.org/train2017/{k:012d}.jpg",
                "width": 200,
                "height": 150,
                "not_exhaustive_category_ids": [3] if k == 0 else [],
            }
        )
        annotations.append({"id": 10 + k, "image_id": k, "category_id": 1, "bbox": [30 + 5 * k, 20, 90, 80]})
    annotations += [
        {"id": 20, "image_id": 1, "category_id": 2, "bbox": [10, 10, 50, 40]},  # two of category 2 in photo 1
        {"id": 21, "image_id": 1, "category_id": 2, "bbox": [100, 60, 50, 40]},
        {"id": 22, "image_id": 2, "category_id": 2, "bbox": [0, 0, 5, 5]},  # too small
        {"id": 23, "image_id": 0, "category_id": 3, "bbox": [10, 10, 80, 80]},  # not exhaustively annotated
    ]
    categories = [
        {"id": 1, "name": "tank_top_(clothing)"},
        {"id": 2, "name": "cup"},
        {"id": 3, "name": "dog"},
    ]
    (root / "lvis_v1_train.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    report, records = build("Object_Localization", root, out)
    assert report.built == 4
    assert sum(report.excluded.values()) == 4
    assert_balanced(records, "AB")
    for record in records:
        k = int(Path(record.meta["files"][0]).stem)
        truth = [30 + 5 * k, 20, 30 + 5 * k + 90, 100]
        boxes = {b["label"]: b for b in record.meta["boxes"]}
        assert boxes[record.answer]["box"] == truth
        wrong = boxes["B" if record.answer == "A" else "A"]["box"]
        assert 0.3 <= box_iou(truth, wrong) <= 0.6
        image = image_of(out, record, 0)
        assert image.getpixel((truth[0], (truth[1] + truth[3]) // 2)) == MARKER_RED
        assert (
            "encloses the tank top (clothing)? Select from the following options.\n(A) Box A\n(B) Box B"
            in record.prompt
        )


# --- Multi-view_Reasoning: CO3D ---------------------------------------------------------------------


def _look_at(centre: np.ndarray) -> tuple[list, list]:
    """A PyTorch3D camera at ``centre`` looking at the origin, +Y up: R's columns are the camera's x
    (left), y (up), z (forward) axes in world coordinates; T = -R^T C."""
    forward = -centre / np.linalg.norm(centre)
    left = np.cross([0.0, 1.0, 0.0], forward)
    left /= np.linalg.norm(left)
    up = np.cross(forward, left)
    rotation = np.stack([left, up, forward], axis=1)
    return rotation.tolist(), (-rotation.T @ centre).tolist()


def test_multiview_answer_follows_the_camera_orbit(tmp_path, out):
    """Cameras on a circle around the object, angle growing with the frame number: seen from each
    camera (facing the object, +Y up), a growing angle moves it to its own left (sin, 0, -cos)."""
    root = tmp_path / "co3d"
    angles, frames = {}, []
    for sequence in ("seq_train", "seq_test"):
        for f in range(1, 25):
            theta = math.radians(10 * f)
            path = f"teddybear/{sequence}/images/frame{f:06d}.jpg"
            save(textured(64, 48, f), root / path)
            rotation, translation = _look_at(np.array([3 * math.sin(theta), 0.5, -3 * math.cos(theta)]))
            frames.append(
                {
                    "sequence_name": sequence,
                    "frame_number": f,
                    "image": {"path": path, "size": [48, 64]},
                    "viewpoint": {"R": rotation, "T": translation, "focal_length": [1, 1]},
                }
            )
            angles[path] = theta
    with gzip.open(root / "teddybear" / "frame_annotations.jgz", "wt") as handle:
        json.dump(frames, handle)
    (root / "teddybear" / "set_lists").mkdir()
    (root / "teddybear" / "set_lists" / "set_lists_fewview_train.json").write_text(
        json.dumps({"train": [["seq_train", 1, "x"]], "val": [], "test": [["seq_test", 1, "y"]]})
    )
    report, records = build("Multi-view_Reasoning", root, out)
    assert report.built == 2  # max two questions per sequence
    assert_balanced(records, "AB")
    for record in records:
        start, end = record.meta["frames"]
        assert "seq_train" in start
        assert "seq_train" in end
        moved_left = angles[end] > angles[start]
        assert record.choices[LETTERS.index(record.answer)] == ("left" if moved_left else "right")
        assert 15 <= abs(math.degrees(angles[end] - angles[start])) <= 60


# --- Forensic_Detection -----------------------------------------------------------------------------


def test_forensics_puts_the_real_photo_at_the_answer(tmp_path, out):
    root = tmp_path / "forensic"
    for k in range(4):
        save(textured(120, 80, k), root / "real" / "cats" / f"r{k}.jpg")
        save(textured(64, 64, 50 + k), root / "fake" / "cats" / f"f{k}.png")
    report, records = build("Forensic_Detection", root, out)
    assert report.built == 4
    assert_balanced(records, "ABCD")
    for record in records:
        position = LETTERS.index(record.answer)
        files = record.meta["files"]
        assert files[position].startswith("real/")
        assert all(f.startswith("fake/") for i, f in enumerate(files) if i != position)
        with Image.open(root / files[position]) as handle:
            expected = ImageOps.fit(handle.convert("RGB"), (64, 64), Image.Resampling.LANCZOS)
        assert same_pixels(image_of(out, record, position), expected)
        assert {image_of(out, record, i).size for i in range(4)} == {(64, 64)}


def test_forensics_names_the_missing_folder(tmp_path):
    (tmp_path / "f" / "real").mkdir(parents=True)
    with pytest.raises(InputError, match=r"missing fake \(or generated, 1_fake\)"):
        build("Forensic_Detection", tmp_path / "f", tmp_path / "out")
