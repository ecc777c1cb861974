"""torchvision networks behind the specs in ``torchvision.py``: the detector wrapper and both builders.

Imports torch and torchvision; ``create_model`` imports this module through the spec's ``BuilderRef``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch
import torchvision.models as tvm
import torchvision.models.detection as tvd
from torchvision.models.detection.image_list import ImageList
from torchvision.transforms import functional as F

from ..errors import UserError
from ..spec import ModelSpec
from ..transforms import load_image
from .image import ImageClassifier, ImageModel, build_image_classifier, fetch_state_dict, sample_images
from .base import RANDOM_INIT, Batch
from .torchvision import detector_postprocess, detector_preprocess


def build_classifier(spec: ModelSpec, pretrained: bool = False, **overrides) -> ImageClassifier:
    kwargs = dict(spec.extra.get("builder_kwargs", {}))
    return build_image_classifier(spec, pretrained, overrides,
                                  lambda n: getattr(tvm, spec.architecture)(weights=None, num_classes=n, **kwargs))


class TorchvisionDetector(ImageModel):
    """A torchvision COCO detector split into three stages the harness can time separately.

    preprocess: PIL/path -> [0, 1] float tensor -> the model's own ``GeneralizedRCNNTransform`` on CPU
        (normalize with the spec's mean/std, resize: shorter side to ``min_size`` capped at ``max_size``,
        or a fixed size for SSD; pad the batch to a multiple of ``size_divisible``).
        -> ``{"images": (B, 3, H, W), "image_sizes": (B, 2) long}``.
    forward: the network: backbone (+FPN) and heads, plus anchor generation; for Faster R-CNN also the
        region proposal network, whose proposal NMS is part of the network, and the RoI box head.
        Returns the raw head outputs (no box decoding, no final NMS).
    postprocess: torchvision's own ``postprocess_detections`` (box decoding, score threshold, per-class
        NMS, top-k) and ``transform.postprocess`` (boxes back to original-image pixels), then plain lists.
        Labels are COCO category ids (the 91-id space) as torchvision's COCO weights produce them.

    ``preprocess -> forward -> postprocess`` returns exactly what ``self.net(images)`` returns in eval mode
    (tests/test_models.py checks this).
    """

    stage_names = {"preprocess": "resize + normalize", "postprocess": "box decoding + NMS"}

    def __init__(self, spec: ModelSpec, net: torch.nn.Module, weights_id: str = RANDOM_INIT):
        super().__init__(spec, net, weights_id)
        self.kind = spec.extra["detector"]

    @torch.no_grad()
    def preprocess(self, items: Sequence[Any]) -> Batch:
        if not len(items):
            raise ValueError("preprocess needs at least one image")
        imgs = [F.pil_to_tensor(load_image(it)).float().div_(255) for it in items]
        image_list, _ = self.net.transform(imgs)
        sizes = torch.tensor(image_list.image_sizes, dtype=torch.long)
        meta = [{"orig_size": (int(x.shape[-2]), int(x.shape[-1]))} for x in imgs]
        return Batch({"images": image_list.tensors, "image_sizes": sizes}, meta)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, Any]:
        sizes = [(int(h), int(w)) for h, w in inputs["image_sizes"].tolist()]
        images = ImageList(inputs["images"], sizes)
        net = self.net
        features = net.backbone(images.tensors)
        if isinstance(features, torch.Tensor):
            features = {"0": features}
        if self.kind == "rcnn":
            proposals, _ = net.rpn(images, features)
            box_features = net.roi_heads.box_roi_pool(features, proposals, images.image_sizes)
            box_features = net.roi_heads.box_head(box_features)
            class_logits, box_regression = net.roi_heads.box_predictor(box_features)
            return {"class_logits": class_logits, "box_regression": box_regression, "proposals": proposals,
                    "image_sizes": images.image_sizes}
        features = list(features.values())
        head = net.head(features)
        anchors = net.anchor_generator(images, features)
        out = {"head": head, "anchors": anchors, "image_sizes": images.image_sizes}
        if self.kind == "retinanet":  # per-level split, as RetinaNet.forward does before decoding
            out["anchors_per_level"] = [x.size(2) * x.size(3) for x in features]
        return out

    @torch.no_grad()
    def postprocess(self, outputs: dict[str, Any], batch: Batch) -> list[dict]:
        net, sizes = self.net, outputs["image_sizes"]
        if self.kind == "rcnn":
            boxes, scores, labels = net.roi_heads.postprocess_detections(
                outputs["class_logits"], outputs["box_regression"], outputs["proposals"], sizes)
            dets = [{"boxes": b, "scores": s, "labels": l} for b, s, l in zip(boxes, scores, labels)]
        elif self.kind == "retinanet":
            head, anchors = outputs["head"], outputs["anchors"]
            hw = outputs["anchors_per_level"]
            a = head["cls_logits"].size(1) // sum(hw)
            split = [n * a for n in hw]
            head = {k: list(v.split(split, dim=1)) for k, v in head.items()}
            anchors = [list(x.split(split)) for x in anchors]
            dets = net.postprocess_detections(head, anchors, sizes)
        else:  # ssd
            dets = net.postprocess_detections(outputs["head"], outputs["anchors"], sizes)
        dets = net.transform.postprocess(dets, sizes, [m["orig_size"] for m in batch.meta])
        return [
            {"boxes": d["boxes"].float().cpu().tolist(), "scores": d["scores"].float().cpu().tolist(),
             "labels": [int(x) for x in d["labels"].cpu().tolist()]}
            for d in dets
        ]

    def example_items(self, n: int = 1) -> list:
        return sample_images(n)


def _detector_net(spec: ModelSpec, **kwargs):
    return getattr(tvd, spec.architecture)(weights=None, weights_backbone=None, num_classes=spec.num_classes, **kwargs)


_DETECTOR_OVERRIDES = ("min_size", "max_size", "score_thresh", "nms_thresh", "detections_per_img", "topk_candidates")


def build_detector(spec: ModelSpec, pretrained: bool = False, **overrides) -> TorchvisionDetector:
    """Random init: weights=None, weights_backbone=None. Pretrained: the same network, then the COCO state dict.

    Overrides go to the torchvision builder (``min_size``/``max_size`` change the resize; thresholds change
    postprocessing); the returned model's spec records the preprocessing actually used.
    """
    bad = set(overrides) - set(_DETECTOR_OVERRIDES)
    if bad:
        raise UserError(f"{spec.name}: unknown overrides {sorted(bad)} (supported: {', '.join(_DETECTOR_OVERRIDES)})")
    kwargs = dict(overrides)
    if spec.extra["detector"] == "rcnn" and "topk_candidates" in kwargs:
        raise UserError(f"{spec.name}: topk_candidates applies to SSD and RetinaNet only")
    if spec.extra["detector"] == "rcnn":  # FasterRCNN names its thresholds box_*
        kwargs = {("box_" + k if k in ("score_thresh", "nms_thresh", "detections_per_img") else k): v
                  for k, v in kwargs.items()}
    state, weights_id = fetch_state_dict(spec) if pretrained else (None, RANDOM_INIT)  # verify before building
    net = _detector_net(spec, **kwargs)
    if state is not None:
        # torchvision builds pretrained detectors with FrozenBatchNorm2d (no num_batches_tracked) and, for
        # these V1 weights, eps=0.0 (torchvision's overwrite_eps); same arithmetic in eval mode.
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise UserError(f"{spec.name}: weight file does not fit the network "
                            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        if spec.extra.get("bn_eps") is not None:
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eps = spec.extra["bn_eps"]
    if "min_size" in overrides or "max_size" in overrides:
        spec = dataclasses.replace(spec, preprocess=detector_preprocess(net, spec.preprocess.source))
    if overrides:  # record the postprocessing settings actually in effect
        spec = dataclasses.replace(spec, extra={**spec.extra, "postprocess": detector_postprocess(net)})
    return TorchvisionDetector(spec, net, weights_id)
