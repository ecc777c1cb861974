"""The speed harness (``zoo bench``): latency percentiles, throughput, memory, FLOPs and share of the device's
peak, per backend configuration; ``--backend auto`` picks the fastest within the accuracy budget.

    rows = bench("resnet50", BenchConfig(batch_sizes=(1, 8)))

Modules: ``config`` (BenchConfig: settings, CLI flags, row key), ``bench`` (one model: build, cost, rows),
``measure`` (one batch size: backends, alternating rounds, output deviation), ``timing`` (timers, percentiles),
``cost`` (params, FLOPs, memory, the peak probe), ``error`` (output deviation vs fp32), ``oom`` (retry smaller),
``sweep`` (many models, a fresh process each), ``accuracy_budget`` (what auto may pick).
"""

from . import accuracy_budget
from .runner import TOPIC, bench, build_model, existing_rows, run_bench, skip_line, token_count
from .config import BenchConfig, add_arguments, config_from_args
from .cost import PEAK_DTYPES, device_peak
from .error import DEVIATION
from .sweep import sweep

__all__ = ["BenchConfig", "DEVIATION", "PEAK_DTYPES", "TOPIC", "accuracy_budget", "add_arguments", "bench",
           "build_model", "config_from_args", "device_peak", "existing_rows", "run_bench", "skip_line", "sweep",
           "token_count"]
