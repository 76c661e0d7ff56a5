"""``--batch-size auto``: halving on out-of-memory errors until a batch runs."""

from __future__ import annotations

import pytest
import torch

from vlmtransfer.evaluate.autobatch import largest_fitting


def fits_up_to(limit: int, tried: list[int]):
    def attempt(size: int) -> None:
        tried.append(size)
        if size > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    return attempt


def test_the_largest_power_of_two_fraction_that_fits_is_kept():
    tried: list[int] = []
    released: list[int] = []
    assert largest_fitting(fits_up_to(20, tried), 64, release=lambda: released.append(1)) == 16
    assert tried == [64, 32, 16]
    assert len(released) == 2


def test_other_backends_plain_out_of_memory_runtime_errors_count_too():
    def attempt(size: int) -> None:
        if size > 3:
            raise RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)")

    assert largest_fitting(attempt, 8) == 2


def test_other_errors_and_a_single_question_too_large_propagate():
    def broken(size: int) -> None:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        largest_fitting(broken, 8)
    with pytest.raises(torch.OutOfMemoryError):
        largest_fitting(fits_up_to(0, []), 4)
