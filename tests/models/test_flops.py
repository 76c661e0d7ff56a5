"""Model FLOPs (issue 25 item 3): the formulas of ``models.flops`` against PyTorch's own FLOP counter on the
tiny Qwen2.5-VL (matrix multiplications; the counter does not see CPU attention kernels, so attention is
left out of the comparison), and the full-depth counts against the published parameter counts."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.models import load_model
from vlmtransfer.models.architectures import PUBLISHED_PARAMETERS, architecture_config
from vlmtransfer.models.encoding import collate, encode_question
from vlmtransfer.models.flops import flop_counts


@pytest.fixture(scope="module")
def loaded(untrained_tiny):
    loaded = load_model(str(untrained_tiny))
    for parameter in loaded.model.parameters():
        parameter.requires_grad_(False)  # frozen, as under LoRA
    return loaded


@pytest.fixture(scope="module")
def batch(loaded):
    items = generate_examples("Syn_Forensic_Detection", "val", 2, seed=0)  # 4 images a question
    return collate([encode_question(*item, loaded.processor) for item in items], loaded.processor)


def _matmuls_only(counts):
    """The counts without attention (what FlopCounterMode sees on the CPU)."""
    return dataclasses.replace(counts, layers=0, vision_width=0)


def _expected(counts, batch, per_sequence) -> float:
    rows, width = batch["input_ids"].shape
    patches = [int(grid.prod()) for grid in batch["image_grid_thw"]]
    return rows * per_sequence(counts, width) + sum(counts.image(p) for p in patches)


def test_the_forward_formula_counts_every_matmul_of_a_scoring_pass(loaded, batch):
    counts = flop_counts(loaded.model)
    assert counts == flop_counts(loaded.model.config)  # from the config alone (meta device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        loaded.model(**batch, logits_to_keep=1)
    expected = _expected(_matmuls_only(counts), batch, lambda c, t: c.forward(t, logits=1))
    assert counter.get_total_flops() == pytest.approx(expected, rel=1e-6)


def test_the_training_formula_counts_activation_gradients_only(loaded, batch):
    counts = flop_counts(loaded.model)
    first_layer = loaded.model.model.language_model.layers[0]

    def hidden_states_need_gradients(module, args, kwargs):  # what a LoRA factor in layer 0 causes
        return (args[0].detach().requires_grad_(), *args[1:]), kwargs

    hook = first_layer.register_forward_pre_hook(hidden_states_need_gradients, with_kwargs=True)
    try:
        with FlopCounterMode(display=False) as counter:
            loaded.model(**batch, logits_to_keep=3).logits.sum().backward()
    finally:
        hook.remove()
    expected = _expected(_matmuls_only(counts), batch, lambda c, t: c.train(t, targets=3))
    assert counter.get_total_flops() == pytest.approx(expected, rel=1e-6)


def test_attention_terms():
    counts = flop_counts(architecture_config("qwen2.5-vl-3b", num_layers=1, vision_depth=8))
    no_attention = _matmuls_only(counts)
    assert counts.forward(100) - no_attention.forward(100) == 2 * 1 * 2048 * 100**2
    assert counts.train(100, 5) - no_attention.train(100, 5) == 3 * 2 * 2048 * 100**2
    assert counts.full_attention_blocks == 1  # block 7
    assert counts.window_patches == 64
    assert counts.image(1000) - no_attention.image(1000) == 4 * 1280 * 1000 * (64 * 7 + 1000)


@pytest.mark.parametrize("preset", ["qwen2.5-vl-3b", "qwen2.5-vl-7b"])
def test_full_depth_counts_cover_the_published_weights(preset):
    config = architecture_config(preset)
    counts = flop_counts(config)
    embeddings = 0 if config.tie_word_embeddings else counts.head  # the input embedding: a look-up
    weights = counts.language + counts.head + embeddings + counts.vision + counts.merger + counts.patch_embed
    assert weights == pytest.approx(PUBLISHED_PARAMETERS[preset], rel=0.01)  # norms and biases: the rest
