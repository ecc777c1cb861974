"""The speed harness (``zoo bench``): latency percentiles, throughput, memory, FLOPs and share of the device's
peak, per backend configuration; ``--backend auto`` picks the fastest within the accuracy budget.

    rows = bench("resnet50", BenchConfig(batch_sizes=(1, 8)))

Modules: ``config`` (BenchConfig: settings, CLI flags, row key), ``bench`` (one model: build, cost, rows),
``measure`` (one batch size: backends, alternating rounds, output deviation), ``timing`` (timers, percentiles),
``cost`` (params, FLOPs, memory, the peak probe), ``error`` (output deviation vs fp32), ``oom`` (retry smaller),
``sweep`` (many models, a fresh process each: ``speed.sweep.sweep``), ``accuracy_budget`` (what auto may pick),
``noise`` (was the machine quiet while timing).
"""

from __future__ import annotations

from pathlib import Path

from ...lazy import lazy_getattr

_EXPORTS = {**dict.fromkeys(("TOPIC", "bench", "build_model", "existing_rows", "run_bench", "skip_line", "token_count"),
                            "runner"),
            **dict.fromkeys(("BenchConfig", "add_arguments", "config_from_args"), "config"),
            "PEAK_DTYPES": "cost", "device_peak": "cost", "DEVIATION": "error"}

__all__ = ["BenchConfig", "DEVIATION", "PEAK_DTYPES", "TOPIC", "accuracy_budget", "add_arguments", "bench", "build_model",
           "config_from_args", "device_peak", "existing_rows", "noise", "run_bench", "skip_line", "sweep", "token_count"]


__getattr__ = lazy_getattr(__name__, Path(__file__).parent, _EXPORTS)  # torch loads with the first name used
