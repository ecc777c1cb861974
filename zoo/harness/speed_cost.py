"""Cost of a model and capacity of a device: FLOPs per item, parameters, the measured matmul peak, memory.

FLOPs = 2 x multiply-accumulates, counted by ``torch.utils.flop_counter.FlopCounterMode`` on one real
input (so detection and text models are counted at the size they actually run at).
The device peak is measured, not looked up: a large square matmul timed once per machine, device, dtype
and thread count, cached as JSON in zoo's cache and copied into every row that uses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..io import atomic_write_text
from ..offline import zoo_cache_dir
from ..results import machine_info

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs (2 x MACs) of one call ``fn(*args, **kwargs)``."""
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


# --- device peak ---------------------------------------------------------------------------------------

def _probe_key(device: str, dtype: str, threads: int) -> str:
    m = machine_info()
    dev = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"{m['cpu']}|{m['cores']}|t{threads}"
    return f"{device.split(':')[0]}|{dev}|{dtype}|torch{torch.__version__}"


def _probe_file() -> Path:
    return zoo_cache_dir() / "speed" / "peak_probe.json"


CONV_PROBE = (256, 64)  # channels, height = width of the CPU convolution probe (a ResNet-stage-sized layer)


def measure_matmul_peak(device: str, dtype: str, n: int | None = None, repeats: int = 5) -> dict[str, Any]:
    """The device's measured peak TFLOP/s in ``dtype``: the best of ``repeats`` timed batches of each probe.

    Probes: an n x n by n x n ``torch.mm`` (2 n^3 FLOPs; cuBLAS on CUDA, the CPU's BLAS on CPU) and, on CPU
    only, a 3x3 convolution, 256 -> 256 channels over 64 x 64, channels_last (oneDNN; 2 x MACs FLOPs).
    On CPU the two libraries differ by up to 2.5x depending on the processor (MKL's fp32 ``mm`` takes a
    slow path on AMD CPUs, where oneDNN's convolutions reach the FMA units' limit), and a model's own
    convolutions must never beat "the peak", so the faster probe is the peak. The record names every
    probe's TFLOP/s and the one chosen.
    """
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    n = n or (8192 if cuda else 1024)
    tdt = DTYPES[dtype]
    a = torch.randn(n, n, device=dev).to(tdt)
    b = torch.randn(n, n, device=dev).to(tdt)
    probes = {"mm": (torch.mm, (a, b), {}, 2 * n**3)}
    if not cuda:
        c, hw = CONV_PROBE
        x = torch.randn(1, c, hw, hw).to(tdt).contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 3, 3).to(tdt).contiguous(memory_format=torch.channels_last)
        probes["conv3x3"] = (F.conv2d, (x, w), {"padding": 1}, 2 * c * c * 9 * hw * hw)
    inner = 20 if cuda else 5
    tflops = {}
    with torch.inference_mode():
        for name, (fn, args, kw, flops) in probes.items():
            for _ in range(3):
                fn(*args, **kw)
            best = float("inf")
            for _ in range(repeats):
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn(*args, **kw)
                if cuda:
                    torch.cuda.synchronize()
                best = min(best, (time.perf_counter() - t0) / inner)
            tflops[name] = flops / best / 1e12
    path = max(tflops, key=tflops.get)
    return {"tflops": tflops[path], "path": path, "paths": tflops, "n": n, "dtype": dtype, "repeats": repeats,
            "inner": inner, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def device_peak(device: str, dtype: str, threads: int | None = None, refresh: bool = False) -> dict[str, Any]:
    """The cached matmul probe for this machine/device/dtype/threads, measuring it on first use.

    The cache is one JSON object (key -> probe), written atomically (zoo.io), so a crash never leaves it
    half-written.
    """
    threads = threads or torch.get_num_threads()
    key = _probe_key(device, dtype, threads)
    path = _probe_file()
    cache: dict[str, Any] = {}
    if path.exists():
        try:
            cache = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            cache = {}
    if key in cache and not refresh:
        return {**cache[key], "key": key, "cached": True}
    probe = measure_matmul_peak(device, dtype)
    cache[key] = probe
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(cache, indent=1, sort_keys=True))
    return {**probe, "key": key, "cached": False}


def probe_id(probe: dict[str, Any]) -> str:
    return hashlib.sha256(probe["key"].encode()).hexdigest()[:8]


# --- memory --------------------------------------------------------------------------------------------

def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mib()


def peak_rss_mib() -> float:
    """Peak resident set size of this process since it started, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemoryMeter:
    """Peak memory over a region: CUDA max allocated (device) or process RSS peak and delta (host)."""

    def __init__(self, device: str):
        self.cuda = str(device).startswith("cuda")

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated() / 2**20
        else:
            self.start = rss_mib()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.peak = max(peak_rss_mib(), rss_mib())
        return False

    def as_metrics(self) -> dict[str, float]:
        if self.cuda:
            return {"peak_mem_mib": self.peak, "mem_kind": "cuda_max_allocated", "mem_before_mib": self.start}
        return {"peak_mem_mib": self.peak, "mem_kind": "process_peak_rss", "mem_before_mib": self.start,
                "rss_delta_mib": max(0.0, self.peak - self.start)}
