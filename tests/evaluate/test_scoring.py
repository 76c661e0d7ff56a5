"""One-pass multiple-choice scoring on the tiny Qwen2.5-VL: batching changes nothing, order is kept."""

from __future__ import annotations

import math

import pytest
import torch

from vlmtransfer.data.prompts import render_prompt
from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.evaluate import answer_position, letter_token_ids, score_questions
from vlmtransfer.models import load_model


@pytest.fixture(scope="module")
def loaded(untrained_tiny):
    return load_model(str(untrained_tiny))


@pytest.fixture(scope="module")
def questions():
    """Mixed image counts (1, 2, 3, 4), choice counts (2, 3, 4) and prompt lengths."""
    tasks = (
        "Syn_Counting",
        "Syn_Visual_Correspondence",
        "Syn_Art_Style",
        "Syn_Forensic_Detection",
        "Syn_Relative_Reflectance",
    )
    return [item for task in tasks for item in generate_examples(task, "val", 3, seed=5)]


def test_batched_scores_equal_one_at_a_time_and_keep_input_order(loaded, questions):
    batched = score_questions(loaded, questions, batch_size=4)
    single = score_questions(loaded, questions, batch_size=1)
    assert [s.id for s in batched] == [record.id for record, _ in questions]
    for b, s in zip(batched, single, strict=True):
        assert b.logprobs == pytest.approx(s.logprobs, abs=1e-4)
        assert b.predicted == s.predicted


def test_scores_are_the_letter_logprobs_of_a_plain_forward_pass(loaded, questions):
    record, images = questions[4]
    processor = loaded.processor
    batch = processor(text=[render_prompt(record, processor) + "("], images=images, return_tensors="pt")
    with torch.no_grad():
        full = torch.log_softmax(loaded.model(**batch).logits[0, -1].float(), dim=-1)
    expected = [float(full[i]) for i in letter_token_ids(processor.tokenizer, record.letters)]
    (scores,) = score_questions(loaded, [(record, images)])
    assert scores.logprobs == pytest.approx(expected, abs=1e-5)
    assert len(scores.logprobs) == len(record.choices)
    assert scores.predicted == record.letters[max(range(len(expected)), key=expected.__getitem__)]
    assert scores.correct == (scores.predicted == record.answer)
    assert scores.letter_mass == pytest.approx(sum(math.exp(v) for v in expected))
    assert 0 < scores.letter_mass <= 1


class FakeTokenizer:
    """Tokenises whole strings from a table; decodes token lists back through it."""

    def __init__(self, table):
        self.table = table

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(self.table[text])}

    def decode(self, ids):
        return next(text for text, tokens in self.table.items() if list(tokens) == list(ids))


def test_the_tiny_tokenizer_scores_the_letter_after_an_opening_parenthesis(loaded):
    position = answer_position(loaded.processor.tokenizer, "ABCD")
    assert position.prefix == "("
    assert [loaded.processor.tokenizer.decode([i]) for i in position.ids] == ["A", "B", "C", "D"]


def test_a_tokenizer_merging_parenthesis_and_letter_scores_the_merged_tokens():
    """Qwen2-style pre-tokenisation glues "(" to the letter: "(B" is one token, scored after the prompt."""
    merged = FakeTokenizer({"(A)": [40, 9], "(B)": [41, 9], "": []})
    assert answer_position(merged, "AB").prefix == ""
    assert letter_token_ids(merged, "AB") == [40, 41]


def test_answers_that_do_not_differ_in_one_token_are_refused():
    nested = FakeTokenizer({"(A)": [5, 7], "(B)": [5, 7, 1], "(": [5], "()": [5, 7]})
    with pytest.raises(ValueError, match="prefixes of each other"):
        answer_position(nested, "AB")
    shared = FakeTokenizer({"(A)": [5, 6], "(B)": [5, 7], "(C)": [5, 6, 1], "(": [5]})
    with pytest.raises(ValueError, match="share their first distinct token"):
        answer_position(shared, "ABC")
    unstable = FakeTokenizer({"(A)": [5, 6], "(B)": [5, 7], "(": [99]})
    unstable.decode = lambda ids: "("
    with pytest.raises(ValueError, match="does not tokenise back"):
        answer_position(unstable, "AB")
