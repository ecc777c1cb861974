"""The joined leaderboard: speed rows and accuracy rows of the same model side by side, ranked per device.

One leaderboard row per model × device × settings (the latest speed row of that group; "runs" counts them),
with the model's task score joined from its accuracy rows. The join prefers an accuracy row made with the
same weights (sha256) as the speed row; when the only score comes from other weights (typically: speed timed
with random-init weights, score from a pretrained checkpoint) the two weights columns show it. Rankings are
per (task, device): a CPU row and a GPU row are never ranked against each other.

Fields are read by their schema names (zoo/results/schema.py); a field a row does not have shows "—".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..registry import get_spec
from ..results import machine_identity
from ..spec import RANDOM_INIT, weights_label
from .base import Table, data_label, score_interval, short_backend, sig
from .plots import latency_plot, pareto_plot

# Task -> the headline score of its eval rows (metrics key): the metric of that task's standard benchmark.
HEADLINE: dict[str, str] = {
    "image-classification": "top1",
    "object-detection": "map",
    "text-classification": "accuracy",
    "translation": "bleu",
    "question-answering": "f1",
    "tabular-classification": "accuracy",
}
# Leaderboard column -> speed row metrics key (schema "speed"); end-to-end figures sit under metrics.stages.
SPEED_FIELDS: dict[str, str] = {
    "items_per_s": "items_per_s", "p50": "p50_ms", "p90": "p90_ms", "p99": "p99_ms", "mem": "peak_mem_mib",
    "params": "params", "flops": "flops_per_item", "tflops": "achieved_tflops", "pct_peak": "share_of_peak",
    "e2e_items_per_s": "e2e_items_per_s",
}
# Settings that say how long a measurement ran, not what was measured: not part of a leaderboard key.
_RUN_LENGTH_SETTINGS = ("warmup", "min_iters", "max_iters", "min_duration_s", "iterations", "iters", "repeats",
                        "rounds", "timing", "policy", "progress", "resume", "retry_errors", "threads_requested",
                        "requested_batch_size")
# Settings that are part of the key but not worth a word in "other settings" (shown elsewhere, or derived).
_QUIET_SETTINGS = ("backend_config", "compare", "pretrained", "task")
_SHOWN_SETTINGS = ("scenario", "batch_size", "dtype", "backend")
# Tasks whose timed path depends on the weight values (detection: how many boxes reach NMS), so that a
# timing made with random-init weights is not a real one either.
WEIGHT_DEPENDENT_SPEED = ("object-detection",)
# --- row helpers ------------------------------------------------------------------------------------

def _number(v: Any) -> float | int | None:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def speed_value(row: dict[str, Any], field: str) -> Any:
    """A speed figure by leaderboard column (``items_per_s``, ``p50``, ``mem``, ...): the speed row's
    ``metrics[SPEED_FIELDS[field]]`` (``metrics.stages`` for end-to-end figures); % of peak from the
    recorded fraction ``share_of_peak``."""
    m = row.get("metrics") or {}
    if field == "e2e_items_per_s":
        return _number((m.get("stages") or {}).get("e2e_items_per_s"))
    v = _number(m.get(SPEED_FIELDS[field]))
    return v * 100.0 if field == "pct_peak" and v is not None else v


def output_deviation(row: dict[str, Any]) -> tuple[Any, Any]:
    """(relative L2 deviation of the outputs from fp32 eager, top-1 or box agreement) when the row has them."""
    dev = (row.get("metrics") or {}).get("output_deviation")
    if not isinstance(dev, dict):
        return None, None
    return dev.get("rel_l2"), dev.get("top1_agreement", dev.get("box_agreement"))


def latency_samples(row: dict[str, Any]) -> list[float] | None:
    v = (row.get("metrics") or {}).get("latencies_ms")
    if isinstance(v, list) and v and all(_number(x) is not None for x in v):
        return [float(x) for x in v]
    return None


def is_error_row(row: dict[str, Any]) -> bool:
    return bool(row.get("error")) or row.get("status") == "error"


def device_kind(row: dict[str, Any]) -> str:
    """"cpu", "cuda", "mps", ... from settings.device or row.device (default "cpu")."""
    dev = (row.get("settings") or {}).get("device") or row.get("device") or "cpu"
    return str(dev).split(":")[0].lower()


def device_name(row: dict[str, Any]) -> str:
    """"cpu: <model> <N>c <isa tier>" (zoo.results.machine_identity) or "cuda: <GPU name>": where it ran."""
    m = row.get("machine") or {}
    kind = device_kind(row)
    if kind == "cuda":
        return f"cuda: {m.get('gpu') or 'unknown GPU'}"
    return f"{kind}: {machine_identity(m)}"


def task_of(row: dict[str, Any]) -> str | None:
    """The row's task: its own ``task`` field, else the registered model's task."""
    if row.get("task"):
        return row["task"]
    try:
        return get_spec(row["model"]).task if row.get("model") else None
    except Exception:  # unregistered (e.g. a study model) or a spec that fails to build: no task
        return None


def score_of(row: dict[str, Any], task: str | None) -> tuple[str, float] | None:
    """(metric name, value) of the task's headline score in the row, or None."""
    key = HEADLINE.get(task or "")
    v = _number((row.get("metrics") or {}).get(key)) if key else None
    return (key, float(v)) if v is not None else None


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
    return weights_label(w)


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
            if r.get("kind") == "speed":
                speed.append(r)
            elif r.get("kind") == "eval" and not r.get("backend"):  # backend evals are budget checks
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
    for r in speed:  # one entry per request (the row key: a rerun supersedes, whatever auto picked then)
        groups.setdefault((r["model"], device_name(r), r.get("key") or settings_key(r)), []).append(r)
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
        return (e["task"] or "~", e["device"], str(e["dataset"] or "~"), str(e["score_metric"] or "~"))

    def order(e):  # ranked entries first, then the random-init ones (listed, not ranked), then unscored
        return (*group_of(e), e["random_init"], e["score"] is None, -(e["score"] or 0.0), -(e["items_per_s"] or 0.0),
                e["model"], e["settings"])

    out.sort(key=order)
    rank, last_group = 0, None
    for e in out:
        group = group_of(e)
        rank = 0 if group != last_group else rank
        last_group = group
        if e["score"] is not None and e["speed_row"] is not None and not e["random_init"]:
            rank += 1
            e["rank"] = rank
        else:
            e["rank"] = None
    return out, {"speed_rows": len(speed), "accuracy_rows": len(acc), "error_rows": errors}


def is_random_init(task: str | None, speed_row: dict[str, Any] | None, acc_row: dict[str, Any] | None) -> bool:
    """Whether an entry's figures come from random-init weights, which keeps it out of the ranking: its score
    does, or (tasks in WEIGHT_DEPENDENT_SPEED, i.e. detection) its timing does."""
    if acc_row is not None and acc_row.get("weights") == RANDOM_INIT:
        return True
    return task in WEIGHT_DEPENDENT_SPEED and speed_row is not None and speed_row.get("weights") == RANDOM_INIT


def _entry(model, dev, task, r, a, runs) -> dict[str, Any]:
    sc = score_of(a, task) if a else None
    e: dict[str, Any] = {
        "model": model, "device": dev, "task": task, "speed_row": r, "acc_row": a, "runs": runs,
        "settings": settings_key(r) if r else "",
        "score_metric": sc[0] if sc else None, "score": sc[1] if sc else None,
        "dataset": a.get("dataset") if a else None, "random_init": is_random_init(task, r, a),
    }
    for f in SPEED_FIELDS:
        e[f] = speed_value(r, f) if r else None
    s = (r or {}).get("settings") or {}
    for k in _SHOWN_SETTINGS:
        v = s.get(k, (r or {}).get(k))
        e[k] = v if not isinstance(v, (dict, list)) else None
    if r is not None and r.get("backend_used") and r["backend_used"] != e["backend"]:
        e["backend"] = f"{e['backend']}: {r['backend_used']}" if e["backend"] == "auto" else r["backend_used"]
    e["rel_err"], e["agreement"] = output_deviation(r) if r else (None, None)
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
           "speed weights", "score weights", "runs", "ranked by", "95% CI", "n", "setting", "ms/item",
           "p90"]
# What leaderboard.md shows per (task, device, data) section; the CSV has every column above.
BRIEF = ["rank", "model", "score", "95% CI", "items/s", "ms/item", "p90", "setting", "score weights"]
SECTIONS = ["task", "device", "ranked by"]


def _ranked_by(e: dict[str, Any]) -> str:
    if e["score"] is None:
        return "not scored (listed by items/s)"
    return f"{e['score_metric']} on {data_label(e['acc_row'])}"


def _per_item(e: dict[str, Any]) -> float | None:
    b = e["batch_size"] if isinstance(e["batch_size"], int) and e["batch_size"] > 0 else 1
    return _num(e["p50"], b)


def _spread(e: dict[str, Any]) -> str | None:
    """How much slower the 90th percentile call is than the median: "+12%"."""
    p50, p90 = _num(e["p50"]), _num(e["p90"])
    return f"+{100 * (p90 - p50) / p50:.0f}%" if p50 and p90 is not None else None


def setting_label(e: dict[str, Any]) -> str:
    """Batch size and the backend that ran, short: "bs1 eager fp32", "bs1 auto→ov int8", "bs1 auto→compile
    bf16+" (a trailing "+" = more options, named in the CSV's backend column)."""
    bs = f"bs{e['batch_size']} " if e["batch_size"] is not None else ""
    return bs + short_backend(e["backend"], e["dtype"])


SETTING_KEY = ("setting: bs = batch size; auto→X = `--backend auto` picked X; ort = ONNX Runtime, ov = OpenVINO; "
               "a trailing + = more options (autocast, channels_last, freezing, compile mode: the CSV's backend "
               "and other settings columns)")


def _num(x: Any, scale: float = 1.0) -> float | None:
    return float(x) / scale if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def tables(rows: dict[str, list[dict[str, Any]]]) -> list[Table]:
    ents, counts = entries(rows)
    body = [[
        e["device"], e["task"], RANDOM_INIT if e["random_init"] else e["rank"], e["model"], e["scenario"],
        e["batch_size"], e["dtype"], e["backend"],
        e["other_settings"], e["score_metric"], _num(e["score"]), e["dataset"], _num(e["items_per_s"]),
        _num(e["p50"]), _num(e["p90"]), _num(e["p99"]), _num(e["e2e_items_per_s"]), _num(e["mem"]),
        _num(e["params"], 1e6), sig(_num(e["flops"], 1e9)), sig(_num(e["tflops"])), _num(e["pct_peak"]),
        f"{e['rel_err']:.1e}" if isinstance(e["rel_err"], (int, float)) else None, _num(e["agreement"]),
        e["speed_weights"], e["score_weights"], e["runs"], _ranked_by(e), score_interval(e["acc_row"], e["score_metric"]),
        (e["acc_row"] or {}).get("n"), setting_label(e) if e["speed_row"] else None, _per_item(e), _spread(e),
    ] for e in ents]
    used = list({id(r): r for e in ents for r in (e["speed_row"], e["acc_row"]) if r is not None}.values())
    notes = [
        "One row per model × device × settings: the latest speed row of each group (runs = how many rows it has); "
        "the task score is joined from the model's accuracy rows, preferring the same weights, then a full "
        "evaluation (no --limit), then the test split, then the latest row.",
        "One section per task, device (CPU model, cores, ISA tier) and data set; sorted by score, speed beside it. "
        "95% CI = Wilson score interval of the score over the n items scored (for scores that are a share of items "
        "right); a sample's score is not the published figure on the full data set it was drawn from. "
        "ms/item = median latency per item (p50 per call / batch size; per call: p50 ms); p90 = how much slower "
        "the 90th percentile call is than the median (the spread).",
        SETTING_KEY,
        "rank is within one (device, task, dataset, metric) group, by score then items/s: CPU and GPU rows are "
        "never ranked together, nor scores on different data. Models that were scored but never timed are listed under '— (not timed)' without a rank.",
        "Only real weights are ranked: an entry whose score comes from random-init weights (or, for detection, "
        "whose timing does: NMS work depends on the weights) shows 'random-init' in the rank column and is listed "
        "below the ranked entries of its group.",
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
                  "and settings", columns=COLUMNS, rows=body, notes=notes, sources=used, digits=2,
                  brief=BRIEF, sections=SECTIONS)]


def slugify(text: str, limit: int = 48) -> str:
    s = re.sub(r"[^a-z0-9_]+", "-", str(text).lower()).strip("-_")
    return s[:limit].rstrip("-") or "x"


def _pareto_setting(by_model: dict[str, list[dict]]) -> tuple[str, list[dict]]:
    """The setting to compare models in (like with like): the one most models were measured in (ties: batch 1
    eager fp32 first, then by name), and each of those models' entry in it."""
    labels: dict[str, set[str]] = {}
    for model, es in by_model.items():
        for e in es:
            labels.setdefault(setting_label(e), set()).add(model)
    best = min(labels, key=lambda lab: (-len(labels[lab]), lab != "bs1 eager fp32", lab))
    chosen = [max((e for e in es if setting_label(e) == best), key=lambda e: e["items_per_s"])
              for _, es in sorted(by_model.items()) if any(setting_label(e) == best for e in es)]
    return best, chosen


def _pareto_plots(ents: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Score vs items/s per task × data × device, every model in the same setting (said in the title)."""
    groups: dict[tuple[str, str, str, str], dict[str, list[dict]]] = {}
    for e in ents:
        if e["score"] is None or not e["items_per_s"] or e["speed_row"] is None:
            continue
        key = (e["task"] or "unknown task", str(e["dataset"] or "unknown data"), e["score_metric"], e["device"])
        groups.setdefault(key, {}).setdefault(e["model"], []).append(e)
    paths = []
    for (task, dataset, metric, dev), by_model in sorted(groups.items()):
        setting, chosen = _pareto_setting(by_model)
        if sum(1 for e in chosen if not e["random_init"]) < 2:  # no comparison to draw (random-init scores say nothing)
            continue
        left_out = sorted(set(by_model) - {e["model"] for e in chosen})
        pts = [{"x": float(e["items_per_s"]), "y": float(e["score"]), "label": e["model"],
                "random_init": e["random_init"]} for e in chosen]
        name = f"pareto_{slugify(task)}_{slugify(dataset, 24)}_{slugify(dev, 40)}.png"
        note = f"; not measured so: {', '.join(left_out)}" if left_out else ""
        paths.append(pareto_plot(
            pts, out_dir / name, title=f"{task}: {metric} vs throughput, every model in {setting}\n{dev}{note}",
            xlabel=f"throughput (items/s, {setting})",
            ylabel=f"{metric} on {dataset}" + (" (%)" if all(p["y"] > 1 for p in pts) and metric != "bleu" else ""),
        ))
    return paths


def plots(rows: dict[str, list[dict[str, Any]]], out_dir: Path) -> list[Path]:
    """Pareto charts (score vs items/s, like with like) per task × dataset × device; a latency chart per model
    (latency per item, settings sorted by median)."""
    ents, _ = entries(rows)
    out_dir = Path(out_dir)
    paths = _pareto_plots(ents, out_dir)
    by_model: dict[str, dict[str, list[dict]]] = {}
    for e in ents:
        if e["speed_row"] is not None and any(e[q] is not None for q in ("p50", "p90", "p99")):
            by_model.setdefault(e["model"], {}).setdefault(e["device"], []).append(e)
    for model, devs in sorted(by_model.items()):
        panels = []
        for dev, es in sorted(devs.items()):
            series = [_latency_series(e) for e in es]
            panels.append({"device": dev, "series": sorted(series, key=lambda s: (s["p50"] or 0.0, s["label"]))})
        paths.append(latency_plot(panels, out_dir / f"latency_{slugify(model)}.png",
                                  title=f"{model}: latency per item by setting (fastest at the top)",
                                  ylabel="setting", xlabel="latency per item (ms; per call / batch size)"))
    return paths


def _latency_series(e: dict[str, Any]) -> dict[str, Any]:
    """One setting's latencies per item (per call / batch size), so batch 8 is not drawn 8× slower."""
    b = e["batch_size"] if isinstance(e["batch_size"], int) and e["batch_size"] > 0 else 1
    samples = latency_samples(e["speed_row"])
    label = setting_label(e) + (" (random-init)" if e["random_init"] else "")
    return {"label": label, "p50": _num(e["p50"], b), "p90": _num(e["p90"], b), "p99": _num(e["p99"], b),
            "samples": [x / b for x in samples] if samples else None}
