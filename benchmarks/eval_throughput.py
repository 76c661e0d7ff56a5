"""Evaluating a base model and 8 LoRA adapters on 6 tasks: the obvious approach against vlmtransfer's.

(a) obvious, as peers do it: per model (base, then each adapter) load the base from disk, merge the
    adapter, and for each question generate greedily and parse the answer;
(b) vlmtransfer: load the base once, encode every question once, compute vision features once, swap
    the adapters, score the answer letters in one batched forward pass (loglik mode);
(c) vlmtransfer in generate mode (the same protocol as (a), with swapping, batching and the cache).

Each approach runs in its own subprocess so peak RSS is its own. Prints questions/second (questions x
models / wall time), speed-ups, peak RSS and how often the predictions agree. Asserts nothing about time.
Run: ``python benchmarks/eval_throughput.py [--per-task 20] [--adapters 8]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = (
    "Syn_Counting",
    "Syn_Relative_Depth",
    "Syn_Spatial_Relation",
    "Syn_Visual_Similarity",
    "Syn_Jigsaw",
    "Syn_Forensic_Detection",
)


def questions(per_task: int):
    from vlmtransfer.data.synthetic import generate_examples

    return [item for task in TASKS for item in generate_examples(task, "val", per_task, seed=0)]


def make_adapters(model: str, root: Path, count: int) -> list[Path]:
    """Short real finetunes (one per task, cycling), so every adapter changes the answers."""
    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.finetune.lora import LoraSettings, finetune_lora
    from vlmtransfer.finetune.trainer import TrainSettings
    from vlmtransfer.models import load_model
    from vlmtransfer.models.encoding import encode_question

    loaded = load_model(model)
    paths = []
    for k in range(count):
        task = TASKS[k % len(TASKS)]
        items = generate_examples(task, "train", 32, seed=k)
        encoded = [encode_question(r, images, loaded.processor, with_answer=True) for r, images in items]
        settings = TrainSettings(learning_rate=2e-3, max_steps=8, batch_size=8, seed=k)
        path = root / f"adapter_{k}"
        finetune_lora(
            loaded.model, encoded, path, lora=LoraSettings(), settings=settings, processor=loaded.processor
        )
        paths.append(path)
    return paths


def obvious(model: str, adapters: list[str], items: list) -> list[list[str | None]]:
    import torch
    from peft import PeftModel

    from vlmtransfer.data.parsing import parse_choice
    from vlmtransfer.data.prompts import render_prompt
    from vlmtransfer.models import load_model

    predictions = []
    for adapter in [None, *adapters]:
        loaded = load_model(model)
        network = loaded.model
        if adapter:
            network = PeftModel.from_pretrained(network, adapter).merge_and_unload()
        answers = []
        for record, images in items:
            batch = loaded.processor(
                text=[render_prompt(record, loaded.processor)], images=images, return_tensors="pt"
            )
            with torch.inference_mode():
                out = network.generate(**batch, max_new_tokens=8, do_sample=False)
            text = loaded.processor.tokenizer.decode(
                out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True
            )
            answers.append(parse_choice(text, list(record.choices)))
        predictions.append(answers)
    return predictions


def ours(model: str, adapters: list[str], items: list, mode: str) -> list[list[str | None]]:
    from vlmtransfer.evaluate import EvalSettings, Evaluator
    from vlmtransfer.models import load_model

    evaluator = Evaluator(load_model(model), items, EvalSettings(mode=mode, batch_size=16))
    predictions = [[r.predicted for r in evaluator.run(adapter)] for adapter in [None, *adapters]]
    evaluator.close()
    return predictions


def child(args: argparse.Namespace) -> None:
    """Run one approach and print its predictions, wall time and peak RSS as JSON.

    Imports and rendering the questions are identical for every approach and not timed."""
    import peft  # noqa: F401 - imported before timing, as every approach needs it
    from transformers.utils import logging

    import vlmtransfer.evaluate  # noqa: F401

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    items = questions(args.per_task)
    start = time.perf_counter()
    if args.approach == "obvious":
        predictions = obvious(args.model, args.adapter, items)
    else:
        predictions = ours(args.model, args.adapter, items, args.approach)
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "predictions": predictions}))


def spawn(approach: str, model: str, adapters: list[Path], per_task: int) -> dict:
    command = [sys.executable, __file__, "--child", approach, "--model", model, "--per-task", str(per_task)]
    for adapter in adapters:
        command += ["--adapter", str(adapter)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def agreement(a: list[list[str | None]], b: list[list[str | None]]) -> float:
    pairs = [(x, y) for row_a, row_b in zip(a, b, strict=True) for x, y in zip(row_a, row_b, strict=True)]
    return sum(x == y for x, y in pairs) / len(pairs)


APPROACHES = (
    ("obvious", "(a) obvious: reload + merge + generate + parse"),
    ("loglik", "(b) vlmtransfer loglik (swap, cache, batch)"),
    ("generate", "(c) vlmtransfer generate (swap, cache, batch)"),
)


def measure(model: str = "tiny", per_task: int = 20, adapters: int = 8) -> dict[str, dict[str, float]]:
    """Per approach: questions/s (questions x models / wall time), speed-up over the obvious one, peak
    RSS in MB and agreement of its predictions with the obvious one's (percent). Each approach runs in
    its own subprocess; ``evaluations`` is the number of (question, model) pairs."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_adapters(model, Path(tmp), adapters)
        runs = {name: spawn(name, model, paths, per_task) for name, _ in APPROACHES}
    n = per_task * len(TASKS) * (adapters + 1)
    obvious = runs["obvious"]
    return {
        name: {
            "evaluations": n,
            "questions_per_s": n / run["seconds"],
            "speedup": obvious["seconds"] / run["seconds"],
            "rss_mb": run["rss_mb"],
            "agreement_pct": 100 * agreement(obvious["predictions"], run["predictions"]),
        }
        for name, run in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model", default="tiny", help="model to evaluate (default: the embedded tiny model)"
    )
    parser.add_argument("--per-task", type=int, default=20, help="questions per task")
    parser.add_argument("--adapters", type=int, default=8, help="number of adapters")
    parser.add_argument("--child", dest="approach", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--adapter", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.approach:
        child(args)
        return
    runs = measure(args.model, args.per_task, args.adapters)
    print(
        f"{len(TASKS)} tasks x {args.per_task} questions x (base + {args.adapters} adapters)"
        f" = {runs['obvious']['evaluations']} evaluations"
    )
    for name, label in APPROACHES:
        run = runs[name]
        print(
            f"{label:50s} {run['questions_per_s']:8.1f} q/s  {run['speedup']:5.1f}x  "
            f"peak RSS {run['rss_mb']:.0f} MB  agreement with (a) {run['agreement_pct']:.1f} %"
        )


if __name__ == "__main__":
    main()
