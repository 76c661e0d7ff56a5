"""benchmarks/real_size.py (issue 25 item 3): its device-specific pieces, and the whole benchmark at tiny
scale on the CPU in bf16 (the dtype ``make bench-gpu`` runs in), so the GPU path's code runs somewhere."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
import torch

from tests.conftest import REPO


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """benchmarks/real_size.py (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("real_size", REPO / "benchmarks" / "real_size.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_peak_is_given_stated_for_an_h200_or_measured(bench, monkeypatch):
    cpu = torch.device("cpu")
    assert bench.device_peak(cpu, torch.float32, 12.5) == (12.5e12, "given")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    assert bench.device_peak(torch.device("cuda"), torch.bfloat16) == (790e12, "H200 bf16 dense, stated")
    peak, source = bench.device_peak(cpu, torch.float32)
    assert peak > 0
    assert source == "measured float32 matmul"


def test_gpu_memory_is_read_on_cuda_only(bench, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: calls.append(device) or 7)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    assert bench._gpu_peak(torch.device("cpu")) is None
    bench._reset_peak(torch.device("cpu"))
    bench._synchronize(torch.device("cpu"))
    assert calls == []
    gpu = torch.device("cuda")
    assert bench._gpu_peak(gpu) == 7
    bench._reset_peak(gpu)
    bench._synchronize(gpu)
    assert calls == [gpu, "reset", "sync"]
    assert bench.host_peak_rss() > 10_000_000  # bytes, not KiB


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_at_tiny_scale_in_bf16(bench, capsys):
    arguments = ["--layers", "1", "--vision-depth", "1", "--questions", "2", "--adapters", "1"]
    arguments += ["--image-size", "112", "--train-steps", "1", "--dtype", "bfloat16", "--device", "cpu"]
    results = bench.main(arguments)
    printed = capsys.readouterr().out
    assert results["dtype"] == "bfloat16"
    assert results["layers"] == 1
    assert results["models"] == 2
    assert all(rate > 0 for rate in results["rates"].values())
    assert results["obvious_s"] > 0
    assert results["train_tokens"] > results["train_target_tokens"] > 0
    assert results["gpu_peak_eval_bytes"] is None
    assert results["cache_bytes_per_question"] > 0
    assert [row["model"] for row in results["grid"]] == ["qwen2.5-vl-3b", "qwen2.5-vl-7b", "qwen2.5-vl-32b"]
    for row in results["grid"]:
        assert row["limit_s"] > 0
        assert row["eval_flops"] > row["vision_flops"] > 0
    assert results["grid_setup"]["questions"] == 1751  # BLINK val, 13 tasks
    assert results["grid_setup"]["evaluations"] == 53
    assert "| all three |" in printed
    assert "MFU" in printed
