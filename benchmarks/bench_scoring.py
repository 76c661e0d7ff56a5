"""Multiple-choice scoring speed on the tiny Qwen2.5-VL (CPU): vlmtransfer's one-pass batched scorer
against the obvious approaches on the same questions.

Run: ``python benchmarks/bench_scoring.py [--questions N]``. Prints questions/second; asserts nothing
about time. The model is untrained, which does not change the cost of a forward pass.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from vlmtransfer.data.parsing import parse_choice
from vlmtransfer.data.prompts import render_prompt
from vlmtransfer.data.synthetic import SYNTHETIC_TASKS, generate_examples
from vlmtransfer.evaluate import answer_position, score_questions
from vlmtransfer.models import load_model
from vlmtransfer.models.tiny import build_tiny_model


def full_logits_one_by_one(loaded, items) -> None:
    """The obvious way: one question at a time, logits for every position."""
    for record, images in items:
        prefix = answer_position(loaded.processor.tokenizer, record.letters).prefix
        text = render_prompt(record, loaded.processor) + prefix
        batch = loaded.processor(text=[text], images=images, return_tensors="pt")
        with torch.inference_mode():
            loaded.model(**batch).logits.log_softmax(-1)


def generate_and_parse(loaded, items) -> None:
    """The paper-faithful way: greedy generation, then the rule-based parser."""
    for record, images in items:
        batch = loaded.processor(
            text=[render_prompt(record, loaded.processor)], images=images, return_tensors="pt"
        )
        with torch.inference_mode():
            out = loaded.model.generate(**batch, max_new_tokens=8, do_sample=False)
        text = loaded.processor.tokenizer.decode(
            out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True
        )
        parse_choice(text, list(record.choices))


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=96)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_model(str(build_tiny_model(Path(tmp) / "tiny", seed=0)))
    per_task = max(1, args.questions // len(SYNTHETIC_TASKS))
    items = [item for task in SYNTHETIC_TASKS for item in generate_examples(task, "val", per_task, seed=1)]
    score_questions(loaded, items[:4])  # warm-up
    rows = [
        (
            "one forward per question, all-position logits (obvious)",
            timed(full_logits_one_by_one, loaded, items),
        ),
        (
            "greedy generation (8 tokens) + parse_choice (paper-faithful)",
            timed(generate_and_parse, loaded, items),
        ),
        (
            "vlmtransfer: last-position letter logprobs, batches of 16",
            timed(lambda: score_questions(loaded, items, batch_size=16)),
        ),
    ]
    baseline = rows[0][1]
    print(f"{len(items)} questions, tiny Qwen2.5-VL on {torch.get_num_threads()} CPU threads")
    for name, seconds in rows:
        print(f"{name:<66} {len(items) / seconds:8.1f} q/s   {baseline / seconds:5.1f}x")


if __name__ == "__main__":
    main()
