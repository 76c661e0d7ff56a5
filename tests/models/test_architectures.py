"""The real Qwen2.5-VL architectures without the hub: published sizes, reduced depth, and the whole
path (encode, cached and uncached evaluation, a finetune step) on BLINK-sized images at real width."""

from __future__ import annotations

import pytest
import torch

from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate import EvalSettings, Evaluator
from vlmtransfer.finetune.lora import LoraSettings, finetune_lora
from vlmtransfer.finetune.trainer import TrainSettings
from vlmtransfer.models import load_model
from vlmtransfer.models.architectures import PUBLISHED_PARAMETERS, architecture_config
from vlmtransfer.models.encoding import encode_question
from vlmtransfer.models.loading import LoadOptions


@pytest.mark.parametrize("preset", sorted(PUBLISHED_PARAMETERS))
def test_full_depth_configs_have_the_published_sizes(preset):
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(architecture_config(preset))
    count = sum(p.numel() for p in model.parameters())
    assert count == pytest.approx(PUBLISHED_PARAMETERS[preset], rel=0.002)


def test_reduced_depth_keeps_the_widths_and_the_attention_pattern():
    full = architecture_config("qwen2.5-vl-7b")
    small = architecture_config("qwen2.5-vl-7b", num_layers=2, vision_depth=9)
    assert small.text_config.num_hidden_layers == 2
    assert small.text_config.hidden_size == full.text_config.hidden_size == 3584
    assert small.vision_config.hidden_size == full.vision_config.hidden_size
    assert small.vision_config.fullatt_block_indexes == [7, 8]
    assert full.vision_config.fullatt_block_indexes == [7, 15, 23, 31]
    with pytest.raises(ValueError, match="num_layers: must be 1-28"):
        architecture_config("qwen2.5-vl-7b", num_layers=29)


def test_random_weights_need_an_architecture_preset():
    with pytest.raises(InputError, match="random weights need an architecture preset"):
        load_model("tiny", LoadOptions(random_weights=True))
    with pytest.raises(InputError, match="random weights only"):
        load_model("tiny", LoadOptions(num_layers=1))


@pytest.mark.slow
def test_the_3b_at_one_layer_runs_the_whole_path_on_blink_sized_images(tmp_path):
    loaded = load_model("qwen2.5-vl-3b", LoadOptions(random_weights=True, num_layers=1, vision_depth=1))
    assert loaded.model.config.text_config.hidden_size == 2048
    questions = list(generate_examples("Syn_Counting", "val", 2, seed=0, image_size=700))
    encoded = encode_question(*questions[0], loaded.processor)
    assert encoded.length > 600  # ~625 image tokens for 700 x 700 px
    cached = Evaluator(loaded, questions, EvalSettings(batch_size=2)).run()
    plain = Evaluator(loaded, questions, EvalSettings(batch_size=1, cache_vision=False)).run()
    assert [r.predicted for r in cached] == [r.predicted for r in plain]
    for a, b in zip(cached, plain, strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)
    train = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in questions]
    result = finetune_lora(
        loaded.model,
        train,
        tmp_path / "adapter",
        lora=LoraSettings(rank=4, alpha=8),
        settings=TrainSettings(learning_rate=1e-3, max_steps=1, batch_size=2),
        processor=loaded.processor,
    )
    assert len(result.curve) == 1
    assert torch.isfinite(torch.tensor(result.curve[0].loss))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
