"""The ultralytics networks behind the specs in ``ultralytics.py``: the YOLO wrapper and its builder.

Imports torch; ultralytics itself is imported by ``import_ultralytics`` only (ultralytics_env.py), after
``zoo.offline.configure_ultralytics()`` has set the environment it reads at import.
"""

from __future__ import annotations

import dataclasses

import torch

from .. import weights as zw
from ..errors import UserError
from ..spec import ModelSpec
from .image import LetterboxDetector
from .base import RANDOM_INIT, Batch
from .ultralytics_env import import_ultralytics, keep_threads  # noqa: F401  (re-exported for the harness)


def coco80_to_coco91() -> list[int]:
    """COCO category id (1..90) for each of ultralytics' 80 class indices (ultralytics' own table)."""
    import_ultralytics()
    from ultralytics.data.converter import coco80_to_coco91_class  # deferred: after configure_ultralytics()

    return list(coco80_to_coco91_class())


class YOLODetector(LetterboxDetector):
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
        self.coco_ids = coco80_to_coco91()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.net(inputs)
        return out[0] if isinstance(out, (list, tuple)) else out  # eval mode: (decoded, raw per-level maps)

    @torch.no_grad()
    def postprocess(self, outputs: torch.Tensor, batch: Batch) -> list[dict]:
        from ultralytics.utils.nms import non_max_suppression  # deferred: after configure_ultralytics()

        dets = non_max_suppression(outputs.float(), self.nms["conf"], self.nms["iou"],
                                   multi_label=self.nms["multi_label"], max_det=self.nms["max_det"])
        preds = []
        for d, m in zip(dets, batch.meta):
            d = d.cpu()
            preds.append({"boxes": self.to_original(d[:, :4], m).tolist(), "scores": d[:, 4].tolist(),
                          "labels": [self.coco_ids[int(c)] for c in d[:, 5].tolist()]})
        return preds


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
    path = zw.ensure_weights(spec)  # verifies the hash before anything is unpickled
    import_ultralytics()
    from ultralytics.nn.tasks import torch_safe_load  # deferred: after configure_ultralytics()

    ckpt, _ = torch_safe_load(str(path), safe_only=True)  # weights_only=True + ultralytics' allow-list
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"{path} holds no ultralytics model")
    return {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}, zw.weights_id(path)


_OVERRIDES = ("imgsz", "conf", "iou", "max_det", "sha256")


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> YOLODetector:
    bad = set(overrides) - set(_OVERRIDES)
    if bad:
        raise UserError(f"{spec.name}: unknown overrides {sorted(bad)} (supported: {', '.join(_OVERRIDES)})")
    DetectionModel = import_ultralytics()
    state, weights_id = (_load_checkpoint_tensors(spec, overrides.get("sha256")) if pretrained
                         else (None, RANDOM_INIT))  # verify before building
    with keep_threads():
        net = DetectionModel(spec.extra["yaml"], ch=3, nc=spec.extra["nc"], verbose=False)
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
