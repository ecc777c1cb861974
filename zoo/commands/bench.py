"""zoo bench NAME... | --suite gpu [--dry-run]  [--device cpu|cuda] [--batch-size N[,N...]] [--dtype fp32|bf16|fp16]
[--backend eager|compile|onnxruntime|int8|...|auto] [--json] [--wide]

One name runs in this process; several names (or wildcards, or "all") run as a sweep, each model in a
fresh subprocess, resuming from the rows already in results/raw/speed.jsonl. The measurement options are
BenchConfig's fields (zoo/harness/speed/config.py); the backends are the modules of zoo/harness/backends/.

A setting whose row exists already (this machine kind, committed rows included) is not measured again:
one stderr line each says when it was measured and that --force measures again; its row is shown (and in
--json, marked "existing": true). --no-write always measures. The table shows the columns a person reads;
--wide shows them all.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace
import os
import sys

from ..errors import UserError
from ..harness import speed, suite  # packages whose modules (torch) load on first use, after the arguments are checked
from ..harness.backends.catalog import check_installed
from ..harness.speed.config import add_arguments, config_from_args
from ..harness.shards import SHARD_HELP, parse_shard, take_shard
from ..harness.speed.noise import wait_for_quiet
from ..registry import get_spec, list_models, model_sources, source_catalog
from ..spec import RANDOM_INIT, weights_label
from ..console import print_table, say, say_written, stdout_to_stderr
from ..report.base import layer_types_text
from ..results import raw_path
from ._model_options import add_source_options, apply_source_options


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure speed: latency percentiles, items/s, memory, FLOPs, share of peak")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names, wildcards ('*resnet*'), or 'all'")
    add_arguments(p)
    p.add_argument("--no-write", action="store_true",
                   help="measure (even settings measured before) and print; append no rows")
    p.add_argument("--force", action="store_true", help="measure again even if rows with the same settings exist")
    p.add_argument("--retry-errors", action="store_true", help="measure again settings whose last row is an error")
    p.add_argument("--isolate", action="store_true", help="run even a single model in a fresh subprocess")
    p.add_argument("--timeout", type=float, default=None, help="seconds per model in a sweep before it is killed")
    p.add_argument("--shard", metavar="i/N", help=SHARD_HELP)
    p.add_argument("--check-quiet", nargs="?", type=float, const=60.0, default=None, metavar="SECONDS",
                   help="before timing, wait up to SECONDS (60 when not given) for other processes to leave the CPU "
                        "(rows timed while they use it are flagged noisy either way)")
    p.add_argument("--refresh-peak", action="store_true",
                   help="forget the best device peak seen on this machine: a probe measured now replaces it "
                        "(every bench process probes anyway; the cache keeps the best ever seen)")
    p.add_argument("--json", action="store_true",
                   help='print the rows as JSON (rows of skipped settings included, with "existing": true)')
    p.add_argument("--suite", metavar="gpu", help="run a whole suite instead of NAMEs: 'gpu' fills every GPU row "
                   "(classification b1 CUDA graphs and b256 bf16+channels_last+compile, bert_base s128, detectors end "
                   "to end with GPU decode and NMS, the eval pipeline) within ~10 minutes; see zoo/harness/suite/gpu.py")
    p.add_argument("--dry-run", action="store_true", help="with --suite: print the plan (steps, settings, "
                   "timeouts) and run nothing")
    p.add_argument("--wide", action="store_true", help="every column (latency percentiles, memory, FLOPs, "
                   "share of peak, output deviation) instead of the ones a person reads first")
    add_source_options(p)
    p.set_defaults(func=run)


def shard_sizes(names: list[str], batch_sizes: tuple[int, ...], shard: tuple[int, int] | None) -> dict[str, tuple]:
    """model -> the batch sizes this shard measures (models with none left out), in sweep order."""
    mine = take_shard([(n, bs) for n in names for bs in batch_sizes], shard)
    out: dict[str, tuple] = {}
    for n, bs in mine:
        out[n] = (*out.get(n, ()), bs)
    return out


def library_matches(pattern: str) -> list[str]:
    """The names in a library's catalog matching a prefixed wildcard (``timm:convnext_*``) that zoo can run."""
    prefix = pattern.partition(":")[0]
    if ":" not in pattern or prefix not in model_sources():
        return []
    return [r["name"] for r in source_catalog(prefix) if r["task"] and fnmatch.fnmatch(r["name"], pattern)]


def expand_names(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n == "all":
            found = list_models()
        elif any(c in n for c in "*?["):
            found = list_models(n) or library_matches(n)
            if not found:
                raise UserError(f"no registered model matches {n!r} (zoo list shows all)")
        else:
            get_spec(n)
            found = [n]
        out += [f for f in found if f not in out]
    return out


def _f(x, digits=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


WIDE = ("model", "device", "batch", "scenario", "backend", "p50 ms", "p90 ms", "p99 ms", "items/s", "peak MiB",
        "GFLOPs/item", "TFLOP/s", "% peak", "x fp32", "rel L2", "agree", "weights")
NARROW = ("model", "batch", "backend", "p50 ms", "p99 ms", "items/s", "x fp32", "weights")


def _cells(r: dict) -> dict[str, object]:
    """Every column of one row, by header."""
    m, s = r.get("metrics", {}), r.get("settings", {})
    weights = "random" if r.get("weights") == "random-init" else (r.get("weights") or "")[:8]
    if r.get("status") != "ok":
        return {"model": r["model"], "device": s.get("device"), "batch": s.get("requested_batch_size"),
                "backend": "ERROR", "scenario": "ERROR", "p50 ms": " ".join(str(r.get("error", "")).split()),
                "weights": weights}
    dev = m.get(speed.DEVIATION) or {}
    agree = dev.get("top1_agreement", dev.get("box_agreement"))
    share = m.get("share_of_peak")
    return {
        "model": r["model"], "device": s.get("device"), "batch": s.get("batch_size"), "scenario": r.get("scenario"),
        "backend": r.get("backend_used"), "p50 ms": _f(m.get("p50_ms"), 3), "p90 ms": _f(m.get("p90_ms"), 3),
        "p99 ms": _f(m.get("p99_ms"), 3), "items/s": _f(m.get("items_per_s"), 1),
        "peak MiB": _f(m.get("peak_mem_mib"), 0), "GFLOPs/item": _f(m.get("gflops_per_item"), 3),
        "TFLOP/s": _f(m.get("achieved_tflops"), 4), "% peak": _share_cell(share),
        "x fp32": _f(m.get("speedup_vs_fp32_eager")), "rel L2": _f(dev.get("rel_l2"), 5) if dev else "-",
        "agree": _f(agree) if dev else "-", "weights": weights,
    }


def _share_cell(share: float | None) -> str:
    """ "% of peak", marked when above 100 % (the peak probe reads below what the row reached)."""
    if share is None:
        return "-"
    return f"{100 * share:.1f}%" + (" (>100%!)" if share > 1 else "")


def weights_lines(rows: list[dict]) -> list[str]:
    """One line per model above the table: real weights (and which), or RANDOM WEIGHTS said plainly."""
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        ids = sorted({str(r.get("weights")) for r in rows if r["model"] == model and r.get("weights")})
        if RANDOM_INIT in ids:
            lines.append(f"{model}: RANDOM WEIGHTS (random init; `zoo fetch {model}` caches real ones where the model "
                         "has them): the speed is representative, the outputs are not")
        elif ids:
            lines.append(f"{model}: pretrained weights, {', '.join(weights_label(w) for w in ids)}")
    return lines


def _rows_with(rows: list[dict], key: str):
    """(row, its metrics, "MODEL batch N") for each row whose metrics hold ``key``."""
    for r in rows:
        m = r.get("metrics") or {}
        if m.get(key):
            yield r, m, f"{r['model']} batch {(r.get('settings') or {}).get('batch_size')}"


def accuracy_notes(rows: list[dict]) -> list[str]:
    """Closing lines for the accuracy checks auto ran itself: each candidate's score beside fp32 eager's on
    items it was not calibrated on, the timed-out ones, and the pick's speedup (end to end where timed)."""
    lines = []
    for r, m, head in _rows_with(rows, "accuracy_split"):
        split = m["accuracy_split"]
        for c in m.get("candidates", []):
            a = c.get("accuracy") or {}
            if "scores" in a:
                key = a["metric"]
                lines.append(f"{head}: {c['config']} {key} {a['scores'][key]:.2f} vs fp32 eager {a['fp32_eager'][key]:.2f} "
                             f"({-a['loss_points']:+.2f} points, budget {a['budget_points']:g}: {a['status']})")
        if m.get("accuracy_timed_out"):
            lines.append(f"{head}: accuracy check timed out for {', '.join(m['accuracy_timed_out'])} (not picked)")
        gain = m.get("e2e_speedup_vs_fp32_eager") or m.get("speedup_vs_fp32_eager")
        how = "end to end, decode to output" if m.get("e2e_speedup_vs_fp32_eager") else "forward"
        lines.append(f"{head}: picked {r.get('backend_used')}" + (f", {gain:.2f}x fp32 eager ({how})" if gain else "") +
                     f"; scored on {split['n_scored']} {split['data']} items, calibrated on {split['n_calibration']} "
                     f"others (seed {split['seed']})")
    return lines


def print_rows(rows: list[dict], wide: bool = False) -> None:
    """The result table: NARROW columns (or every one with ``wide``), fitted to the terminal's width;
    a "measured" column (now, or the date of an existing row) when some rows were not measured now."""
    headers = list(WIDE if wide else NARROW)
    if any(r.get("existing") for r in rows):
        headers.append("measured")
    table = []
    for r in rows:
        cells = {**_cells(r), "measured": str(r.get("time", ""))[:10] if r.get("existing") else "now"}
        table.append([cells.get(h, "") for h in headers])
    for line in weights_lines(rows):
        say(line)
    print_table(headers, table, fit=True)
    for line in accuracy_notes(rows) + profile_notes(rows) + paired_notes(rows):
        print(line)


def profile_notes(rows: list[dict]) -> list[str]:
    """``--profile``: per row, the layer types that took the most time and their kernels, and the multiply-add
    layers' share of peak beside the whole call's."""
    lines = []
    for r, m, head in _rows_with(rows, "layer_profile"):
        prof, head = m["layer_profile"], f"{head}, {r.get('backend_used')}: layers"
        if not prof.get("by_type"):
            lines.append(f"{head}: {prof.get('none') or prof.get('error')}")
            continue
        share = m.get("mac_layers_share_of_peak")
        shares = (f"; multiply-add layers at {100 * share:.0f}% of the {m.get('peak_dtype') or ''} peak, the whole "
                  f"call at {100 * m['share_of_peak']:.0f}%") if share else ""
        lines.append(f"{head} {layer_types_text(prof)}{shares}")
    return lines


def paired_notes(rows: list[dict]) -> list[str]:
    """``--paired-peak``: per row, the share of the peak timed beside the chosen configuration, and of the
    best-known (cached) peak."""
    lines = []
    for r, m, head in _rows_with(rows, "paired_peak"):
        paired, head = m["paired_peak"], f"{head}, {r.get('backend_used')}: "
        if "share_of_peak_paired" not in m:
            lines.append(head + f"no paired share of peak ({paired.get('error') or 'no FLOP count'})")
            continue
        best = f"; of the best-known peak {100 * m['share_of_peak']:.0f}%" if m.get("share_of_peak") else ""
        lines.append(head + f"{100 * m['share_of_peak_paired']:.1f}% of the {paired['dtype']} peak timed beside it "
                     f"({paired['tflops']:.3f} TFLOP/s, {paired['path']}, {paired['rounds']} alternating rounds){best}")
    return lines


def refresh_dtypes(cfg) -> list[str]:
    """The dtypes whose peak ``--refresh-peak`` measures again: fp32, the one asked for, and with
    ``--backend auto`` on CPU every dtype auto may pick (bf16, int8)."""
    dts = ["fp32", cfg.dtype or "fp32"] + (["bf16", "int8"] if cfg.backend == "auto" and cfg.cpu else [])
    return [d for d in dict.fromkeys(dts) if d in speed.PEAK_DTYPES]


def refresh_peaks(cfg) -> None:
    """``--refresh-peak``: probe the device peak again for every dtype this run may need."""
    import torch  # deferred: heavy; only after the arguments are checked

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    for dt in refresh_dtypes(cfg):
        speed.device_peak(cfg.device, dt, refresh=True)


def run_suite_command(args) -> int:
    """``zoo bench --suite gpu [--dry-run]``: the plan, or the suite run with a summary."""
    suite.gpu.check_suite(args.suite)
    if args.names:
        raise UserError("--suite runs its own models; give no NAME")
    device = args.device if str(args.device).startswith("cuda") else "cuda"
    steps = suite.gpu.plan(device, os.environ.get(suite.gpu.EVAL_DATA_ENV))
    print(suite.gpu.plan_text(steps))
    if args.dry_run:
        return 0
    import torch  # deferred: heavy; the plan above needs none

    if not torch.cuda.is_available():
        raise UserError("the GPU suite needs a CUDA device (torch.cuda.is_available() is False here); "
                        "--dry-run prints the plan")
    outcomes = suite.gpu.run_suite(steps, suite.gpu.default_raw_dir(),
                                   log=lambda s: say(s, sys.stderr))
    print(suite.gpu.summary(outcomes))
    return 0 if all(o.status != "failed" for o in outcomes) else 1


def measure(args, cfg, names: list[str], sizes: dict, resume: bool, log) -> list[dict]:
    """The rows of this call: one model in this process, or a sweep (a fresh process per model)."""
    if not names:
        log(f"shard {args.shard}: no setting of this sweep falls to it")
        return []
    if len(names) == 1 and not args.isolate:
        return speed.run_bench(names[0], replace(cfg, batch_sizes=sizes[names[0]]), write=not args.no_write,
                               resume=resume, retry_errors=args.retry_errors, log=log, include_existing=True)
    if args.no_write:
        raise UserError("a sweep writes its rows (workers report through the raw file); drop --no-write or bench one model")
    return speed.sweep.sweep(names, cfg, timeout_s=args.timeout, resume=resume, retry_errors=args.retry_errors, log=log,
                             include_existing=True, batch_sizes_of=sizes)


def run(args) -> int:
    apply_source_options(args)
    if args.suite:
        return run_suite_command(args)
    if args.dry_run:
        raise UserError("--dry-run goes with --suite")
    if not args.names:
        raise UserError("give at least one model NAME (or --suite gpu)")
    names = expand_names(args.names)  # the registry (no torch): a mistyped name is refused at once
    cfg = config_from_args(args)  # checks every setting first: one line for a bad one
    check_installed(cfg.backend)  # a missing optional package, before torch loads
    if args.timeout is not None and not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.refresh_peak:
        refresh_peaks(cfg)

    def log(line: str) -> None:  # stderr: progress and skipped settings; stdout keeps the table or the JSON
        say(line, sys.stderr)

    if args.check_quiet is not None:
        wait_for_quiet(args.check_quiet, log)
    resume = not (args.force or args.no_write)  # --no-write: the user asked for figures, so measure
    sizes = shard_sizes(names, cfg.batch_sizes, parse_shard(args.shard))
    names = list(sizes)
    with stdout_to_stderr():  # library chatter while measuring (torch.onnx's export lines) stays off stdout
        rows = measure(args, cfg, names, sizes, resume, log)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print_rows(rows, wide=args.wide)
    written = sum(1 for r in rows if not r.get("existing"))
    if written and not args.no_write:
        say_written(raw_path("speed"), written)
    return 0 if all(r.get("status") == "ok" for r in rows) else 1
