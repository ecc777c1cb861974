"""torchvision models: ImageNet classifiers (vgg16, resnet50, inception_v3) and COCO detectors
(ssd300_vgg16, ssdlite320_mobilenet_v3_large, fasterrcnn_resnet50_fpn, retinanet_resnet50_fpn).

Everything a spec says is read from torchvision's weight enums: the url, the sha256 prefix in the file
name, preprocessing from ``weights.transforms()`` (classifiers) or the built model's
``GeneralizedRCNNTransform`` (detectors), and reference metrics from ``weights.meta["_metrics"]``.
Paper figures are added where they matter, with the protocol they were measured under. Reading them
imports torchvision, so the specs are precomputed into specs.json (``zoo.models.precomputed``) and this
module stays torch-free; the networks' wrappers and builders live in ``_torchvision_nets.py``.
"""

from __future__ import annotations

import re

from ..registry import register_model
from ..spec import BuilderRef, ImagePreprocess, ModelSpec, Reference, Weights
from .vision import IMAGENET_NOTE, SAMPLE_IMAGES, SAMPLE_IMAGES_DIR, preprocess_from_torchvision

TV_LICENSE = "BSD-3-Clause (torchvision)"
COCO_NOTE = "trained on COCO train2017 (annotations CC BY 4.0; images under Flickr terms)"


def _weights_enum(enum_name: str, tag: str):
    # deferred: torchvision imports torch; spec functions run only when specs are recomputed
    import torchvision.models as tvm
    import torchvision.models.detection as tvd

    enum = getattr(tvm, enum_name, None) or getattr(tvd, enum_name)
    return enum[tag]


def weights_from_tv(w, license_note: str) -> Weights:
    """A torchvision weight as zoo Weights; torchvision publishes a sha256 prefix in the file name."""
    file_name = w.url.rsplit("/", 1)[-1]
    m = re.search(r"-([0-9a-f]{8,})\.pth$", file_name)
    if not m:
        raise ValueError(f"no hash prefix in torchvision file name {file_name!r}")
    return Weights(
        kind="url",
        url=w.url,
        file_name=file_name,
        sha256=m.group(1),
        hash_source="sha256 prefix in torchvision's file name (torch.hub check_hash convention)",
        license=f"{TV_LICENSE}; {license_note}",
        tag=w.name,
        num_classes=len(w.meta["categories"]),
    )


def tv_metrics(w, dataset_key: str, dataset: str, metrics: dict[str, str]) -> tuple[Reference, ...]:
    got = w.meta["_metrics"][dataset_key]
    src = f"torchvision {type(w).__name__}.{w.name}.meta['_metrics']['{dataset_key}']"
    return tuple(Reference(zoo_name, float(got[tv_name]), dataset, src) for tv_name, zoo_name in metrics.items())


# ---------------------------------------------------------------------------------------------------
# Classification


def _classifier_spec(name, enum_name, tag, description, references=(), builder_kwargs=None, notes="") -> ModelSpec:
    w = _weights_enum(enum_name, tag)
    pre = preprocess_from_torchvision(w)
    return ModelSpec(
        name=name,
        task="image-classification",
        source="torchvision",
        architecture=name,
        description=description,
        preprocess=pre,
        num_classes=len(w.meta["categories"]),
        input_size=(3, *pre.crop_size),
        weights=weights_from_tv(w, IMAGENET_NOTE),
        references=tv_metrics(w, "ImageNet-1K", "ImageNet-1K val (50k images, single centre crop)",
                               {"acc@1": "top1", "acc@5": "top5"}) + tuple(references),
        notes=notes,
        extra={"builder_kwargs": builder_kwargs or {}, "recipe": w.meta.get("recipe", "")},
        builder=BuilderRef("zoo.models._torchvision_nets:build_classifier"),
    )


@register_model("vgg16", task="image-classification", source="torchvision")
def vgg16() -> ModelSpec:
    return _classifier_spec(
        "vgg16", "VGG16_Weights", "IMAGENET1K_V1",
        "VGG-16 (configuration D), 138M params, ImageNet-1K",
        references=[Reference(
            "top5", 92.7, "ILSVRC-2014 test",
            "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, "
            "ICLR 2015 (arXiv:1409.1556), ILSVRC-2014 submission: 7.3% top-5 test error",
            note="ensemble of 7 networks with multi-crop/dense multi-scale evaluation; not a single-model, "
                 "single-crop figure and not comparable to torchvision's acc@5",
        )],
    )


@register_model("resnet50", task="image-classification", source="torchvision")
def resnet50() -> ModelSpec:
    paper = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (arXiv:1512.03385), Table 3"
    note = "single model, 10-crop testing (error 22.85% top-1, 6.71% top-5); torchvision's figure is 1 crop"
    return _classifier_spec(
        "resnet50", "ResNet50_Weights", "IMAGENET1K_V2",
        "ResNet-50 v1.5 (stride on the 3x3 conv), torchvision's improved training recipe",
        references=[
            Reference("top1", 77.15, "ImageNet-1K val", paper, note=note),
            Reference("top5", 93.29, "ImageNet-1K val", paper, note=note),
        ],
        notes="torchvision's resnet50 puts the stride-2 on the 3x3 conv (v1.5), the paper on the 1x1; "
              "IMAGENET1K_V2 weights come from a newer recipe than the paper's.",
    )


@register_model("inception_v3", task="image-classification", source="torchvision")
def inception_v3() -> ModelSpec:
    paper = "Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016 (arXiv:1512.00567)"
    note = "single model, single 299x299 crop (21.2% top-1 / 5.6% top-5 error, abstract and Table 3)"
    return _classifier_spec(
        "inception_v3", "Inception_V3_Weights", "IMAGENET1K_V1",
        "Inception-v3, 299x299 input, weights ported from the paper's TensorFlow model",
        references=[
            Reference("top1", 78.8, "ILSVRC-2012 val", paper, note=note),
            Reference("top5", 94.4, "ILSVRC-2012 val", paper, note=note),
        ],
        # what torchvision sets when it loads these weights: the ported model expects inputs scaled to
        # [-1, 1], so it re-maps ImageNet-normalized input inside the network (transform_input).
        builder_kwargs={"transform_input": True, "aux_logits": True, "init_weights": False},
        notes="built with transform_input=True (as torchvision does for these weights): the network maps the "
              "ImageNet-normalized input to the [-1, 1] scaling the ported weights expect. The auxiliary "
              "classifier is kept (its weights are in the file) but not run in eval mode; params include it.",
    )


# ---------------------------------------------------------------------------------------------------
# Detection


def detector_postprocess(net) -> dict:
    if hasattr(net, "roi_heads"):  # Faster R-CNN
        return {k: getattr(net.roi_heads, k) for k in ("score_thresh", "nms_thresh", "detections_per_img")}
    return {k: getattr(net, k) for k in ("score_thresh", "nms_thresh", "detections_per_img", "topk_candidates")}


def detector_preprocess(net, source: str) -> ImagePreprocess:
    t = net.transform
    fixed = t.fixed_size
    return ImagePreprocess(
        resize_size=(int(fixed[0]), int(fixed[1])) if fixed else int(t.min_size[-1]),
        crop_size=(int(fixed[0]), int(fixed[1])) if fixed else (int(t.max_size), int(t.max_size)),
        interpolation="bilinear",
        antialias=False,
        mean=tuple(float(m) for m in t.image_mean),
        std=tuple(float(s) for s in t.image_std),
        source=source,
    )


def detector_spec(name, enum_name, tag, kind, description, bn_eps=None, notes="") -> ModelSpec:
    # deferred: torch and torchvision; spec functions run only when specs are recomputed
    import torch
    import torchvision.models.detection as tvd
    from PIL import Image

    w = _weights_enum(enum_name, tag)
    num_classes = len(w.meta["categories"])
    with torch.device("meta"):  # read the transform's settings without allocating or initializing weights
        net = getattr(tvd, name)(weights=None, weights_backbone=None, num_classes=num_classes)
    t = net.transform
    pre = detector_preprocess(net, f"torchvision {name}(): model.transform ({type(t).__name__})")
    if t.fixed_size:
        resize_note = f"resized to exactly {t.fixed_size[0]}x{t.fixed_size[1]} (aspect ratio not kept)"
        input_size = (3, *pre.crop_size)
    else:
        # The network's input size varies per image; the spec's input_size is what the model's own transform
        # makes of the example image (zoo/data/images/bus.jpg), where cost.json's FLOPs are measured.
        with Image.open(SAMPLE_IMAGES_DIR / SAMPLE_IMAGES[0]) as im:
            w_img, h_img = im.size
        input_size = tuple(t([torch.zeros(3, h_img, w_img)])[0].tensors.shape[1:])
        resize_note = (f"shorter side resized to {t.min_size[-1]}, longer side capped at {t.max_size} "
                       f"(aspect ratio kept), batch padded to a multiple of {t.size_divisible}; the input size "
                       f"varies per image (crop_size holds the cap); input_size and FLOPs are for "
                       f"{SAMPLE_IMAGES[0]} ({w_img}x{h_img}) -> {input_size[2]}x{input_size[1]}")
    post = detector_postprocess(net)
    return ModelSpec(
        name=name,
        task="object-detection",
        source="torchvision",
        architecture=name,
        description=description,
        preprocess=pre,
        num_classes=num_classes,
        input_size=(3, *input_size[1:]),
        weights=weights_from_tv(w, COCO_NOTE),
        references=tv_metrics(w, "COCO-val2017", "COCO val2017", {"box_map": "box_map"}),
        notes=("preprocess: torchvision's GeneralizedRCNNTransform, tensor bilinear resize without antialias: "
               + resize_note + ". " + notes).strip(),
        extra={"detector": kind, "bn_eps": bn_eps, "postprocess": post, "recipe": w.meta.get("recipe", "")},
        builder=BuilderRef("zoo.models._torchvision_nets:build_detector"),
    )


@register_model("ssd300_vgg16", task="object-detection", source="torchvision")
def ssd300_vgg16() -> ModelSpec:
    return detector_spec("ssd300_vgg16", "SSD300_VGG16_Weights", "COCO_V1", "ssd",
                          "SSD300 with a VGG-16 backbone, COCO")


@register_model("ssdlite320_mobilenet_v3_large", task="object-detection", source="torchvision")
def ssdlite320_mobilenet_v3_large() -> ModelSpec:
    return detector_spec("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights", "COCO_V1", "ssd",
                          "SSDlite320 with a MobileNetV3-Large backbone, COCO")


@register_model("fasterrcnn_resnet50_fpn", task="object-detection", source="torchvision")
def fasterrcnn_resnet50_fpn() -> ModelSpec:
    return detector_spec("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights", "COCO_V1", "rcnn",
                          "Faster R-CNN, ResNet-50-FPN backbone, COCO", bn_eps=0.0,
                          notes="Random init uses BatchNorm2d (its affine weights count as params); torchvision's "
                                "pretrained build uses FrozenBatchNorm2d (buffers), so its meta num_params is lower.")


@register_model("retinanet_resnet50_fpn", task="object-detection", source="torchvision")
def retinanet_resnet50_fpn() -> ModelSpec:
    return detector_spec("retinanet_resnet50_fpn", "RetinaNet_ResNet50_FPN_Weights", "COCO_V1", "retinanet",
                          "RetinaNet, ResNet-50-FPN backbone, COCO", bn_eps=0.0,
                          notes="Random init uses BatchNorm2d (its affine weights count as params); torchvision's "
                                "pretrained build uses FrozenBatchNorm2d (buffers), so its meta num_params is lower.")
