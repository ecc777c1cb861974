"""ultralytics YOLO detectors: yolov3 (the anchor-free YOLOv3u), yolov8n, yolo11n.

Built from the model yaml ultralytics ships (``ultralytics/cfg/models/...``), so no weights are needed
for random init. ``zoo.offline.configure_ultralytics()`` runs before ultralytics is imported, and the
torch thread count is restored after building (ultralytics may lower it; see PERF-NOTES.md).

Weights are ultralytics' release assets: pickled checkpoints. zoo loads one only after its sha256 equals
a pinned value, and then with ultralytics' restricted loader (``torch.load(weights_only=True)`` with an
allow-list of ultralytics/torch classes), and copies its tensors into the yaml-built network. The
official sha256 values cannot be known offline, so none is pinned yet: ``create_model(name,
pretrained=True)`` refuses unless the caller passes ``sha256=`` for the file they fetched.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch

from ..errors import UserError
from ..registry import register_model
from ..spec import ImagePreprocess, ModelSpec, Reference, Weights
from ._vision import fetch_state_dict, sample_images
from .base import RANDOM_INIT, Batch, ZooModel

UNPINNED = "unknown offline: pinned on first verified fetch"
IMGSZ = 640  # ultralytics' default imgsz (ultralytics.cfg DEFAULT_CFG_DICT["imgsz"]), checked in tests
# Postprocessing that reproduces ultralytics' COCO mAP (its DetectionValidator defaults: conf 0.001,
# iou 0.7, max_det 300, multi-label NMS). Predict mode uses conf 0.25; pass conf= to change it.
VAL_NMS = {"conf": 0.001, "iou": 0.7, "max_det": 300, "multi_label": True}


def _import_ultralytics():
    """ultralytics, imported with zoo's offline settings and the caller's torch thread count kept."""
    from ..offline import configure_ultralytics

    configure_ultralytics()
    threads = torch.get_num_threads()
    import ultralytics  # noqa: F401
    from ultralytics.nn.tasks import DetectionModel

    torch.set_num_threads(threads)
    return DetectionModel


def coco80_to_coco91() -> list[int]:
    """COCO category id (1..90) for each of ultralytics' 80 class indices (ultralytics' own table)."""
    from ultralytics.data.converter import coco80_to_coco91_class

    return list(coco80_to_coco91_class())


class YOLODetector(ZooModel):
    """An ultralytics YOLO detector split into the stages the harness times.

    preprocess: PIL/path -> letterbox to imgsz x imgsz (aspect kept, grey 114 padding, centred) -> [0, 1]
        float tensor (B, 3, imgsz, imgsz); meta keeps the scale and padding per image.
    forward: the network, including the Detect head's box decoding (DFL + anchor points, so boxes come out
        as cx, cy, w, h in input pixels) and class sigmoid -> (B, 4 + 80, anchors). No NMS.
    postprocess: ultralytics' ``non_max_suppression`` (conf/iou/max_det from the spec, multi-label),
        boxes mapped back to original-image pixels, class index -> COCO category id (91-id space).
    """

    def __init__(self, spec: ModelSpec, net: torch.nn.Module, weights_id: str = RANDOM_INIT):
        super().__init__(spec, net, weights_id)
        from ..transforms import ImageTransform

        self.transform = ImageTransform(spec.preprocess)
        self.nms = dict(spec.extra["postprocess"])
        self.coco_ids = coco80_to_coco91()

    def preprocess(self, items: Sequence[Any]) -> Batch:
        from ..transforms import letterbox_params, load_image

        if not len(items):
            raise ValueError("preprocess needs at least one image")
        xs, meta = [], []
        for it in items:
            img = load_image(it)
            r, (top, left), _ = letterbox_params(img.height, img.width, self.spec.preprocess.crop_size)
            xs.append(self.transform(img))
            meta.append({"orig_size": (img.height, img.width), "scale": r, "pad": (top, left)})
        return Batch(torch.stack(xs), meta)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.net(inputs)
        return out[0] if isinstance(out, (list, tuple)) else out  # eval mode: (decoded, raw per-level maps)

    @torch.no_grad()
    def postprocess(self, outputs: torch.Tensor, batch: Batch) -> list[dict]:
        from ultralytics.utils.nms import non_max_suppression

        dets = non_max_suppression(outputs.float(), self.nms["conf"], self.nms["iou"],
                                   multi_label=self.nms["multi_label"], max_det=self.nms["max_det"])
        preds = []
        for d, m in zip(dets, batch.meta):
            d = d.cpu()
            boxes = d[:, :4].clone()
            top, left = m["pad"]
            boxes[:, [0, 2]] = (boxes[:, [0, 2]] - left) / m["scale"]
            boxes[:, [1, 3]] = (boxes[:, [1, 3]] - top) / m["scale"]
            h, w = m["orig_size"]
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, w)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, h)
            preds.append({"boxes": boxes.tolist(), "scores": d[:, 4].tolist(),
                          "labels": [self.coco_ids[int(c)] for c in d[:, 5].tolist()]})
        return preds

    def example_items(self, n: int = 1) -> list:
        return sample_images(n)


def _load_checkpoint_tensors(spec: ModelSpec, sha256: str | None) -> tuple[dict[str, torch.Tensor], str]:
    """State dict of a verified ultralytics checkpoint. Refuses when no sha256 is pinned or given."""
    pinned = spec.weights.sha256
    if not pinned and not sha256:
        raise UserError(
            f"{spec.name}: no sha256 is pinned for {spec.weights.file_name} (ultralytics publishes none); "
            f"fetch it, check it, and pass create_model({spec.name!r}, pretrained=True, sha256='<hex>')")
    if sha256 and pinned and sha256.lower() != pinned.lower():
        raise UserError(f"{spec.name}: sha256 {sha256} differs from the pinned {pinned}")
    if sha256 and not pinned:
        spec = dataclasses.replace(spec, weights=dataclasses.replace(
            spec.weights, sha256=sha256.lower(), hash_source="given by the caller"))
    from .. import weights as zw

    path = zw.ensure_weights(spec)  # verifies the hash before anything is unpickled
    from ultralytics.nn.tasks import torch_safe_load

    ckpt, _ = torch_safe_load(str(path), safe_only=True)  # weights_only=True + ultralytics' allow-list
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"{path} holds no ultralytics model")
    return {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}, zw.known_sha256(path)


_OVERRIDES = ("imgsz", "conf", "iou", "max_det", "sha256")


def _build(spec: ModelSpec, pretrained: bool = False, **overrides) -> YOLODetector:
    bad = set(overrides) - set(_OVERRIDES)
    if bad:
        raise UserError(f"{spec.name}: unknown overrides {sorted(bad)} (supported: {', '.join(_OVERRIDES)})")
    DetectionModel = _import_ultralytics()
    state, weights_id = (_load_checkpoint_tensors(spec, overrides.get("sha256")) if pretrained
                         else (None, RANDOM_INIT))  # verify before building
    threads = torch.get_num_threads()
    net = DetectionModel(spec.extra["yaml"], ch=3, nc=spec.extra["nc"], verbose=False)
    torch.set_num_threads(threads)
    if state is not None:
        net.load_state_dict(state)
    imgsz = int(overrides.get("imgsz", spec.input_size[-1]))
    stride = int(net.stride.max())
    if imgsz % stride:
        raise UserError(f"{spec.name}: imgsz must be a multiple of {stride}, got {imgsz}")
    post = {**spec.extra["postprocess"], **{k: overrides[k] for k in ("conf", "iou", "max_det") if k in overrides}}
    spec = dataclasses.replace(
        spec, input_size=(3, imgsz, imgsz),
        preprocess=dataclasses.replace(spec.preprocess, crop_size=(imgsz, imgsz)),
        extra={**spec.extra, "postprocess": post})
    return YOLODetector(spec, net.eval(), weights_id)


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
        builder=_build,
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
