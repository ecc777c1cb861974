"""Was the machine quiet while we timed? The noise guard of ``zoo bench``.

A timing on a machine where other processes compete for the CPU measures the competition, not the model
(a loaded VM reported 532 ms for a 25 ms model). Each timed window records:

- ``other_cores``: CPU time the *other* processes used during the window, in cores: the machine's busy time
  from /proc/stat minus this process's own CPU time (``os.times``), over the wall time. The load average
  cannot say this: it counts our own threads and lags by a minute.
- ``load_before`` / ``load_after``: the 1-minute load average around the window (context for a reader).
- ``round_spread``: slowest / fastest median of the timed calls cut into consecutive rounds (the rounds of
  alternating candidates, or thirds of one run): a drift within the window that the median alone hides.
- ``iqr_over_median``: the inter-quartile range of the calls over their median.

A row crossing ``NoisePolicy``'s thresholds is *noisy*: ``row["noisy"] = True``, a flag that says why, and one
line on screen. ``wait_for_quiet`` (``zoo bench --check-quiet``) waits, bounded, for the other processes to
settle before timing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .timing import percentile

PROC_STAT = "/proc/stat"


@dataclass(frozen=True)
class NoisePolicy:
    """Thresholds above which a timing is called noisy (and ``--check-quiet`` keeps waiting)."""

    max_other_share: float = 0.25  # of the machine's CPU time, used by other processes while timing
    max_round_spread: float = 1.5  # slowest / fastest round median
    max_load_per_core: float = 1.0  # only where /proc/stat is missing: the load average per core before timing


POLICY = NoisePolicy()


@dataclass(frozen=True)
class CpuSample:
    """One reading: wall clock, the machine's busy and total CPU seconds (None without /proc/stat), this
    process's CPU seconds, the 1-minute load average (None where the OS has none)."""

    wall: float
    busy_s: float | None
    total_s: float | None
    own_s: float
    load: float | None


def _proc_stat() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from the first line of /proc/stat."""
    try:
        with open(PROC_STAT) as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(fields) < 8:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal  # steal: another VM had our core
    return busy / hz, (busy + idle + iowait) / hz


def sample() -> CpuSample:
    stat = _proc_stat()
    t = os.times()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return CpuSample(time.monotonic(), stat[0] if stat else None, stat[1] if stat else None,
                     t.user + t.system, load)


def other_cores(before: CpuSample, after: CpuSample) -> tuple[float | None, float | None]:
    """(cores the other processes kept busy, cores the machine has) between two samples; (None, None)
    without /proc/stat or over a window too short to read (the counters tick at 100 Hz)."""
    wall = after.wall - before.wall
    if before.busy_s is None or after.busy_s is None or wall < 0.05:
        return None, None
    others = max(0.0, (after.busy_s - before.busy_s) - (after.own_s - before.own_s))
    cores = (after.total_s - before.total_s) / wall
    return others / wall, max(cores, 1.0)


def round_medians(times_ms: Sequence[float], rounds: int = 3) -> list[float] | None:
    """The median of each of ``rounds`` consecutive slices of the calls (None under 2 calls a slice)."""
    n = len(times_ms) // rounds
    if n < 2:
        return None
    return [percentile(times_ms[i * n:(i + 1) * n], 50) for i in range(rounds)]


def round_spread(times_ms: Sequence[float], rounds: int = 3) -> float | None:
    """Slowest / fastest median of ``rounds`` consecutive slices of the calls (None under 2 calls a slice)."""
    medians = round_medians(times_ms, rounds)
    if medians is None:
        return None
    return max(medians) / min(medians) if min(medians) > 0 else None


class NoiseMeter:
    """``with NoiseMeter() as m: <timed calls>``; then ``m.record(times_ms, rounds)`` -> the row's
    ``metrics["noise"]`` (numbers and, when noisy, ``reason``)."""

    def __init__(self, policy: NoisePolicy = POLICY, sampler: Callable[[], CpuSample] = sample):
        self.policy, self.sampler = policy, sampler
        self.before: CpuSample | None = None
        self.after: CpuSample | None = None

    def __enter__(self) -> NoiseMeter:
        self.before = self.sampler()
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = self.sampler()

    def record(self, times_ms: Sequence[float], rounds: int = 3) -> dict[str, Any]:
        others, cores = other_cores(self.before, self.after)
        q1, q3, med = percentile(times_ms, 25), percentile(times_ms, 75), percentile(times_ms, 50)
        out: dict[str, Any] = {
            "other_cores": _r(others), "cores": _r(cores), "load_before": _r(self.before.load),
            "load_after": _r(self.after.load), "round_spread": _r(round_spread(times_ms, max(rounds, 3))),
            "iqr_over_median": _r((q3 - q1) / med if med > 0 else None), "window_s": _r(self.after.wall - self.before.wall),
        }
        reason = noise_reason(out, self.policy)
        if reason:
            out["reason"] = reason
        return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 3)


def noise_reason(noise: dict[str, Any], policy: NoisePolicy = POLICY) -> str | None:
    """Why these noise numbers make a timing untrustworthy, in a few words; None when they do not."""
    reasons = []
    others, cores = noise.get("other_cores"), noise.get("cores")
    if others is not None and cores and others / cores > policy.max_other_share:
        reasons.append(f"other processes used {others:.1f} of {cores:.0f} cores while timing")
    elif others is None and noise.get("load_before") is not None:
        n = os.cpu_count() or 1
        if noise["load_before"] / n > policy.max_load_per_core:
            reasons.append(f"load {noise['load_before']:.1f} on {n} cores")
    spread = noise.get("round_spread")
    if spread is not None and spread > policy.max_round_spread:
        reasons.append(f"rounds differ {spread:.2f}x")
    return "; ".join(reasons) or None


def noise_flag(noise: dict[str, Any] | None) -> str | None:
    """The row flag of a noisy timing ("noisy: ..."), None for a quiet one."""
    return f"noisy: {noise['reason']} (the figures may be slow; rerun on a quiet machine)" \
        if noise and noise.get("reason") else None


def busy_now(window_s: float = 1.0, sampler: Callable[[], CpuSample] = sample) -> tuple[float | None, float | None]:
    """(cores other processes keep busy, cores) over ``window_s`` seconds of this process sleeping."""
    before = sampler()
    time.sleep(window_s)
    return other_cores(before, sampler())


def wait_for_quiet(max_wait_s: float, log: Callable[[str], None], policy: NoisePolicy = POLICY,
                   measure: Callable[[], tuple[float | None, float | None]] = busy_now) -> bool:
    """Wait up to ``max_wait_s`` for the other processes to use at most ``policy.max_other_share`` of the CPU;
    say what it waits for and how it ended. True once quiet; False when still busy at the deadline (or
    when this OS has no /proc/stat to tell)."""
    start = time.monotonic()
    said = False
    while True:
        others, cores = measure()
        waited = time.monotonic() - start
        if others is None:
            log("--check-quiet: this system has no /proc/stat to read the CPU load from; timing without waiting")
            return False
        if others / cores <= policy.max_other_share:
            if said:
                log(f"machine quiet after {waited:.0f} s (other processes use {others:.1f} of {cores:.0f} cores)")
            return True
        if waited >= max_wait_s:
            log(f"still busy after {waited:.0f} s (other processes use {others:.1f} of {cores:.0f} cores); timing "
                "anyway, noisy rows are flagged")
            return False
        if not said:
            log(f"waiting up to {max_wait_s:.0f} s for a quiet machine: other processes use {others:.1f} of "
                f"{cores:.0f} cores (at most {policy.max_other_share * cores:.1f} wanted)")
            said = True
