"""Vision training runs (``zoo train`` for image classifiers and detectors) with the held-out score of each
checkpoint: the train row joined to the eval rows that scored its weights (same sha256).

Classifiers: fine-tuning, training from scratch and the linear-probe baseline side by side, each with its
training time and its top-1 on the data ``zoo eval --checkpoint`` scored it on (latest eval per data set).
Detectors: yolov5n fine-tuned in zoo's loop (held-out mAP before and after), and ultralytics' trainer with the
mAP its validator measured on the training images.
"""

from __future__ import annotations

from .base import Table, fmt, provenance, rows_of_kind

TASKS = ("image-classification", "object-detection")


def _evals_by_weights(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows_of_kind(rows, "eval"):
        if r.get("task") == "image-classification" and (r.get("settings") or {}).get("checkpoint"):
            out.setdefault(str(r.get("weights")), []).append(r)
    return out


def _scores(evals: list[dict]) -> str | None:
    """'top-1 92.10 % (n 1000, heldout)' for the latest eval of each data set that scored these weights."""
    latest: dict[str, dict] = {}
    for e in sorted(evals, key=lambda e: str(e.get("time"))):
        latest[str(e.get("dataset"))] = e
    parts = [f"top-1 {fmt((e.get('metrics') or {}).get('top1'), 2)} % (n {e.get('n')}, {name})"
             for name, e in sorted(latest.items())]
    return "; ".join(parts) or None


def classifier_table(rows: dict[str, list[dict]]) -> Table:
    runs = sorted((r for r in rows_of_kind(rows, "train") if r.get("task") == "image-classification"),
                  key=lambda r: (str(r.get("model")), str(r.get("time"))))
    evals = _evals_by_weights(rows)
    body = []
    for r in runs:
        s, m = r.get("settings") or {}, r.get("metrics") or {}
        hist = r.get("history") or []
        complete = sum(1 for h in hist if h.get("complete", True))
        epochs = f"{complete} + partial" if complete < len(hist) else (complete or None)
        body.append([r.get("model"), s.get("method"), s.get("data"), s.get("n_train"), s.get("image_size"),
                     s.get("freeze"), "on" if s.get("augment") else "off", epochs, m.get("steps"),
                     (m.get("train_time_s") or 0) / 60, s.get("max_minutes"), _scores(evals.get(str(r.get("weights")), [])),
                     s.get("threads"), f"sha256 {str(r.get('checkpoint_sha256'))[:12]}", r.get("command")])
    return Table(
        slug="vision_training", title="Image classifiers trained here (zoo train --data): time and held-out top-1",
        columns=["model", "method", "training data", "images", "px", "frozen", "augment", "epochs", "steps",
                 "train min", "budget min", "held-out score (zoo eval --checkpoint)", "threads", "checkpoint",
                 "command"],
        rows=body, digits=2,
        notes=provenance(runs) + [
            "fine-tune: the model's ImageNet weights with a fresh head for the data's classes; frozen: none = every "
            "weight trains, last:N = the head and the last N blocks, the rest (and its BatchNorm statistics) frozen",
            "linear-probe: the backbone frozen and untouched, sklearn LogisticRegression on its features (computed "
            "once, no augmentation) folded into the head; its train min is feature extraction + fit",
            "train min: training time of the loop (forward, backward, optimizer; not checkpoint writes), wall clock "
            "on the machine of the row; held-out score: the latest `zoo eval NAME --checkpoint DIR --data DIR` "
            "row whose weights are this checkpoint",
            "data/cifar10: CIFAR-10 test images (32x32), train 4,000 / heldout 1,000; scores are not comparable "
            "with published CIFAR-10 test accuracies (4,000 training images, images upscaled)",
        ],
    )


def detector_table(rows: dict[str, list[dict]]) -> Table:
    runs = sorted((r for r in rows_of_kind(rows, "train") if r.get("task") == "object-detection"),
                  key=lambda r: (str(r.get("model")), str(r.get("time"))))
    body = []
    for r in runs:
        s, m = r.get("settings") or {}, r.get("metrics") or {}
        body.append([r.get("model"), s.get("method") or "ultralytics trainer", r.get("dataset"), s.get("epochs"),
                     s.get("imgsz"), s.get("batch_size"), (m.get("train_time_s") or 0) / 60, m.get("map"),
                     m.get("map50"), m.get("pretrained_map"), s.get("validated_on"), s.get("init_weights"),
                     r.get("note"), r.get("command")])
    return Table(
        slug="detection_training", title="Detectors trained here (zoo train): zoo's own loop and ultralytics' trainer",
        columns=["model", "method", "data", "epochs", "imgsz", "batch", "train min", "mAP50-95", "mAP50",
                 "mAP50-95 before", "scored on", "start weights", "note", "command"],
        rows=body, digits=2,
        notes=provenance(runs) + [
            "fine-tune (zoo loop ...): yolov5n from its official COCO weights in zoo's training loop (YOLOv5 loss, "
            "EMA of the weights, letterbox / flip / HSV), scored by pycocotools on the held-out images after the "
            "training ones; mAP50-95 before: the pretrained network on the same images",
            "ultralytics trainer: mAP (%) from ultralytics' DetectionValidator after training, on the training "
            "images (coco128 has no other split): it measures fitting, not generalisation; from random init a short "
            "run stays near 0",
        ],
    )


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    """The tables that have runs (no empty files before the first vision training row)."""
    return [t for t in (classifier_table(rows), detector_table(rows)) if t.rows]
