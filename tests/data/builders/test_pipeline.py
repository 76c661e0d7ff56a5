"""The pipeline around the builders: BLINK's prompts and the leakage guard from a local BLINK copy,
determinism, the --n cap, output directories that accumulate tasks, and the CLI."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from datasets import Dataset
from PIL import Image
from typer.testing import CliRunner

from tests.data.builders.conftest import build, save, textured
from tests.data.builders.test_point_tasks import _diw
from tests.data.test_blink import FEATURES
from vlmtransfer.cli.main import app
from vlmtransfer.data.builders import BUILDERS, KIND, BuildOptions, build_training_set
from vlmtransfer.data.builders.markers import draw_points
from vlmtransfer.errors import InputError

STEM = "Two points are circled on the image, labeled by A and B beside each circle. Which point is nearer?"


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _rows(split: str, images: list[bytes], prompt: str, choices: list[str], answer: str) -> dict[str, list]:
    rows: dict[str, list] = {name: [] for name in FEATURES}
    for k, data in enumerate(images, start=1):
        rows["idx"].append(f"{split}_{k}")
        rows["question"].append("Which point is nearer?")
        rows["sub_task"].append("")
        rows["image_1"].append({"bytes": data, "path": None})
        for column in ("image_2", "image_3", "image_4"):
            rows[column].append(None)
        rows["choices"].append(choices)
        rows["answer"].append(answer)
        rows["prompt"].append(prompt)
        rows["explanation"].append("")
    return rows


def _blink_copy(root: Path, diw: Path) -> None:
    """A BLINK copy in the hub's layout that holds three of the DIW fixture's photos: a.thumb marked with
    circles (Relative_Depth val), c.thumb (Relative_Depth test, answers hidden) and d.thumb halved and
    recompressed (Counting val: leakage across tasks counts too)."""

    def photo(name: str) -> Image.Image:
        with Image.open(diw / "DIW_train_val" / name) as handle:
            return handle.convert("RGB")

    marked = photo("a.thumb")
    draw_points(marked, [(20, 20, "A"), (120, 90, "B")])
    choices = ["A is closer", "B is closer"]
    prompt = f"{STEM}\nSelect from the following choices.\n(A) A is closer\n(B) B is closer"
    tables = {
        ("Relative_Depth", "val"): _rows("val", [_jpeg(marked)], prompt, choices, "(A)"),
        ("Relative_Depth", "test"): _rows("test", [_jpeg(photo("c.thumb"))], prompt, choices, ""),
        ("Counting", "val"): _rows(
            "val", [_jpeg(photo("d.thumb").resize((80, 60)))], "How many?", ["1", "2"], "(B)"
        ),
    }
    for (task, split), rows in tables.items():
        (root / task).mkdir(parents=True, exist_ok=True)
        Dataset.from_dict(rows, features=FEATURES).to_parquet(root / task / f"{split}-00000-of-00001.parquet")


def test_blink_copy_gives_the_prompt_stem_and_drops_near_duplicates(tmp_path, out):
    _diw(tmp_path / "DIW")
    _blink_copy(tmp_path / "BLINK", tmp_path / "DIW")
    report, records = build("Relative_Depth", tmp_path / "DIW", out, blink=tmp_path / "BLINK")
    assert report.blink_images == 3
    assert report.near_duplicates == 3  # a (marked, val), c (test split), d (another task, resized)
    assert sorted(Path(r.meta["files"][0]).name for r in records) == ["b.thumb", "f.thumb"]
    assert report.prompt_origin.startswith("BLINK val rows")
    for record in records:
        assert (
            record.prompt == f"{STEM}\nSelect from the following choices.\n(A) A is closer\n(B) B is closer"
        )
    build_json = json.loads((out / "Relative_Depth" / "build.json").read_text())
    assert build_json["leakage_guard"]["dropped"] == 3
    assert build_json["prompt"]["template"].startswith(STEM)


def test_without_blink_rows_for_the_task_the_registry_prompt_is_kept(tmp_path, out):
    _diw(tmp_path / "DIW")
    _blink_copy(tmp_path / "BLINK", tmp_path / "DIW")
    shutil.rmtree(tmp_path / "BLINK" / "Relative_Depth")
    report = build_training_set(
        "Relative_Depth", tmp_path / "DIW", out, BuildOptions(blink=tmp_path / "BLINK")
    )
    assert report.prompt_origin == "registry"
    assert "no Relative_Depth val rows" in report.warnings[0]
    assert report.near_duplicates == 1  # d.thumb, in Counting


def test_same_seed_same_bytes_and_n_caps(tmp_path):
    _diw(tmp_path / "DIW")
    first = build_training_set("Relative_Depth", tmp_path / "DIW", tmp_path / "one", BuildOptions(seed=3))
    build_training_set("Relative_Depth", tmp_path / "DIW", tmp_path / "two", BuildOptions(seed=3))
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    for relative in files:
        if relative.name not in ("build.json", "manifest.json"):  # these record paths and timings
            assert (tmp_path / "one" / relative).read_bytes() == (tmp_path / "two" / relative).read_bytes()
    other = build_training_set("Relative_Depth", tmp_path / "DIW", tmp_path / "three", BuildOptions(seed=4))
    one, three = ((tmp_path / d / "Relative_Depth" / "train.jsonl").read_text() for d in ("one", "three"))
    assert first.built == other.built == 5
    assert one != three
    capped = build_training_set("Relative_Depth", tmp_path / "DIW", tmp_path / "four", BuildOptions(n=2))
    assert capped.built == 2
    assert sorted(capped.answers.values()) == [1, 1]


def test_tasks_accumulate_in_one_output_directory(tmp_path, out):
    _diw(tmp_path / "DIW")
    root = tmp_path / "photos"
    for k in range(3):
        save(textured(96, 64, k), root / f"p{k}.png")
    build("Relative_Depth", tmp_path / "DIW", out)
    build("Jigsaw", root, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == KIND
    assert manifest["tasks"] == {"Jigsaw": {"train": 3}, "Relative_Depth": {"train": 5}}
    assert set(manifest["builds"]) == {"Jigsaw", "Relative_Depth"}
    build("Relative_Depth", tmp_path / "DIW", out, n=2)  # a rebuild replaces that task only
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tasks"] == {"Jigsaw": {"train": 3}, "Relative_Depth": {"train": 2}}
    assert len((out / "Relative_Depth" / "train.jsonl").read_text().splitlines()) == 2
    with pytest.raises(InputError, match="directory not found"):  # a failed build changes nothing
        build_training_set("Jigsaw", tmp_path / "nowhere", out)
    assert json.loads((out / "manifest.json").read_text())["tasks"]["Jigsaw"] == {"train": 3}


def test_output_directories_of_others_are_refused(tmp_path):
    _diw(tmp_path / "DIW")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="already holds other files"):
        build_training_set("Relative_Depth", tmp_path / "DIW", foreign)
    exported = tmp_path / "blink-val"
    exported.mkdir()
    (exported / "manifest.json").write_text(json.dumps({"kind": "blink", "tasks": {}}))
    with pytest.raises(InputError, match="holds a 'blink' dataset"):
        build_training_set("Relative_Depth", tmp_path / "DIW", exported)
    assert (foreign / "notes.txt").read_text() == "mine"
    assert not (foreign / "Relative_Depth").exists()


def test_a_source_whose_images_are_all_missing_says_which(tmp_path):
    _diw(tmp_path / "DIW")
    for path in (tmp_path / "DIW" / "DIW_train_val").iterdir():
        path.unlink()
    with pytest.raises(
        InputError, match=r"no question could be built \(image file missing: 5 \(first: .*\.thumb\)"
    ):
        build_training_set("Relative_Depth", tmp_path / "DIW", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("task", "fragment"),
    [("Relative_Dept", "did you mean 'Relative_Depth'"), ("IQ_Test", "IQ_Test has no training source")],
)
def test_unknown_tasks_are_named(tmp_path, task, fragment):
    with pytest.raises(InputError, match=fragment):
        build_training_set(task, tmp_path, tmp_path / "out")


# --- CLI --------------------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_builds_and_summarises(tmp_path):
    _diw(tmp_path / "DIW")
    out = tmp_path / "out"
    result = run(
        "data", "build", "Relative_Depth", "--source", tmp_path / "DIW", "--out", out, "--n", 4, "--seed", 1
    )
    assert result.exit_code == 0, result.stderr
    assert "4 questions" in result.stdout
    assert "A:2 B:2" in result.stdout
    assert "left out: equal depth" in result.stdout
    assert run("data", "validate", out).exit_code == 0
    assert sorted(p.suffix for p in (out / "Relative_Depth" / "images").iterdir()) == [".jpg"] * 4


def test_cli_builds_from_relative_paths(tmp_path, monkeypatch):
    _diw(tmp_path / "DIW")
    monkeypatch.chdir(tmp_path)
    result = run("data", "build", "Relative_Depth", "--source", "DIW", "--out", "out", "--n", 4, "--seed", 1)
    assert result.exit_code == 0, result.stderr
    assert run("data", "validate", "out").exit_code == 0


def test_cli_reports_bad_input_in_one_line(tmp_path):
    missing = run("data", "build", "Relative_Depth", "--source", tmp_path / "none", "--out", tmp_path / "o")
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'none'}: directory not found"
    (tmp_path / "DIW").mkdir()
    incomplete = run("data", "build", "Relative_Depth", "--source", tmp_path / "DIW", "--out", tmp_path / "o")
    assert incomplete.exit_code == 2
    assert "missing DIW_Annotations/DIW_train_val.csv" in incomplete.stderr
    assert len(incomplete.stderr.strip().splitlines()) == 1
    bad = run(
        "data",
        "build",
        "Relative_Depth",
        "--source",
        tmp_path / "DIW",
        "--out",
        tmp_path / "o",
        "--image-format",
        "gif",
    )
    assert bad.exit_code == 2
    assert "--image-format" in bad.stderr


def test_cli_sources_lists_every_builder():
    result = run("data", "sources")
    assert result.exit_code == 0
    for task, builder in BUILDERS.items():
        assert task in result.stdout
        assert builder.source.dataset in result.stdout
