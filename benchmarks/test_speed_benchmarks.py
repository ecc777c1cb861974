"""Speed benchmarks over the harness's own code path (``zoo.harness.speed.runner*``).

- test_harness_overhead: the harness timing loop against a bare ``for`` loop over the same forward,
  alternating rounds in one process; overhead must stay <= 2 %.
- test_forward[...]: pytest-benchmark timings of ``prepare(...).run`` (the exact callable ``zoo bench``
  times) for fp32 eager and the other backends, so ``--benchmark-compare`` can track regressions.
- test_best_backend_vs_fp32_eager[model]: ``zoo.bench(model, backend="auto")`` at batch 1 — every candidate
  and plain fp32 eager timed side by side in alternating rounds; the row (speedup and output error) goes to
  results/raw/speed.jsonl. The target (>= 2.5x on the 2-core CPU) is reported, not asserted: a shared VM's
  speed is not a test oracle.
"""

from __future__ import annotations

import copy
import statistics
import time

import pytest
import torch

import zoo
from zoo.harness.backends import BackendConfig, prepare
from zoo.harness.speed.timing import CpuTimer, TimingPolicy, bare_loop_ms

OVERHEAD_MODEL = "resnet50"


@pytest.fixture(scope="module")
def resnet():
    model = zoo.create_model(OVERHEAD_MODEL)
    return model, model.example_batch(1).inputs


def _loop_cost_ns(n: int = 200_000) -> tuple[float, float]:
    """(ns per call of the harness loop, ns per call of a bare loop), both around a no-op; best of 5."""
    noop = lambda: None  # noqa: E731
    harness, bare = [], []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        CpuTimer().run(noop, TimingPolicy(warmup=0, min_iters=n, min_duration_s=0, max_iters=n))
        harness.append((time.perf_counter_ns() - t0) / n)
        t0 = time.perf_counter_ns()
        for _ in range(n):
            noop()
        bare.append((time.perf_counter_ns() - t0) / n)
    return min(harness), min(bare)


def test_harness_overhead(resnet, benchmark, zoo_write):
    """Harness overhead per call (CpuTimer: two clock reads and a list append) as a share of the forward.

    Method: the extra cost per call of the harness loop over a bare loop, measured around a no-op (so machine
    noise, which is far larger than the overhead, cannot swamp it), divided by the median forward latency the
    harness measures. The side-by-side ratio of harness and bare-loop timings of the real forward (median
    over alternating rounds) is recorded too, but on a shared VM it mostly measures drift.
    """
    model, x = resnet
    fn = lambda: model(x)  # noqa: E731
    harness_ns, bare_ns = _loop_cost_ns()
    ratios = []
    with torch.inference_mode():
        times = []
        for _ in range(5):  # alternating rounds: bare, harness, bare, harness...
            bare = bare_loop_ms(fn, iters=20, warmup=2)
            t = CpuTimer().run(fn, TimingPolicy(warmup=2, min_iters=20, min_duration_s=0))
            times += t
            ratios.append(statistics.fmean(t) / bare)
        forward_ms = statistics.median(times)
        overhead = (harness_ns - bare_ns) / (forward_ms * 1e6)
        benchmark.extra_info.update(overhead_pct=100 * overhead, harness_loop_ns=harness_ns, bare_loop_ns=bare_ns,
                                    forward_median_ms=forward_ms, side_by_side_ratios=ratios)
        benchmark.pedantic(fn, rounds=10, warmup_rounds=2)
    print(f"\nharness loop {harness_ns:.0f} ns/call vs bare {bare_ns:.0f} ns/call; forward {forward_ms:.2f} ms; "
          f"overhead {100 * overhead:.5f}%")
    if zoo_write:
        from zoo.results import append_row, make_row, raw_path

        append_row(raw_path("speed"), make_row(
            "speed_overhead", model=OVERHEAD_MODEL, spec_hash=model.spec.spec_hash, weights=model.weights_id,
            settings={"device": "cpu", "batch_size": 1, "threads": torch.get_num_threads(), "rounds": len(ratios),
                      "iters_per_round": 20, "method": "loop cost over a no-op / median forward"},
            metrics={"overhead_pct": 100 * overhead, "harness_loop_ns": harness_ns, "bare_loop_ns": bare_ns,
                     "forward_median_ms": forward_ms, "ratios": ratios},
            command="pytest benchmarks/test_speed_benchmarks.py -k overhead", status="ok", device="cpu"))
    assert overhead <= 0.02, f"harness overhead {100 * overhead:.2f}% > 2%"


CONFIGS = [
    BackendConfig("eager", "fp32"),
    BackendConfig("eager", "fp32", channels_last=True),
    BackendConfig("onnxruntime", "fp32"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.label)
def test_forward(resnet, config, benchmark):
    model, x = resnet
    with torch.inference_mode():
        prep = prepare(copy.deepcopy(model), config, "cpu", x)
        xi = prep.to_inputs(x)
        benchmark.extra_info["config"] = config.label
        benchmark.pedantic(prep.run, args=(xi,), rounds=10, warmup_rounds=3)


def test_best_backend_vs_fp32_eager(ratio_model, zoo_write, zoo_min_duration):
    rows = zoo.bench(ratio_model, device="cpu", batch_sizes=(1,), backend="auto", min_duration_s=zoo_min_duration,
                     rounds=3, write=zoo_write, resume=False,
                     command=f"pytest benchmarks/test_speed_benchmarks.py -k best_backend --zoo-models {ratio_model}")
    (row,) = rows
    assert row["status"] == "ok", row.get("error")
    m = row["metrics"]
    print(f"\n{ratio_model}: {row['backend_used']} {m['speedup_vs_fp32_eager']:.2f}x vs fp32 eager "
          f"({m['fp32_eager_p50_ms']:.1f} -> {m['p50_ms']:.1f} ms), deviation {m.get('output_deviation')}")
    assert m["speedup_vs_fp32_eager"] >= 1.0 or row["backend_used"] == "eager+fp32"
