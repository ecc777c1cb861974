"""zoo bench NAME... [--device cpu|cuda] [--batch-size N[,N...]] [--dtype fp32|bf16|fp16]
[--backend eager|compile|onnxruntime|int8|auto] [--json]

One name runs in this process; several names (or wildcards, or "all") run as a sweep, each model in a
fresh subprocess, resuming from the rows already in results/raw/speed.jsonl.
"""

from __future__ import annotations

import json
import sys

from ..errors import UserError
from ._table import print_table


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure speed: latency percentiles, items/s, memory, FLOPs, share of peak")
    p.add_argument("names", nargs="+", metavar="NAME", help="model names, wildcards ('*resnet*'), or 'all'")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default cpu)")
    p.add_argument("--batch-size", default="1", help="batch size or comma-separated sweep, e.g. 1,8,32 (default 1)")
    p.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default=None,
                   help="compute dtype (default fp32; with --backend auto, auto may pick a lower precision)")
    p.add_argument("--backend", choices=("eager", "compile", "onnxruntime", "int8", "auto"), default="eager")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (vision)")
    p.add_argument("--precision", choices=("cast", "autocast"), default=None,
                   help="how bf16/fp16 is applied (default: autocast for compile on CPU, cast otherwise)")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode (default, reduce-overhead, max-autotune)")
    p.add_argument("--no-freezing", action="store_true", help="compile on CPU without inductor freezing")
    p.add_argument("--cuda-graphs", action="store_true", help="replay the forward as a CUDA graph (GPU)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls before timing (default 5)")
    p.add_argument("--min-iters", type=int, default=10, help="at least this many timed calls (default 10)")
    p.add_argument("--min-duration", type=float, default=2.0, help="at least this many seconds timed (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds when comparing backends (default 3)")
    p.add_argument("--seq-len", type=int, default=None, help="pad text inputs to this many tokens (e.g. 128)")
    p.add_argument("--compare", action="store_true", help="also time fp32 eager side by side; record the speedup")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--random-weights", action="store_true", help="random init even when weights are cached")
    w.add_argument("--pretrained", action="store_true", help="require pretrained weights (error when missing)")
    p.add_argument("--stages", action=argparse_bool(), default=None,
                   help="time preprocess / postprocess / end to end (default: detection and text models)")
    p.add_argument("--no-write", action="store_true", help="print only; append no rows")
    p.add_argument("--force", action="store_true", help="measure again even if rows with the same settings exist")
    p.add_argument("--retry-errors", action="store_true", help="measure again settings whose last row is an error")
    p.add_argument("--isolate", action="store_true", help="run even a single model in a fresh subprocess")
    p.add_argument("--timeout", type=float, default=None, help="seconds per model in a sweep before it is killed")
    p.add_argument("--refresh-peak", action="store_true", help="measure the device matmul peak again")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def argparse_bool():
    import argparse

    return argparse.BooleanOptionalAction


def parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--batch-size: expected integers like 1,8,32, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise UserError(f"--batch-size: batch sizes must be positive, got {text!r}")
    return sizes


def expand_names(names: list[str]) -> list[str]:
    from ..registry import UnknownModelError, get_spec, list_models

    out: list[str] = []
    for n in names:
        if n == "all":
            found = list_models()
        elif any(c in n for c in "*?["):
            found = list_models(n)
            if not found:
                raise UserError(f"no registered model matches {n!r} (zoo list shows all)")
        else:
            try:
                get_spec(n)
            except UnknownModelError as e:
                raise UserError(str(e)) from None
            found = [n]
        out += [f for f in found if f not in out]
    return out


def _f(x, digits=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


def print_rows(rows: list[dict]) -> None:
    table = []
    for r in rows:
        m, s = r.get("metrics", {}), r.get("settings", {})
        err = m.get("error") or {}
        agree = err.get("top1_agreement", err.get("box_agreement"))
        if r.get("status") != "ok":
            table.append((r["model"], s.get("device"), s.get("requested_batch_size"), "ERROR", r.get("error", "")[:90],
                          *[""] * 12))
            continue
        share = m.get("share_of_peak")
        table.append((
            r["model"], s.get("device"), s.get("batch_size"), r.get("scenario"), r.get("backend_used"),
            _f(m.get("p50_ms"), 3), _f(m.get("p90_ms"), 3), _f(m.get("p99_ms"), 3), _f(m.get("items_per_s"), 1),
            _f(m.get("peak_mem_mib"), 0), _f(m.get("gflops_per_item"), 3), _f(m.get("achieved_tflops"), 4),
            "-" if share is None else f"{100 * share:.1f}%", _f(m.get("speedup_vs_fp32_eager")),
            _f(err.get("rel_l2"), 5) if err else "-", _f(agree) if err else "-",
            "random" if r.get("weights") == "random-init" else (r.get("weights") or "")[:8],
        ))
    print_table(("model", "device", "batch", "scenario", "backend", "p50 ms", "p90 ms", "p99 ms", "items/s",
                 "peak MiB", "GFLOPs/item", "TFLOP/s", "% peak", "x fp32", "rel L2", "agree", "weights"), table)


def run(args) -> int:
    from ..harness.speed import bench
    from ..harness.speed_cost import device_peak

    names = expand_names(args.names)
    sizes = parse_batch_sizes(args.batch_size)
    pretrained = False if args.random_weights else (True if args.pretrained else "auto")
    kwargs = dict(
        device=args.device, batch_sizes=sizes, dtype=args.dtype, backend=args.backend,
        channels_last=args.channels_last, precision=args.precision, compile_mode=args.compile_mode,
        freezing=False if args.no_freezing else None, cuda_graphs=args.cuda_graphs, threads=args.threads,
        warmup=args.warmup, min_iters=args.min_iters, min_duration_s=args.min_duration, rounds=args.rounds,
        pretrained=pretrained, stages=args.stages, compare=args.compare, seq_len=args.seq_len, write=not args.no_write,
        resume=not args.force, retry_errors=args.retry_errors,
    )
    if args.refresh_peak:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        for dt in {args.dtype or "fp32", "fp32"}:
            device_peak(args.device, dt, refresh=True)
    log = None if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    if len(names) == 1 and not args.isolate:
        rows = bench(names[0], log=log, **kwargs)
    else:
        if args.no_write:
            raise UserError("a sweep writes its rows (workers report through the raw file); drop --no-write or bench one model")
        from ..harness.speed_sweep import sweep

        kwargs.pop("write")
        rows = sweep(names, timeout_s=args.timeout, progress=not args.json, **kwargs)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif rows:
        print_rows(rows)
    else:
        print("nothing to measure: rows with these settings exist already (--force measures again)")
    return 0 if all(r.get("status") == "ok" for r in rows) else 1
