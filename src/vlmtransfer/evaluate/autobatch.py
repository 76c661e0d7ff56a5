"""``--batch-size auto``: the largest batch of questions that fits in the device's memory.

As lm-evaluation-harness (through accelerate's ``find_executable_batch_size``) does it: try a batch of
the longest questions at a starting size, halve it on an out-of-memory error, keep the first size that
runs. The longest questions are the costliest batch the evaluator will form (it batches by length), so
every later batch fits too. The probe runs the base model once per size tried; its answers are thrown
away.

On a CPU there is nothing to probe safely — running out of RAM kills the process rather than raising —
and throughput stops growing with the batch long before memory runs out, so ``auto`` is a fixed size
there.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch

from vlmtransfer.data.records import MCQRecord
from vlmtransfer.evaluate.engine import EvalSettings, Evaluator
from vlmtransfer.models.loading import LoadedModel

__all__ = ["CPU_BATCH_SIZE", "MAX_BATCH_SIZE", "auto_batch_size", "largest_fitting"]

MAX_BATCH_SIZE = 64
CPU_BATCH_SIZE = 8


def auto_batch_size(
    loaded: LoadedModel,
    questions: Sequence[tuple[MCQRecord, Sequence[Any]]],
    settings: EvalSettings,
    start: int = MAX_BATCH_SIZE,
) -> int:
    """The batch size ``--batch-size auto`` stands for on ``loaded``'s device, for these questions.

    Args:
        start: the largest size tried (capped by the number of questions).

    Returns:
        ``CPU_BATCH_SIZE`` on a CPU (capped by the number of questions); on an accelerator the largest
        power-of-two fraction of ``start`` whose batch of the longest questions runs without running out
        of memory.

    Raises:
        RuntimeError: not even one question fits (the out-of-memory error itself).
    """
    if not questions:
        return 1
    if loaded.device.type == "cpu":
        return min(CPU_BATCH_SIZE, len(questions))
    longest = sorted(questions, key=lambda item: len(item[0].prompt) + 1000 * len(item[1]), reverse=True)

    def attempt(size: int) -> None:
        probe = Evaluator(loaded, longest[:size], replace(settings, batch_size=size, cache_vision=False))
        probe.run()
        probe.close()

    return largest_fitting(attempt, min(start, len(questions)), release=_release_memory)


def largest_fitting(
    attempt: Callable[[int], None], start: int, release: Callable[[], None] = gc.collect
) -> int:
    """The first of ``start``, ``start // 2``, ..., 1 for which ``attempt(size)`` does not run out of
    memory; ``release`` frees what a failed attempt left behind before the next.

    Raises:
        RuntimeError: the out-of-memory error of ``attempt(1)``; any other exception as raised.
    """
    size = max(1, start)
    while True:
        try:
            attempt(size)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if size == 1 or not _out_of_memory(exc):
                raise
            release()
            size //= 2
        else:
            return size


def _out_of_memory(exc: BaseException) -> bool:
    """CUDA's ``OutOfMemoryError``, or the plain ``RuntimeError`` other backends (MPS, XPU) raise."""
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
