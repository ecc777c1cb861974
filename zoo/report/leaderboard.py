"""The joined leaderboard: speed rows and accuracy rows of the same model side by side, ranked per device.

One leaderboard row per model × device × settings (the latest speed row of that group; "runs" counts them),
with the model's task score joined from its accuracy rows. The join prefers an accuracy row made with the
same weights (sha256) as the speed row; when the only score comes from other weights (typically: speed timed
with random-init weights, score from a pretrained checkpoint) the two weights columns show it. Rankings are
per (task, device): a CPU row and a GPU row are never ranked against each other.

Field names are looked up through short alias lists (``_SPEED_KEYS``, ``SCORE_KEYS``) so rows from every
harness fit; a missing field shows "—" and never raises.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from .base import Table, sig
from .plots import latency_plot, pareto_plot

# Task -> score metrics, first present wins (the headline metric of that task's standard benchmark).
SCORE_KEYS: dict[str, tuple[str, ...]] = {
    "image-classification": ("top1", "acc1", "top1_acc", "accuracy"),
    "object-detection": ("map", "map50_95", "mAP", "map_50_95"),
    "text-classification": ("accuracy", "acc", "f1"),
    "translation": ("bleu", "sacrebleu", "chrf"),
    "question-answering": ("f1", "em", "exact_match"),
    "tabular-classification": ("accuracy", "top1"),
}
_ANY_SCORE = ("top1", "acc1", "map", "map50_95", "bleu", "f1", "em", "accuracy")
_SPEED_KEYS: dict[str, tuple[str, ...]] = {
    "items_per_s": ("items_per_s", "throughput", "items_s", "ips"),
    "p50": ("p50_ms", "latency_ms_p50", "latency_p50_ms", "p50"),
    "p90": ("p90_ms", "latency_ms_p90", "latency_p90_ms", "p90"),
    "p99": ("p99_ms", "latency_ms_p99", "latency_p99_ms", "p99"),
    "mem": ("peak_mem_mib", "peak_mem_mb", "peak_memory_mb", "mem_mib", "mem_mb"),
    "params": ("params",),
    "flops": ("flops_per_item", "flops"),
    "tflops": ("achieved_tflops", "tflops", "tflop_s"),
    "pct_peak": ("pct_peak", "pct_of_peak", "peak_pct", "percent_of_peak"),
    "e2e_items_per_s": ("e2e_items_per_s",),
}
_SAMPLE_KEYS = ("latencies_ms", "times_ms", "latency_samples_ms", "samples_ms")
_SPEED_KINDS = ("speed", "bench")
_ACCURACY_KINDS = ("eval", "accuracy")  # zoo eval (vision and text); study/train/frameworks rows are not scores
# Settings that say how long a measurement ran, not what was measured: not part of a leaderboard key.
_RUN_LENGTH_SETTINGS = ("warmup", "min_iters", "max_iters", "min_duration_s", "iterations", "iters", "repeats",
                        "rounds", "timing", "policy", "progress", "resume", "retry_errors", "threads_requested",
                        "requested_batch_size")
# Settings that are part of the key but not worth a word in "other settings" (shown elsewhere, or derived).
_QUIET_SETTINGS = ("backend_config", "compare", "pretrained", "task")
_SHOWN_SETTINGS = ("scenario", "batch_size", "dtype", "backend")
_DATASET_TASK = {"sst2": "text-classification", "sst-2": "text-classification", "multi30k": "translation",
                 "squad": "question-answering", "coco": "object-detection", "coco128": "object-detection",
                 "imagenet": "image-classification", "digits": "tabular-classification"}


# --- row helpers ------------------------------------------------------------------------------------

def _first(d: dict[str, Any] | None, keys: Iterable[str]) -> Any:
    d = d or {}
    for k in keys:
        v = d.get(k)
        if v is not None and not isinstance(v, (dict, list)):
            return v
    return None


def speed_value(row: dict[str, Any], field: str) -> Any:
    """A speed figure by leaderboard name (``items_per_s``, ``p50``, ``mem``, ...), from metrics, the
    metrics' ``stages`` (end-to-end timings), then the row itself."""
    keys = _SPEED_KEYS[field]
    m = row.get("metrics") or {}
    for d in (m, m.get("stages") if isinstance(m.get("stages"), dict) else None, row):
        v = _first(d, keys)
        if v is not None:
            return v
    if field == "pct_peak":  # the speed harness records a fraction: share_of_peak
        share = _first(m, ("share_of_peak",))
        return share * 100.0 if isinstance(share, (int, float)) else None
    return None


def output_error(row: dict[str, Any]) -> tuple[Any, Any]:
    """(relative L2 error of the outputs vs fp32 eager, top-1 or box agreement) when the row has them."""
    err = (row.get("metrics") or {}).get("error")
    if not isinstance(err, dict):
        return None, None
    agree = err.get("top1_agreement", err.get("box_agreement"))
    return err.get("rel_l2"), agree


def latency_samples(row: dict[str, Any]) -> list[float] | None:
    m = row.get("metrics") or {}
    for k in _SAMPLE_KEYS:
        v = m.get(k, row.get(k))
        if isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
            return [float(x) for x in v]
    return None


def is_error_row(row: dict[str, Any]) -> bool:
    return bool(row.get("error")) or row.get("status") in ("error", "failed", "oom")


def device_kind(row: dict[str, Any]) -> str:
    """"cpu", "cuda", "mps", ... from settings.device or row.device (default "cpu")."""
    dev = (row.get("settings") or {}).get("device") or row.get("device") or "cpu"
    return str(dev).split(":")[0].lower()


def device_name(row: dict[str, Any]) -> str:
    """"cpu: <model> (N cores)" or "cuda: <GPU name>": the device a figure was measured on."""
    m = row.get("machine") or {}
    kind = device_kind(row)
    if kind == "cuda":
        return f"cuda: {m.get('gpu') or 'unknown GPU'}"
    return f"{kind}: {m.get('cpu', 'unknown CPU')} ({m.get('cores', '?')} cores)"


def task_of(row: dict[str, Any]) -> str | None:
    """The row's task: its own field, its settings, the registry, then its dataset name."""
    from ..spec import TASKS

    for cand in (row.get("task"), (row.get("settings") or {}).get("task")):
        if cand in TASKS:
            return cand
        if isinstance(cand, str) and cand.lower() in _DATASET_TASK:
            return _DATASET_TASK[cand.lower()]
    if row.get("model"):
        try:
            from ..registry import get_spec

            return get_spec(row["model"]).task
        except Exception:  # unregistered (e.g. a study model) or a spec that fails to build: fall through
            pass
    ds = str(row.get("dataset") or "").lower()
    for key, task in _DATASET_TASK.items():
        if key in ds:
            return task
    return None


def score_of(row: dict[str, Any], task: str | None) -> tuple[str, float] | None:
    """(metric name, value) of the task's headline score in the row, or None."""
    metrics = row.get("metrics") or {}
    for k in SCORE_KEYS.get(task or "", _ANY_SCORE):
        v = metrics.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return k, float(v)
    return None


def settings_key(row: dict[str, Any]) -> str:
    s = {k: v for k, v in (row.get("settings") or {}).items() if k not in _RUN_LENGTH_SETTINGS and k != "device"}
    return json.dumps(s, sort_keys=True, default=str)


def _other_settings(row: dict[str, Any]) -> str | None:
    """Settings beyond scenario/batch/dtype/backend that are set (not None/False/empty), as k=v."""
    s = row.get("settings") or {}
    skip = _RUN_LENGTH_SETTINGS + _SHOWN_SETTINGS + _QUIET_SETTINGS + ("device",)
    if s.get("dtype") in (None, "fp32"):  # how a lower precision is applied matters only when there is one
        skip += ("precision",)
    rest = [f"{k}={s[k]}" for k in sorted(s)
            if k not in skip and s[k] not in (None, False, "") and not isinstance(s[k], (dict, list))]
    return ", ".join(rest) if rest else None


def short_weights(w: Any) -> str:
    if not w:
        return "unrecorded"
    return "random-init" if w == "random-init" else str(w)[:12]


def _time(row: dict[str, Any]) -> str:
    return str(row.get("time") or "")


def _latest(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda r: (_time(r), json.dumps(r, sort_keys=True, default=str)))


def split_rows(rows: dict[str, list[dict[str, Any]]]) -> tuple[list[dict], list[dict], int]:
    """(speed rows, accuracy rows, error rows skipped) from every topic."""
    speed, acc, errors = [], [], 0
    for topic in sorted(rows):
        for r in rows[topic]:
            if not r.get("model"):
                continue
            if is_error_row(r):
                errors += 1
                continue
            kind = str(r.get("kind") or "")
            if kind in _SPEED_KINDS or (topic == "speed" and speed_value(r, "items_per_s") is not None):
                speed.append(r)
            elif kind in _ACCURACY_KINDS:
                if score_of(r, task_of(r)) is not None:
                    acc.append(r)
    return speed, acc, errors


# --- the join -----------------------------------------------------------------------------------------

def _best_accuracy(model_rows: list[dict[str, Any]], weights: Any, task: str | None) -> dict[str, Any] | None:
    """The accuracy row to show: trained weights over random-init ones (a random model's score says
    nothing), then the same weights as the timed row, then a full evaluation (no --limit), then the test
    split, then the latest. None when the model has no score."""
    def preference(r: dict[str, Any]) -> tuple:
        s = r.get("settings") or {}
        return (r.get("weights") != "random-init", bool(weights) and r.get("weights") == weights, not s.get("limit"),
                s.get("split") in (None, "test"), _time(r), json.dumps(r, sort_keys=True, default=str))

    return max(model_rows, key=preference) if model_rows else None


def entries(rows: dict[str, list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Leaderboard entries (dicts, sorted: device, task, rank) and counts for the notes."""
    speed, acc, errors = split_rows(rows)
    acc_by_model: dict[str, list[dict]] = {}
    for r in acc:
        acc_by_model.setdefault(r["model"], []).append(r)

    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in speed:
        groups.setdefault((r["model"], device_name(r), settings_key(r)), []).append(r)
    out = []
    for (model, dev, _), grp in groups.items():
        r = _latest(grp)
        task = task_of(r) or next((task_of(a) for a in acc_by_model.get(model, [])), None)
        a = _best_accuracy(acc_by_model.get(model, []), r.get("weights"), task)
        out.append(_entry(model, dev, task, r, a, len(grp)))
    timed = {e["model"] for e in out}
    for model, arows in acc_by_model.items():
        if model not in timed:  # scored but never timed: listed, outside every device ranking
            task = task_of(arows[0])
            out.append(_entry(model, "— (not timed)", task, None, _best_accuracy(arows, None, task), 0))

    def group_of(e):  # scores are ranked only against the same metric on the same data, on the same device
        return (e["device"], e["task"] or "~", str(e["dataset"] or "~"), str(e["score_metric"] or "~"))

    def order(e):
        return (*group_of(e), e["score"] is None, -(e["score"] or 0.0), -(e["items_per_s"] or 0.0), e["model"],
                e["settings"])

    out.sort(key=order)
    rank, last_group = 0, None
    for e in out:
        group = group_of(e)
        rank = 0 if group != last_group else rank
        last_group = group
        if e["score"] is not None and e["speed_row"] is not None:
            rank += 1
            e["rank"] = rank
        else:
            e["rank"] = None
    return out, {"speed_rows": len(speed), "accuracy_rows": len(acc), "error_rows": errors}


def _entry(model, dev, task, r, a, runs) -> dict[str, Any]:
    sc = score_of(a, task) if a else None
    e: dict[str, Any] = {
        "model": model, "device": dev, "task": task, "speed_row": r, "acc_row": a, "runs": runs,
        "settings": settings_key(r) if r else "",
        "score_metric": sc[0] if sc else None, "score": sc[1] if sc else None,
        "dataset": a.get("dataset") if a else None,
    }
    for f in _SPEED_KEYS:
        e[f] = speed_value(r, f) if r else None
    s = (r or {}).get("settings") or {}
    for k in _SHOWN_SETTINGS:
        v = s.get(k, (r or {}).get(k))
        e[k] = v if not isinstance(v, (dict, list)) else None
    if r is not None and r.get("backend_used") and r["backend_used"] != e["backend"]:
        e["backend"] = f"{e['backend']}: {r['backend_used']}" if e["backend"] == "auto" else r["backend_used"]
    e["rel_err"], e["agreement"] = output_error(r) if r else (None, None)
    e["flags"] = [str(f) for f in (r or {}).get("flags") or []]
    e["other_settings"] = _other_settings(r) if r else None
    sw, aw = (r or {}).get("weights"), (a or {}).get("weights")
    e["speed_weights"] = short_weights(sw) if r else None
    if a is None:
        e["score_weights"] = None
    elif r is not None and sw and sw == aw:
        e["score_weights"] = "same"
    else:
        e["score_weights"] = short_weights(aw) + (" (differs)" if r is not None else "")
    return e


# --- tables and plots -----------------------------------------------------------------------------------

COLUMNS = ["device", "task", "rank", "model", "scenario", "batch", "dtype", "backend", "other settings",
           "score metric", "score", "dataset", "items/s", "p50 ms", "p90 ms", "p99 ms", "e2e items/s",
           "peak mem MiB", "params M", "GFLOPs/item", "TFLOP/s", "% of peak", "out err vs fp32", "agreement",
           "speed weights", "score weights", "runs"]


def _num(x: Any, scale: float = 1.0) -> float | None:
    return float(x) / scale if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def tables(rows: dict[str, list[dict[str, Any]]]) -> list[Table]:
    ents, counts = entries(rows)
    body = [[
        e["device"], e["task"], e["rank"], e["model"], e["scenario"], e["batch_size"], e["dtype"], e["backend"],
        e["other_settings"], e["score_metric"], _num(e["score"]), e["dataset"], _num(e["items_per_s"]),
        _num(e["p50"]), _num(e["p90"]), _num(e["p99"]), _num(e["e2e_items_per_s"]), _num(e["mem"]),
        _num(e["params"], 1e6), sig(_num(e["flops"], 1e9)), sig(_num(e["tflops"])), _num(e["pct_peak"]),
        f"{e['rel_err']:.1e}" if isinstance(e["rel_err"], (int, float)) else None, _num(e["agreement"]),
        e["speed_weights"], e["score_weights"], e["runs"],
    ] for e in ents]
    used = list({id(r): r for e in ents for r in (e["speed_row"], e["acc_row"]) if r is not None}.values())
    notes = [
        "One row per model × device × settings: the latest speed row of each group (runs = how many rows it has); "
        "the task score is joined from the model's accuracy rows, preferring the same weights, then a full "
        "evaluation (no --limit), then the test split, then the latest row.",
        "rank is within one (device, task, dataset, metric) group, by score then items/s: CPU and GPU rows are "
        "never ranked together, nor scores on different data. Models that were scored but never timed are listed under '— (not timed)' without a rank.",
        "score weights 'same' = the score was measured with the very weights (sha256) that were timed; "
        "'(differs)' = the score comes from other weights (e.g. timing with random-init weights, score from the "
        "pretrained checkpoint): speed does not depend on weight values for dense networks, but detection "
        "postprocessing does, so random-init detection timings are not representative end to end.",
        "Units: items/s = items per second at that batch size; p50/p90/p99 = latency per call (one batch) in ms; "
        "peak mem in MiB (CUDA max allocated on GPU, process peak RSS on CPU); params in millions; "
        "GFLOPs/item = 2 × MACs per item / 1e9; TFLOP/s achieved and % of the device's measured matmul peak "
        "as the speed harness recorded them.",
        "e2e items/s = decoded image or raw text to final predictions (preprocess + network + postprocess), "
        "where the speed harness timed the stages. out err vs fp32 = relative L2 error of the outputs against "
        "fp32 eager on the same real inputs; agreement = share of top-1 labels (or matched boxes) that agree.",
        f"From {counts['speed_rows']} speed rows and {counts['accuracy_rows']} accuracy rows; "
        f"{counts['error_rows']} error rows (crashes, OOM) are left out. Command: `zoo report`.",
    ]
    if any((e["pct_peak"] or 0) > 100 for e in ents):
        notes.append("% of peak above 100 means the peak probe recorded in that row was below what the device really does: "
        "rows measured before the CPU probe also ran a 3x3 convolution (oneDNN) beside the matmul; newer rows "
        "name the probe that set the peak")
    flagged: dict[str, set[str]] = {}
    for e in ents:
        for f in e["flags"]:
            flagged.setdefault(f, set()).add(e["model"])
    notes += [f"flag on {', '.join(sorted(ms))}: {f}" for f, ms in sorted(flagged.items())]
    return [Table(slug="leaderboard", title="Leaderboard: task score, speed, memory and cost per model, device "
                  "and settings", columns=COLUMNS, rows=body, notes=notes, sources=used, digits=2)]


def slugify(text: str, limit: int = 48) -> str:
    s = re.sub(r"[^a-z0-9_]+", "-", str(text).lower()).strip("-_")
    return s[:limit].rstrip("-") or "x"


def _settings_label(e: dict[str, Any]) -> str:
    """Short: batch size, backend (with the dtype unless the backend label already names it), the rest."""
    backend = str(e["backend"] or "")
    dtype = e["dtype"] if e["dtype"] and str(e["dtype"]) not in backend else None
    parts = [f"bs {e['batch_size']}" if e["batch_size"] is not None else None, dtype, backend, e["other_settings"]]
    return ", ".join(str(p) for p in parts if p) or "default settings"


def plots(rows: dict[str, list[dict[str, Any]]], out_dir: Path) -> list[Path]:
    """Pareto charts (score vs items/s) per task × dataset × device; a latency chart per model."""
    ents, _ = entries(rows)
    out_dir = Path(out_dir)
    paths: list[Path] = []

    pareto: dict[tuple[str, str, str, str], dict[str, dict]] = {}
    for e in ents:
        if e["score"] is None or not e["items_per_s"] or e["speed_row"] is None:
            continue
        key = (e["task"] or "unknown task", str(e["dataset"] or "unknown data"), e["score_metric"], e["device"])
        best = pareto.setdefault(key, {})
        cur = best.get(e["model"])
        if cur is None or (e["items_per_s"], _settings_label(e)) > (cur["items_per_s"], _settings_label(cur)):
            best[e["model"]] = e
    for (task, dataset, metric, dev), by_model in sorted(pareto.items()):
        pts = [{"x": float(e["items_per_s"]), "y": float(e["score"]), "label": f"{m} ({_settings_label(e)})"}
               for m, e in sorted(by_model.items())]
        name = f"pareto_{slugify(task)}_{slugify(dataset, 24)}_{slugify(dev, 40)}.png"
        paths.append(pareto_plot(
            pts, out_dir / name, title=f"{task}: {metric} vs throughput\n{dev}",
            xlabel="throughput (items/s; fastest measured setting per model)",
            ylabel=f"{metric} on {dataset}" + (" (%)" if all(p["y"] > 1 for p in pts) and metric != "bleu" else ""),
        ))

    by_model: dict[str, dict[str, list[dict]]] = {}
    for e in ents:
        if e["speed_row"] is not None and any(e[q] is not None for q in ("p50", "p90", "p99")):
            by_model.setdefault(e["model"], {}).setdefault(e["device"], []).append(e)
    for model, devs in sorted(by_model.items()):
        panels = []
        for dev, es in sorted(devs.items()):
            es = sorted(es, key=lambda e: (e["batch_size"] if isinstance(e["batch_size"], int) else 0,
                                           _settings_label(e)))
            panels.append({"device": dev, "series": [
                {"label": _settings_label(e), "p50": _num(e["p50"]), "p90": _num(e["p90"]), "p99": _num(e["p99"]),
                 "samples": latency_samples(e["speed_row"])} for e in es]})
        paths.append(latency_plot(panels, out_dir / f"latency_{slugify(model)}.png",
                                  title=f"{model}: latency per call by setting (batch size, dtype, backend)",
                                  ylabel="setting"))
    return paths
