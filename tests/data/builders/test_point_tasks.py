"""The builders that mark points (depth, reflectance, the three correspondences), each on a fixture in
its source's real format: the marker the answer names sits where the annotation says, in red."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.builders.conftest import (
    assert_balanced,
    build,
    image_of,
    marker,
    near,
    option,
    ring_is_red,
    save,
    textured,
)
from vlmtransfer.data.builders.functional_correspondence import is_held_out
from vlmtransfer.data.builders.geometry import apply_homography
from vlmtransfer.errors import InputError

# --- Relative_Depth: DIW ----------------------------------------------------------------------------


def _diw(root: Path) -> dict[str, tuple]:
    """Thumbs at half the annotated size (160 x 120 for 320 x 240), pairs of lines, all relations,
    and a test file whose photo must never be used. Returns {thumb name: (A, B, relation)}."""
    pairs = {
        "a.thumb": ((31, 41), (251, 201), "<"),
        "b.thumb": ((61, 21), (281, 221), ">"),
        "c.thumb": ((101, 101), (201, 61), ">"),
        "d.thumb": ((41, 181), (301, 41), "<"),
        "e.thumb": ((11, 11), (301, 231), "="),
        "f.thumb": ((151, 91), (21, 201), "<"),
    }
    lines = []
    for k, (name, ((xa, ya), (xb, yb), rel)) in enumerate(pairs.items()):
        save(textured(160, 120, k), root / "DIW_train_val" / name)
        lines += [f"./DIW_train_val/{name}", f"{ya},{xa},{yb},{xb},{rel},320,240"]
    (root / "DIW_Annotations").mkdir(parents=True)
    (root / "DIW_Annotations" / "DIW_train_val.csv").write_text("\n".join(lines) + "\n")
    save(textured(160, 120, 99), root / "DIW_test" / "t.thumb")
    (root / "DIW_Annotations" / "DIW_test.csv").write_text("./DIW_test/t.thumb\n11,11,101,101,<,320,240\n")
    return pairs


def test_depth_circles_the_closer_point_where_diw_says(tmp_path, out):
    pairs = _diw(tmp_path / "DIW")
    report, records = build("Relative_Depth", tmp_path / "DIW", out)
    assert report.built == 5
    assert report.excluded == {"equal depth (no such option in BLINK)": 1}
    assert_balanced(records, "AB")
    for record in records:
        assert record.meta["files"][0].startswith("DIW_train_val/")  # never the test photo
        (a, b, relation) = pairs[Path(record.meta["files"][0]).name]
        closer = a if relation == "<" else b  # DIW: "<" means depth(A) < depth(B)
        expected = ((closer[0] - 1) / 2, (closer[1] - 1) / 2)  # 1-based, thumb at half size
        named = marker(record.meta["markers"], record.answer)
        assert near((named["x"], named["y"]), expected)
        assert ring_is_red(image_of(out, record, 0), named)
        assert record.choices == ("A is closer", "B is closer")
        assert record.prompt.endswith("(A) A is closer\n(B) B is closer")


def test_depth_names_the_missing_annotation_file(tmp_path):
    (tmp_path / "DIW").mkdir()
    with pytest.raises(InputError, match=r"missing DIW_Annotations/DIW_train_val\.csv .*download"):
        build("Relative_Depth", tmp_path / "DIW", tmp_path / "out")


# --- Relative_Reflectance: IIW ----------------------------------------------------------------------


def _iiw(root: Path) -> dict[str, dict]:
    """Ten photos, ids 8..17, with judgements. Sorted as strings ("10" .. "17", "8", "9"), as the split's
    public code sorts them, the test photos are 10 and 15 (sorted as numbers, they would be 8 and 13)."""
    judgements = {}
    for k, photo in enumerate(range(8, 18)):
        save(textured(200, 150, k), root / "data" / f"{photo}.png")
        points = [
            {"id": 1, "x": 0.1 + 0.05 * (k % 3), "y": 0.2, "opaque": True},
            {"id": 2, "x": 0.8, "y": 0.75, "opaque": True},
            {"id": 3, "x": 0.5, "y": 0.5, "opaque": False},
        ]
        comparisons = [
            {"point1": 1, "point2": 2, "darker": "12E"[k % 3], "darker_score": 0.9},
            {"point1": 2, "point2": 1, "darker": "1", "darker_score": 0.3},  # not confident enough
            {"point1": 1, "point2": 3, "darker": "1", "darker_score": 0.95},  # transparent point
        ]
        document = {"intrinsic_points": points, "intrinsic_comparisons": comparisons}
        (root / "data" / f"{photo}.json").write_text(json.dumps(document))
        judgements[str(photo)] = document
    return judgements


def test_reflectance_marks_the_darker_point_and_keeps_iiw_test_photos_out(tmp_path, out):
    judgements = _iiw(tmp_path / "IIW")
    report, records = build("Relative_Reflectance", tmp_path / "IIW", out)
    assert report.excluded["IIW test photo (every fifth)"] == 2
    assert report.excluded["judgement confidence below 0.7"] == 8
    assert report.excluded["point on a transparent surface"] == 8
    assert {Path(r.meta["files"][0]).stem for r in records}.isdisjoint({"10", "15"})
    assert_balanced(records, "ABC")
    assert {r.answer for r in records} == {"A", "B", "C"}
    for record in records:
        document = judgements[Path(record.meta["files"][0]).stem]
        judgement = document["intrinsic_comparisons"][0]
        points = {p["id"]: (p["x"] * 200, p["y"] * 150) for p in document["intrinsic_points"]}
        assert record.answer == {"E": "C"}.get(judgement["darker"], record.answer)
        if judgement["darker"] != "E":
            darker = points[judgement[f"point{judgement['darker']}"]]
            named = marker(record.meta["markers"], record.answer)
            assert near((named["x"], named["y"]), darker)
        image = image_of(out, record, 0)
        assert all(ring_is_red(image, m) for m in record.meta["markers"])


# --- Visual_Correspondence: HPatches ----------------------------------------------------------------

H = np.array([[0.9, 0.05, 12.0], [-0.03, 0.92, 6.0], [0.0001, 0.0, 1.0]])


def _hpatches(root: Path) -> None:
    """Split "a": one train sequence and one test sequence (which must never be used)."""
    root.mkdir()
    (root / "splits.json").write_text(json.dumps({"a": {"train": ["v_train"], "test": ["v_test"]}}))
    for name, seed in (("v_train", 1), ("v_test", 2)):
        folder = root / "hpatches-sequences-release" / name
        first = textured(240, 180, seed)
        save(first, folder / "1.ppm", "PPM")
        inverse = np.linalg.inv(H)
        for k in range(2, 7):
            warped = first.transform(
                first.size, Image.Transform.PERSPECTIVE, tuple((inverse / inverse[2, 2]).ravel()[:8])
            )
            save(warped, folder / f"{k}.ppm", "PPM")
            (folder / f"H_1_{k}").write_text("\n".join(" ".join(f"{v:.8g}" for v in row) for row in H) + "\n")


def test_visual_correspondence_truth_is_the_homography_image_of_ref(tmp_path, out):
    _hpatches(tmp_path / "hp")
    report, records = build("Visual_Correspondence", tmp_path / "hp", out, n=12)
    assert report.built == 12
    assert_balanced(records, "ABCD")
    for record in records:
        assert record.meta["sequence"] == "v_train"
        ref = record.meta["ref"]
        (expected,) = apply_homography(H, [(ref["x"], ref["y"])])
        truth = option(record)
        assert near((truth["x"], truth["y"]), expected, tolerance=1.0)
        assert ring_is_red(image_of(out, record, 0), ref)
        assert ring_is_red(image_of(out, record, 1), truth)
        others = [option(record, letter) for letter in "ABCD" if letter != record.answer]
        assert all(not near((o["x"], o["y"]), expected, tolerance=10) for o in others)
        assert record.choices == ("Point A", "Point B", "Point C", "Point D")


def test_visual_correspondence_needs_splits_json(tmp_path):
    _hpatches(tmp_path / "hp")
    (tmp_path / "hp" / "splits.json").unlink()
    with pytest.raises(InputError, match=r"missing splits\.json"):
        build("Visual_Correspondence", tmp_path / "hp", tmp_path / "out")


# --- Semantic_Correspondence: SPair-71k -------------------------------------------------------------

KEYPOINTS = [[20, 30], [150, 40], [90, 120], [30, 140], [170, 150]]


def _spair(root: Path) -> None:
    base = root / "SPair-71k"
    for name, seed in (("2008_000001.jpg", 1), ("2008_000002.jpg", 2), ("2008_000003.jpg", 3)):
        save(textured(200, 170, seed), base / "JPEGImages" / "cat" / name)
    shifted = [[x + 7, y - 5] for x, y in KEYPOINTS]
    for split, pair, (src, trg) in (
        ("trn", "000001-2008_000001-2008_000002:cat", ("2008_000001.jpg", "2008_000002.jpg")),
        ("trn", "000002-2008_000002-2008_000001:cat", ("2008_000002.jpg", "2008_000001.jpg")),
        ("test", "000003-2008_000003-2008_000001:cat", ("2008_000003.jpg", "2008_000001.jpg")),
    ):
        annotation = {
            "src_imname": src,
            "trg_imname": trg,
            "category": "cat",
            "src_kps": KEYPOINTS,
            "trg_kps": shifted,
            "kps_ids": ["0", "3", "5", "7", "9"],
            "src_imsize": [200, 170, 3],
            "trg_imsize": [200, 170, 3],
        }
        path = base / "PairAnnotation" / split / f"{pair}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(annotation))


def test_semantic_correspondence_truth_is_the_same_keypoint(tmp_path, out):
    _spair(tmp_path / "spair")
    report, records = build("Semantic_Correspondence", tmp_path / "spair", out)
    assert report.built == 2  # the test pair is never read
    for record in records:
        k = ["0", "3", "5", "7", "9"].index(record.meta["keypoint"])
        ref, truth = record.meta["ref"], option(record)
        assert (ref["x"], ref["y"]) == tuple(KEYPOINTS[k])
        assert (truth["x"], truth["y"]) == (KEYPOINTS[k][0] + 7, KEYPOINTS[k][1] - 5)
        assert ring_is_red(image_of(out, record, 0), ref)
        assert ring_is_red(image_of(out, record, 1), truth)
        assert "2008_000003.jpg" not in " ".join(record.meta["files"])


# --- Functional_Correspondence: FunKPoint (labels.csv) ----------------------------------------------


def _funkpoint(root: Path) -> dict[str, dict]:
    """Three train images (cup, bottle, kettle) and one our split holds out (pan), one action, plus a
    row of another action; keypoint 5 is missing on every row. Returns {image_path: row}."""
    names = [f"images/n0{i:07d}/{i:04d}.jpg" for i in range(40)]
    train = [name for name in names if not is_held_out(name)][:3]
    held_out = next(name for name in names if is_held_out(name))
    header = ["p1_x", "p1_y", "p2_x", "p2_y", "p3_x", "p3_y", "p4_x", "p4_y", "p5_x", "p5_y"]
    header += ["difficulty", "image_path", "action", "wnid", "object_category"]
    rows = {}
    for k, (name, category) in enumerate(
        zip([*train, held_out], ("cup", "bottle", "kettle", "pan"), strict=True)
    ):
        save(textured(200, 160, k), root / name)
        points = [(0.1 + 0.01 * k, 0.125), (0.75, 0.15 + 0.01 * k), (0.45, 0.5), (0.125, 0.875)]
        rows[name] = {
            **{
                f"p{i + 1}_{a}": value
                for i, point in enumerate(points)
                for a, value in zip("xy", point, strict=True)
            },
            "p5_x": "",
            "p5_y": "",
            "difficulty": "easy",
            "image_path": name,
            "action": "Pour",
            "wnid": name.split("/")[1],
            "object_category": category,
        }
    lonely = {**rows[train[0]], "action": "Mash/Pound"}
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows([*rows.values(), lonely])
    return rows


def test_functional_correspondence_matches_the_keypoint_role_across_categories(tmp_path, out):
    rows = _funkpoint(tmp_path / "funk")
    report, records = build("Functional_Correspondence", tmp_path / "funk", out)
    assert report.built == 6  # 3 train images x 2 others; the held-out image and the lone action never appear
    for record in records:
        first, second = (rows[f] for f in record.meta["files"])
        assert first["object_category"] != second["object_category"]
        assert "pan" not in record.meta["categories"]
        k = record.meta["keypoint"]
        assert k != 4  # the missing fifth keypoint is never asked about
        ref, truth = record.meta["ref"], option(record)
        assert (ref["x"], ref["y"]) == pytest.approx(
            (first[f"p{k + 1}_x"] * 200, first[f"p{k + 1}_y"] * 160), abs=0.5
        )
        assert (truth["x"], truth["y"]) == pytest.approx(
            (second[f"p{k + 1}_x"] * 200, second[f"p{k + 1}_y"] * 160), abs=0.5
        )
        assert 'action "Pour"' in record.prompt
        assert ring_is_red(image_of(out, record, 1), truth)


def test_functional_correspondence_reads_a_bom_and_names_bad_rows(tmp_path, out):
    root = tmp_path / "funk"
    rows = _funkpoint(root)
    good = (root / "labels.csv").read_text()
    header, first, *rest = good.splitlines()
    (root / "labels.csv").write_text("\ufeff" + good)
    assert build("Functional_Correspondence", root, out)[0].built == 6

    def refused(lines, match):
        (root / "labels.csv").write_text("\n".join(lines) + "\n")
        with pytest.raises(InputError, match=match):
            build("Functional_Correspondence", root, tmp_path / "refused")

    p3_x = str(rows[first.split(",")[11]]["p3_x"])
    refused(
        [header, "", first.replace(p3_x, "4.5", 1), *rest],
        r"labels\.csv: line 3: column 'p3_x': '4.5' is not a number",
    )
    refused([header, first.replace(",Pour,", ",,"), *rest], r"labels\.csv: line 2: column 'action' is empty")
    refused([header, first, first, *rest], r"line 3: images/\S+ is listed twice for 'Pour'")
    refused([header], r"labels\.csv: no rows")
    refused(["image_path,action", "images/a.jpg,Pour"], r"labels\.csv: missing columns object_category, p1_x")


def test_depth_points_follow_a_downscaled_photo_in_jpeg(tmp_path, out):
    """The default path: large JPEG sources (decoded at reduced scale), capped at --max-side, JPEG out."""
    root = tmp_path / "DIW"
    save(textured(900, 600, 1), root / "DIW_train_val" / "big.thumb")
    save(textured(900, 600, 2), root / "DIW_train_val" / "big2.thumb")
    (root / "DIW_Annotations").mkdir()
    lines = [
        "./DIW_train_val/big.thumb",
        "301,451,101,801,<,900,600",
        "./DIW_train_val/big2.thumb",
        "501,101,51,51,>,900,600",
    ]
    (root / "DIW_Annotations" / "DIW_train_val.csv").write_text("\n".join(lines) + "\n")
    report, records = build("Relative_Depth", root, out, image_format="jpeg", max_side=300)
    assert report.built == 2
    for record in records:
        image = image_of(out, record, 0)
        assert image.size == (300, 200)
        expected = (150, 100) if "big.thumb" in record.meta["files"][0] else (16.7, 16.7)
        named = marker(record.meta["markers"], record.answer)
        assert near((named["x"], named["y"]), expected, tolerance=1.0)
        red, green, blue = image.getpixel((named["x"] + named["radius"] - 1, named["y"]))
        assert red > 170  # red, up to JPEG's rounding
        assert max(green, blue) < 90
