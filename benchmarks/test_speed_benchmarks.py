"""Speed benchmarks over the harness's own code path (``zoo.harness.speed*``).

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

import pytest
import torch

import zoo
from zoo.harness.speed_backends import BackendConfig, prepare
from zoo.harness.speed_timing import CpuTimer, TimingPolicy, bare_loop_ms

OVERHEAD_MODEL = "resnet50"


@pytest.fixture(scope="module")
def resnet():
    model = zoo.create_model(OVERHEAD_MODEL)
    return model, model.example_batch(1).inputs


def test_harness_overhead(resnet, benchmark, zoo_write):
    """Harness loop (CpuTimer: a clock read and a list append per call) vs a bare loop; ratio of means."""
    model, x = resnet
    fn = lambda: model(x)  # noqa: E731
    ratios = []
    with torch.inference_mode():
        for _ in range(5):  # alternating rounds: bare, harness, bare, harness...
            bare = bare_loop_ms(fn, iters=20, warmup=2)
            times = CpuTimer().run(fn, TimingPolicy(warmup=2, min_iters=20, min_duration_s=0))
            ratios.append(statistics.fmean(times) / bare)
        overhead = statistics.median(ratios) - 1
        benchmark.extra_info.update(overhead_pct=100 * overhead, rounds=len(ratios), ratios=ratios)
        benchmark.pedantic(fn, rounds=10, warmup_rounds=2)
    if zoo_write:
        from zoo.results import append_row, make_row, raw_path

        append_row(raw_path("speed"), make_row(
            "speed_overhead", model=OVERHEAD_MODEL, spec_hash=model.spec.spec_hash, weights=model.weights_id,
            settings={"device": "cpu", "batch_size": 1, "threads": torch.get_num_threads(), "rounds": len(ratios),
                      "iters_per_round": 20},
            metrics={"overhead_pct": 100 * overhead, "ratios": ratios},
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
          f"({m['fp32_eager_p50_ms']:.1f} -> {m['p50_ms']:.1f} ms), error {m.get('error')}")
    assert m["speedup_vs_fp32_eager"] >= 1.0 or row["backend_used"] == "eager+fp32"
