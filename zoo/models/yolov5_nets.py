"""The YOLOv5 wrapper and builder behind the spec in ``yolov5.py``; the network is ``_yolov5_arch.py``.

The weight file is Ultralytics' release ``yolov5n.pt`` (v6.1 weights, re-published in v7.0): a full
pickle of the YOLOv5 repository's ``models.yolo.Model``. zoo imports neither that repository nor the
``yolov5`` package and never unpickles code: the file is hash-checked first (``zoo.weights``), then read by
``zoo.weights.unpickle.load_restricted``, which maps exactly the classes the file names (listed in
``STAND_INS``) to inert stubs and refuses every other global. The stubs' recorded parameters and buffers
are mapped one-to-one, by name and shape, onto ``_yolov5_arch.YOLOv5`` (fp16 -> fp32); a missing, extra or
mis-shaped tensor is a one-line error. The checkpoint's anchors come in with the state dict
(``model.24.anchors``), its strides from the pickled Detect head (checked against the network's).

Pre/postprocessing as YOLOv5's val.py / detect.py, with one stated difference: every image is letterboxed
to a 640 x 640 square (grey 114, centred; auto=False), where val.py uses rectangular batches and detect.py
the minimal rectangle; resizing is PIL's antialiased bilinear (YOLOv5: cv2 INTER_AREA when shrinking).
Then RGB / 255; the head decodes (sigmoid, grid, anchors); score = objectness x class probability;
``torchvision.ops.batched_nms`` per class; boxes mapped back to original-image pixels; labels as COCO
category ids (91-id space).
"""

from __future__ import annotations

import dataclasses

import torch

from ..datasets.detection import COCO80_TO_91
from ..errors import UserError
from ..spec import ModelSpec
from ..weights import ensure_weights, known_sha256
from ..weights.unpickle import Stub, load_restricted, module_state_dict
from .image import LetterboxDetector
from .yolov5_arch import BN_EPS, STRIDES, YOLOv5
from .base import RANDOM_INIT, Batch
from .yolov5 import EVAL_NMS, PREDICT_NMS

MAX_NMS = 30000  # YOLOv5's cap on boxes going into NMS (highest scores kept)

# Every class the release pickle names (shared/weights/MANIFEST.md), each read as an inert stub.
STAND_INS = (
    "models.yolo.Model", "models.yolo.Detect",
    *(f"models.common.{n}" for n in ("Bottleneck", "C3", "Concat", "Conv", "SPPF")),
    "torch.nn.modules.activation.SiLU", "torch.nn.modules.batchnorm.BatchNorm2d",
    "torch.nn.modules.container.ModuleList", "torch.nn.modules.container.Sequential",
    "torch.nn.modules.conv.Conv2d", "torch.nn.modules.pooling.MaxPool2d", "torch.nn.modules.upsampling.Upsample",
)


class YOLOv5Detector(LetterboxDetector):
    """decode: image file -> PIL RGB. preprocess (letterbox): to imgsz square, [0, 1] RGB (B, 3, imgsz, imgsz);
    meta keeps scale and padding (``LetterboxDetector``). forward: the network with Detect's decoding ->
    (B, anchors, 85): cx, cy, w, h (input pixels), obj, 80 cls. postprocess (NMS): YOLOv5's NMS (settings from
    spec.extra["postprocess"]), boxes back in original pixels, labels as COCO category ids."""

    @property
    def float_under_int8(self) -> tuple[str, ...]:
        """Detect's decoding (sigmoid, grid and anchor arithmetic: pixels beside probabilities in one tensor)
        stays in float under int8 quantization, as ultralytics' OpenVINO export keeps its head's arithmetic;
        the head's 1x1 convolutions are quantized."""
        return (f"net.model.{len(self.net.model) - 1}",)

    @torch.no_grad()
    def postprocess(self, outputs: torch.Tensor, batch: Batch) -> list[dict]:
        preds = []
        for out, m in zip(outputs.float().cpu(), batch.meta):
            boxes, scores, cls = nms(out, **self.nms)
            preds.append({"boxes": self.to_original(boxes, m).tolist(), "scores": scores.tolist(),
                          "labels": [COCO80_TO_91[int(c)] for c in cls.tolist()]})
        return preds


def nms(pred: torch.Tensor, conf: float, iou: float, max_det: int, multi_label: bool):
    """YOLOv5's non_max_suppression for one image's (anchors, 5 + nc) rows -> (xyxy boxes, scores, classes).

    Rows with objectness <= conf are dropped; score = obj x cls; multi-label keeps every (box, class) with
    score > conf, else the best class per box; at most MAX_NMS candidates by score; class-wise NMS
    (torchvision.ops.batched_nms) at IoU ``iou``; at most ``max_det`` kept, highest score first.
    """
    from torchvision.ops import batched_nms  # deferred: torchvision is heavy

    x = pred[pred[:, 4] > conf]
    cls_scores = x[:, 5:] * x[:, 4:5]
    cx, cy, w, h = x[:, 0], x[:, 1], x[:, 2], x[:, 3]
    box = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1)
    if multi_label:
        i, j = (cls_scores > conf).nonzero(as_tuple=False).T
        box, score, cls = box[i], cls_scores[i, j], j
    else:
        score, cls = cls_scores.max(1)
        keep = score > conf
        box, score, cls = box[keep], score[keep], cls[keep]
    if len(score) > MAX_NMS:
        top = score.argsort(descending=True)[:MAX_NMS]
        box, score, cls = box[top], score[top], cls[top]
    keep = batched_nms(box, score, cls, iou)[:max_det]
    return box[keep], score[keep], cls[keep]


def _stub_child(stub: Stub, *path: str) -> Stub:
    for name in path:
        state = stub.state if isinstance(stub, Stub) and isinstance(stub.state, dict) else {}
        stub = (state.get("_modules") or {}).get(name)
    if not isinstance(stub, Stub):
        raise UserError(f"the checkpoint has no module {'.'.join(path)}")
    return stub


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """(state dict, Detect strides) of a YOLOv5 release checkpoint, read with the restricted unpickler."""
    ckpt = load_restricted(path, STAND_INS)
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(model, Stub) or model.qualname != "models.yolo.Model":
        raise UserError(f"{path} holds no YOLOv5 model (expected a pickled models.yolo.Model under 'model')")
    layers = _stub_child(model, "model")
    detect = _stub_child(layers, str(len(layers.state["_modules"]) - 1))
    stride = detect.state.get("stride") if detect.qualname == "models.yolo.Detect" else None
    if not isinstance(stride, torch.Tensor):
        raise UserError(f"{path}: the last layer is not a YOLOv5 Detect head with strides")
    eps = {s.state.get("eps") for s in _walk(model) if s.qualname.endswith(".BatchNorm2d")}
    if eps != {BN_EPS}:
        raise UserError(f"{path}: BatchNorm eps {sorted(eps)} differs from YOLOv5's {BN_EPS}")
    return module_state_dict(model), stride.float()


def _walk(stub: Stub):
    yield stub
    for child in (stub.state.get("_modules") or {}).values() if isinstance(stub.state, dict) else ():
        if isinstance(child, Stub):
            yield from _walk(child)


def map_state(net: YOLOv5, state: dict[str, torch.Tensor], where: str) -> None:
    """Load ``state`` into ``net``: every tensor by name and shape, one-to-one, floats to fp32."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    bad = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
           if k in state and state[k].shape != v.shape]
    if missing or extra or bad:
        parts = [f"{label} {len(ks)} ({', '.join(ks[:3])}{', …' if len(ks) > 3 else ''})"
                 for label, ks in (("missing", missing), ("unexpected", extra), ("mis-shaped", bad)) if ks]
        raise UserError(f"{where} does not fit zoo's YOLOv5 network: {'; '.join(parts)}")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)


def _load_pretrained(spec: ModelSpec, net: YOLOv5) -> str:
    path = ensure_weights(spec)  # sha256 checked before anything is unpickled
    state, stride = read_checkpoint(path)
    if stride.tolist() != list(STRIDES):
        raise UserError(f"{path}: Detect strides {stride.tolist()} differ from the network's {list(STRIDES)}")
    map_state(net, state, str(path))
    net.detect.stride.copy_(stride)
    return known_sha256(path)


_OVERRIDES = ("imgsz", "nms", "conf", "iou", "max_det", "multi_label")


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> YOLOv5Detector:
    bad = set(overrides) - set(_OVERRIDES)
    if bad:
        raise UserError(f"{spec.name}: unknown overrides {sorted(bad)} (supported: {', '.join(_OVERRIDES)})")
    preset = overrides.get("nms", "eval")
    if preset not in ("eval", "predict"):
        raise UserError(f"{spec.name}: nms must be 'eval' or 'predict', got {preset!r}")
    imgsz = int(overrides.get("imgsz", spec.input_size[-1]))
    if imgsz <= 0 or imgsz % max(STRIDES):
        raise UserError(f"{spec.name}: imgsz must be a positive multiple of {max(STRIDES)}, got {imgsz}")
    net = YOLOv5(nc=spec.extra["nc"], depth=spec.extra["depth_multiple"], width=spec.extra["width_multiple"])
    weights_id = _load_pretrained(spec, net) if pretrained else RANDOM_INIT
    post = {**(EVAL_NMS if preset == "eval" else PREDICT_NMS),
            **{k: overrides[k] for k in ("conf", "iou", "max_det", "multi_label") if k in overrides}}
    spec = dataclasses.replace(
        spec, input_size=(3, imgsz, imgsz),
        preprocess=dataclasses.replace(spec.preprocess, crop_size=(imgsz, imgsz)),
        extra={**spec.extra, "postprocess": post})
    return YOLOv5Detector(spec, net.eval(), weights_id)
