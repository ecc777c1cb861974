"""Timing loops: per-iteration wall times in ms, CPU and CUDA, and the percentiles reported from them.

CPU: ``time.perf_counter_ns`` around each call. CUDA: a pair of CUDA events around each call, read after
one ``torch.cuda.synchronize()`` at the end, so the host never waits inside the timed region (and the
device queue stays full, as in a real serving loop). The first calls are warm-up and never timed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of an empty series")
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summarize(times_ms: Sequence[float], items_per_call: int) -> dict[str, float]:
    """Latency percentiles (ms per call), mean, and throughput (items/s = items x calls / total seconds)."""
    total_s = sum(times_ms) / 1e3
    out = {f"p{q}_ms": percentile(times_ms, q) for q in PERCENTILES}
    out.update(
        mean_ms=total_s * 1e3 / len(times_ms),
        min_ms=float(min(times_ms)),
        items_per_s=items_per_call * len(times_ms) / total_s if total_s > 0 else float("inf"),
        iterations=len(times_ms),
        measured_s=total_s,
    )
    return out


@dataclass
class TimingPolicy:
    """How long to measure: ``warmup`` untimed calls, then at least ``min_iters`` calls and ``min_duration_s``
    seconds of timed calls, stopping at ``max_iters``."""

    warmup: int = 5
    min_iters: int = 10
    min_duration_s: float = 2.0
    max_iters: int = 100_000

    def as_dict(self) -> dict[str, Any]:
        return {"warmup": self.warmup, "min_iters": self.min_iters, "min_duration_s": self.min_duration_s,
                "max_iters": self.max_iters}


@dataclass
class CpuTimer:
    """Times calls on the host clock."""

    name: str = "perf_counter"

    def run(self, fn: Callable[[], Any], policy: TimingPolicy) -> list[float]:
        for _ in range(policy.warmup):
            fn()
        times: list[float] = []
        clock = time.perf_counter_ns
        spent = 0
        budget = int(policy.min_duration_s * 1e9)
        while len(times) < policy.max_iters and (len(times) < policy.min_iters or spent < budget):
            t0 = clock()
            fn()
            dt = clock() - t0
            spent += dt
            times.append(dt / 1e6)
        return times


@dataclass
class CudaTimer:
    """Times calls with CUDA events (device time between the two events of each call).

    The stop rule needs elapsed time while measuring; it reads the host clock, synchronizing every
    ``sync_every`` calls, so the event pairs themselves stay free of host waits.
    """

    sync_every: int = 50
    name: str = "cuda-events"
    cuda: Any = field(default=None, repr=False)  # the torch.cuda module; injectable for tests

    def _cuda(self):
        if self.cuda is None:
            import torch  # deferred: heavy; the timing statistics above need no torch

            self.cuda = torch.cuda
        return self.cuda

    def run(self, fn: Callable[[], Any], policy: TimingPolicy) -> list[float]:
        cuda = self._cuda()
        for _ in range(policy.warmup):
            fn()
        cuda.synchronize()
        pairs = []
        budget = policy.min_duration_s
        t_start = time.perf_counter()
        while len(pairs) < policy.max_iters:
            start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            pairs.append((start, end))
            n = len(pairs)
            if n >= policy.min_iters and (n == policy.min_iters or n % self.sync_every == 0):
                cuda.synchronize()
                if time.perf_counter() - t_start >= budget:
                    break
        cuda.synchronize()
        return [float(s.elapsed_time(e)) for s, e in pairs]


def timer_for(device: str) -> CpuTimer | CudaTimer:
    return CudaTimer() if str(device).startswith("cuda") else CpuTimer()


def synchronize(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch  # deferred: heavy; only CUDA timing needs it

        torch.cuda.synchronize()


def bare_loop_ms(fn: Callable[[], Any], iters: int, warmup: int = 3) -> float:
    """Mean ms per call of a bare ``for`` loop (one clock read before and after): the overhead reference."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter_ns()
    for _ in range(iters):
        fn()
    return (time.perf_counter_ns() - t0) / 1e6 / iters
