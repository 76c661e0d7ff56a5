"""LoRA finetuning of the tiny model: image features computed once against pixels every step.

(a) obvious: every optimiser step runs the image processor and the vision tower on its batch's images
    (as a generic trainer does);
(b) vlmtransfer: the vision tower and merger are frozen under LoRA, so each training question's image
    features are computed once (``training_image_features``) and every step runs the language model only;
    a study's seeds of one source share them, so (c) is (b) with the features reused for a second seed.

Same questions, seed and settings; prints steps/second, the speed-up and the largest difference between
the two adapters' weights (float rounding only). Asserts nothing about time.
Run: ``python benchmarks/train_throughput.py [--task Syn_Forensic_Detection] [--steps 64] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def measure(
    task: str = "Syn_Forensic_Detection", questions: int = 256, steps: int = 64, threads: int = 2
) -> dict[str, float]:
    """Seconds of the three finetunes (``pixels``: the vision tower every step; ``cached``: features
    computed once, their computation included; ``reused``: features from an earlier seed), with the
    images per question and the largest weight difference between the pixel and cached adapters."""
    import torch
    from safetensors.torch import load_file

    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.finetune.lora import LoraSettings, finetune_lora, training_image_features
    from vlmtransfer.finetune.trainer import TrainSettings
    from vlmtransfer.models import load_model
    from vlmtransfer.models.encoding import encode_question

    torch.set_num_threads(threads)
    loaded = load_model("tiny")
    items = list(generate_examples(task, "train", questions, seed=0))
    encoded = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items]
    settings = TrainSettings(learning_rate=2e-3, max_steps=steps, batch_size=8, seed=0)
    lora = LoraSettings()

    def finetune(out: Path, **options) -> float:
        started = time.perf_counter()
        finetune_lora(
            loaded.model, encoded, out, lora=lora, settings=settings, processor=loaded.processor, **options
        )
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pixels = finetune(root / "pixels", cache_vision=False)
        started = time.perf_counter()
        features = training_image_features(loaded.model, encoded, loaded.processor)
        encode_seconds = time.perf_counter() - started
        cached = finetune(root / "cached", image_features=features) + encode_seconds
        reused = finetune(root / "reused", image_features=features)
        first = load_file(root / "pixels" / "adapter_model.safetensors")
        second = load_file(root / "cached" / "adapter_model.safetensors")
        worst = max(float((first[k] - second[k]).abs().max()) for k in first)
    return {
        "images_per_question": len(items[0][1]),
        "steps": steps,
        "threads": threads,
        "pixels_s": pixels,
        "cached_s": cached,
        "reused_s": reused,
        "max_weight_difference": worst,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="Syn_Forensic_Detection")
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    t = measure(args.task, args.questions, args.steps, args.threads)
    print(
        f"{args.task}: {args.questions} questions x {t['images_per_question']} images,"
        f" {args.steps} steps of 8, {args.threads} threads"
    )
    print(f"{'approach':<52}{'seconds':>9}{'steps/s':>9}{'speed-up':>10}")
    for name, seconds in (
        ("obvious: pixels through the vision tower per step", t["pixels_s"]),
        ("vlmtransfer: features once (encoding included)", t["cached_s"]),
        ("vlmtransfer: features shared with an earlier seed", t["reused_s"]),
    ):
        print(f"{name:<52}{seconds:>9.1f}{args.steps / seconds:>9.2f}{t['pixels_s'] / seconds:>9.1f}x")
    print(f"largest adapter weight difference, cached vs pixels: {t['max_weight_difference']:.2e}")


if __name__ == "__main__":
    main()
