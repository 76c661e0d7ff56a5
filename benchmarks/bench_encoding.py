"""Encoding questions for training: the processor with the images for every question (which also makes
the pixels, then discarded) against vlmtransfer's ``encode_question``, which learns each image size's
placeholder count from one full processor call, checks it reproduces that call exactly, and then
tokenises text only.

Run: ``python benchmarks/bench_encoding.py [--task Syn_Forensic_Detection] [--questions 64]``. Prints
both times and checks that the token ids agree. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import time


def measure(task: str = "Syn_Forensic_Detection", questions: int = 64, threads: int = 1) -> dict[str, float]:
    """Seconds to encode ``questions`` training questions of ``task`` both ways (the memo of learnt
    placeholder counts emptied first, so the learning call is counted), and the images per question."""
    import torch

    from vlmtransfer.data.prompts import render_prompt
    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.models import encoding, load_model

    torch.set_num_threads(threads)
    processor = load_model("tiny").processor
    items = list(generate_examples(task, "train", questions, seed=0))
    texts = [render_prompt(record, processor, with_answer=True) for record, _ in items]
    processor(text=[texts[0]], images=list(items[0][1]), return_tensors="pt")  # warm-up, for both

    started = time.perf_counter()
    full = [processor(text=[text], images=list(images), return_tensors="pt") for text, (_, images) in
            zip(texts, items, strict=True)]  # fmt: skip
    full_seconds = time.perf_counter() - started

    encoding._PLACEHOLDERS.clear()
    started = time.perf_counter()
    fast = [encoding.encode_question(record, images, processor, with_answer=True) for record, images in items]
    fast_seconds = time.perf_counter() - started
    for one, other in zip(full, fast, strict=True):
        assert one["input_ids"][0].tolist() == other.tensors["input_ids"].tolist(), "token ids differ"
    return {
        "questions": questions,
        "images_per_question": len(items[0][1]),
        "full_processor_s": full_seconds,
        "encode_question_s": fast_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="Syn_Forensic_Detection")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    t = measure(args.task, args.questions, args.threads)
    print(f"{args.task}: {args.questions} training questions x {t['images_per_question']} images")
    print(
        f"{'full processor call per question (pixels made and discarded)':<64}{t['full_processor_s']:>8.2f} s"
    )
    print(
        f"{'encode_question (placeholder counts learnt once, text only)':<64}{t['encode_question_s']:>8.2f} s"
    )
    print(f"{'  speed-up':<64}{t['full_processor_s'] / t['encode_question_s']:>8.0f}x")


if __name__ == "__main__":
    main()
