"""The scorer contract with the dummy scorer: exact answers from the documented hashes, adapters that
change them, the protocols of ``evaluate_requests``, and the registry (none of it needs torch)."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from vlmtransfer.data.records import MCQRecord
from vlmtransfer.errors import InputError
from vlmtransfer.evaluate.dummy import ERROR, GAIN, SPREAD, DummyScorer, read_dummy_adapter
from vlmtransfer.evaluate.registry import SCORERS, ScorerOptions, get_scorer, load_scorer
from vlmtransfer.evaluate.scorer import Request, Scorer, TrainableScorer, evaluate_requests
from vlmtransfer.finetune.record import learning_rate_factor, read_loss_curve, total_steps, warmup_steps
from vlmtransfer.settings import LoraSettings, TrainSettings


def _u(*parts):
    """The module docstring's u(...): SHA-256 of the parts joined by the unit separator, in [0, 1)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _mcq(task, k, answer="B"):
    return MCQRecord(f"q{k}", task, (), f"Question {k}?", ("one", "two", "three"), answer, {})


def _number(task, k, answer="12"):
    return MCQRecord(f"n{k}", task, (), f"How many {k}?", (), answer, {}, answer_type="number")


def _requests(task="A", n=8):
    return [Request(_mcq(task, k, "ABC"[k % 3]), ()) for k in range(n)]


def _train(scorer, requests, out, seed=0, **train):
    settings = TrainSettings(max_steps=3, batch_size=4, seed=seed, **train)
    return scorer.train_adapter(
        requests, out, lora=LoraSettings(), settings=settings, provenance={"by": "test"}
    )


def test_the_dummy_is_a_registered_trainable_scorer():
    scorer = load_scorer("dummy", "toy", ScorerOptions())
    assert isinstance(scorer, DummyScorer)
    assert isinstance(scorer, Scorer)
    assert isinstance(scorer, TrainableScorer)
    assert scorer.versions() == {"vlmtransfer": scorer.versions()["vlmtransfer"]}  # no ML library
    assert set(SCORERS) >= {"hf", "dummy"}
    assert SCORERS["hf"].libraries == ("torch", "transformers", "peft")
    assert SCORERS["dummy"].libraries == ()


def test_an_unknown_scorer_names_the_field_and_the_near_match():
    with pytest.raises(InputError) as caught:
        get_scorer("dumy")
    assert caught.value.field == "scorer"
    assert caught.value.problem == "unknown scorer 'dumy' (did you mean 'dummy'?); known: hf, dummy"


def test_base_log_probabilities_are_the_documented_hashes():
    record = _mcq("A", 0)
    (values,) = DummyScorer("toy").score_choices([Request(record, ())])
    logits = [SPREAD * _u("toy", "A", "q0", letter) for letter in "ABC"]
    norm = math.log(sum(math.exp(v) for v in logits) + 1.0)
    assert values == pytest.approx([v - norm for v in logits], abs=1e-12)
    assert sum(math.exp(v) for v in values) < 1  # the rest of the vocabulary keeps some mass
    assert DummyScorer("toy").score_choices([Request(record, ())]) == [values]  # deterministic
    assert DummyScorer("other").score_choices([Request(record, ())]) != [values]  # models differ


def test_generation_answers_the_best_letter_and_numbers_near_the_answer():
    scorer = DummyScorer("toy")
    requests = _requests()
    texts = scorer.generate(requests)
    for request, values, text in zip(requests, scorer.score_choices(requests), texts, strict=True):
        assert text == f"({request.record.letters[values.index(max(values))]})"
    (number,) = scorer.generate([Request(_number("N", 0), ())])
    expected = 12 * (1 + ERROR * (_u("toy", "N", "n0", "number") - 0.5))
    assert float(number) == pytest.approx(expected, rel=1e-5)


def test_an_adapter_changes_the_answers_and_helps_its_own_task(tmp_path):
    scorer = DummyScorer("toy")
    questions = _requests("A", 30) + _requests("B", 30)
    base = evaluate_requests(scorer, questions, "loglik")
    trained = _train(scorer, _requests("A", 12), tmp_path / "a")
    assert (trained.examples, trained.steps, trained.trainable_parameters) == (12, 3, 0)
    tuned = evaluate_requests(scorer, questions, "loglik", trained.path)
    assert [r.logprobs for r in tuned] != [r.logprobs for r in base]
    assert [r.predicted for r in tuned] != [r.predicted for r in base]
    correct = {run: {t: sum(r.correct for r in results if r.task == t) for t in "AB"}
               for run, results in (("base", base), ("tuned", tuned))}  # fmt: skip
    assert correct["tuned"]["A"] > correct["base"]["A"]  # GAIN on the correct letter of its own task
    # exactly the documented logits: base + the adapter's own hash + its transfer on the answer
    key = json.loads((trained.path / "adapter_config.json").read_text())["key"]
    record = questions[0].record
    logits = [
        SPREAD * _u("toy", "A", record.id, letter)
        + SPREAD * _u(key, "A", record.id, letter)
        + (GAIN if letter == record.answer else 0.0)
        for letter in "ABC"
    ]
    norm = math.log(sum(math.exp(v) for v in logits) + 1.0)
    assert tuned[0].logprobs == pytest.approx(tuple(v - norm for v in logits), abs=1e-12)
    # the adapter is detached after the run: the base answers again
    assert evaluate_requests(scorer, questions, "loglik") == base


def test_a_transfer_is_fixed_per_source_and_target_and_the_seed_adds_noise(tmp_path):
    scorer = DummyScorer("toy")
    first = read_dummy_adapter(_train(scorer, _requests("A"), tmp_path / "s0", seed=0).path)
    second = read_dummy_adapter(_train(scorer, _requests("A"), tmp_path / "s1", seed=1).path)
    assert first.key != second.key
    assert first.transfer("B") == second.transfer("B") == pytest.approx(GAIN * (_u("toy", "A", "B") - 0.5))
    assert first.transfer("A") == GAIN


def test_the_same_training_writes_the_same_adapter(tmp_path):
    scorer = DummyScorer("toy")
    one = _train(scorer, _requests(), tmp_path / "one")
    two = _train(scorer, list(reversed(_requests())), tmp_path / "two")  # order does not matter
    assert (one.path / "adapter_config.json").read_text() == (two.path / "adapter_config.json").read_text()
    other = _train(scorer, _requests(), tmp_path / "other", learning_rate=1e-3)
    assert (other.path / "adapter_config.json").read_text() != (one.path / "adapter_config.json").read_text()
    record = json.loads((one.path / "training.json").read_text())
    assert record["by"] == "test"  # the provenance
    assert (record["examples"], record["tasks"], record["steps"]) == (8, {"A": 8}, 3)
    assert record["train"]["seed"] == 0


def test_the_loss_curve_follows_the_schedule(tmp_path):
    settings = TrainSettings(epochs=2, batch_size=2, warmup_ratio=0.25, schedule="cosine")
    result = DummyScorer("toy").train_adapter(
        _requests(), tmp_path / "a", lora=LoraSettings(), settings=settings
    )
    curve = read_loss_curve(result.path)
    steps = total_steps(8, settings)
    assert len(curve) == steps == 8
    warmup = warmup_steps(settings, steps)
    assert [p.learning_rate for p in curve] == pytest.approx(
        [settings.learning_rate * learning_rate_factor(k, warmup, steps, "cosine") for k in range(steps)],
        rel=1e-5,  # loss_curve.csv keeps 6 significant digits
    )
    assert curve[-1].loss < curve[0].loss
    assert (result.first_loss, result.final_loss) == pytest.approx((curve[0].loss, curve[-1].loss), abs=1e-6)


def test_attach_refuses_what_is_not_its_adapter(tmp_path):
    scorer = DummyScorer("toy")
    with pytest.raises(InputError, match="adapter directory not found"):
        scorer.attach(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no adapter_config\.json"):
        scorer.attach(tmp_path / "empty")
    lora = tmp_path / "lora"
    lora.mkdir()
    (lora / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(InputError, match="an adapter of another scorer") as caught:
        scorer.attach(lora)
    assert caught.value.source == str(lora / "adapter_config.json")
    made = _train(DummyScorer("other"), _requests(), tmp_path / "other").path
    with pytest.raises(InputError, match="an adapter of dummy model 'other', not of 'toy'"):
        scorer.attach(made)
    mine = _train(scorer, _requests(), tmp_path / "mine").path
    scorer.attach(mine)
    with pytest.raises(ValueError, match="attached already"):
        scorer.attach(mine)
    scorer.detach()
    scorer.detach()  # a no-op


def test_the_protocols_split_and_merge_as_documented():
    scorer = DummyScorer("toy")
    questions = [*_requests("A", 4), Request(_number("N", 0), ())]
    loglik = evaluate_requests(scorer, questions, "loglik")
    generate = evaluate_requests(scorer, questions, "generate")
    both = evaluate_requests(scorer, questions, "both")
    assert all(r.logprobs is not None and r.text is None for r in loglik[:4])
    assert all(r.logprobs is None and r.text is not None for r in generate[:4])
    for scored, greedy, merged in zip(loglik[:4], generate[:4], both[:4], strict=True):
        assert (merged.predicted, merged.logprobs) == (scored.predicted, scored.logprobs)
        assert (merged.text, merged.generated) == (greedy.text, greedy.generated)
    # a numeric question is answered by generation in every mode, and scored by its MRA
    assert loglik[4] == generate[4] == both[4]
    assert loglik[4].score is not None
    assert loglik[4].logprobs is None
