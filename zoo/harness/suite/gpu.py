"""The GPU suite (issue 16 item 6): one command fills every GPU row, within about 10 minutes of GPU time.

    zoo bench --suite gpu --device cuda            # or: make gpu-suite, or scripts/gpu_suite.sh
    zoo bench --suite gpu --dry-run                # the plan, its settings and time limits; runs nothing

Steps, in this order (``plan``; a budget overrun drops the last ones):

- SingleStream, batch 1, fp32 eager with CUDA graphs, plain fp32 eager timed beside it: resnet50, vgg16,
  inception_v3, efficientnet_lite0, and bert_base at sequence length 128;
- detectors end to end on the GPU (yolov5n, zoo's own modules; the torchvision detectors): JPEG bytes ->
  nvjpeg decode (``gpu_decode``) -> preprocessing on the GPU (letterbox for YOLO; torchvision's own
  transform) -> network -> NMS on the GPU -> boxes; the network alone is timed beside it (``gpu_e2e``);
- the eval pipeline: ``zoo eval`` images/s (DataLoader, decode, preprocess, network, metric) on the bundled
  COCO images (yolov5n) and, when an ImageNet-style folder is given (``ZOO_GPU_EVAL_DATA``), resnet50 with
  ``--decode gpu``; the summary sets it against the model alone (the e2e / bench rows);
- Offline, batch 256, torch.compile + bf16 autocast + channels_last (no channels_last for bert_base), fp32
  eager beside it, for the same five models (compile is the slowest part: about a minute per model).

Every step runs in its own subprocess with a timeout (the bench steps through ``speed_sweep``), rows are
appended as each step finishes (speed rows to speed.jsonl, eval rows to eval.jsonl, in $ZOO_RESULTS_DIR),
and a step is skipped with a one-line reason when a package it needs is missing or when the suite's time
budget would be overrun. Models without cached weights run random-init (the rows say so).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ...errors import UserError
from ...results import raw_path, read_rows
from ..speed.config import BenchConfig
from ..speed.sweep import sweep

CLASSIFIERS = ("resnet50", "vgg16", "inception_v3", "efficientnet_lite0")
TEXT = ("bert_base",)
DETECTORS = ("yolov5n", "fasterrcnn_resnet50_fpn", "retinanet_resnet50_fpn", "ssd300_vgg16",
             "ssdlite320_mobilenet_v3_large")
BUDGET_S = float(os.environ.get("ZOO_GPU_SUITE_BUDGET_S", 540))  # the whole suite; slack inside 10 minutes of GPU time
MIN_STEP_S = 30.0  # a step is not started with less time than this left
TIMING = {"warmup": 3, "min_iters": 10, "min_duration_s": 1.0, "rounds": 2}
REPO = Path(__file__).resolve().parents[3]  # zoo/harness/suite/gpu.py -> the checkout
EVAL_DATA_ENV = "ZOO_GPU_EVAL_DATA"


@dataclass(frozen=True)
class Step:
    """One unit of the suite: ``kind`` "bench" (BenchConfig fields in ``config``), "e2e" (detector on the
    GPU end to end; ``config``: batch_size, device) or "eval" (``config``: the ``zoo eval`` arguments)."""

    model: str
    what: str
    kind: str
    config: dict[str, Any]
    timeout_s: float
    needs: tuple[str, ...] = ("torch", "torchvision")
    factory: str | None = None  # "module:function" building the model instead of the registry (tests)

    def describe(self) -> str:
        return f"{self.model:<30} {self.what:<62} timeout {self.timeout_s:>4.0f} s"


def plan(device: str = "cuda", eval_data: str | None = None) -> list[Step]:
    """The suite's steps, cheapest and most asked-for first (a budget overrun drops the last ones): batch-1 CUDA
    graph rows, detectors end to end, the eval pipeline, then the compiled batch-256 rows (compile is the
    slowest part: about a minute per model)."""
    base = {"device": device, **TIMING}
    single, offline = [], []
    for name in CLASSIFIERS + TEXT:
        text = name in TEXT
        seq, s128 = ({"seq_len": 128}, " s128") if text else ({}, "")
        needs = ("torch", "transformers") if text else ("torch", "torchvision", *(("timm",) if "efficientnet" in name else ()))
        single.append(Step(name, f"SingleStream b1, fp32 eager + CUDA graphs (vs eager){s128}", "bench",
                           {**base, **seq, "batch_sizes": [1], "backend": "eager", "cuda_graphs": True,
                            "compare": True, "stages": False}, 90, needs))
        offline.append(Step(name, f"Offline b256, compile + bf16{'' if text else ' + channels_last'} (vs eager){s128}",
                            "bench", {**base, **seq, "batch_sizes": [256], "backend": "compile", "dtype": "bf16",
                                      "channels_last": not text, "compare": True, "stages": False}, 150, needs))
    e2e = [Step(name, "end to end b1: nvjpeg decode, GPU preprocess, network, GPU NMS", "e2e",
                {"device": device, "batch_size": 1, **TIMING}, 90) for name in DETECTORS]
    evals = [Step("yolov5n", "eval pipeline: zoo eval on data/coco (24 images), images/s", "eval",
                  {"args": ["--data", str(REPO / "data" / "coco"), "--device", device, "--batch-size", "8"]}, 90,
                  ("torch", "torchvision", "pycocotools"))]  # COCO mAP: pycocotools
    if eval_data:
        evals.append(Step("resnet50", "eval pipeline: zoo eval --decode gpu, batch 256, images/s", "eval",
                          {"args": ["--data", eval_data, "--device", device, "--decode", "gpu", "--batch-size", "256"]},
                          120))
    return single + e2e + evals + offline


def missing_packages(step: Step) -> list[str]:
    return [p for p in step.needs if importlib.util.find_spec(p) is None]


@dataclass
class Outcome:
    step: Step
    status: str  # "ok", "failed", "skipped"
    reason: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


def run_suite(steps: Sequence[Step], raw_dir: Path, budget_s: float = BUDGET_S,
              log: Callable[[str], None] = print, env: dict[str, str] | None = None) -> list[Outcome]:
    """Run ``steps`` in order, each isolated in a subprocess with its timeout (cut to what is left of
    ``budget_s``); rows land in ``raw_dir`` as each step finishes. A step whose package is missing, or that
    would start with less than MIN_STEP_S left, is skipped with a one-line reason."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(env or {}), "ZOO_RESULTS_DIR": str(raw_dir)}
    t0 = time.perf_counter()
    out: list[Outcome] = []
    for step in steps:
        missing = missing_packages(step)
        spent = time.perf_counter() - t0
        if missing:
            out.append(Outcome(step, "skipped", f"needs {', '.join(missing)}, not installed on this machine"))
        elif budget_s - spent < MIN_STEP_S:
            out.append(Outcome(step, "skipped", f"time budget: {spent:.0f} s of {budget_s:.0f} s spent"))
        else:
            log(f"gpu suite: {step.model}: {step.what}")
            step = replace(step, timeout_s=min(step.timeout_s, budget_s - spent))  # never past the budget
            out.append(_run_step(step, raw_dir, env))
        o = out[-1]
        log(f"gpu suite: {step.model}: {o.status}{': ' + o.reason if o.reason else ''}")
    return out


def _run_step(step: Step, raw_dir: Path, env: dict[str, str]) -> Outcome:
    t = time.perf_counter()
    if step.kind == "bench":
        cfg = BenchConfig(**step.config)
        rows = sweep([step.model], cfg, timeout_s=step.timeout_s, progress=False, raw_file=raw_dir / "speed.jsonl",
                     factories={step.model: step.factory} if step.factory else None, include_existing=True)
        bad = [r for r in rows if r.get("status") != "ok"]
        return Outcome(step, "failed" if bad else "ok", bad[0].get("error", "") if bad else "", rows,
                       time.perf_counter() - t)
    if step.kind == "e2e":
        cmd = [sys.executable, "-m", "zoo.harness.suite.e2e", json.dumps({"name": step.model, "factory": step.factory,
                                                                        **step.config})]
        path = raw_dir / "speed.jsonl"
    elif step.kind == "eval":
        cmd = [sys.executable, "-m", "zoo", "eval", step.model, *step.config["args"], "--random-init"]
        path = raw_dir / "eval.jsonl"
    else:
        raise ValueError(f"unknown step kind {step.kind!r}")
    n = len(read_rows(path))
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=step.timeout_s, cwd=REPO)
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        rc, err = f"timeout after {step.timeout_s:.0f} s", ""
    rows = read_rows(path)[n:]
    last = [ln for ln in (err or "").splitlines() if ln.strip()]
    if rc != 0 or not rows:
        return Outcome(step, "failed", f"exit {rc}: {last[-1][:300] if last else 'no output'}", rows,
                       time.perf_counter() - t)
    return Outcome(step, "ok", "", rows, time.perf_counter() - t)


# --- what the suite prints ---------------------------------------------------------------------------------

def plan_text(steps: Sequence[Step], budget_s: float = BUDGET_S) -> str:
    worst = sum(s.timeout_s for s in steps)
    lines = [f"GPU suite: {len(steps)} steps, each in its own subprocess with a timeout; budget {budget_s:.0f} s "
             f"(the timeouts add up to {worst:.0f} s: a step gets at most what is left of the budget, and steps "
             f"left with under {MIN_STEP_S:.0f} s are skipped and listed)"]
    lines += [f"  {i + 1:>2}. {s.describe()}" for i, s in enumerate(steps)]
    missing = {p for s in steps for p in missing_packages(s)}
    if missing:
        lines.append(f"  not installed here: {', '.join(sorted(missing))} (the steps needing them are skipped)")
    return "\n".join(lines)


def _figure(o: Outcome) -> str:
    for r in o.rows:
        m = r.get("metrics") or {}
        if r.get("kind") == "eval":
            return f"{m.get('items_per_s', float('nan')):.1f} images/s through the eval pipeline"
        st = m.get("stages") or {}
        if st.get("e2e_items_per_s"):
            return f"{st['e2e_items_per_s']:.1f} images/s end to end, {m.get('items_per_s', 0):.1f} network only"
        if m.get("items_per_s"):
            sp = m.get("speedup_vs_fp32_eager")
            return f"p50 {m.get('p50_ms', 0):.3f} ms, {m['items_per_s']:.1f} items/s" + (f", {sp:.2f}x fp32 eager" if sp else "")
    return ""


def summary(outcomes: Sequence[Outcome]) -> str:
    lines = ["GPU suite summary:"]
    for o in outcomes:
        lines.append(f"  {o.step.model:<30} {o.step.what[:48]:<48} {o.status:<7} {_figure(o) or o.reason}")
    lines += _eval_vs_model(outcomes)
    ok = sum(o.status == "ok" for o in outcomes)
    lines.append(f"  {ok} of {len(outcomes)} steps ok; rows: speed.jsonl / eval.jsonl in $ZOO_RESULTS_DIR")
    return "\n".join(lines)


def _eval_vs_model(outcomes: Sequence[Outcome]) -> list[str]:
    """The eval pipeline's images/s against the same model's network alone (the suite's own rows)."""
    lines = []
    for o in outcomes:
        ev = [r for r in o.rows if r.get("kind") == "eval"]
        if not ev:
            continue
        alone = [r for x in outcomes if x is not o for r in x.rows if r.get("kind") == "speed"
                 and r.get("model") == o.step.model and (r.get("metrics") or {}).get("items_per_s")]
        pipe = (ev[-1].get("metrics") or {}).get("items_per_s")
        if alone and pipe:
            best = max(alone, key=lambda r: r["metrics"]["items_per_s"])
            lines.append(f"  {o.step.model}: eval pipeline {pipe:.1f} images/s vs the network alone "
                         f"{best['metrics']['items_per_s']:.1f} items/s (batch {best['settings'].get('batch_size')}, "
                         f"{best.get('backend_used')}): the pipeline reaches {pipe / best['metrics']['items_per_s']:.0%}")
    return lines


def cpu_substitute(steps: Sequence[Step], factory: str | None = None) -> list[Step]:
    """The plan with CPU stand-ins, for tests without a GPU: device cpu, batch 256 -> 2, no CUDA graphs, eager
    instead of compile, timing cut to a few calls; ``factory`` replaces every bench model."""
    out = []
    for s in steps:
        cfg = dict(s.config, device="cpu", warmup=1, min_iters=2, min_duration_s=0.01, rounds=1)
        if s.kind == "bench":
            cfg.update(batch_sizes=[min(b, 2) for b in cfg["batch_sizes"]], cuda_graphs=False, backend="eager")
        if s.kind == "eval":
            cfg["args"] = [a if a != "cuda" else "cpu" for a in cfg["args"]] + ["--limit", "2"]
        out.append(replace(s, config=cfg, factory=factory if s.kind == "bench" else s.factory))
    return out


def default_raw_dir() -> Path:
    return raw_path("speed").parent


def check_suite(name: str) -> None:
    if name != "gpu":
        raise UserError(f"unknown suite {name!r}; the one suite is 'gpu'")
