"""Encoding questions once and batching them: targets, padding, pixels."""

from __future__ import annotations

import pytest
import torch

from vlmtransfer.data.prompts import render_prompt
from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.models import load_processor
from vlmtransfer.models.encoding import IGNORE_INDEX, collate, encode_question, pixel_inputs


@pytest.fixture(scope="module")
def processor(untrained_tiny):
    return load_processor(str(untrained_tiny))


@pytest.fixture(scope="module")
def questions():
    tasks = ("Syn_Counting", "Syn_Jigsaw", "Syn_Forensic_Detection")  # 1, 3 and 4 images
    return [item for task in tasks for item in generate_examples(task, "val", 2, seed=3)]


def test_training_targets_are_the_answer_turn(processor, questions):
    record, images = questions[0]
    encoded = encode_question(record, images, processor, with_answer=True)
    target = processor.tokenizer(f"({record.answer})<|im_end|>\n", add_special_tokens=False)["input_ids"]
    assert encoded.target_length == len(target)
    assert encoded.tensors["input_ids"][-len(target) :].tolist() == target
    prompt = processor(text=[render_prompt(record, processor)], images=images, return_tensors="pt")
    assert encoded.tensors["input_ids"][: -len(target)].tolist() == prompt["input_ids"][0].tolist()


def test_the_tiny_template_renders_the_question_before_the_images(processor, questions):
    """The tiny model's own chat template puts a turn's text first (so image tokens can attend to the
    question), and every image's 16 tokens after it, whatever the message order."""
    record, images = questions[2]  # Jigsaw: three images
    prompt = render_prompt(record, processor)
    user_turn = prompt[prompt.index("<|im_start|>user\n") + len("<|im_start|>user\n") :]
    assert user_turn.startswith(record.prompt)
    assert user_turn.index(record.prompt) < user_turn.index("<|vision_start|>")
    assert prompt.endswith("<|vision_end|><|im_end|>\n<|im_start|>assistant\n")
    ids = processor(text=[prompt], images=images, return_tensors="pt")["input_ids"][0]
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((ids == image_pad).sum()) == 16 * len(images)


def test_evaluation_encoding_has_no_targets_and_ends_with_the_suffix(processor, questions):
    record, images = questions[1]
    encoded = encode_question(record, images, processor, suffix="(")
    assert encoded.target_length == 0
    assert encoded.tensors["input_ids"][-1] == processor.tokenizer.convert_tokens_to_ids("(")


def test_collate_left_pads_and_labels_only_the_targets(processor, questions):
    encoded = [encode_question(r, images, processor, with_answer=True) for r, images in questions]
    batch = collate(encoded, processor)
    width = max(q.length for q in encoded)
    assert batch["input_ids"].shape == (len(encoded), width)
    pad = processor.tokenizer.pad_token_id
    for row, q in enumerate(encoded):
        padding = width - q.length
        assert batch["attention_mask"][row, :padding].sum() == 0
        assert batch["attention_mask"][row, padding:].all()
        assert (batch["input_ids"][row, :padding] == pad).all()
        assert torch.equal(batch["input_ids"][row, padding:], q.tensors["input_ids"])
        labelled = (batch["labels"][row] != IGNORE_INDEX).nonzero().flatten().tolist()
        assert labelled == list(range(width - q.target_length, width))
    assert "labels" not in collate([encode_question(*questions[0], processor)], processor)


def test_batched_pixels_are_what_the_processor_makes(processor, questions):
    encoded = [encode_question(r, images, processor) for r, images in questions]
    texts = [render_prompt(r, processor) for r, _ in questions]
    images = [image for _, question_images in questions for image in question_images]
    joint = processor(text=texts, images=images, padding=True, return_tensors="pt")
    ours = pixel_inputs(encoded, processor)
    assert torch.equal(ours["pixel_values"], joint["pixel_values"])
    assert torch.equal(ours["image_grid_thw"], joint["image_grid_thw"])
    assert "pixel_values" not in collate(encoded, processor, pixels=False)


@pytest.mark.parametrize("task", ["Syn_Forensic_Detection", "Syn_Counting"])
def test_encoding_without_the_pixels_gives_exactly_the_processors_tensors(processor, task):
    """After the first question of given image sizes, placeholders are expanded without making pixels;
    every question's tensors must still be what the processor makes from text and images."""
    from PIL import Image

    items = list(generate_examples(task, "val", 6, seed=0))
    # a second size, so the memo holds two entries and neither is used for the other
    items.append((items[0][0], [Image.new("RGB", (168, 112), "gray") for _ in items[0][1]]))
    for record, images in items:
        for with_answer in (False, True):
            encoded = encode_question(record, images, processor, with_answer=with_answer)
            text = render_prompt(record, processor, with_answer=with_answer)
            full = processor(text=[text], images=list(images), return_tensors="pt")
            assert set(encoded.tensors) == {k for k in full if k in encoded.tensors}
            for key, value in encoded.tensors.items():
                assert torch.equal(value, full[key][0]), (task, record.id, key)
    from vlmtransfer.models.encoding import _PLACEHOLDERS

    memo = _PLACEHOLDERS[processor]
    assert memo[tuple(image.size for image in items[0][1])] is not None  # the shortcut was taken
    assert memo[tuple(image.size for image in items[-1][1])] is not None
