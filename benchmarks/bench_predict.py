"""Predicting a new source's transfer row: gradient alignment against the obvious way, a real finetune.

(a) obvious: finetune LoRA on the new source (the demo's budget: rank 16, lr 2e-3, 192 steps of 8, image
    features cached) and evaluate every target (log-likelihood, vision cached) to get its PGF row; the
    targets' encoding and vision features are per study, so they are made before the clock starts;
(b) vlmtransfer predict: one LoRA-gradient pass over ``--questions`` training questions of the source
    (the targets' gradients are taken once per study and shared by every new source, so they are not
    counted against one row; their one-off cost is printed too).

Same model, data and threads. Prints seconds per row and the ratio; asserts nothing about time.
Run: ``python benchmarks/bench_predict.py [--targets 8] [--val 400] [--questions 64] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vlmtransfer.study.demo import DEMO_TASKS as TARGETS  # the demo's eight targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="Syn_Relative_Reflectance")
    parser.add_argument("--targets", type=int, default=len(TARGETS))
    parser.add_argument("--train", type=int, default=500)
    parser.add_argument("--val", type=int, default=400)
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=192)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.evaluate.engine import EvalSettings, Evaluator
    from vlmtransfer.finetune.alignment import lora_gradients
    from vlmtransfer.finetune.lora import LoraSettings, finetune_lora, training_image_features
    from vlmtransfer.finetune.trainer import TrainSettings
    from vlmtransfer.models import load_model
    from vlmtransfer.models.encoding import encode_question

    torch.set_num_threads(args.threads)
    loaded = load_model("tiny")
    processor = loaded.processor
    targets = TARGETS[: args.targets]
    train_items = list(generate_examples(args.source, "train", args.train, seed=0))
    val_items = [q for t in targets for q in generate_examples(t, "val", args.val, seed=0)]
    lora = LoraSettings(rank=16, alpha=32)

    # Per study, not per row: the targets' questions are encoded and their vision features computed once.
    evaluator = Evaluator(loaded, val_items, EvalSettings(batch_size=32))
    evaluator.run()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        encoded = [encode_question(r, images, processor, with_answer=True) for r, images in train_items]
        features = training_image_features(loaded.model, encoded, processor)
        settings = TrainSettings(learning_rate=2e-3, max_steps=args.steps, batch_size=8, seed=0)
        adapter = finetune_lora(
            loaded.model,
            encoded,
            Path(tmp) / "a",
            lora=lora,
            settings=settings,
            processor=processor,
            image_features=features,
        ).adapter_dir
        evaluator.run(adapter)
        finetune_row = time.perf_counter() - started

    started = time.perf_counter()
    source = {
        "source": [
            encode_question(r, images, processor, with_answer=True)
            for r, images in train_items[: args.questions]
        ]
    }
    lora_gradients(loaded.model, source, processor, lora, seed=0)
    gradient_row = time.perf_counter() - started

    started = time.perf_counter()
    shared = {
        t: [
            encode_question(r, images, processor, with_answer=True)
            for r, images in generate_examples(t, "val", args.questions, seed=0)
        ]
        for t in targets
    }
    lora_gradients(loaded.model, shared, processor, lora, seed=0)
    targets_once = time.perf_counter() - started

    print(f"source {args.source}, {len(targets)} targets x {args.val} val questions, {args.threads} threads")
    print(f"(a) finetune {args.steps} steps + evaluate every target: {finetune_row:.1f} s per row")
    print(f"(b) gradient alignment over {args.questions} questions:    {gradient_row:.1f} s per row")
    print(f"    targets' gradients, once per study:               {targets_once:.1f} s")
    print(f"speed-up per new row: {finetune_row / gradient_row:.1f}x")


if __name__ == "__main__":
    main()
