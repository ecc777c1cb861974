"""``zoo.bench``: how fast is this model on this hardware, and how close to what the hardware can do.

    rows = zoo.bench("resnet50", device="cpu", batch_sizes=(1, 8), backend="auto")
    rows = run_bench("resnet50", BenchConfig(batch_sizes=(1, 8), backend="auto"))   # the same

One row per batch size, written to results/raw/speed.jsonl through the raw results store and returned.
Scenarios follow MLPerf's names: batch 1 is **SingleStream** (latency p50/p90/p99, ms); larger batches are
**Offline** (throughput, items/s; the report keeps the best over the sweep).

Each row holds: latency percentiles (ms per call), items/s, peak memory (CUDA max allocated or process peak
RSS, MiB), params, FLOPs per item (2 x MACs, counted on the real input), achieved TFLOP/s and its share of
the device's measured matmul peak (the probe is in the row), warm-up / iteration counts and the minimum
measured duration, threads, weights (sha256 or "random-init"), the backend actually used, and, for every
configuration that is not fp32 eager, its output deviation from fp32 eager on real inputs.

``backend="auto"`` measures the candidates of ``backends.auto_candidates`` (always including plain fp32
eager) in alternating rounds in one process, keeps the fastest at that batch size and records each
candidate's median latency, speedup over fp32 eager and output deviation. Backends live in
``zoo/harness/backends/`` (one module each); settings in ``BenchConfig``; out-of-memory halving in
``oom``; one batch size's measurement in ``measure``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils import _pytree as pytree

from ...console import progress
from ...errors import UserError
from ...models.base import check_device
from ...results import append_row, check_appendable, make_row, raw_path, read_rows
from ..backends import AUTO, check_backend, isa_flags
from ..loading import decoded_items, load_model
from .config import BenchConfig
from .cost import (
    PEAK_DTYPES,
    count_flops,
    count_params,
    device_peak,
    layer_shares,
    peak_dtype,
    rate_tflops,
)
from .measure import measure_batch, one_line, pad_sequence
from .noise import noise_flag, round_medians
from .oom import try_run

TOPIC = "speed"

__all__ = ["BenchConfig", "TOPIC", "bench", "build_model", "existing_keys", "existing_rows", "run_bench", "skip_line"]


def bench(name: str | None = None, config: BenchConfig | None = None, *, model: Any = None, write: bool = True,
          resume: bool | None = None, retry_errors: bool = False, raw_file: str | Path | None = None,
          command: str | None = None, log: Callable[[str], None] | None = None, include_existing: bool = False,
          verbose: bool = False, **settings: Any) -> list[dict[str, Any]]:
    """Measure one model; returns the rows (also appended to ``raw_file``, default results/raw/speed.jsonl).

    Settings are BenchConfig's fields, as a ``config`` or as keywords (``batch_sizes=(1, 8)``,
    ``backend="auto"``, ``dtype="bf16"``, ``min_duration_s=...``; keywords override the config's).
    write: append the rows (``write=False`` measures every batch size, as ``zoo bench --no-write`` does).
    resume (default: ``write``): skip batch sizes whose row (same key) is already in raw_file
    (``retry_errors``: measure again those whose row is an error); each skipped batch size is one ``log``
    line (``skip_line``), and with ``include_existing`` its existing row is returned too, marked
    ``"existing": True``. command: the command line to record (default: the ``zoo bench`` line that
    reproduces the config). model: a ZooModel to use instead of building ``name`` from the registry.
    verbose: progress lines (and a progress bar on a terminal) on stderr; by default nothing is printed.
    """
    if config is not None and not isinstance(config, BenchConfig):
        raise TypeError(f"bench(name, config): config must be a BenchConfig, got {config!r} (settings go by keyword)")
    cfg = replace(config, **settings) if config is not None else BenchConfig(**settings)
    if name is None and model is None:
        raise ValueError("bench() needs a model name or a model")
    if log is None and verbose:
        log = _stderr_line
    return run_bench(name or model.spec.name, cfg, model=model, write=write, resume=write if resume is None else resume,
                     retry_errors=retry_errors, raw_file=raw_file, command=command, log=log,
                     include_existing=include_existing, progress_bar=verbose)


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def existing_rows(path: Path, include_errors: bool = True) -> dict[str, dict[str, Any]]:
    """key -> the latest speed row with that key in ``path`` (ok rows only unless ``include_errors``)."""
    return {r["key"]: r for r in read_rows(path)
            if r.get("kind") == "speed" and r.get("key") and (include_errors or r.get("status") == "ok")}


def existing_keys(path: Path, include_errors: bool = True) -> set[str]:
    return set(existing_rows(path, include_errors))


def skip_line(row: dict[str, Any]) -> str:
    """One line for a setting skipped because ``row`` holds it already: when it was measured, how to redo it."""
    s = row.get("settings") or {}
    when = str(row.get("time") or "an unknown date")[:16].replace("T", " ")
    what = f"{row.get('model')} batch {s.get('requested_batch_size', s.get('batch_size'))} {s.get('backend', '')}"
    if row.get("status") != "ok":
        return f"{what.rstrip()}: skipped, its last row ({when} UTC) is an error; --retry-errors measures again"
    return f"{what.rstrip()}: skipped, measured {when} UTC on this machine kind; --force measures again"


def as_existing(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored row marked as not measured by this call."""
    return {**row, "existing": True}


class RowWriter:
    """Builds (and, with a path, appends) the rows of one model under one config: every row of a bench
    call, ok or error, and the sweep's rows for a worker that died, come from here."""

    def __init__(self, name: str, cfg: BenchConfig, command: str, path: Path | None, threads_used: int | None):
        self.name, self.cfg, self.command, self.path = name, cfg, command, path
        self.threads_used = threads_used
        self.model: Any = None

    def row(self, bs: int, status: str, metrics: dict, extra_settings: dict | None = None,
            more_flags: list[str] | None = None, **extra) -> dict:
        spec = self.model.spec if self.model is not None else None
        flags = list(more_flags or [])
        if spec and spec.task == "object-detection" and not self.model.pretrained:
            flags.append("random-weights detection: postprocessing (NMS over near-uniform scores) is not representative")
        row = make_row(
            "speed", model=self.name, spec_hash=spec.spec_hash if spec else None,
            weights=self.model.weights_id if self.model is not None else None, dataset="example_items",
            settings={**self.cfg.recorded(self.threads_used), "requested_batch_size": bs, "batch_size": bs,
                      **(extra_settings or {})},
            metrics=metrics, key=self.cfg.row_key(self.name, bs), status=status, task=spec.task if spec else None,
            device=self.cfg.device, command=self.command, flags=flags, **extra,
        )
        if self.path is not None:
            append_row(self.path, row)
        return row


def run_bench(name: str, cfg: BenchConfig, *, model: Any = None, write: bool = True, resume: bool = True,
              retry_errors: bool = False, raw_file: str | Path | None = None, command: str | None = None,
              log: Callable[[str], None] | None = None, include_existing: bool = False,
              progress_bar: bool = True) -> list[dict[str, Any]]:
    """``bench`` with a BenchConfig: resume (one log line per skipped batch size), build, then measure each
    batch size left to do; rows in batch-size order (existing ones too with ``include_existing``).
    ``progress_bar``: a bar over the batch sizes on a terminal (the CLI's; ``zoo.bench`` draws none unless verbose)."""
    log = log or (lambda s: None)
    dev = check_device(cfg.device)
    if cfg.backend != AUTO:
        check_backend(cfg.backend_config(), dev, model.spec.task if model is not None else None)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    path = Path(raw_file) if raw_file else raw_path(TOPIC)
    if write:
        check_appendable(path)  # a full disk or damaged file: refused before minutes of measuring
    done = existing_rows(path, include_errors=not retry_errors) if resume else {}
    keys = {bs: cfg.row_key(name, bs) for bs in cfg.batch_sizes}
    for bs, key in keys.items():
        if key in done:
            log(skip_line(done[key]))
    todo = [bs for bs, key in keys.items() if key not in done]
    measured = dict(zip(todo, _measure(name, cfg, todo, dev, model, path if write else None, command, log,
                                       progress_bar)))
    return [measured[bs] if bs in measured else as_existing(done[key]) for bs, key in keys.items()
            if bs in measured or include_existing]


def _measure(name: str, cfg: BenchConfig, todo: list[int], dev: str, model: Any, path: Path | None,
             command: str | None, log: Callable[[str], None], progress_bar: bool = True) -> list[dict[str, Any]]:
    """Build the model (unless given) and measure each batch size of ``todo``: one row each."""
    if not todo:
        return []
    n_threads = torch.get_num_threads()
    rows = RowWriter(name, cfg, command or cfg.command([name]), path, n_threads)
    t_build = time.perf_counter()
    try:
        if model is None:
            log(f"{name}: building")
            model = build_model(name, cfg.pretrained, checkpoint=cfg.checkpoint)
    except UserError:
        raise
    except Exception as e:  # a model that does not build is a measured failure, not a crash of the sweep
        return [rows.row(bs, "error", {}, error=f"build failed: {one_line(e)}") for bs in todo]
    rows.model = model.eval()
    with torch.inference_mode():
        common = _cost(model, cfg, time.perf_counter() - t_build)
        if dev.startswith("cuda"):
            model.to(dev)
        peaks = PeakCache(dev, n_threads, cfg.peak, log)
        bar = progress(todo, desc=name, unit="setting", disable=len(todo) < 2 or not progress_bar)  # batch sizes
        return [_bench_one(model, cfg, bs, dev, rows, common, peaks, log) for bs in bar]


def _bench_one(model: Any, cfg: BenchConfig, bs: int, dev: str, rows: RowWriter, common: dict[str, Any],
               peaks: "PeakCache", log: Callable[[str], None]) -> dict[str, Any]:
    """One row: the measurement at ``bs``, halved on out-of-memory (speed_oom), or an error row."""
    def run(b: int):
        log(f"{rows.name}: batch {b}, backend {cfg.backend}")
        return measure_batch(model, cfg, b, dev, lambda _dtype: None,  # the peak is added below, per chosen config
                             log=lambda s: log(f"{rows.name}: batch {b}, {s}"))

    attempt = try_run(run, bs, dev, log=lambda s: log(f"{rows.name}: {s}"))
    oom = {"oom_batch_sizes": attempt.oom_batch_sizes} if attempt.oom_batch_sizes else {}
    if attempt.error is not None:
        return rows.row(bs, "error", {**common, **oom}, {"batch_size": attempt.batch_size},
                        error=one_line(attempt.error))
    metrics, extra_settings, used = attempt.result
    metrics.update(common)
    metrics.update(peaks.metrics(extra_settings.get("backend_config") or {}))
    _add_throughput_share(metrics)
    metrics.update(oom)
    chosen = extra_settings.get("backend_config") or {}
    noisy = noise_flag(metrics.get("noise"))
    if noisy:
        log(f"{rows.name} batch {attempt.batch_size}: {noisy}")
    return rows.row(bs, "ok", metrics, {"batch_size": attempt.batch_size, **extra_settings},
                    more_flags=peak_flags(metrics) + isa_flags(peak_dtype(chosen), dev) + ([noisy] if noisy else []),
                    scenario="SingleStream" if attempt.batch_size == 1 else "Offline", backend_used=used,
                    **({"noisy": True} if noisy else {}))


OVER_PEAK = "share of peak above 100 %"


class PeakCache:
    """The device's peak per dtype for one bench process: probed here on first use (best of a few short
    rounds, <= 2 s), merged into zoo's cache, which keeps the best ever seen per machine and dtype."""

    def __init__(self, device: str, threads: int, enabled: bool, log: Callable[[str], None]):
        self.device, self.threads, self.enabled, self.log = device, threads, enabled, log
        self.peaks: dict[str, dict] = {}

    def get(self, dtype: str) -> dict | None:
        if not self.enabled or dtype not in PEAK_DTYPES:
            return None
        if dtype not in self.peaks:
            self.log(f"measuring {self.device} {dtype} peak (this process; the cache keeps the best ever seen)")
            self.peaks[dtype] = device_peak(self.device, dtype, self.threads)
        return self.peaks[dtype]

    def metrics(self, backend_config: dict[str, Any]) -> dict[str, Any]:
        """The row's peak fields for the chosen configuration: the best-known peak ("% of peak" divides by
        it), this process's own probe, and the probe record (empty when the probe is off)."""
        probe = self.get(peak_dtype(backend_config))
        if probe is None:
            return {}
        return {"peak_tflops": probe["tflops"], "peak_tflops_this_process": probe["this_process"]["tflops"],
                "peak_dtype": probe["dtype"], "peak_probe": probe}


def peak_flags(metrics: dict[str, Any]) -> list[str]:
    """A row flag when the achieved rate is above the best-known peak: the probe, not the model, is wrong."""
    share = metrics.get("share_of_peak")
    if share is None or share <= 1:
        return []
    return [f"{OVER_PEAK} ({100 * share:.0f} %): the {metrics.get('peak_dtype')} peak probe reads below what this "
            "configuration reaches (it does not exercise the kernels this configuration runs)"]


def _cost(model: Any, cfg: BenchConfig, build_s: float) -> dict[str, Any]:
    """Params and FLOPs per item (counted on one real item), shared by every row of the model."""
    flops_error, tokens = None, None
    try:
        inputs = pad_sequence(model.preprocess(decoded_items(model, 1)), cfg.seq_len).inputs
        tokens = token_count(inputs)
        flops = count_flops(model, inputs)
    except Exception as e:  # some ops cannot be counted; the row says so
        flops, flops_error = None, one_line(e)
    common = {"params": count_params(model), "flops_per_item": flops,
              "gflops_per_item": flops / 1e9 if flops else None, "build_s": round(build_s, 2)}
    if tokens is not None:
        common["seq_len"] = tokens  # tokens per item the FLOPs were counted at (padded to --seq-len when given)
    if flops_error:
        common["flops_error"] = flops_error
    return common


def token_count(inputs: Any) -> int | None:
    """Sequence length of a text input: the width of its 2-D integer tensors (token ids), None for others."""
    widths = [t.shape[1] for t in pytree.tree_leaves(inputs)
              if isinstance(t, torch.Tensor) and t.dim() == 2 and not t.is_floating_point()]
    return int(max(widths)) if widths else None


def _add_throughput_share(m: dict[str, Any]) -> None:
    """achieved TFLOP/s = FLOPs/item x items/s; share of peak = achieved / measured matmul peak.

    ``share_of_peak_fastest_round``: the same share in the fastest third of the timed calls (their median), the
    statistic closest to the peak probe's own (its best round; the cache keeps the best ever seen): on a
    machine whose speed drifts between phases, the share over all calls mixes a slow phase's calls with a
    peak probed in a fast one. ``share_of_peak_paired`` (``--paired-peak``): the model's p50 against the probes'
    p50 timed in the same alternating rounds (``measure.paired_peak``), no cached figure involved."""
    paired = m.get("paired_peak") or {}
    if m.get("flops_per_item") and paired.get("tflops"):  # --paired-peak: model and probes in the same rounds
        rate = rate_tflops(m["flops_per_item"] * paired["items_per_call"], paired["model_p50_ms"])
        m["share_of_peak_paired"] = rate / paired["tflops"]
    if m.get("flops_per_item") and m.get("items_per_s"):
        m["achieved_tflops"] = m["flops_per_item"] * m["items_per_s"] / 1e12
        if m.get("peak_tflops"):
            m["share_of_peak"] = m["achieved_tflops"] / m["peak_tflops"]
            calls = m.get("latencies_ms") or []
            in_order = len(calls) == m.get("iterations")  # a long run keeps sorted order statistics instead
            fastest = fastest_round_ms(calls) if in_order else None
            if fastest and m.get("mean_ms"):
                m["share_of_peak_fastest_round"] = m["share_of_peak"] * m["mean_ms"] / fastest
            items_per_call = m["items_per_s"] * m.get("mean_ms", 0) / 1e3  # = the batch size
            m.update(layer_shares(m["flops_per_item"], items_per_call, m.get("layer_profile"), m["peak_tflops"]))


def fastest_round_ms(times_ms: list[float], rounds: int = 3) -> float | None:
    """The lowest of the ``rounds`` slice medians that the noise record's round spread compares (None under 2
    calls a slice)."""
    medians = round_medians(times_ms, rounds)
    return min(medians) if medians else None


def build_model(name: str, pretrained: bool | str = "auto", checkpoint: str | None = None) -> Any:
    """The model bench times: ``load_model`` with ``checkpoint``, else ``pretrained`` as its weights ("auto": a
    default checkpoint or weights already on disk, else random init, recorded; bench never downloads)."""
    weights = (checkpoint if checkpoint is not None else "auto" if pretrained == "auto"
               else "pretrained" if pretrained else "random")
    return load_model(name, weights, fetch=False)[0]
