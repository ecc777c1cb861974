"""Object detection: COCO box mAP@[.5:.95] and mAP@.5 (percent), computed by pycocotools.

Every zoo detector returns boxes in original-image pixels (x1, y1, x2, y2) with COCO category ids in the
91-id space (zoo.models.base); here they become COCO result entries (``bbox`` = [x, y, w, h]) and
pycocotools' ``COCOeval`` scores them against the ground truth, restricted to the images that were
evaluated (``--limit``, unreadable files skipped). Data: a COCO instances json or a YOLO folder
(``zoo.datasets.detection``).
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any, Sequence

from ..datasets.detection import load_detection
from ..datasets.loader import read_rgb
from ._registry import register_task
from .base import EvalData, Metric, Task, reference_check

# pycocotools' summary lines, in the order of COCOeval.stats
STAT_NAMES = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
              "mar1", "mar10", "mar100", "mar_small", "mar_medium", "mar_large")
# mAP is not a proportion, so no binomial error: a fixed allowance for library / resize differences
# (torchvision's detection references reproduce to about 0.1-0.3 pp on COCO val2017).
DETECTION_TOLERANCE_PP = 1.0
# Names a spec may use for its COCO box mAP reference (metric -> our stat name).
DETECTION_REFERENCE_METRICS = {"map": "map", "box_map": "map", "mAP": "map", "map50-95": "map", "map50": "map50",
                               "mAP50": "map50"}


def to_coco_results(image_id: int, pred: dict) -> list[dict]:
    """One image's prediction dict -> COCO result entries (bbox as x, y, w, h in pixels)."""
    out = []
    for (x1, y1, x2, y2), s, c in zip(pred["boxes"], pred["scores"], pred["labels"]):
        out.append({"image_id": int(image_id), "category_id": int(c),
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "score": float(s)})
    return out


def coco_map(gt: dict, detections: list[dict], image_ids: list[int] | None = None) -> dict[str, float | None]:
    """pycocotools COCOeval ("bbox") on ``detections`` (COCO result entries): the 12 stats, in percent.

    ``image_ids`` restricts the evaluation (default: every image in ``gt``). No detections at all gives 0
    (pycocotools cannot load an empty result list). A stat pycocotools reports as -1 (no ground truth of
    that kind) is returned as None.
    """
    from pycocotools.coco import COCO  # deferred: only detection needs pycocotools
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if not detections:
            has_gt = any(a for a in gt["annotations"] if image_ids is None or a["image_id"] in set(image_ids))
            return {k: (0.0 if has_gt else None) for k in STAT_NAMES}
        coco_dt = coco_gt.loadRes(copy.deepcopy(detections))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if image_ids is not None:
            ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: (None if v < 0 else 100.0 * float(v)) for k, v in zip(STAT_NAMES, ev.stats)}


class CocoMap(Metric):
    """Pools COCO result entries over batches; ``compute`` runs COCOeval once on the images seen."""

    def __init__(self, gt: dict):
        self.gt = gt
        self.image_ids: list[int] = []
        self.detections: list[dict] = []

    def add_batch(self, *, predictions: Sequence[dict], references: Sequence[int]) -> None:
        for pred, image_id in zip(predictions, references):
            self.image_ids.append(int(image_id))
            self.detections += to_coco_results(image_id, pred)

    def compute(self) -> dict[str, Any]:
        dets = sorted(self.detections, key=lambda d: (d["image_id"], -d["score"]))
        stats = coco_map(self.gt, dets, sorted(self.image_ids)) if self.image_ids else dict.fromkeys(STAT_NAMES)
        return {**stats, "n": len(self.image_ids), "detections": len(dets)}


@register_task
class ObjectDetection(Task):
    name = "object-detection"
    score_keys = ("map", "map50")
    default_batch_size = 8
    throughput_key = "images_per_s"
    data_help = "a COCO instances json, a folder with annotations/ + images/, or a YOLO folder"

    def load(self, data, *, split=None, labels=None, spec=None) -> EvalData:
        self.require_data(data)
        ds = load_detection(data)
        ids = [i for i, _ in ds.images]
        return EvalData(ds.name, [p for _, p in ds.images], ids, [p.name for _, p in ds.images], sha256=ds.sha256,
                        read=read_rgb, path=str(Path(data).resolve()), info={"layout": ds.layout,
                        **({"data_warnings": ds.warnings} if ds.warnings else {})}, default_workers=None, detail=ds)

    def metric(self, data: EvalData) -> CocoMap:
        return CocoMap(data.detail.gt)

    def record(self, prediction: dict, reference: int) -> dict:
        return {"image_id": int(reference), "boxes": [[float(v) for v in b] for b in prediction["boxes"]],
                "scores": [float(s) for s in prediction["scores"]], "labels": [int(c) for c in prediction["labels"]],
                **({"names": prediction["names"]} if "names" in prediction else {})}

    def summary(self, name: str, data: EvalData, m: dict) -> str:
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        return (f"{name} on {data.name}: mAP@[.5:.95] {fmt(m.get('map'))}, mAP@.5 {fmt(m.get('map50'))} over "
                f"{m['n']} images ({m['detections']} detections)")

    def reference_checks(self, spec, metrics: dict, data: EvalData) -> list[dict]:
        checks = []
        for ref in spec.references:
            stat = DETECTION_REFERENCE_METRICS.get(ref.metric)
            if stat and metrics.get(stat) is not None:
                checks.append(reference_check(spec, ref.metric, metrics[stat], metrics["n"], data.name,
                                              tol=DETECTION_TOLERANCE_PP))
        return [c for c in checks if c]
