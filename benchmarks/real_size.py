"""Evaluation at real width: the Qwen2.5-VL 3B architecture (random weights, reduced depth on CPU) on
BLINK-sized images, the obvious approach against vlmtransfer's, with where the time goes.

(a) obvious, as peers do it: per model (the base, then each adapter) build the base, merge the adapter,
    and generate greedily one question at a time, parsing the answer;
(b) vlmtransfer loglik: the base built once, questions encoded once, vision features computed once and
    reused for every adapter, adapters swapped, answer letters scored in one batched forward pass.

Also measured: the share of (b)'s first (uncached) pass spent in the vision tower, and the cached
features' bytes per question (what the vision cache holds in memory). Prints a table; asserts nothing.
With a GPU (``--device cuda``) it runs at full depth in bf16 (``--layers 0 --vision-depth 0``).
Run: ``python benchmarks/real_size.py [--preset qwen2.5-vl-3b] [--layers 2] [--vision-depth 2]
[--questions 6] [--adapters 2] [--image-size 700]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="qwen2.5-vl-3b")
    parser.add_argument("--layers", type=int, default=2, help="language-model layers (0: all)")
    parser.add_argument("--vision-depth", type=int, default=2, help="vision blocks (0: all)")
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--adapters", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=700)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.evaluate import EvalSettings, Evaluator
    from vlmtransfer.finetune.lora import LoraSettings, finetune_lora
    from vlmtransfer.finetune.trainer import TrainSettings
    from vlmtransfer.models import load_model
    from vlmtransfer.models.encoding import encode_images, encode_question
    from vlmtransfer.models.loading import LoadOptions

    torch.set_num_threads(args.threads)
    options = LoadOptions(
        random_weights=True,
        device=args.device,
        num_layers=args.layers or None,
        vision_depth=args.vision_depth or None,
    )
    loaded = load_model(args.preset, options)
    items = list(generate_examples("Syn_Counting", "val", args.questions, seed=0, image_size=args.image_size))
    tokens = encode_question(*items[0], loaded.processor).length

    with tempfile.TemporaryDirectory() as tmp:
        adapters = []
        train = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items[:2]]
        for k in range(args.adapters):
            out = Path(tmp) / f"a{k}"
            settings = TrainSettings(learning_rate=1e-3, max_steps=1, batch_size=2, seed=k)
            finetune_lora(
                loaded.model, train, out, lora=LoraSettings(), settings=settings, processor=loaded.processor
            )
            adapters.append(out)
        models = [None, *adapters]

        started = time.perf_counter()
        evaluator = Evaluator(loaded, items, EvalSettings(batch_size=4))
        fast = [evaluator.run(adapter) for adapter in models]
        fast_seconds = time.perf_counter() - started

        encoded = [encode_question(r, images, loaded.processor) for r, images in items]
        started = time.perf_counter()
        features = encode_images(loaded.model, encoded, loaded.processor, batch_size=4)
        vision_seconds = time.perf_counter() - started
        feature_bytes = sum(f.nbytes for f in features if f is not None) / len(items)

        slow_seconds = _obvious_seconds(args.preset, options, items, models)

    header = (
        f"{args.preset} at real width: {loaded.model.config.text_config.num_hidden_layers} language layers,"
        f" {loaded.model.config.vision_config.depth} vision blocks, {loaded.dtype}, {loaded.device},"
        f" {args.threads} threads; {len(items)} questions of one {args.image_size}-px image"
        f" ({tokens} tokens each) x {len(models)} models"
    )
    print(header)
    _table(len(items) * len(models), slow_seconds, fast_seconds)
    print(
        f"vision tower: {vision_seconds:.1f} s for {len(items)} questions"
        f" ({vision_seconds / fast_seconds:.0%} of vlmtransfer's whole evaluation of {len(models)} models);"
        f" cached features {feature_bytes / 1e6:.2f} MB per question"
    )
    del fast


def _obvious_seconds(preset: str, options, items: list, models: list) -> float:
    """Per model: build the base afresh, merge the adapter, generate one question at a time, parse."""
    from vlmtransfer.evaluate import EvalSettings, Evaluator
    from vlmtransfer.models import load_model

    started = time.perf_counter()
    for adapter in models:
        fresh = load_model(preset, options)
        Evaluator(fresh, items, EvalSettings(mode="generate", batch_size=1, cache_vision=False)).run(adapter)
    return time.perf_counter() - started


def _table(answers: int, slow_seconds: float, fast_seconds: float) -> None:
    print("| approach | questions/s | speed-up |")
    print("|---|---|---|")
    print(
        f"| obvious: build + merge + generate one at a time + parse | {answers / slow_seconds:.2f} | 1.0x |"
    )
    print(
        f"| vlmtransfer loglik: swapped adapters, vision cache, batched | {answers / fast_seconds:.2f}"
        f" | {slow_seconds / fast_seconds:.1f}x |"
    )


if __name__ == "__main__":
    main()
