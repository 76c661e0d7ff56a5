"""LoRA on the vision tower too (``LoraSettings(vision=True)``): pixels preprocessed once against the
image processor at every step and for every adapter.

With the vision tower adapted, its features change at every step and with every adapter, so they cannot
be computed once; what can is the image processor's work (resizing, normalising, patching), which on the
tiny model's small images costs as much as the tower itself.

Training: (a) obvious: the image processor and the tower every step; (b) vlmtransfer: the pixels
preprocessed once (``training_vision_inputs``, included in the time), the tower every step.
Evaluation of two vision adapters on the same questions: (a) obvious: the vision cache off (the image
processor for every batch of every adapter); (b) vlmtransfer: the cache on, which for such adapters keeps
the preprocessed pixels (the first adapter pays for them, the second reuses them). The language-only
adapter's evaluation, whose features are cached, is printed for scale.

Same questions, seed and settings; prints seconds, speed-ups and the largest differences (float rounding
only). Asserts nothing about time.
Run: ``python benchmarks/vision_lora.py [--task Syn_Jigsaw] [--questions 256] [--steps 48] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def measure(
    task: str = "Syn_Jigsaw", questions: int = 256, steps: int = 48, threads: int = 2
) -> dict[str, float]:
    """Seconds of each approach (keys ``train_*``, ``eval_*``) and the largest differences between
    their adapters' weights and their answers' log-probabilities."""
    import torch
    from safetensors.torch import load_file

    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.evaluate import EvalSettings, Evaluator
    from vlmtransfer.finetune.lora import LoraSettings, finetune_lora, training_vision_inputs
    from vlmtransfer.finetune.trainer import TrainSettings
    from vlmtransfer.models import load_model
    from vlmtransfer.models.encoding import encode_question

    torch.set_num_threads(threads)
    loaded = load_model("tiny")
    items = list(generate_examples(task, "train", questions, seed=0))
    encoded = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items]
    val = list(generate_examples(task, "val", questions, seed=0))
    vision = LoraSettings(rank=16, alpha=32, vision=True)

    def finetune(out: Path, lora: LoraSettings, seed: int = 0, **options) -> float:
        settings = TrainSettings(learning_rate=2e-3, max_steps=steps, batch_size=8, seed=seed)
        started = time.perf_counter()
        finetune_lora(
            loaded.model, encoded, out, lora=lora, settings=settings, processor=loaded.processor, **options
        )
        return time.perf_counter() - started

    def evaluate(adapters: list[Path], **options) -> tuple[float, list[list]]:
        evaluator = Evaluator(loaded, val, EvalSettings(batch_size=32, **options))
        try:
            started = time.perf_counter()
            results = [evaluator.run(adapter) for adapter in adapters]
            return time.perf_counter() - started, results
        finally:
            evaluator.close()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train_every = finetune(root / "every", vision, cache_vision=False)
        started = time.perf_counter()
        pixels = training_vision_inputs(loaded.model, encoded, loaded.processor, vision)
        preprocess = time.perf_counter() - started
        train_once = finetune(root / "once", vision, image_features=pixels) + preprocess
        finetune(root / "second", vision, seed=1, image_features=pixels)
        finetune(root / "language", LoraSettings(rank=16, alpha=32))
        first = load_file(root / "every" / "adapter_model.safetensors")
        second = load_file(root / "once" / "adapter_model.safetensors")
        worst_weight = max(float((first[k] - second[k]).abs().max()) for k in first)
        adapters = [root / "once", root / "second"]
        eval_plain, plain = evaluate(adapters, cache_vision=False)
        eval_cached, cached = evaluate(adapters)
        eval_language, _ = evaluate([root / "language", root / "language"])
        worst_logprob = max(
            abs(a - b)
            for run_a, run_b in zip(plain, cached, strict=True)
            for x, y in zip(run_a, run_b, strict=True)
            for a, b in zip(x.logprobs, y.logprobs, strict=True)
        )
    return {
        "images_per_question": len(items[0][1]),
        "train_every_s": train_every,
        "train_once_s": train_once,
        "eval_plain_s": eval_plain,
        "eval_cached_s": eval_cached,
        "eval_language_s": eval_language,
        "max_weight_difference": worst_weight,
        "max_logprob_difference": worst_logprob,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="Syn_Jigsaw")
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    t = measure(args.task, args.questions, args.steps, args.threads)
    print(
        f"{args.task}: {args.questions} questions x {t['images_per_question']} images, vision LoRA rank 16,"
        f" {args.steps} steps of 8, {args.threads} threads"
    )
    print(f"{'approach':<64}{'seconds':>9}{'speed-up':>10}")
    train, plain = t["train_every_s"], t["eval_plain_s"]
    rows = (
        ("train, obvious: image processor + tower every step", train, train),
        ("train, vlmtransfer: pixels once (included) + tower every step", t["train_once_s"], train),
        ("evaluate 2 adapters, obvious: cache off", plain, plain),
        ("evaluate 2 adapters, vlmtransfer: pixels cached", t["eval_cached_s"], plain),
        ("(scale) evaluate 2 language-only adapters, features cached", t["eval_language_s"], plain),
    )
    for name, seconds, reference in rows:
        print(f"{name:<64}{seconds:>9.1f}{reference / seconds:>9.1f}x")
    print(
        "largest differences, once vs every step / cached vs plain:"
        f" weights {t['max_weight_difference']:.1e}, log-probabilities {t['max_logprob_difference']:.1e}"
    )


if __name__ == "__main__":
    main()
