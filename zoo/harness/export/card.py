"""The model card of an export: ``model_card.json`` (everything, machine-readable) and ``MODEL_CARD.md`` (the
same for a reader): weights and their sha256, the exact preprocessing, accuracy with its loss against fp32 on
named data (items counted, the calibration items kept apart), latency on this machine, the machine, library
versions and the command that reproduces the folder."""

from __future__ import annotations

import json
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ...io import atomic_write_text
from ...results import library_versions, machine_info
from ...spec import weights_label

CARD_JSON = "model_card.json"
CARD_MD = "MODEL_CARD.md"


def measure_latency(predictor, images: list, min_s: float = 3.0, min_calls: int = 20, warmup: int = 3) -> dict:
    """End-to-end latency of ``predictor.predict`` on one image file at a time (decode, preprocess, inference,
    postprocess): p50/p99 and items/s over at least ``min_calls`` calls and ``min_s`` seconds."""
    for i in range(warmup):
        predictor.predict(images[i % len(images)])
    times: list[float] = []
    t_end = time.perf_counter() + min_s
    while len(times) < min_calls or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        predictor.predict(images[len(times) % len(images)])
        times.append(time.perf_counter() - t0)
    ms = np.asarray(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "items_per_s": round(1000 / float(ms.mean()), 2), "calls": len(times), "batch_size": 1,
            "measures": "one image file per call: decode + preprocess + inference + postprocess (end to end)",
            "images": [Path(str(p)).name for p in images]}


EXTRA_LIBS = ("openvino", "nncf", "pillow")  # the export's runtime and quantizer, beside the rows' usual list


def versions() -> dict[str, str]:
    libs = {k: v for k, v in library_versions().items() if v is not None}
    for lib in EXTRA_LIBS:
        try:
            libs[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return libs


def build_card(cfg: dict, accuracy: dict, speed: dict, command: str) -> dict[str, Any]:
    libs = versions()
    return {"model": cfg["model"], "task": cfg["task"], "zoo_version": cfg["zoo_version"],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "weights": cfg["weights"],
            "artifact": cfg["artifact"], "preprocess": cfg["preprocess"], "postprocess": cfg["postprocess"],
            "accuracy": accuracy, "speed": speed, "machine": machine_info(), "libraries": libs,
            "reproduce": command}


def _accuracy_lines(acc: dict) -> list[str]:
    if acc.get("status") != "measured":
        return [f"- not measured: {acc.get('why', acc.get('status'))}"]
    d = acc["data"]
    lines = [(f"- data: {d['data']} ({d['path']}); {d['n_scored']} items scored, {d['n_calibration']} other items "
             f"kept for calibration (seed {d['seed']}; disjoint)"),
             (f"- {acc['metric']}: export {acc['export'][acc['metric']]:.2f}, fp32 PyTorch eager "
             f"{acc['fp32_eager'][acc['metric']]:.2f}: loss {acc['loss_points']:+.2f} points "
             f"(budget {acc['budget_points']:g}: {'within' if acc['within_budget'] else 'OVER'})")]
    for c in acc.get("candidates", []):
        lines.append(f"- candidate {c['config']}: {c['status']}" + (f", loss {c['loss_points']:+.2f}" if "loss_points" in c else ""))
    return lines


def card_markdown(card: dict) -> str:
    art, pre, w, sp, m = card["artifact"], card["preprocess"], card["weights"], card["speed"], card["machine"]
    lines = [f"# {card['model']} ({card['task']}), exported by zoo {card['zoo_version']}", "",
             f"Artifact: `{art['file']}` for {art['runtime']}, {art['dtype']}; made {card['created']}.", "",
             "## Weights", f"- {w.get('source')}" + (f" ({w['file']})" if w.get("file") else "") +
             (f"; sha256 `{w['sha256']}`" if weights_label(w.get("sha256")) != "random-init" else ": RANDOM WEIGHTS"),
             f"- license: {w.get('license') or 'see the model spec'}", "",
             "## Preprocessing (exact)", f"- {pre['description']}", "",
             "## Accuracy", *_accuracy_lines(card["accuracy"]), "",
             "## Speed on this machine",
             (f"- p50 {sp['p50_ms']:.2f} ms, p99 {sp['p99_ms']:.2f} ms, {sp['items_per_s']:.1f} items/s "
             f"({sp['calls']} calls; {sp['measures']})"),
             f"- machine: {m.get('cpu')} ({m.get('cores')} cores), {m.get('os')}, Python {m.get('python')}", "",
             "## Libraries", "- " + ", ".join(f"{k} {v}" for k, v in sorted(card["libraries"].items())), "",
             "## Reproduce", f"    {card['reproduce']}", ""]
    return "\n".join(lines)


def write_card(folder: Path, card: dict) -> None:
    atomic_write_text(folder / CARD_JSON, json.dumps(card, indent=2, default=str) + "\n")
    atomic_write_text(folder / CARD_MD, card_markdown(card))
