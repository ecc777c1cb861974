"""Object-detection accuracy: COCO mAP@[.5:.95] and mAP@.5 computed by pycocotools.

Every zoo detector (torchvision and ultralytics alike) returns boxes in original-image pixels
(x1, y1, x2, y2) with COCO category ids in the 91-id space (base.py); here they become COCO result entries
(``bbox`` = [x, y, w, h]) and pycocotools' ``COCOeval`` scores them against the ground truth, restricted to
the images that were evaluated (``--limit``, unreadable files skipped and counted). mAP values are in
percent (pycocotools' 0-1 figures x 100).
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
from dataclasses import dataclass, field

import torch

from ..models.base import Batch, move_to
from . import distributed as dist_
from ..datasets.images import DetectionData, ImageFiles, PreprocessCollate, make_loader

# pycocotools' summary lines, in the order of COCOeval.stats
STAT_NAMES = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
              "mar1", "mar10", "mar100", "mar_small", "mar_medium", "mar_large")


def to_coco_results(image_id: int, pred: dict) -> list[dict]:
    """One image's prediction dict -> COCO result entries (bbox as x, y, w, h in pixels)."""
    out = []
    for (x1, y1, x2, y2), s, c in zip(pred["boxes"], pred["scores"], pred["labels"]):
        out.append({"image_id": int(image_id), "category_id": int(c),
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "score": float(s)})
    return out


def coco_map(gt: dict, detections: list[dict], image_ids: list[int] | None = None) -> dict[str, float]:
    """pycocotools COCOeval ("bbox") on ``detections`` (COCO result entries): the 12 stats, in percent.

    ``image_ids`` restricts the evaluation (default: every image in ``gt``). No detections at all gives 0
    (pycocotools cannot load an empty result list). A stat pycocotools reports as -1 (no ground truth of
    that kind) is returned as None.
    """
    from pycocotools.coco import COCO
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


@dataclass
class DetectionResult:
    n: int
    skipped: int
    seconds: float
    stats: dict[str, float | None]
    num_detections: int
    preprocess: str
    skipped_files: list[str] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)  # rank 0 only, in image-id order

    @property
    def images_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("nan")


@torch.inference_mode()
def evaluate_detection(
    model,
    data: DetectionData,
    *,
    batch_size: int = 8,
    workers: int | None = None,
    device: str = "cpu",
    limit: int | None = None,
    dist: dist_.DistInfo = dist_.DistInfo(),
    keep_predictions: bool = False,
    log=print,
) -> DetectionResult:
    """COCO mAP of ``model`` on ``data``; detections from all torchrun processes are pooled on rank 0."""
    images = data.images[:limit] if limit else data.images
    mine = dist_.shard(images, dist)
    files = ImageFiles([p for _, p in mine])
    loader = make_loader(files, PreprocessCollate(model.preprocess), batch_size, workers,
                         pin=str(device).startswith("cuda"))

    dets, done, bad, rows = [], [], [], []
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for idx, inputs, meta, bad_items in loader:
        bad += bad_items
        if inputs is None:
            continue
        out = model(move_to(inputs, device))
        preds = model.postprocess(out, Batch(inputs, list(meta or [])))
        for k, pred in zip(idx, preds):
            image_id, path = mine[k]
            done.append(image_id)
            dets += to_coco_results(image_id, pred)
            if keep_predictions:
                rows.append({"id": path.name, "image_id": image_id,
                             "boxes": [[float(v) for v in b] for b in pred["boxes"]],
                             "scores": [float(s) for s in pred["scores"]], "labels": [int(c) for c in pred["labels"]]})
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    seconds = dist_.max_value(time.perf_counter() - t0, dist)

    bad_named = [f"{mine[k][1].name}: {e}" for k, e in bad]
    gathered = dist_.gather((done, dets, bad_named, rows), dist)
    counts = dist_.sum_counts({"n": len(done), "skipped": len(bad)}, dist)
    stats: dict[str, float | None] = {}
    res = DetectionResult(counts["n"], counts["skipped"], seconds, stats, 0, _preprocess_repr(model))
    if gathered is not None:
        all_done = sorted(i for d, _, _, _ in gathered for i in d)
        all_dets = [x for _, d, _, _ in gathered for x in d]
        all_dets.sort(key=lambda d: (d["image_id"], -d["score"]))
        res.stats.update(coco_map(data.gt, all_dets, all_done) if all_done else {k: None for k in STAT_NAMES})
        res.num_detections = len(all_dets)
        res.skipped_files = sorted(f for _, _, b, _ in gathered for f in b)
        res.predictions = sorted((r for _, _, _, rs in gathered for r in rs), key=lambda r: r["image_id"])
        for f in res.skipped_files:
            log(f"skipped unreadable image {f}")
    return res


def _preprocess_repr(model) -> str:
    from .classification import _preprocess_repr as pr

    return pr(model)
