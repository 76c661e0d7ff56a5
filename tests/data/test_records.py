"""MCQ records and dataset directories: round trips, and validation errors that name file, line and field."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vlmtransfer.cli.main import app
from vlmtransfer.data import (
    MANIFEST,
    MCQRecord,
    image_bytes,
    load_split,
    read_records,
    validate_dataset,
    write_manifest,
    write_split,
)
from vlmtransfer.data.prompts import (
    ANSWER_INSTRUCTION,
    BLINK_DISCLAIMER,
    answer_target,
    build_messages,
    format_question,
    render_prompt,
)
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import staged_directory

GOOD = {
    "id": "q1",
    "task": "T",
    "images": ["images/q1_0.png"],
    "prompt": "Which?\nSelect from the following choices.\n(A) x\n(B) y",
    "choices": ["x", "y"],
    "answer": "B",
    "meta": {"k": 1},
}


def _dataset(tmp_path: Path, lines: list[object], image_ok: bool = True) -> Path:
    task_dir = tmp_path / "ds" / "T"
    (task_dir / "images").mkdir(parents=True)
    data = image_bytes(Image.new("RGB", (8, 8), "red")) if image_ok else b"not an image"
    (task_dir / "images" / "q1_0.png").write_bytes(data)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (task_dir / "val.jsonl").write_text(text + "\n")
    return task_dir / "val.jsonl"


def test_write_then_read_round_trips(tmp_path):
    record = MCQRecord("q1", "T", ("images/q1_0.png",), GOOD["prompt"], ("x", "y"), "B", {"k": 1})
    out = tmp_path / "ds"
    with staged_directory(out, MANIFEST) as staging:
        write_split(staging, "T", "val", [(record, [image_bytes(Image.new("RGB", (8, 8)))])])
        write_manifest(staging, "test", {"T": {"val": 1}}, seed=3)
    (loaded,) = read_records(out / "T" / "val.jsonl")
    assert loaded == record
    assert loaded.meta == {"k": 1}
    assert loaded.answer_index == 1
    assert loaded.letters == "AB"
    assert json.loads((out / MANIFEST).read_text())["seed"] == 3
    (summary,) = validate_dataset(out)
    assert (summary.records, summary.tasks, dict(summary.answers)) == (1, ("T",), {"B": 1})


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        ([{**GOOD, "answer": "C"}], "line 1: field 'answer': 'C' is not one of the choice letters A, B"),
        ([{**GOOD, "choices": ["only"]}], "line 1: field 'choices': must be a list of 2 to 5 strings"),
        ([{**GOOD, "images": []}], "line 1: field 'images': must be a non-empty list"),
        (
            [{**GOOD, "images": ["../escape.png"]}],
            "field 'images': must be a non-empty list of relative paths",
        ),
        ([{**GOOD, "images": ["/abs.png"]}], "field 'images'"),
        (
            [{**GOOD, "images": ["images/missing.png"]}],
            "line 1: field 'images'[0]: 'images/missing.png' does not exist",
        ),
        ([{**GOOD, "id": ""}], "field 'id': must be a non-empty string"),
        ([{**GOOD, "meta": []}], "field 'meta': must be an object"),
        ([{k: v for k, v in GOOD.items() if k != "prompt"}], "line 1: missing field 'prompt'"),
        ([{**GOOD, "choises": ["x", "y"]}], "unknown field 'choises' (did you mean 'choices'?)"),
        ([GOOD, "", {**GOOD}], "line 3: field 'id': 'q1' duplicates line 1"),
        ([GOOD, "{not json"], "line 2: not valid JSON"),
        (["[1, 2]"], "line 1: a record must be a JSON object"),
        ([""], "holds no records"),
    ],
)
def test_invalid_records_name_the_file_line_and_field(tmp_path, lines, fragment):
    path = _dataset(tmp_path, lines)
    with pytest.raises(InputError) as excinfo:
        read_records(path)
    assert str(path) in str(excinfo.value)
    assert fragment in str(excinfo.value)


def test_unreadable_image_is_reported(tmp_path):
    path = _dataset(tmp_path, [GOOD], image_ok=False)
    with pytest.raises(InputError, match="is not a readable image"):
        read_records(path)
    assert read_records(path, check_images=False)[0].id == "q1"


def test_validate_dataset_needs_jsonl_files(tmp_path):
    with pytest.raises(InputError, match=r"holds no \.jsonl files"):
        validate_dataset(tmp_path)
    with pytest.raises(InputError, match="directory not found"):
        validate_dataset(tmp_path / "nope")


def test_prompt_has_blink_form_and_messages_put_images_first():
    prompt = format_question("Which point is closer?", ["A is closer", "B is closer"])
    assert (
        prompt
        == "Which point is closer?\nSelect from the following choices.\n(A) A is closer\n(B) B is closer"
    )
    record = MCQRecord("q", "Jigsaw", ("a.png", "b.png"), prompt, ("A is closer", "B is closer"), "B")
    messages = build_messages(record, with_answer=True)
    assert [part["type"] for part in messages[0]["content"]] == ["image", "image", "text"]
    assert messages[0]["content"][-1]["text"] == f"{prompt}\n{ANSWER_INSTRUCTION}"
    assert messages[1] == {"role": "assistant", "content": [{"type": "text", "text": "(B)"}]}
    assert answer_target(record) == "(B)"
    assert len(build_messages(record)) == 1


def test_disclaimer_only_when_asked_and_only_for_blinks_three_tasks():
    jigsaw = MCQRecord("q", "Jigsaw", ("a.png",), "P", ("x", "y"), "A")
    counting = MCQRecord("q", "Counting", ("a.png",), "P", ("x", "y"), "A")
    assert not build_messages(jigsaw)[0]["content"][-1]["text"].startswith("Disclaimer")
    assert build_messages(jigsaw, disclaimer=True)[0]["content"][-1]["text"].startswith(BLINK_DISCLAIMER)
    assert not build_messages(counting, disclaimer=True)[0]["content"][-1]["text"].startswith("Disclaimer")


class _QwenLikeTemplate:
    """The structure of Qwen2.5-VL's chat template, enough to pin what render_prompt sends it."""

    def apply_chat_template(self, conversation, *, tokenize, add_generation_prompt):
        assert tokenize is False
        parts = []
        for message in conversation:
            body = "".join(
                "<|vision_start|><|image_pad|><|vision_end|>" if c["type"] == "image" else c["text"]
                for c in message["content"]
            )
            parts.append(f"<|im_start|>{message['role']}\n{body}<|im_end|>\n")
        return "".join(parts) + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def test_render_prompt_for_evaluation_and_training():
    record = MCQRecord("q", "T", ("a.png",), "Which?\n(A) x\n(B) y", ("x", "y"), "B")
    evaluation = render_prompt(record, _QwenLikeTemplate())
    assert evaluation == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Which?\n(A) x\n(B) y\n"
        f"{ANSWER_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n"
    )
    training = render_prompt(record, _QwenLikeTemplate(), with_answer=True)
    assert training.endswith("<|im_start|>assistant\n(B)<|im_end|>\n")
    assert training.startswith(evaluation[: -len("<|im_start|>assistant\n")])


def test_unicode_line_separators_inside_strings_round_trip(tmp_path):
    record = MCQRecord("q1", "T", ("images/q1_0.png",), "a\u2028b\u0085c\x0cd", ("x", "y"), "A")
    out = tmp_path / "ds"
    with staged_directory(out, MANIFEST) as staging:
        write_split(staging, "T", "val", [(record, [image_bytes(Image.new("RGB", (8, 8)))])])
        write_manifest(staging, "test", {"T": {"val": 1}})
    assert read_records(out / "T" / "val.jsonl")[0].prompt == "a\u2028b\u0085c\x0cd"


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = _dataset(tmp_path, [GOOD])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_records(path)[0].id == "q1"


@pytest.mark.parametrize(
    "line",
    ['{"id": ' + "[" * 100_000 + "]" * 100_000 + "}", '{"id": ' + "9" * 5000 + "}"],
    ids=["deep", "huge-int"],
)
def test_hostile_json_is_an_input_error(tmp_path, line):
    path = _dataset(tmp_path, [line])
    with pytest.raises(InputError, match="line 1: not valid JSON"):
        read_records(path)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size it does not have (a decompression bomb's signature)."""
    data = bytearray(image_bytes(Image.new("RGB", (1, 1))))
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


@pytest.mark.parametrize("case", ["symlink-outside", "directory", "bomb", "long-name"])
def test_unusable_image_paths_are_reported(tmp_path, case):
    path = _dataset(tmp_path, [GOOD])
    image = path.parent / "images" / "q1_0.png"
    image.unlink()
    if case == "symlink-outside":
        outside = tmp_path / "outside.png"
        outside.write_bytes(image_bytes(Image.new("RGB", (8, 8))))
        image.symlink_to(outside)
        fragment = "resolves outside the dataset directory"
    elif case == "directory":
        image.mkdir()
        fragment = "is not a file"
    elif case == "bomb":
        image.write_bytes(_png_claiming(30_000, 30_000))
        fragment = "is not a readable image"
    else:
        path.write_text(json.dumps({**GOOD, "images": ["images/" + "x" * 300 + ".png"]}) + "\n")
        fragment = "is not a readable image"
    with pytest.raises(InputError, match="field 'images'") as excinfo:
        read_records(path)
    assert fragment in str(excinfo.value)


def _truncated_jpeg() -> bytes:
    noise = Image.effect_noise((64, 64), 80).convert("RGB")  # incompressible enough to cut mid-scan
    buffer = io.BytesIO()
    noise.save(buffer, format="JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def test_an_image_that_verifies_but_does_not_decode_is_refused(tmp_path):
    path = _dataset(tmp_path, [GOOD])
    image = path.parent / "images" / "q1_0.png"
    image.write_bytes(_truncated_jpeg())
    with Image.open(image) as handle:
        handle.verify()  # what validation used to check: it passes
    with pytest.raises(InputError) as excinfo:
        read_records(path)
    assert str(excinfo.value).startswith(
        f"{path}: line 1: field 'images'[0]: 'images/q1_0.png' is not a readable"
    )
    assert "truncated" in str(excinfo.value)
    result = CliRunner().invoke(app, ["data", "validate", str(path.parent.parent)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: line 1: field 'images'[0]")


def test_a_pixel_bomb_below_pillows_limit_is_refused_before_decoding(tmp_path):
    path = _dataset(tmp_path, [GOOD])
    (path.parent / "images" / "q1_0.png").write_bytes(_png_claiming(12_000, 12_000))
    with pytest.raises(InputError) as excinfo:
        read_records(path)
    assert "is 12000 x 12000 pixels, above the limit of 50,000,000" in str(excinfo.value)


def test_a_record_of_another_task_than_its_folder_is_refused(tmp_path):
    path = _dataset(tmp_path, [GOOD, {**GOOD, "id": "q2", "task": "Other"}])
    with pytest.raises(InputError) as excinfo:
        validate_dataset(tmp_path / "ds")
    assert str(excinfo.value) == f"{path}: line 2: field 'task': 'Other' differs from the task folder 'T'"
    with pytest.raises(InputError, match="differs from the task folder"):
        load_split(tmp_path / "ds", "T", "val")


def test_limited_takes_a_count_or_a_fraction_rounded_up():
    from vlmtransfer.data.dataset import limited

    records = list(range(10))
    assert limited(records, None) == records
    assert limited(records, 3) == [0, 1, 2]
    assert limited(records, 0.25) == [0, 1, 2]  # ceil(2.5)
    assert limited(records, 0.01) == [0]  # at least one
    assert limited(records, 50) == records


def test_questions_come_from_the_directories_that_have_the_split(tmp_path):
    """A train-only directory beside an eval one (configs/paper.yaml's BLINK val + BLINK training sets)
    is skipped for the eval split and vice versa; a split that no directory has is still refused."""
    from vlmtransfer.data.dataset import collect_questions
    from vlmtransfer.data.synthetic import generate_suite

    generate_suite(tmp_path / "val", tasks=["Syn_Counting"], n_train=0, n_val=2, seed=0)
    generate_suite(tmp_path / "train", tasks=["Syn_Jigsaw"], n_train=2, n_val=0, seed=0)
    roots = [tmp_path / "val", tmp_path / "train"]
    assert list(collect_questions(roots, "val")) == ["Syn_Counting"]
    assert list(collect_questions(roots, "train", tasks=["Syn_Jigsaw"])) == ["Syn_Jigsaw"]
    with pytest.raises(InputError, match="no task folder holds a 'test' split"):
        collect_questions(roots, "test")
    with pytest.raises(InputError, match="no task folder holds a 'train' split"):
        collect_questions(roots[:1], "train")
