"""What an export folder holds besides its model card: the graph file (through the backend's ``export``), the
labels, and ``zoo_export.json``: exactly what ``zoo.prediction.runtime`` needs to preprocess, run and
postprocess without torch.

Served: image classifiers (softmax top-k over logits) and YOLO letterbox detectors (zoo's YOLOv5 and the
ultralytics YOLOs: their NMS is reimplemented in NumPy, ``zoo.prediction.image_ops``). Anything else is
refused with one line naming what is served.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ... import __version__ as ZOO_VERSION
from ...datasets.detection import COCO80_TO_91
from ...errors import UserError
from ...io import atomic_write_text
from ...models.image import LetterboxDetector
from ...models.yolov5 import PREDICT_NMS
from ...prediction.runtime import CONFIG, EXPORT_FORMAT, LABELS
from ...transforms import ImageTransform
from ..backends import BackendConfig, get_backend

YOLO_PREDICT_CONF = 0.25  # ultralytics' and YOLOv5 detect.py's default confidence for predictions


def detector_head(model) -> str:
    """"yolov5" (anchors x (5 + nc) rows, objectness) or "yolov8" ((4 + nc) x anchors, ultralytics)."""
    return "yolov5" if type(model).__name__ == "YOLOv5Detector" else "yolov8"


def check_exportable(model) -> None:
    """A one-line UserError unless the runtime can serve ``model``'s pre- and postprocessing."""
    task = model.spec.task
    if task == "image-classification" and isinstance(getattr(model, "transform", None), ImageTransform) \
            and not model.spec.preprocess.letterbox:
        return  # every zoo image classifier: ImageTransform preprocessing, logits out, softmax top-k
    if task == "object-detection" and isinstance(model, LetterboxDetector):
        return
    raise UserError(f"zoo export serves image classifiers and YOLO detectors; {model.spec.name} is a {task} model "
                    f"({type(model).__name__}) whose pre/postprocessing the export runtime does not have")


def postprocess_record(model) -> dict[str, Any]:
    """The postprocessing the runtime applies: top-k for classifiers; NMS settings (for predictions and for
    the accuracy check) and class index -> COCO id for detectors."""
    if model.spec.task == "image-classification":
        return {"kind": "softmax-topk", "top_k": 5}
    head = detector_head(model)
    eval_nms = dict(model.nms)
    predict = dict(PREDICT_NMS) if head == "yolov5" else {**eval_nms, "conf": YOLO_PREDICT_CONF, "multi_label": False}
    ids = list(COCO80_TO_91) if head == "yolov5" else list(model.coco_ids)
    return {"kind": "nms", "head": head, "nms": predict, "eval_nms": eval_nms, "class_ids": ids}


def labels(model) -> list | dict | None:
    names = model.class_names()
    if names is None:
        return None
    return {str(k): v for k, v in names.items()} if isinstance(names, dict) else list(names)


def write_config(folder: Path, model, artifact: dict, weights: dict) -> dict:
    """``zoo_export.json`` and ``labels.json`` into ``folder``; returns the config."""
    pre = dataclasses.asdict(model.spec.preprocess)
    pre["description"] = repr(model.transform)
    cfg = {"format": EXPORT_FORMAT, "zoo_version": ZOO_VERSION, "model": model.spec.name, "task": model.spec.task,
           "num_classes": model.spec.num_classes, "input_size": list(model.spec.input_size or ()),
           "artifact": artifact, "preprocess": pre, "postprocess": postprocess_record(model), "weights": weights}
    names = labels(model)
    if names is not None:
        atomic_write_text(folder / LABELS, json.dumps(names, ensure_ascii=False) + "\n")
    atomic_write_text(folder / CONFIG, json.dumps(cfg, indent=2, default=str) + "\n")
    return cfg


def write_artifact(model, config: BackendConfig, folder: Path, calibration=None) -> dict[str, Any]:
    """The graph file(s) for ``config`` in ``folder`` (earlier candidates' files removed first)."""
    backend = get_backend(config.backend)
    if not backend.exports:
        raise UserError(f"backend {config.backend} writes no file a runtime can load; zoo export takes openvino or onnxruntime")
    refused = backend.capabilities.refuses("cpu", config.dtype, model.spec.task)
    if refused:
        raise UserError(f"backend {config.backend} {refused}")
    for old in ("model.xml", "model.bin", "model.onnx"):
        (folder / old).unlink(missing_ok=True)
    example = model.preprocess(model.example_items(1)).inputs
    try:
        return backend.export(model, config, example, folder, calibration=calibration)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 -- a converter that cannot express the model is one line; the folder is discarded
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserError(f"backend {config.backend} cannot export {model.spec.name} ({type(e).__name__}: {first[:200]})") from None
