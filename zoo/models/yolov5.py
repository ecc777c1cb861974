"""YOLOv5n with the official COCO weights, on zoo's own network: the spec (data, torch-free).

The weight file is Ultralytics' release ``yolov5n.pt`` (v6.1 weights, re-published in v7.0), a full pickle
of the YOLOv5 repository's model object. zoo imports neither that repository nor the ``yolov5`` package:
the file is hash-checked, read by zoo's restricted unpickler (``zoo.weights.unpickle``) and its tensors are
mapped onto zoo's own network. Wrapper, builder and loading: ``_yolov5_nets.py``; network: ``_yolov5_arch.py``.
Get the file with ``zoo fetch yolov5n`` (online) or ``zoo fetch yolov5n --from FILE`` (a copy from elsewhere).
"""

from __future__ import annotations

from ..registry import register_model
from ..spec import BuilderRef, ImagePreprocess, ModelSpec, Reference, Weights

IMGSZ = 640
# YOLOv5 val.py (mAP): conf 0.001, IoU 0.6, at most 300 boxes, multi-label. detect.py: conf 0.25, IoU 0.45,
# at most 1000 boxes, best class per box.
EVAL_NMS = {"conf": 0.001, "iou": 0.6, "max_det": 300, "multi_label": True}
PREDICT_NMS = {"conf": 0.25, "iou": 0.45, "max_det": 1000, "multi_label": False}
SHA256 = "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3"
URL = "https://github.com/ultralytics/yolov5/releases/download/v7.0/yolov5n.pt"
_README = "ultralytics/yolov5 README (v7.0), pretrained checkpoints table"


@register_model("yolov5n", task="object-detection", source="zoo")
def yolov5n() -> ModelSpec:
    return ModelSpec(
        name="yolov5n",
        task="object-detection",
        source="zoo",
        architecture="YOLOv5n v6.x (models/yolov5n.yaml: depth 0.33, width 0.25), zoo's own torch modules",
        description="YOLOv5 nano, anchor-based, official COCO weights (v6.1) loaded without the YOLOv5 code",
        preprocess=ImagePreprocess(
            resize_size=None, crop_size=(IMGSZ, IMGSZ), interpolation="bilinear", antialias=True,
            mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), letterbox=True,
            source="YOLOv5 val.py/detect.py: imgsz 640, letterbox (grey 114), RGB / 255; here a square 640 "
                   "letterbox (auto=False) for every image",
        ),
        num_classes=91,  # predictions use COCO category ids 1..90; the head has 80 classes
        input_size=(3, IMGSZ, IMGSZ),
        weights=Weights(
            kind="ultralytics", url=URL, file_name="yolov5n.pt", sha256=SHA256,
            hash_source="sha256 of the v7.0 release asset, recorded identically by three unrelated public "
                        "projects (one pins this URL to it)",
            license="AGPL-3.0 (ultralytics/yolov5; GPL-3.0 at the v6.1 commit)", tag="v7.0", num_classes=80,
        ),
        references=(
            Reference("box_map", 28.0, "COCO val2017", _README, note="640 px, YOLOv5 val.py (rect batches)"),
            Reference("map50", 45.7, "COCO val2017", _README, note="640 px, YOLOv5 val.py (rect batches)"),
        ),
        notes="Weights: a full pickle read by zoo's restricted unpickler (no code from it runs). Eval NMS as "
              "val.py (conf 0.001, IoU 0.6, max 300, multi-label); create_model('yolov5n', nms='predict') uses "
              "detect.py's (conf 0.25, IoU 0.45, best class per box). Square letterbox and PIL resizing differ "
              "slightly from YOLOv5's own pipeline. Published: 1.9 M params, 4.5 GFLOPs at 640.",
        extra={"nc": 80, "depth_multiple": 0.33, "width_multiple": 0.25, "postprocess": dict(EVAL_NMS)},
        builder=BuilderRef("zoo.models.yolov5_nets:build"),
    )
