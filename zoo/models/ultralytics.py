"""ultralytics YOLO detectors: yolov3 (the anchor-free YOLOv3u), yolov8n, yolo11n.

Built from the model yaml ultralytics ships (``ultralytics/cfg/models/...``), so no weights are needed
for random init. ``zoo.offline.configure_ultralytics()`` runs before ultralytics is imported, and the
torch thread count is restored after building (ultralytics may lower it; see PERF-NOTES.md).

Weights are ultralytics' release assets: pickled checkpoints. zoo loads one only after its sha256 equals
a pinned value, and then with ultralytics' restricted loader (``torch.load(weights_only=True)`` with an
allow-list of ultralytics/torch classes), and copies its tensors into the yaml-built network. The
official sha256 values cannot be known offline, so none is pinned yet: ``create_model(name,
pretrained=True)`` refuses unless the caller passes ``sha256=`` for the file they fetched.

This module holds the specs (data, torch-free); the wrapper and builder live in ``_ultralytics_nets.py``.
"""

from __future__ import annotations

from ..registry import register_model
from ..spec import BuilderRef, ImagePreprocess, ModelSpec, Reference, Weights

UNPINNED = "unknown offline: pinned on first verified fetch"
IMGSZ = 640  # ultralytics' default imgsz (ultralytics.cfg DEFAULT_CFG_DICT["imgsz"]), checked in tests
# Postprocessing that reproduces ultralytics' COCO mAP (its DetectionValidator defaults: conf 0.001,
# iou 0.7, max_det 300, multi-label NMS). Predict mode uses conf 0.25; pass conf= to change it.
VAL_NMS = {"conf": 0.001, "iou": 0.7, "max_det": 300, "multi_label": True}


def _spec(name: str, yaml: str, asset: str, description: str, references=(), notes: str = "") -> ModelSpec:
    return ModelSpec(
        name=name,
        task="object-detection",
        source="ultralytics",
        architecture=yaml,
        description=description,
        preprocess=ImagePreprocess(
            resize_size=None, crop_size=(IMGSZ, IMGSZ), interpolation="bilinear", antialias=True,
            mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), letterbox=True,
            source="ultralytics val defaults: imgsz 640, letterbox with grey 114, scale 1/255, RGB",
        ),
        num_classes=91,  # predictions use COCO category ids 1..90 (91-id space); the head has 80 classes
        input_size=(3, IMGSZ, IMGSZ),
        weights=Weights(
            kind="ultralytics",
            url=f"https://github.com/ultralytics/assets/releases/download/v8.3.0/{asset}",
            file_name=asset,
            sha256="",
            hash_source=UNPINNED,
            license="AGPL-3.0 (ultralytics; an Enterprise license is offered for other terms)",
            tag="v8.3.0",
            num_classes=80,
        ),
        references=tuple(references),
        notes=(notes + " Pretrained loading needs sha256=... until a hash is pinned (see module docstring). "
               "zoo's letterbox pads exactly as ultralytics' LetterBox (val settings) but resizes with PIL "
               "(antialiased bilinear) where ultralytics uses cv2 INTER_LINEAR, so pixels differ slightly "
               "(mean |diff| < 0.02 on the sample photos, tests/test_specs.py).").strip(),
        extra={"yaml": yaml, "nc": 80, "postprocess": dict(VAL_NMS)},
        builder=BuilderRef("zoo.models.ultralytics_nets:build"),
    )


_DOCS = "ultralytics docs, {} page, COCO val2017 at 640 (mAP50-95)"


@register_model("yolov3", task="object-detection", source="ultralytics")
def yolov3() -> ModelSpec:
    return _spec("yolov3", "yolov3u.yaml", "yolov3u.pt",
                 "YOLOv3u: YOLOv3 backbone/neck with ultralytics' anchor-free split head",
                 notes="ultralytics' YOLOv3 is the 'u' variant (anchor-free Detect head, as in YOLOv8), not the "
                       "original anchor-based Darknet model; its published mAP is not quoted here.")


@register_model("yolov8n", task="object-detection", source="ultralytics")
def yolov8n() -> ModelSpec:
    return _spec("yolov8n", "yolov8n.yaml", "yolov8n.pt", "YOLOv8 nano, anchor-free",
                 references=[Reference("box_map", 37.3, "COCO val2017", _DOCS.format("YOLOv8"))])


@register_model("yolo11n", task="object-detection", source="ultralytics")
def yolo11n() -> ModelSpec:
    return _spec("yolo11n", "yolo11n.yaml", "yolo11n.pt", "YOLO11 nano, anchor-free",
                 references=[Reference("box_map", 39.5, "COCO val2017", _DOCS.format("YOLO11"))])
