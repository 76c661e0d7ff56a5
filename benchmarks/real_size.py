"""Evaluation and finetuning at real width: the Qwen2.5-VL 3B architecture (random weights, reduced depth on
CPU) on BLINK-sized images, the obvious approach against vlmtransfer's, where the time goes, how close it
runs to the hardware's peak, and what the paper's full grid would take.

(a) obvious, as peers do it: per model (the base, then each adapter) build the base, merge the adapter,
    and generate greedily one question at a time, parsing the answer;
(b) vlmtransfer loglik: the base built once, questions encoded once, vision features computed once and
    reused for every adapter, adapters swapped, answer letters scored in one batched forward pass.

Also measured:

- the vision tower's time (computing every question's features once) and its share of (b);
- LoRA finetuning: tokens/s of ``--train-steps`` optimiser steps of ``--train-batch`` questions (features
  computed once beforehand, as ``finetune_lora`` does while the tower is frozen);
- model FLOP utilisation (MFU) of the vision tower, of (b)'s cached adapter runs (prefill) and of the
  finetune: model FLOPs done / time / the device's peak. Model FLOPs are those of
  :mod:`vlmtransfer.models.flops`: a language-model forward of ``T`` tokens is ``2·N·T + 2·V·n + 2·L·w·T²``
  (``N`` decoder-layer weights, ``V`` LM-head weights, ``n`` positions with logits, ``L`` layers, ``w``
  attention width; causal attention), a LoRA training step ``4·N·T + 4·V·n + 6·L·w·T²`` per sequence
  (frozen base weights: activation gradients only, hence 4·N and not full finetuning's 6·N), an image of
  ``P`` patches ``2·(E + B)·P + 2·M·P/4`` plus windowed and full attention (E patch embedding, B vision
  blocks, M merger). Padding is not counted;
- the device's peak: on a GPU, bf16 dense ``--peak-tflops`` (default: 790 for an H200, else a measured
  bf16 matmul peak); on a CPU, a measured matmul peak in the model's dtype on ``--threads`` threads
  (the best of a measurement before and one after the rest: other load on the machine lowers it);
- peak memory: the host's peak resident set (``getrusage``) and, on CUDA, ``max_memory_allocated`` during
  evaluation and during finetuning;
- the cached features' bytes per question;
- the projected time of the paper's grid (Qwen2.5-VL 3B, 7B, 32B at full depth x 13 BLINK tasks x
  ``--seeds`` seeds: per model a baseline and one evaluation per finetune on every BLINK val question,
  and one LoRA finetune per source task and seed of one epoch over ``--train-questions`` questions) at the
  efficiencies measured here (vision, prefill and finetune FLOP/s, applied to the full-depth models' FLOPs),
  against the physical limit (the grid's model FLOPs / the device's peak). BLINK questions are taken as
  the task table's images per question at ``--blink-size`` pixels each (merged image tokens as the
  processor resizes them) plus this benchmark's prompt text; each question's features are computed once
  per model (evaluation) and once per source (training, shared by its seeds).

Prints the tables; asserts nothing; returns the measurements (``main(argv)``). With a GPU
(``--device cuda``) it runs at full depth in bf16 (``--layers 0 --vision-depth 0``: ``make bench-gpu``).
Run: ``python benchmarks/real_size.py [--preset qwen2.5-vl-3b] [--layers 2] [--vision-depth 2]
[--questions 6] [--adapters 2] [--image-size 700] [--train-steps 2]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

H200_BF16_PEAK = 790e12
"""Dense bf16 FLOP/s of one H200 as this project states it (issue 25); the physical limit on that GPU."""

GRID_MODELS = ("qwen2.5-vl-3b", "qwen2.5-vl-7b", "qwen2.5-vl-32b")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--preset", default="qwen2.5-vl-3b")
    parser.add_argument("--layers", type=int, default=2, help="language-model layers (0: all)")
    parser.add_argument("--vision-depth", type=int, default=2, help="vision blocks (0: all)")
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--adapters", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=700)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto: bf16 on a capable GPU, else fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's peak (default: see above)"
    )
    parser.add_argument("--blink-size", default="1000x700", help="BLINK image size for the projection, WxH")
    parser.add_argument(
        "--train-questions", type=int, default=1000, help="per source task, for the projection"
    )
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--skip-obvious", action="store_true", help="do not time the obvious approach")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = measure(args)
    report(results)
    return results


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the report prints (see the module docstring)."""
    from vlmtransfer.data.synthetic import generate_examples
    from vlmtransfer.evaluate.scoring import answer_position
    from vlmtransfer.models import load_model
    from vlmtransfer.models.encoding import encode_question
    from vlmtransfer.models.flops import flop_counts
    from vlmtransfer.models.loading import LoadOptions

    options = LoadOptions(
        random_weights=True,
        device=args.device,
        dtype=args.dtype,
        num_layers=args.layers or None,
        vision_depth=args.vision_depth or None,
    )
    loaded = load_model(args.preset, options)
    peak_before = device_peak(loaded.device, loaded.dtype, args.peak_tflops)  # again at the end: the best
    counts = flop_counts(loaded.model)
    processor = loaded.processor
    size = args.image_size
    items = list(generate_examples("Syn_Counting", "val", args.questions, seed=0, image_size=size))
    train_items = generate_examples("Syn_Counting", "train", args.train_batch, seed=0, image_size=size)
    train = [encode_question(r, images, processor, with_answer=True) for r, images in train_items]
    encoded = [
        encode_question(r, images, processor, suffix=answer_position(processor.tokenizer, r.letters).prefix)
        for r, images in items
    ]
    image_tokens = int((encoded[0].tensors["input_ids"] == processor.image_token_id).sum())
    results: dict[str, Any] = {
        "preset": args.preset,
        "layers": loaded.model.config.text_config.num_hidden_layers,
        "vision_depth": loaded.model.config.vision_config.depth,
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "device": _device_name(loaded.device),
        "threads": args.threads,
        "questions": len(items),
        "models": 1 + args.adapters,
        "image_size": size,
        "tokens": encoded[0].length,
        "image_tokens": image_tokens,
        "train_target_tokens": train[0].target_length,
    }
    results |= _vision_pass(loaded, encoded, counts)
    with tempfile.TemporaryDirectory() as tmp:
        adapters, finetuning = _finetunes(loaded, train, counts, args, Path(tmp))
        results |= finetuning
        results |= _evaluation(loaded, items, encoded, adapters, counts)
        models = [None, *adapters]
        results["obvious_s"] = (
            None if args.skip_obvious else _obvious_seconds(args.preset, options, items, models)
        )
    peak, results["peak_source"] = max(
        peak_before, device_peak(loaded.device, loaded.dtype, args.peak_tflops)
    )
    rates = {
        "vision": results["vision_flops"] / results["vision_s"],
        "prefill": results["prefill_flops_per_run"] * args.adapters / results["loglik_cached_s"]
        if args.adapters
        else None,
        "finetune": results["train_flops"] / results["train_s"],
    }
    results |= {"rates": rates, "peak_flops": peak, "host_peak_rss_bytes": host_peak_rss()}
    results |= project_grid(
        args, processor, encoded[0].length - image_tokens, train[0].target_length, rates, peak
    )
    return results


def _vision_pass(loaded: Any, encoded: list, counts: Any) -> dict[str, Any]:
    """The vision tower alone: every question's features, once (what the cache then holds)."""
    from vlmtransfer.models.encoding import encode_images

    _synchronize(loaded.device)
    started = time.perf_counter()
    features = encode_images(loaded.model, encoded, loaded.processor, batch_size=4)
    _synchronize(loaded.device)
    seconds = time.perf_counter() - started
    patches = [int(grid.prod()) for f in features if f is not None for grid in f.grid]
    return {
        "vision_s": seconds,
        "vision_flops": sum(counts.image(p) for p in patches),
        "cache_bytes_per_question": sum(f.nbytes for f in features if f is not None) / len(encoded),
    }


def _finetunes(
    loaded: Any, train: list, counts: Any, args: argparse.Namespace, tmp: Path
) -> tuple[list, dict]:
    """The adapters the evaluation swaps (one step each), then the timed finetune: ``--train-steps`` steps
    of the whole training set (``--train-batch`` questions), features computed once beforehand."""
    from vlmtransfer.finetune.lora import LoraSettings, finetune_lora, training_image_features
    from vlmtransfer.finetune.trainer import TrainSettings

    features = training_image_features(loaded.model, train, loaded.processor)

    def finetune(out: Path, settings: TrainSettings) -> Any:
        return finetune_lora(
            loaded.model,
            train,
            out,
            lora=LoraSettings(),
            settings=settings,
            processor=loaded.processor,
            image_features=features,
        )

    adapters = []
    for k in range(args.adapters):
        finetune(tmp / f"a{k}", TrainSettings(learning_rate=1e-3, max_steps=1, batch_size=len(train), seed=k))
        adapters.append(tmp / f"a{k}")
    _reset_peak(loaded.device)
    settings = TrainSettings(
        learning_rate=1e-4, max_steps=args.train_steps, batch_size=len(train), warmup_ratio=0
    )
    result = finetune(tmp / "timed", settings)
    return adapters, {
        "train_s": result.curve[-1].seconds,
        "train_tokens": args.train_steps * sum(q.length for q in train),
        "train_flops": args.train_steps * sum(counts.train(q.length, q.target_length) for q in train),
        "gpu_peak_train_bytes": _gpu_peak(loaded.device),
    }


def _evaluation(loaded: Any, items: list, encoded: list, adapters: list, counts: Any) -> dict[str, Any]:
    """vlmtransfer's loglik evaluation: the base (computing the features), then each adapter (cached)."""
    from vlmtransfer.evaluate import EvalSettings, Evaluator

    _reset_peak(loaded.device)
    started = time.perf_counter()
    evaluator = Evaluator(loaded, items, EvalSettings(batch_size=4))
    evaluator.run(None)
    _synchronize(loaded.device)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for adapter in adapters:
        evaluator.run(adapter)
    _synchronize(loaded.device)
    cached = time.perf_counter() - started
    evaluator.close()
    return {
        "loglik_s": first + cached,
        "loglik_first_s": first,
        "loglik_cached_s": cached,
        "prefill_flops_per_run": sum(counts.forward(q.length, logits=1) for q in encoded),
        "gpu_peak_eval_bytes": _gpu_peak(loaded.device),
    }


def _obvious_seconds(preset: str, options: Any, items: list, models: list) -> float:
    """Per model: build the base afresh, merge the adapter, generate one question at a time, parse."""
    from vlmtransfer.evaluate import EvalSettings, Evaluator
    from vlmtransfer.models import load_model

    started = time.perf_counter()
    for adapter in models:
        fresh = load_model(preset, options)
        Evaluator(fresh, items, EvalSettings(mode="generate", batch_size=1, cache_vision=False)).run(adapter)
        del fresh
    return time.perf_counter() - started


# --- the device ------------------------------------------------------------------------------------


def device_peak(device: Any, dtype: Any, peak_tflops: float | None = None) -> tuple[float, str]:
    """The device's peak FLOP/s and where the figure comes from (given, the H200's bf16 constant, or a
    measured matmul peak in ``dtype``)."""
    import torch

    if peak_tflops:
        return peak_tflops * 1e12, "given"
    if device.type == "cuda" and "H200" in torch.cuda.get_device_name(device):
        return H200_BF16_PEAK, "H200 bf16 dense, stated"
    return matmul_peak(device, dtype), f"measured {str(dtype).removeprefix('torch.')} matmul"


def matmul_peak(device: Any, dtype: Any, size: int | None = None, repeats: int = 5) -> float:
    """The best FLOP/s of square matrix products on ``device`` (8192 on a GPU, 2048 on a CPU)."""
    import torch

    size = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        _synchronize(device)
        started = time.perf_counter()
        a @ b
        _synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def host_peak_rss() -> int:
    """This process's peak resident set in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _gpu_peak(device: Any) -> int | None:
    import torch

    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import os
    import platform

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        name = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name} ({cores} cores)"


# --- the paper's grid ------------------------------------------------------------------------------


def project_grid(  # noqa: PLR0917 - one call site
    args: argparse.Namespace,
    processor: Any,
    text_tokens: int,
    target_tokens: int,
    rates: dict[str, float | None],
    peak: float,
) -> dict[str, Any]:
    """``grid``: per model of the paper, the grid's model FLOPs by phase, the physical limit and the
    projected time; ``grid_setup``: what the grid was taken to be."""
    from vlmtransfer.cli.cache_estimate import vision_tokens
    from vlmtransfer.models.architectures import architecture_config
    from vlmtransfer.models.flops import flop_counts
    from vlmtransfer.tasks.registry import default_registry

    width, height = (int(v) for v in args.blink_size.lower().split("x"))
    size = processor.image_processor.size
    tokens_per_image = vision_tokens(width, height, size["shortest_edge"], size["longest_edge"])
    tasks = default_registry().suite("blink")
    evaluations = 1 + len(tasks) * args.seeds  # the baseline and one per finetune
    rows = []
    for preset in GRID_MODELS:
        counts = flop_counts(architecture_config(preset))
        image = counts.image(tokens_per_image * counts.merge)
        eval_lm = vision = train = 0.0
        for task in tasks:
            length = text_tokens + task.images * tokens_per_image
            questions = task.sizes["val"]
            eval_lm += evaluations * questions * counts.forward(length, logits=1)
            vision += questions * task.images * image  # once per model
            vision += args.train_questions * task.images * image  # once per source (its seeds share them)
            train += args.seeds * args.train_questions * counts.train(length, target_tokens)
        total = eval_lm + vision + train
        projected = eval_lm / (rates["prefill"] or rates["vision"]) + vision / rates["vision"]
        projected += train / rates["finetune"]
        rows.append({
            "model": preset,
            "eval_flops": eval_lm,
            "vision_flops": vision,
            "train_flops": train,
            "limit_s": total / peak,
            "projected_s": projected,
        })  # fmt: skip
    setup = {
        "seeds": args.seeds,
        "train_questions": args.train_questions,
        "blink_size": args.blink_size,
        "text_tokens": text_tokens,
        "tokens_per_image": tokens_per_image,
        "evaluations": evaluations,
        "tasks": len(tasks),
        "finetunes": len(tasks) * args.seeds,
        "questions": sum(task.sizes["val"] for task in tasks),
    }
    return {"grid": rows, "grid_setup": setup}


# --- the report ------------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> None:
    answers = r["questions"] * r["models"]
    print(
        f"{r['preset']} at real width: {r['layers']} language layers, {r['vision_depth']} vision blocks,"
        f" {r['dtype']}, {r['device']}, {r['threads']} threads; {r['questions']} questions of one"
        f" {r['image_size']}-px image ({r['tokens']} tokens each, {r['image_tokens']} of them image tokens)"
        f" x {r['models']} models"
    )
    print()
    print("| approach | questions/s | speed-up |")
    print("|---|---|---|")
    fast = answers / r["loglik_s"]
    if r["obvious_s"] is not None:
        slow = answers / r["obvious_s"]
        print(f"| obvious: build + merge + generate one at a time + parse | {slow:.2f} | 1.0x |")
        ours = f"{fast:.2f} | {fast / slow:.1f}x"
        print(f"| vlmtransfer loglik: swapped adapters, vision cache, batched | {ours} |")
    else:
        print(f"| vlmtransfer loglik: swapped adapters, vision cache, batched | {fast:.2f} | - |")
    print()
    peak = r["peak_flops"]
    print(f"Model FLOP utilisation against a peak of {_flops(peak)}/s ({r['peak_source']}):")
    print()
    print("| phase | work | time | model FLOP/s | MFU |")
    print("|---|---|---|---|---|")
    rates = r["rates"]
    _row("vision tower, every question's features once", r["vision_flops"], r["vision_s"], peak)
    if rates["prefill"]:
        adapters = r["models"] - 1
        work = r["prefill_flops_per_run"] * adapters
        _row(f"loglik prefill, cached features ({adapters} adapter runs)", work, r["loglik_cached_s"], peak)
    per_second = r["train_tokens"] / r["train_s"]
    name = f"LoRA finetune, {r['train_tokens']:,} tokens ({per_second:,.0f} tokens/s)"
    _row(name, r["train_flops"], r["train_s"], peak)
    print()
    memory = f"peak memory: host {r['host_peak_rss_bytes'] / 1e9:.2f} GB resident"
    if r["gpu_peak_eval_bytes"] is not None:
        memory += (
            f"; GPU {r['gpu_peak_eval_bytes'] / 1e9:.2f} GB allocated in evaluation,"
            f" {r['gpu_peak_train_bytes'] / 1e9:.2f} GB in finetuning"
        )
    print(
        f"{memory}. Vision tower: {r['vision_s'] / r['loglik_s']:.0%} of vlmtransfer's whole evaluation of"
        f" {r['models']} models; cached features {r['cache_bytes_per_question'] / 1e6:.2f} MB per question"
        f" ({r['dtype']})."
    )
    print()
    setup = r["grid_setup"]
    print(
        f"The paper's grid at full depth, at the efficiencies above: per model, {setup['evaluations']}"
        f" loglik evaluations of BLINK's {setup['questions']:,} val questions ({setup['tasks']} tasks) and"
        f" {setup['finetunes']} LoRA finetunes ({setup['tasks']} sources x {setup['seeds']} seeds,"
        f" one epoch of {setup['train_questions']:,} questions); {setup['blink_size']}-px images"
        f" ({setup['tokens_per_image']} tokens each), {setup['text_tokens']} text tokens a question:"
    )
    print()
    print("| model | eval / vision / finetune FLOPs | physical limit | projected | ratio |")
    print("|---|---|---|---|---|")
    for row in [*r["grid"], _total(r["grid"])]:
        print(
            f"| {row['model']} | {_flops(row['eval_flops'])} / {_flops(row['vision_flops'])} /"
            f" {_flops(row['train_flops'])} | {_duration(row['limit_s'])} | {_duration(row['projected_s'])}"
            f" | {row['projected_s'] / row['limit_s']:.1f}x |"
        )


def _row(name: str, flops: float, seconds: float, peak: float) -> None:
    rate = flops / seconds
    print(f"| {name} | {_flops(flops)} | {seconds:.2f} s | {_flops(rate)}/s | {rate / peak:.1%} |")


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("eval_flops", "vision_flops", "train_flops", "limit_s", "projected_s")
    return {"model": "all three", **{key: sum(row[key] for row in rows) for key in keys}}


def _flops(value: float) -> str:
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e6:.3g} MFLOP"


def _duration(seconds: float) -> str:
    for unit, scale in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


if __name__ == "__main__":
    main()
