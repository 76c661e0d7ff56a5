"""The tiny Qwen2.5-VL builder and the generic model loader, exercised on the real transformers classes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vlmtransfer.data.prompts import render_prompt
from vlmtransfer.data.records import LETTERS
from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.errors import InputError
from vlmtransfer.models import LoadOptions, find_preset, load_model, load_processor, pick_dtype
from vlmtransfer.models.tiny import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def test_tiny_model_loads_with_the_auto_classes(tiny):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny)
    processor = AutoProcessor.from_pretrained(tiny)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert 400_000 < sum(p.numel() for p in model.parameters()) < 1_000_000


def test_answer_letters_are_single_tokens(tiny):
    tokenizer = load_processor(str(tiny)).tokenizer
    for letter in LETTERS:
        assert tokenizer.tokenize(f"({letter})") == ["(", letter, ")"]


def test_a_synthetic_question_runs_through_the_model(tiny):
    loaded = load_model(str(tiny))
    assert (loaded.device.type, loaded.dtype) == ("cpu", torch.float32)
    record, images = next(generate_examples("Syn_Relative_Depth", "val", 1, 0))
    batch = loaded.processor(
        text=[render_prompt(record, loaded.processor)], images=images, return_tensors="pt"
    )
    image_token = loaded.model.config.image_token_id
    assert int((batch["input_ids"] == image_token).sum()) == 16  # 112 px: 8x8 patches merged 2x2
    assert batch["input_ids"].shape[1] < 160
    with torch.no_grad():
        logits = loaded.model(**batch).logits
    assert logits.shape == (1, batch["input_ids"].shape[1], len(loaded.processor.tokenizer))
    assert torch.isfinite(logits).all()


def test_max_pixels_caps_the_image_resolution(tiny):
    processor = load_processor(str(tiny), LoadOptions(max_pixels=56 * 56, min_pixels=28 * 28))
    record, images = next(generate_examples("Syn_Counting", "val", 1, 0))
    batch = processor(text=[render_prompt(record, processor)], images=images, return_tensors="pt")
    assert batch["image_grid_thw"].tolist() == [[1, 4, 4]]


def test_same_seed_same_bytes_and_another_seed_other_weights(tiny, tmp_path):
    again = build_tiny_model(tmp_path / "again", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny / name).read_bytes(), name
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (tiny / "model.safetensors").read_bytes()


def test_device_and_dtype_choice():
    assert pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert pick_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(InputError, match="unknown dtype"):
        pick_dtype("float33", torch.device("cpu"))


def test_presets_and_unloadable_models(tmp_path, monkeypatch):
    import huggingface_hub.constants

    assert find_preset("Qwen2.5-VL-7B").hub_id == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert find_preset("someone/some-model") is None
    with pytest.raises(InputError, match=r"did you mean 'qwen2\.5-vl-7b'"):
        find_preset("qwen2.5-vl-7bb")
    with pytest.raises(InputError, match="cannot load local path"):
        load_model(str(tmp_path))  # exists, but holds no model
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="cannot load hub id or path 'nobody/no-such-model'"):
        load_model("nobody/no-such-model")


def test_the_shipped_chat_template_is_the_one_a_rebuild_writes():
    """``model tiny --rebuild`` writes ``CHAT_TEMPLATE``; the shipped asset must match it (videos too)."""
    from importlib.resources import files

    from vlmtransfer.models.tiny import CHAT_TEMPLATE

    shipped = files("vlmtransfer").joinpath("assets/tiny-qwen2.5-vl/chat_template.jinja").read_text()
    assert shipped.strip() == CHAT_TEMPLATE.strip()
    assert "<|video_pad|>" in CHAT_TEMPLATE


TOKENIZER_CORPUS_DIGEST = "a0aec313974a96ec5eb1b0a3ac0bb93498e80f0d64a1f3bb71c92c5aef72fd70"
"""sha256 of the tokenizer corpus (each text and a newline) the shipped tiny model's tokenizer was
trained on. A rendering made for the ``train``/``val`` splits only must not change it, or a rebuild
trains another tokenizer and so another model."""


def test_the_tokenizer_corpus_is_the_one_the_shipped_tokenizer_learnt_from():
    import hashlib
    import json
    from importlib.resources import files

    from vlmtransfer.models.tiny import tokenizer_corpus, train_tokenizer

    corpus = list(tokenizer_corpus())
    digest = hashlib.sha256()
    for text in corpus:
        digest.update(text.encode() + b"\n")
    assert digest.hexdigest() == TOKENIZER_CORPUS_DIGEST
    shipped = files("vlmtransfer").joinpath("assets/tiny-qwen2.5-vl/tokenizer.json").read_text()
    rebuilt = train_tokenizer(corpus).backend_tokenizer.to_str()
    assert json.loads(rebuilt)["model"]["vocab"] == json.loads(shipped)["model"]["vocab"]


def test_examples_drawn_with_the_pretrain_rendering_keep_the_split_streams():
    """``rendering="pretrain"`` swaps only the generator: the ``pretrain`` split is unchanged by it, and
    a marker task's ``train`` questions keep their answers while their labels go back on the grid."""
    pretrain = [r for r, _ in generate_examples("Syn_Relative_Depth", "pretrain", 5, 0)]
    assert [
        r for r, _ in generate_examples("Syn_Relative_Depth", "pretrain", 5, 0, rendering="pretrain")
    ] == pretrain
    train = [r for r, _ in generate_examples("Syn_Object_Localization", "train", 40, 0)]
    aligned = [
        r for r, _ in generate_examples("Syn_Object_Localization", "train", 40, 0, rendering="pretrain")
    ]
    assert [r.answer for r in aligned] == [r.answer for r in train]
    assert {r.meta["render"]["glyph_offset"] for r in aligned} == {0}
    assert {r.meta["render"]["glyph_offset"] for r in train} == {0, 1}
    with pytest.raises(InputError, match="rendering"):
        next(generate_examples("Syn_Relative_Depth", "train", 1, 0, rendering="val"))
