"""The evaluator: adapters swapped on one base, vision features cached, both modes, exact agreement
with the obvious approach (a freshly loaded base with the adapter merged in)."""

from __future__ import annotations

import pytest
import torch

from vlmtransfer.data.synthetic import generate_examples
from vlmtransfer.evaluate import EvalSettings, Evaluator, accuracy_by_task, score_questions
from vlmtransfer.finetune.lora import LoraSettings, finetune_lora
from vlmtransfer.finetune.trainer import TrainSettings
from vlmtransfer.models import load_model
from vlmtransfer.models.encoding import encode_question

TASKS = ("Syn_Counting", "Syn_Art_Style", "Syn_Relative_Depth", "Syn_Forensic_Detection")


@pytest.fixture(scope="module")
def loaded(untrained_tiny):
    return load_model(str(untrained_tiny))


@pytest.fixture(scope="module")
def questions():
    return [item for task in TASKS for item in generate_examples(task, "val", 3, seed=1)]


@pytest.fixture(scope="module")
def adapters(loaded, tmp_path_factory):
    """Two adapters that change predictions (large learning rate, different tasks)."""
    root = tmp_path_factory.mktemp("adapters")
    made = []
    for k, task in enumerate(("Syn_Counting", "Syn_Relative_Depth")):
        items = generate_examples(task, "train", 8, seed=k)
        encoded = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items]
        settings = TrainSettings(learning_rate=3e-2, max_steps=4, batch_size=4, warmup_ratio=0.0, seed=k)
        finetune_lora(
            loaded.model,
            encoded,
            root / task,
            lora=LoraSettings(),
            settings=settings,
            processor=loaded.processor,
        )
        made.append(root / task)
    return made


def _logprobs(results):
    return [r.logprobs for r in results]


def _all_runs(loaded, questions, settings, adapters):
    """Results for the base, each adapter, and the base again; one evaluator per model at a time."""
    evaluator = Evaluator(loaded, questions, settings)
    try:
        return evaluator.caches_vision, [evaluator.run(adapter) for adapter in (None, *adapters, None)]
    finally:
        evaluator.close()


def test_vision_cache_changes_nothing(loaded, questions, adapters):
    cache_on, cached = _all_runs(loaded, questions, EvalSettings(batch_size=5), adapters)
    cache_off, plain = _all_runs(loaded, questions, EvalSettings(batch_size=5, cache_vision=False), adapters)
    assert cache_on
    assert not cache_off
    for a, b in zip(cached, plain, strict=True):
        assert [r.predicted for r in a] == [r.predicted for r in b]
        for x, y in zip(_logprobs(a), _logprobs(b), strict=True):
            assert x == pytest.approx(y, abs=1e-5)


def test_swapped_adapter_equals_a_fresh_base_with_the_adapter_merged(
    untrained_tiny, loaded, questions, adapters
):
    from peft import PeftModel

    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=4))
    base = evaluator.run()
    swapped = [evaluator.run(adapter) for adapter in adapters]
    base_again = evaluator.run()
    evaluator.close()
    assert base_again == base
    assert all(s != base for s in swapped)  # the adapters do change the answers' probabilities
    for adapter, results in zip(adapters, swapped, strict=True):
        fresh = load_model(str(untrained_tiny))
        merged = PeftModel.from_pretrained(fresh.model, str(adapter)).merge_and_unload()
        obvious = score_questions(
            type(fresh)(merged, fresh.processor, fresh.source, fresh.device, fresh.dtype), questions
        )
        assert [r.predicted for r in obvious] == [r.predicted for r in results]
        for x, y in zip(_logprobs(obvious), _logprobs(results), strict=True):
            assert x == pytest.approx(y, abs=1e-4)


def test_base_model_is_untouched_after_evaluating_adapters(loaded, questions, adapters):
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    evaluator = Evaluator(loaded, questions)
    for adapter in adapters:
        evaluator.run(adapter)
    evaluator.close()
    after = loaded.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_generate_mode_parses_text_and_agrees_with_and_without_cache(loaded, questions, adapters):
    settings = EvalSettings(mode="generate", batch_size=6, max_new_tokens=4)
    cached = Evaluator(loaded, questions, settings)
    plain = Evaluator(
        loaded, questions, EvalSettings(mode="generate", batch_size=1, max_new_tokens=4, cache_vision=False)
    )
    try:
        for adapter in (None, adapters[0]):
            a, b = cached.run(adapter), plain.run(adapter)
            assert [r.text for r in a] == [r.text for r in b]
            assert all(r.logprobs is None and isinstance(r.text, str) for r in a)
            assert all(r.correct == (r.predicted == r.answer) for r in a)
    finally:
        cached.close()
        plain.close()


@pytest.fixture(scope="module")
def vision_adapter(loaded, tmp_path_factory):
    """An adapter on the vision tower and merger as well as the language model, trained hard enough
    that its image features differ from the base model's."""
    items = generate_examples("Syn_Counting", "train", 8, seed=3)
    encoded = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items]
    out = tmp_path_factory.mktemp("vision") / "adapter"
    finetune_lora(
        loaded.model,
        encoded,
        out,
        lora=LoraSettings(vision=True),
        settings=TrainSettings(learning_rate=3e-2, max_steps=4, batch_size=4, warmup_ratio=0.0),
        processor=loaded.processor,
    )
    return out


def test_an_adapter_on_the_vision_tower_is_evaluated_on_its_own_features(loaded, questions, vision_adapter):
    cached = Evaluator(loaded, questions, EvalSettings(batch_size=5))
    plain = Evaluator(loaded, questions, EvalSettings(batch_size=3, cache_vision=False))
    try:
        base = cached.run()
        tuned, again, reference = (
            cached.run(vision_adapter),
            cached.run(vision_adapter),
            plain.run(vision_adapter),
        )
        for mine, theirs in zip(tuned, reference, strict=True):
            assert mine.logprobs == pytest.approx(theirs.logprobs, abs=1e-4)
        assert _logprobs(again) == _logprobs(tuned)
        assert _logprobs(cached.run()) == _logprobs(base)  # the base's cached features are untouched
        moved = max(
            abs(a - b)
            for mine, other in zip(tuned, base, strict=True)
            for a, b in zip(mine.logprobs, other.logprobs, strict=True)
        )
        assert moved > 1e-3
    finally:
        cached.close()
        plain.close()


def test_accuracy_by_task(loaded, questions):
    results = score_questions(loaded, questions)
    accuracy = accuracy_by_task(results)
    assert list(accuracy) == list(TASKS)
    for task, (value, n) in accuracy.items():
        rows = [r for r in results if r.task == task]
        assert n == len(rows) == 3
        assert value == pytest.approx(100 * sum(r.correct for r in rows) / 3)


def test_both_mode_equals_each_mode_alone_per_question(loaded, questions, adapters):
    for adapter in (None, adapters[0]):
        both = Evaluator(loaded, questions, EvalSettings(mode="both", batch_size=5)).run(adapter)
        scored = Evaluator(loaded, questions, EvalSettings(mode="loglik", batch_size=5)).run(adapter)
        greedy = Evaluator(loaded, questions, EvalSettings(mode="generate", batch_size=5)).run(adapter)
        assert [r.predicted for r in both] == [r.predicted for r in scored]
        assert [r.correct for r in both] == [r.correct for r in scored]
        for mine, alone in zip(both, scored, strict=True):
            assert mine.logprobs == pytest.approx(alone.logprobs, abs=1e-5)
        assert [r.text for r in both] == [r.text for r in greedy]
        assert [r.generated for r in both] == [r.predicted for r in greedy]
        assert all(r.generated is None and r.text is None for r in scored)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode: must be one of loglik, generate, both"):
        EvalSettings(mode="beam")


def test_a_small_cache_budget_gives_the_same_answers_within_its_budget(loaded, questions, adapters, tmp_path):
    unbounded = Evaluator(loaded, questions, EvalSettings(batch_size=3))
    expected = [unbounded.run(adapter) for adapter in (None, *adapters)]
    one_batch = max(unbounded.features.resident_bytes // 4, 1)  # about one of the four batches
    for directory in (None, tmp_path / "cache"):
        settings = EvalSettings(batch_size=3, cache_budget_bytes=one_batch, cache_dir=directory)
        bounded = Evaluator(loaded, questions, settings)
        got = [bounded.run(adapter) for adapter in (None, *adapters)]
        assert [[r.predicted for r in run] for run in got] == [[r.predicted for r in run] for run in expected]
        for run_a, run_b in zip(got, expected, strict=True):
            for a, b in zip(run_a, run_b, strict=True):
                assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
        assert bounded.features.peak_bytes <= one_batch
        if directory is not None:
            assert bounded.features.disk_reads > 0
            assert list(directory.glob("*.pt"))  # what did not fit was spilled


def test_spilled_shards_are_reused_by_a_later_run_and_a_corrupt_one_is_recomputed(
    loaded, questions, tmp_path
):
    settings = EvalSettings(batch_size=3, cache_budget_bytes=0, cache_dir=tmp_path)
    first = Evaluator(loaded, questions, settings).run()
    shards = sorted(tmp_path.glob("*.pt"))
    assert len(shards) == 4
    shards[0].write_bytes(b"truncated")
    later = Evaluator(loaded, questions, settings)
    again = later.run()
    assert [r.predicted for r in again] == [r.predicted for r in first]
    assert later.features.disk_reads == 3  # the corrupt shard was recomputed, not trusted
    assert shards[0].stat().st_size > 100


def test_the_evaluator_is_a_scorer_of_any_request_list(loaded, questions, adapters):
    """As a Scorer (issue 29 item 5) it scores request lists it was not built with, under the adapter
    it has attached, exactly as an evaluator built for them does; and the HF scorer trains through the
    same LoRA recipe."""
    from vlmtransfer.evaluate.hf import HFScorer
    from vlmtransfer.evaluate.scorer import Request, TrainableScorer, evaluate_requests

    scorer = HFScorer(loaded, EvalSettings(batch_size=4, mode="both"))
    assert isinstance(scorer, TrainableScorer)
    some = [Request(*item) for item in questions[::2]]
    for adapter in (None, adapters[0]):
        expected = Evaluator(loaded, some, EvalSettings(batch_size=4, mode="both")).run(adapter)
        assert evaluate_requests(scorer, some, "both", adapter) == expected
    scorer.attach(adapters[0])
    try:
        with pytest.raises(ValueError, match="attached already"):
            scorer.attach(adapters[1])
        tuned = scorer.score_choices(some)
    finally:
        scorer.detach()
    assert "peft_config" not in vars(loaded.model)
    assert tuned != scorer.score_choices(some)
