"""``torchvision:<name>[.<WEIGHTS_TAG>]``: any torchvision classifier or (Faster R-CNN / RetinaNet / SSD) detector.

The spec is read from the weight enum (``torchvision.models.get_model_weights(name)``; without a tag its
DEFAULT): preprocessing from ``weights.transforms()``, class count from ``meta["categories"]``, the file's
url and the sha256 prefix in its name, and ``meta["_metrics"]`` as the reference (torchvision's own figure
for those exact weights). Detectors go through the same reader as the registered ones
(``zoo.models.torchvision.detector_spec``). Segmentation, video, optical-flow and quantized models are
refused in one line: zoo has no wrapper for their outputs.
"""

from __future__ import annotations

import dataclasses
import importlib

from ...errors import UserError
from ...spec import BuilderRef, ModelSpec
from ..torchvision import COCO_NOTE, detector_spec, tv_metrics, weights_from_tv
from ..vision import IMAGENET_NOTE, preprocess_from_torchvision
from ._common import (
    cached_catalog,
    library_version,
    measure_cost,
    measure_model_cost,
    not_handled,
    unknown,
)

# torchvision submodule -> the task its models do (the top level holds the image classifiers)
_MODULES = {"": "image-classification", "detection": "object-detection", "segmentation": "semantic-segmentation",
            "video": "video-classification", "optical_flow": "optical-flow", "quantization": "quantized-classification"}
_DETECTOR_KINDS = {"fasterrcnn_": "rcnn", "retinanet_": "retinanet", "ssd": "ssd"}
# what torchvision's own builders pass when they load these weights (see inception_v3 in zoo.models.torchvision)
_PRETRAINED_KWARGS = {"inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
                      "googlenet": {"transform_input": True, "aux_logits": True, "init_weights": False}}
# torchvision's builders set BatchNorm eps to 0.0 after loading these (overwrite_eps); zoo's detector builder too
_EPS_ZERO = {("FasterRCNN_ResNet50_FPN_Weights", "COCO_V1"), ("RetinaNet_ResNet50_FPN_Weights", "COCO_V1")}


def _task_of(name: str) -> str | None:
    import torchvision.models as tvm  # deferred: torchvision imports torch

    for sub, task in _MODULES.items():
        module = importlib.import_module("torchvision.models" + (f".{sub}" if sub else ""))
        if name in tvm.list_models(module=module):
            return task
    return None


def _weights(name: str, arch: str, tag: str):
    import torchvision.models as tvm

    enum = tvm.get_model_weights(arch)
    if not tag:
        return enum.DEFAULT
    try:
        return enum[tag]
    except KeyError:
        raise unknown("torchvision", f"{arch}.{tag}", [f"{arch}.{w.name}" for w in enum],
                      what="weights tag") from None


def resolve(rest: str) -> ModelSpec:
    import torchvision.models as tvm

    name = f"torchvision:{rest}"
    arch, _, tag = rest.partition(".")
    task = _task_of(arch)
    if task is None:
        raise unknown("torchvision", arch, tvm.list_models())
    if task == "object-detection":
        return _detector(name, arch, _weights(name, arch, tag))
    if task != "image-classification":
        raise not_handled(name, task)
    return _classifier(name, arch, _weights(name, arch, tag))


def _builder_kwargs(arch: str, w) -> dict:
    """The settings torchvision's own builder takes from these weights (``_ovewrite_named_param`` there)."""
    kwargs = dict(_PRETRAINED_KWARGS.get(arch, {}))
    if arch.startswith("vit_"):  # SWAG weights run at 384 / 518, not the default 224
        kwargs["image_size"] = w.meta["min_size"][0]
    if arch.startswith("maxvit_"):
        kwargs["input_size"] = tuple(w.meta["min_size"])
    return kwargs


def _classifier(name: str, arch: str, w) -> ModelSpec:
    import torchvision.models as tvm

    pre = preprocess_from_torchvision(w)
    num_classes = len(w.meta["categories"])
    kwargs = _builder_kwargs(arch, w)
    input_size = (3, *pre.crop_size)
    params, flops = measure_cost(lambda: tvm.get_model(arch, weights=None, num_classes=num_classes, **kwargs),
                                 input_size)
    refs = tv_metrics(w, "ImageNet-1K", "ImageNet-1K val (50k images, single centre crop)",
                      {"acc@1": "top1", "acc@5": "top5"}) if "ImageNet-1K" in w.meta.get("_metrics", {}) else ()
    return ModelSpec(
        name=name, task="image-classification", source="torchvision", architecture=arch,
        description=f"torchvision {arch}, {type(w).__name__}.{w.name} (derived from torchvision "
                    f"{library_version('torchvision')})",
        preprocess=pre, num_classes=num_classes, input_size=input_size,
        weights=weights_from_tv(w, IMAGENET_NOTE), references=refs, params=params, flops=flops,
        notes="derived from torchvision's weight enum; the reference is torchvision's meta['_metrics'] for "
              "these weights",
        extra={"derived": "torchvision", "builder_kwargs": kwargs, "recipe": w.meta.get("recipe", "")},
        builder=BuilderRef("zoo.models._torchvision_nets:build_classifier"),
    )


def _detector_kind(arch: str) -> str | None:
    return next((k for prefix, k in _DETECTOR_KINDS.items() if arch.startswith(prefix)), None)


def _detector(name: str, arch: str, w) -> ModelSpec:
    kind = _detector_kind(arch)
    if kind is None:
        raise UserError(f"{name}: zoo's torchvision detector wrapper runs "
                        f"{', '.join(p + '*' for p in _DETECTOR_KINDS)} models, not {arch}")
    enum_name = type(w).__name__
    spec = detector_spec(arch, enum_name, w.name, kind, f"torchvision {arch}, {enum_name}.{w.name} (derived)",
                         bn_eps=0.0 if (enum_name, w.name) in _EPS_ZERO else None)
    assert COCO_NOTE in spec.weights.license  # the family's reader: COCO weights, COCO ids
    spec = dataclasses.replace(spec, name=name, extra={**spec.extra, "derived": "torchvision"})
    params, flops = measure_model_cost(spec)
    return dataclasses.replace(spec, params=params, flops=flops)


def catalog() -> list[dict]:
    return cached_catalog("torchvision", _build_catalog)


def _build_catalog() -> list[dict]:
    import torchvision.models as tvm  # deferred: seconds; cached per torchvision version by cached_catalog

    out = []
    for sub, task in _MODULES.items():
        module = importlib.import_module("torchvision.models" + (f".{sub}" if sub else ""))
        for arch in tvm.list_models(module=module):
            w = tvm.get_model_weights(arch).DEFAULT
            crop = w.transforms.keywords.get("crop_size") if hasattr(w.transforms, "keywords") else None
            runs = task == "image-classification" or (task == "object-detection" and _detector_kind(arch) is not None)
            out.append({"name": f"torchvision:{arch}", "task": task if runs else None, "library_task": task,
                        "source": "torchvision",
                        "input": f"{crop}x{crop}" if isinstance(crop, int) else "",
                        "classes": len(w.meta.get("categories") or []) or None, "weights": w.name,
                        "tags": [x.name for x in tvm.get_model_weights(arch)]})
    return out
