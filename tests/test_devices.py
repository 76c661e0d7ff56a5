"""Checking ``--device`` against this machine: unknown or absent devices are bad input naming what is
available, not torch's traceback."""

from __future__ import annotations

import pytest
import torch

from vlmtransfer.devices import available_devices, check_device
from vlmtransfer.errors import InputError


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine without CUDA (or MPS, XPU), whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    if hasattr(torch, "xpu"):
        monkeypatch.setattr(torch.xpu, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    if hasattr(torch, "xpu"):
        monkeypatch.setattr(torch.xpu, "is_available", lambda: False)


def test_cpu_only_machine_lists_auto_and_cpu(no_gpu):
    assert available_devices() == ["auto", "cpu"]
    assert check_device("cpu") == "cpu"
    assert check_device("auto") == "auto"


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_an_absent_accelerator_is_refused_with_what_is_available(no_gpu, device):
    with pytest.raises(InputError) as excinfo:
        check_device(device)
    assert str(excinfo.value) == (
        f"device: device {device!r} is not available on this machine; available here: auto, cpu"
    )


def test_an_unknown_device_is_refused(no_gpu):
    with pytest.raises(InputError, match=r"^device: unknown device 'foo'; available here: auto, cpu$"):
        check_device("foo")


def test_gpu_indices_are_checked_against_the_count(two_gpus):
    assert available_devices() == ["auto", "cpu", "cuda", "cuda:0", "cuda:1"]
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(InputError, match="'cuda:2' is not available"):
        check_device("cuda:2")
