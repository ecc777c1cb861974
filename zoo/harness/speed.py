"""``zoo.bench``: how fast is this model on this hardware, and how close to what the hardware can do.

    rows = zoo.bench("resnet50", device="cpu", batch_sizes=(1, 8), backend="auto")

One row per batch size, written to results/raw/speed.jsonl through the raw results store and returned.
Scenarios follow MLPerf's names: batch 1 is **SingleStream** (latency p50/p90/p99, ms); larger batches are
**Offline** (throughput, items/s; the report keeps the best over the sweep).

Each row holds: latency percentiles (ms per call), items/s, peak memory (CUDA max allocated or process peak
RSS, MiB), params, FLOPs per item (2 x MACs, counted on the real input), achieved TFLOP/s and its share of
the device's measured matmul peak (the probe is in the row), warm-up / iteration counts and the minimum
measured duration, threads, weights (sha256 or "random-init"), the backend actually used, and, for every
configuration that is not fp32 eager, its output error against fp32 eager on real inputs.

``backend="auto"`` measures the candidates of ``speed_backends.auto_candidates`` (always including plain
fp32 eager) in alternating rounds in one process, keeps the fastest at that batch size and records each
candidate's median latency, speedup over fp32 eager and output error. Alternating rounds matter: speed on
a shared VM drifts by up to 2x over minutes, so only side-by-side ratios are comparable.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..errors import UserError
from ..models.base import check_device
from ..results import append_row, machine_info, make_row, raw_path, read_rows
from .speed_backends import BACKENDS, BackendConfig, Prepared, auto_candidates, outputs_to_fp32, prepare
from .speed_cost import DTYPES, MemoryMeter, count_flops, count_params, device_peak
from .speed_error import output_error
from .speed_timing import TimingPolicy, summarize, timer_for

TOPIC = "speed"
STAGE_TASKS = ("object-detection", "text-classification", "question-answering", "translation")


# --- row identity (resume) ------------------------------------------------------------------------------

def row_key(name: str, batch_size: int, settings: dict[str, Any], device: str) -> str:
    """Identity of a measurement for resuming: model, requested batch size, settings, device kind and the
    machine's CPU/GPU model. Timing knobs (warm-up, duration) are not part of it."""
    m = machine_info()
    ident = {
        "model": name, "batch_size": batch_size, "device": str(device).split(":")[0],
        "hw": m.get("gpu") if str(device).startswith("cuda") else f"{m.get('cpu')}|{m.get('cores')}",
        **{k: settings.get(k) for k in ("backend", "dtype", "channels_last", "precision", "compile_mode",
                                        "freezing", "cuda_graphs", "pretrained", "compare", "seq_len")},
        # a row records the thread count used as "threads" and the one asked for as "threads_requested"
        "threads": settings.get("threads_requested", settings.get("threads")),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def bench_settings(backend: str, device: str, dtype: str | None, *, channels_last: bool = False,
                   precision: str | None = None, compile_mode: str | None = None, freezing: bool | None = None,
                   cuda_graphs: bool = False, threads: int | None = None, pretrained: bool | str = "auto",
                   compare: bool = False, seq_len: int | None = None) -> dict[str, Any]:
    """The settings a row records (and its key is made of), with defaults resolved: freezing on for
    compile on CPU; bf16/fp16 by autocast for compile on CPU, by casting weights otherwise."""
    cpu = not str(device).startswith("cuda")
    if freezing is None:
        freezing = backend in ("compile", "auto") and cpu
    if precision is None:
        precision = "autocast" if backend == "compile" and cpu else "cast"
    return {
        "backend": backend, "dtype": dtype or ("fp32" if backend != "auto" else None), "channels_last": channels_last,
        "precision": precision, "compile_mode": compile_mode, "freezing": freezing, "cuda_graphs": cuda_graphs,
        "threads": threads, "pretrained": pretrained, "compare": compare, "seq_len": seq_len,
    }


def existing_keys(path: Path, include_errors: bool = True) -> set[str]:
    return {r["key"] for r in read_rows(path)
            if r.get("kind") == "speed" and r.get("key") and (include_errors or r.get("status") == "ok")}


def command_for(names: Sequence[str], settings: dict[str, Any], batch_sizes: Sequence[int], device: str,
                timing: dict[str, Any] | None = None) -> str:
    """The ``zoo bench`` command line that reproduces a row (timing flags only where not the defaults)."""
    parts = ["zoo", "bench", *names, "--device", str(device), "--batch-size", ",".join(map(str, batch_sizes)),
             "--backend", settings["backend"]]
    if settings.get("dtype"):
        parts += ["--dtype", settings["dtype"]]
    if settings.get("channels_last"):
        parts.append("--channels-last")
    if settings.get("compile_mode"):
        parts += ["--compile-mode", settings["compile_mode"]]
    if settings.get("cuda_graphs"):
        parts.append("--cuda-graphs")
    if settings.get("threads"):
        parts += ["--threads", str(settings["threads"])]
    if settings.get("pretrained") is False:
        parts.append("--random-weights")
    if settings.get("compare"):
        parts.append("--compare")
    if settings.get("seq_len"):
        parts += ["--seq-len", str(settings["seq_len"])]
    defaults = {"warmup": 5, "min_iters": 10, "min_duration_s": 2.0, "rounds": 3}
    flags = {"warmup": "--warmup", "min_iters": "--min-iters", "min_duration_s": "--min-duration", "rounds": "--rounds"}
    for k, v in (timing or {}).items():
        if k in defaults and v != defaults[k]:
            parts += [flags[k], f"{v:g}" if isinstance(v, float) else str(v)]
    return " ".join(parts)


# --- helpers --------------------------------------------------------------------------------------------

def is_oom(e: BaseException) -> bool:
    if isinstance(e, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def _one_line(e: BaseException) -> str:
    """``Type: first line of the message (at file:line of the innermost frame)``, at most ~400 characters."""
    import traceback

    msg = str(e).strip().splitlines()
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {(msg[0] if msg else '')[:300]}{where}"


def _free(device: str) -> None:
    gc.collect()
    if str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _weights_cached(spec: Any) -> bool:
    """Whether a copy of the spec's weight file is already on disk (pretrained="auto" never downloads)."""
    try:
        from ..weights.sources import locations

        return any(loc.path.is_file() for loc in locations(spec.weights))
    except Exception:  # no weights module or an unknown kind: treat as not cached
        return False


def _build(name: str, pretrained: bool | str, threads: int) -> Any:
    """Build the model; pretrained="auto" uses weights already on disk, else random init (recorded; no download).

    Restores the thread count afterwards: ultralytics sets it to cores - 1 when it builds a model.
    """
    from ..registry import UnknownModelError, create_model, get_spec

    try:
        spec = get_spec(name)
    except UnknownModelError as e:
        raise UserError(str(e)) from None
    try:
        if pretrained == "auto":
            if spec.weights is None or not _weights_cached(spec):
                model = create_model(name, pretrained=False)
            else:
                try:
                    model = create_model(name, pretrained=True)
                except UserError:  # a cached copy that does not verify: random init, and the row says so
                    model = create_model(name, pretrained=False)
        else:
            model = create_model(name, pretrained=bool(pretrained))
    finally:
        torch.set_num_threads(threads)
    return model


def _decoded_items(model: Any, n: int) -> list[Any]:
    """``n`` raw items, image paths decoded to PIL (end-to-end timing starts from a decoded image)."""
    items = list(model.example_items(n))
    if model.spec.task in ("image-classification", "object-detection"):
        from ..transforms import load_image

        items = [load_image(i) if isinstance(i, (str, Path)) else i for i in items]
    if len(items) < n:
        items = (items * math.ceil(n / max(1, len(items))))[:n]
    return items


class _Reference:
    """fp32 eager outputs and predictions on the error-check batches, computed once per batch size."""

    def __init__(self, model: Any, items: list[Any], bs: int, device: str, seq_len: int | None = None):
        from ..models.base import move_to

        self.batches = [pad_sequence(model.preprocess(items[i : i + bs]), seq_len) for i in range(0, len(items), bs)]
        self.outs = [outputs_to_fp32(model(move_to(b.inputs, device))) for b in self.batches]
        self.preds = _flat_preds(model, self.outs, self.batches)


def pad_sequence(batch: Any, seq_len: int | None) -> Any:
    """Right-pad every 2-D integer input (token ids, attention masks) with zeros to ``seq_len`` tokens.

    Zero is the padding id of BERT-style vocabularies and a zero attention mask hides the padding, so the
    predictions stay those of the unpadded text while the network computes over ``seq_len`` positions
    (how fixed-length throughput, e.g. "BERT-base at seq 128", is measured). Longer inputs are left as they are.
    """
    if not seq_len:
        return batch
    import torch.nn.functional as F
    from torch.utils import _pytree as pytree

    def pad(t):
        if isinstance(t, torch.Tensor) and t.dim() == 2 and not t.is_floating_point() and t.shape[1] < seq_len:
            return F.pad(t, (0, seq_len - t.shape[1]), value=0)
        return t

    batch.inputs = pytree.tree_map(pad, batch.inputs)
    return batch


def _flat_preds(model: Any, outs: list[Any], batches: list[Any]) -> list[dict] | None:
    try:
        return [p for o, b in zip(outs, batches) for p in model.postprocess(o, b)]
    except NotImplementedError:
        return None


def _variant_error(model: Any, prep: Prepared, ref: _Reference) -> dict[str, Any]:
    outs = [outputs_to_fp32(prep.run(prep.to_inputs(b.inputs))) for b in ref.batches]
    preds = _flat_preds(model, outs, ref.batches) if ref.preds is not None else None
    return output_error(model.spec.task, outs, ref.outs, preds, ref.preds)


def _measure_rounds(fns: list[Callable[[], Any]], timer, policy: TimingPolicy, rounds: int) -> list[list[float]]:
    """Per-iteration times of each fn, measured in ``rounds`` alternating rounds (ABCABC...)."""
    times: list[list[float]] = [[] for _ in fns]
    per_round = replace(policy, min_duration_s=policy.min_duration_s / rounds,
                        min_iters=max(1, math.ceil(policy.min_iters / rounds)))
    for r in range(rounds):
        for i, fn in enumerate(fns):
            times[i] += timer.run(fn, per_round if r == 0 else replace(per_round, warmup=1))
    return times


def latency_sample(times_ms: Sequence[float], limit: int = 500) -> list[float]:
    """Per-call latencies for the row (ms, 4 decimals): all of them in call order up to ``limit``, else
    ``limit`` evenly spaced order statistics (sorted), enough for distribution plots."""
    xs = list(times_ms)
    if len(xs) > limit:
        xs = sorted(xs)
        xs = [xs[round(i * (len(xs) - 1) / (limit - 1))] for i in range(limit)]
    return [round(float(x), 4) for x in xs]


def _median(xs: Sequence[float]) -> float:
    from .speed_timing import percentile

    return percentile(xs, 50)


def _time_stages(model: Any, prep: Prepared, items: list[Any], device: str, policy: TimingPolicy,
                 seq_len: int | None = None) -> dict[str, Any]:
    """ms per call of preprocess (raw items -> tensors), postprocess (outputs -> predictions) and the whole
    path, decoded image / raw text -> final predictions, end to end (p50 and items/s).

    Text inputs are padded to ``seq_len`` in every stage, as in the forward timing, so that the end-to-end
    path runs the same network shapes as the forward it is compared with."""
    timer = timer_for(device)
    short = replace(policy, min_duration_s=max(0.2, policy.min_duration_s / 2), warmup=min(policy.warmup, 2))
    def preprocess():
        return pad_sequence(model.preprocess(items), seq_len)

    pre = summarize(timer_for("cpu").run(preprocess, short), len(items))
    batch = preprocess()
    out = prep.run(prep.to_inputs(batch.inputs))
    out_cpu = outputs_to_fp32(out)
    post = summarize(timer_for("cpu").run(lambda: model.postprocess(outputs_to_fp32(out), batch), short), len(items))

    def e2e():
        b = preprocess()
        return model.postprocess(outputs_to_fp32(prep.run(prep.to_inputs(b.inputs))), b)

    del out_cpu
    end = summarize(timer.run(e2e, short), len(items))
    return {
        "preprocess_p50_ms": pre["p50_ms"], "postprocess_p50_ms": post["p50_ms"],
        "e2e_p50_ms": end["p50_ms"], "e2e_p90_ms": end["p90_ms"], "e2e_p99_ms": end["p99_ms"],
        "e2e_items_per_s": end["items_per_s"], "e2e_iterations": end["iterations"],
    }


# --- the entry point ------------------------------------------------------------------------------------

def bench(
    name: str | None = None,
    device: str = "cpu",
    batch_sizes: Sequence[int] = (1,),
    dtype: str | None = None,
    backend: str = "eager",
    *,
    channels_last: bool = False,
    precision: str | None = None,
    compile_mode: str | None = None,
    freezing: bool | None = None,
    cuda_graphs: bool = False,
    threads: int | None = None,
    warmup: int = 5,
    min_iters: int = 10,
    min_duration_s: float = 2.0,
    rounds: int = 3,
    pretrained: bool | str = "auto",
    stages: bool | None = None,
    compare: bool = False,
    seq_len: int | None = None,
    error_items: int = 8,
    peak: bool = True,
    write: bool = True,
    resume: bool = True,
    retry_errors: bool = False,
    raw_file: str | Path | None = None,
    command: str | None = None,
    model: Any = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure one model; returns the rows (also appended to ``raw_file``, default results/raw/speed.jsonl).

    device: "cpu" | "cuda[:i]". batch_sizes: a sweep; on out-of-memory the batch is halved and the row
    records the batch size asked for and the one that ran. dtype: fp32 | bf16 | fp16 (default fp32; with
    backend="auto", None lets auto pick). backend: eager | compile | onnxruntime | int8 | auto.
    precision: "cast" (weights in dtype) or "autocast" (default: autocast for compile on CPU, else cast).
    freezing: inductor freezing (default on for compile on CPU). compare: also time fp32 eager in
    alternating rounds and record the speedup. seq_len: pad token inputs to this length (text models).
    stages: time preprocess / postprocess / end to end
    (default: detection and text models). Timing: ``warmup`` untimed calls, then >= ``min_iters`` calls and
    >= ``min_duration_s`` seconds. resume: skip batch sizes whose row (same key) is already in raw_file.
    model: a ZooModel to use instead of building ``name`` from the registry.
    """
    log = log or (lambda s: None)
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if dtype is not None and dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    batch_sizes = [int(b) for b in batch_sizes]
    if not batch_sizes or any(b < 1 for b in batch_sizes):
        raise UserError(f"batch sizes must be positive integers, got {batch_sizes}")
    dev = check_device(device)
    if name is None and model is None:
        raise ValueError("bench() needs a model name or a model")
    name = name or model.spec.name
    if threads:
        torch.set_num_threads(int(threads))
    n_threads = torch.get_num_threads()
    settings = bench_settings(backend, dev, dtype, channels_last=channels_last, precision=precision,
                              compile_mode=compile_mode, freezing=freezing, cuda_graphs=cuda_graphs, threads=threads,
                              pretrained=pretrained, compare=compare, seq_len=seq_len)
    path = Path(raw_file) if raw_file else raw_path(TOPIC)
    keys = {bs: row_key(name, bs, settings, dev) for bs in batch_sizes}
    done = existing_keys(path, include_errors=not retry_errors) if resume else set()
    todo = [bs for bs in batch_sizes if keys[bs] not in done]
    if not todo:
        log(f"{name}: every batch size already measured (resume); nothing to do")
        return []
    policy = TimingPolicy(warmup=warmup, min_iters=min_iters, min_duration_s=min_duration_s)
    command = command or command_for([name], settings, batch_sizes, dev, {**policy.as_dict(), "rounds": rounds})

    def base_row(bs: int, status: str, metrics: dict, extra_settings: dict | None = None, **extra) -> dict:
        spec = model.spec if model is not None else None
        task = spec.task if spec else None
        flags = []
        if task == "object-detection" and model is not None and not model.pretrained:
            flags.append("random-weights detection: postprocessing (NMS over near-uniform scores) is not representative")
        row = make_row(
            "speed", model=name, spec_hash=spec.spec_hash if spec else None,
            weights=model.weights_id if model is not None else None, dataset="example_items",
            settings={**settings, "device": dev, "threads": n_threads, "threads_requested": threads,
                      "requested_batch_size": bs, **policy.as_dict(), "rounds": rounds, **(extra_settings or {})},
            metrics=metrics, key=keys[bs], status=status, task=task, device=dev, command=command, flags=flags,
            **extra,
        )
        if write:
            append_row(path, row)
        return row

    rows: list[dict[str, Any]] = []
    t_build = time.perf_counter()
    try:
        if model is None:
            log(f"{name}: building")
            model = _build(name, pretrained, n_threads)
        else:
            torch.set_num_threads(n_threads)
    except UserError:
        raise
    except Exception as e:  # a model that does not build is a measured failure, not a crash of the sweep
        return [base_row(bs, "error", {}, error=f"build failed: {_one_line(e)}") for bs in todo]
    build_s = time.perf_counter() - t_build
    model.eval()
    task = model.spec.task
    do_stages = stages if stages is not None else task in STAGE_TASKS
    n_err = error_items
    items = _decoded_items(model, max(max(todo), n_err))

    with torch.inference_mode():
        params = count_params(model)
        try:
            flops_per_item = count_flops(model, pad_sequence(model.preprocess(items[:1]), seq_len).inputs)
        except Exception as e:  # some ops cannot be counted; the row says so
            flops_per_item, flops_error = None, _one_line(e)
        else:
            flops_error = None
        if dev.startswith("cuda"):
            model.to(dev)
        common = {"params": params, "flops_per_item": flops_per_item, "gflops_per_item":
                  flops_per_item / 1e9 if flops_per_item else None, "build_s": round(build_s, 2)}
        if flops_error:
            common["flops_error"] = flops_error
        peaks: dict[str, dict] = {}

        def get_peak(dt: str) -> dict | None:
            if not peak:
                return None
            if dt not in peaks:
                log(f"measuring {dev} {dt} matmul peak (cached afterwards)")
                peaks[dt] = device_peak(dev, dt, n_threads)
            return peaks[dt]

        for bs in todo:
            b = bs
            oom: list[int] = []
            while True:
                try:
                    log(f"{name}: batch {b}, backend {backend}")
                    metrics, extra_settings, used = _bench_batch(
                        model, items, b, dev, backend, settings, policy, rounds, compare, do_stages, n_err, get_peak,
                    )
                    metrics.update(common)
                    _add_throughput_share(metrics)
                    if oom:
                        metrics["oom_batch_sizes"] = oom
                    rows.append(base_row(bs, "ok", metrics, {"batch_size": b, **extra_settings},
                                         scenario="SingleStream" if b == 1 else "Offline", backend_used=used))
                    break
                except Exception as e:
                    if is_oom(e) and b > 1:
                        oom.append(b)
                        log(f"{name}: out of memory at batch {b}; halving")
                        _free(dev)
                        b //= 2
                        continue
                    if isinstance(e, UserError):
                        raise
                    rows.append(base_row(bs, "error", {**common, "oom_batch_sizes": oom} if oom else common,
                                         {"batch_size": b}, error=_one_line(e)))
                    _free(dev)
                    break
    return rows


def _add_throughput_share(m: dict[str, Any]) -> None:
    """achieved TFLOP/s = FLOPs/item x items/s; share of peak = achieved / measured matmul peak."""
    if m.get("flops_per_item") and m.get("items_per_s"):
        m["achieved_tflops"] = m["flops_per_item"] * m["items_per_s"] / 1e12
        if m.get("peak_tflops"):
            m["share_of_peak"] = m["achieved_tflops"] / m["peak_tflops"]


def _bench_batch(model, items, bs, dev, backend, settings, policy, rounds, compare, do_stages, n_err, get_peak):
    """Measure one batch size. Returns (metrics, extra settings, backend label used)."""
    import torch._dynamo as dynamo

    task = model.spec.task
    seq_len = settings.get("seq_len")
    batch = pad_sequence(model.preprocess(items[:bs]), seq_len)
    err_items = (items * math.ceil(bs * math.ceil(n_err / bs) / len(items)))[: bs * math.ceil(n_err / bs)]
    base = BackendConfig("eager", "fp32")
    if backend == "auto":
        configs = auto_candidates(dev, task, model, BackendConfig("eager", settings["dtype"] or "fp32"))
    else:
        cfg = BackendConfig(backend, settings["dtype"] or "fp32", settings["channels_last"], settings["precision"],
                            settings["compile_mode"], settings["freezing"], settings["cuda_graphs"])
        configs = [base, cfg] if compare and cfg != base else [cfg]
    ref = None
    needs_ref = any(c != base for c in configs)
    if needs_ref:
        ref = _Reference(model.to(dev), err_items, bs, dev, seq_len)
    timer = timer_for(dev)
    # fresh dynamo state per batch size (stale guards, recompile limits); not per configuration, since a
    # reset would also throw away the graphs of configurations compiled before it
    dynamo.reset()
    prepared: list[Prepared] = []
    cand_info: list[dict[str, Any]] = []
    for cfg in configs:
        entry: dict[str, Any] = {"config": cfg.label}
        try:
            t0 = time.perf_counter()
            target = model if cfg == base else copy.deepcopy(model)
            prep = prepare(target, cfg, dev, batch.inputs)
            x = prep.to_inputs(batch.inputs)
            t1 = time.perf_counter()
            prep.run(x)  # first call: compilation / export / autotuning happen here, outside timing
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            entry["first_call_s"] = round(time.perf_counter() - t1, 3)
            entry["setup_s"] = round(time.perf_counter() - t0, 3)
            entry.update(prep.info)
            if ref is not None and cfg != base:
                entry["error"] = _variant_error(model, prep, ref)
            prep.info["inputs"] = x
            prepared.append(prep)
            cand_info.append(entry)
        except Exception as e:
            if is_oom(e) or backend != "auto" or cfg == base:
                raise
            entry["failed"] = _one_line(e)
            cand_info.append(entry)
    fns = [(lambda p=p: p.run(p.info["inputs"])) for p in prepared]
    times = _measure_rounds(fns, timer, policy, rounds) if len(fns) > 1 else [timer.run(fns[0], policy)]
    ok = [c for c in cand_info if "failed" not in c]
    for c, t in zip(ok, times):
        c["p50_ms"] = _median(t)
        c["iterations"] = len(t)
    base_t = times[0] if len(prepared) > 1 and prepared[0].config == base else None
    if base_t is not None:
        for c, t in zip(ok, times):
            c["speedup_vs_fp32_eager"] = _median(base_t) / _median(t)
    if backend == "auto":
        best = min(range(len(prepared)), key=lambda i: _median(times[i]))
    else:
        best = len(prepared) - 1
    chosen, chosen_times, info = prepared[best], times[best], ok[best]
    metrics: dict[str, Any] = summarize(chosen_times, bs)
    metrics["latencies_ms"] = latency_sample(chosen_times)
    metrics["first_call_s"] = info.get("first_call_s")
    metrics["setup_s"] = info.get("setup_s")
    if "error" in info:
        metrics["error"] = info["error"]
    if "speedup_vs_fp32_eager" in info:
        metrics["speedup_vs_fp32_eager"] = info["speedup_vs_fp32_eager"]
        metrics["fp32_eager_p50_ms"] = _median(base_t)
    if len(cand_info) > 1:
        metrics["candidates"] = cand_info
    with MemoryMeter(dev) as mem:
        for _ in range(3):
            chosen.run(chosen.info["inputs"])
    metrics.update(mem.as_metrics())
    cfg = chosen.config
    compute_dtype = cfg.dtype
    probe = get_peak(compute_dtype)
    if probe is not None:
        metrics["peak_tflops"] = probe["tflops"]
        metrics["peak_probe"] = probe
    if do_stages:
        metrics["stages"] = _time_stages(model, chosen, items[:bs], dev, policy, settings.get("seq_len"))
    extra = {"backend_config": cfg.as_dict(), **{k: v for k, v in info.items() if k in ("compile", "onnx", "quantized", "cuda_graphs")}}
    return metrics, extra, cfg.label
