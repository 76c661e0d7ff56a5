"""A model too big for one GPU (issue 25 item 4): loaded across devices by a device map, it evaluates as
the whole model does; a scorer asked for N GPUs passes ``device_map="auto"`` and one memory bound per GPU
to transformers. No GPU here: the split is over the CPU and the disk (accelerate's offload hooks move
the offloaded layer's weights in at every forward, as they move activations between GPUs), and the
GPU count is mocked where the GPUs themselves are not needed."""

from __future__ import annotations

import pytest
import torch

from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate import EvalSettings, Evaluator
from vlmtransfer.evaluate.hf import load_hf_scorer
from vlmtransfer.evaluate.registry import ScorerOptions
from vlmtransfer.finetune.lora import LoraSettings, finetune_lora
from vlmtransfer.finetune.trainer import TrainSettings
from vlmtransfer.models import load_model
from vlmtransfer.models.encoding import encode_question
from vlmtransfer.models.loading import LoadOptions, gpu_split, input_device, offloaded_parameters

SPLIT = {
    "model.visual": "cpu",
    "model.language_model.embed_tokens": "cpu",
    "model.language_model.rotary_emb": "cpu",
    "model.language_model.layers.0": "cpu",
    "model.language_model.layers.1": "disk",  # the tiny model's last layer: offloaded
    "model.language_model.norm": "cpu",
    "lm_head": "cpu",
}


@pytest.fixture(scope="module")
def questions():
    return [
        q for task in ("Syn_Counting", "Syn_Forensic_Detection") for q in generate_examples(task, "val", 3, 1)
    ]


@pytest.fixture(scope="module")
def adapter(untrained_tiny, tmp_path_factory):
    whole = load_model(str(untrained_tiny))
    items = generate_examples("Syn_Counting", "train", 4, seed=0)
    train = [encode_question(r, images, whole.processor, with_answer=True) for r, images in items]
    out = tmp_path_factory.mktemp("adapter") / "a"
    settings = TrainSettings(learning_rate=3e-2, max_steps=2, batch_size=4, warmup_ratio=0.0)
    finetune_lora(whole.model, train, out, lora=LoraSettings(), settings=settings, processor=whole.processor)
    return out


def _same_answers(expected, got):
    assert [r.predicted for r in got] == [r.predicted for r in expected]
    for x, y in zip(expected, got, strict=True):
        assert y.logprobs == pytest.approx(x.logprobs, abs=1e-5)


SETTINGS = (EvalSettings(batch_size=4), EvalSettings(batch_size=4, cache_vision=False))


def test_a_model_split_by_accelerate_evaluates_with_adapters_as_the_whole_model(
    untrained_tiny, questions, adapter
):
    """What a multi-GPU split is, short of the GPUs: every module behind accelerate's device hooks, which
    move inputs and outputs to each module's device; PEFT attaches and detaches through them."""
    from accelerate import dispatch_model

    whole = load_model(str(untrained_tiny))
    split = load_model(str(untrained_tiny))
    dispatch_model(split.model, SPLIT | {"model.language_model.layers.1": "cpu"}, force_hooks=True)
    assert hasattr(split.model.model.language_model.layers[1], "_hf_hook")
    assert input_device(split.model) == torch.device("cpu")
    for settings in SETTINGS:
        expected, got = Evaluator(whole, questions, settings), Evaluator(split, questions, settings)
        for model in (None, adapter, None):
            _same_answers(expected.run(model), got.run(model))


def test_a_device_map_loads_the_model_across_devices(untrained_tiny, questions, adapter, tmp_path):
    """transformers' loading with a device map (here over the CPU and the disk): the base model answers
    as the whole one; an adapter is refused, since PEFT cannot load LoRA factors onto offloaded layers."""
    whole = load_model(str(untrained_tiny))
    split = load_model(
        str(untrained_tiny), LoadOptions(device_map=SPLIT, offload_folder=str(tmp_path / "offload"))
    )
    assert split.model.hf_device_map == SPLIT
    assert split.model.model.language_model.layers[1].mlp.up_proj.weight.device.type == "meta"  # on disk
    assert offloaded_parameters(split.model)
    assert not offloaded_parameters(whole.model)
    assert split.device == torch.device("cpu")
    for settings in SETTINGS:
        _same_answers(
            Evaluator(whole, questions, settings).run(), Evaluator(split, questions, settings).run()
        )
    with pytest.raises(InputError, match="offloads weights to the CPU or disk"):
        Evaluator(split, questions).run(adapter)
    train = [encode_question(r, images, split.processor, with_answer=True) for r, images in questions[:2]]
    with pytest.raises(InputError, match="LoRA cannot adapt a model whose device map offloads"):
        finetune_lora(
            split.model,
            train,
            tmp_path / "a",
            lora=LoraSettings(),
            settings=TrainSettings(),
            processor=split.processor,
        )
    assert "peft_config" not in vars(split.model)


def test_random_weights_take_no_device_map():
    with pytest.raises(InputError, match="device_map applies to loaded weights"):
        load_model("qwen2.5-vl-3b", LoadOptions(random_weights=True, device_map="auto"))


@pytest.fixture
def two_gpus(monkeypatch):
    """This process sees two GPUs with 70 GB free each (only their count and memory are asked)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (70_000_000_000, 80_000_000_000))


def test_gpu_split_bounds_each_of_the_first_gpus(two_gpus):
    assert gpu_split(2) == ("auto", {0: 70_000_000_000, 1: 70_000_000_000})
    assert gpu_split(1, "60GiB") == ("auto", {0: "60GiB"})
    with pytest.raises(InputError, match="split over 3 GPUs, but 2 are visible here") as refused:
        gpu_split(3)
    assert refused.value.field == "gpus"


def test_gpu_split_without_gpus_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has GPUs")
    with pytest.raises(InputError, match="but 0 are visible here"):
        gpu_split(2)


def test_a_scorer_on_two_gpus_loads_with_an_auto_device_map(untrained_tiny, two_gpus, monkeypatch):
    from transformers import AutoModelForImageTextToText

    seen = []
    real = AutoModelForImageTextToText.from_pretrained

    def from_pretrained(source, **kwargs):
        seen.append(kwargs)
        kwargs = {k: v for k, v in kwargs.items() if k not in {"device_map", "max_memory"}}  # no GPUs here
        return real(source, **kwargs)

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", from_pretrained)
    scorer = load_hf_scorer(str(untrained_tiny), ScorerOptions(device="cpu", dtype="float32", gpus=2))
    assert seen[-1]["device_map"] == "auto"
    assert seen[-1]["max_memory"] == {0: 70_000_000_000, 1: 70_000_000_000}
    assert scorer.device == "cpu"  # where the (here unsplit) embeddings are
    load_hf_scorer(str(untrained_tiny), ScorerOptions(device="cpu", dtype="float32"))
    assert "device_map" not in seen[-1]  # one GPU or none: the model goes to ``device`` whole
