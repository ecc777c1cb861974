"""timm ImageNet classifiers: timm/vgg16, timm/resnet50, timm/inception_v3.

Each name is pinned to one timm pretrained tag (``arch.tag``); preprocessing is read from that tag's
pretrained cfg through ``timm.data.resolve_data_config`` and ``create_transform``. Weights are the
``model.safetensors`` file of the tag's HF hub repo (timm's own default source for these tags).

References are the rows for these exact ``arch.tag`` names in timm's results-imagenet.csv (ImageNet-1k
val, 50,000 images), with the evaluation settings each row states (img_size, crop_pct, interpolation).
Reading the cfgs imports timm (and torch), so the specs are precomputed into specs.json
(``zoo.models.precomputed``); the builder lives in ``_timm_nets.py``.
"""

from __future__ import annotations

from ..registry import register_model
from ..spec import BuilderRef, ImagePreprocess, ModelSpec, Reference, Weights
from .vision import IMAGENET_NOTE, preprocess_from_timm

_HF_HASH_NOTE = ("not pinned here (unknown offline): the HF hub publishes the file's sha256 as its LFS oid, "
                 "and zoo.weights checks the cached file against that blob name")

# timm's own ImageNet-1k val results for these tags: arch.tag -> (top1, top5, img_size, crop_pct, interpolation),
# the row as published. The settings are kept because a row may be measured at timm's test_input_size, not
# at the cfg's input_size that zoo evaluates at (resnet50.a1_in1k: 288 vs 224).
TIMM_RESULTS_CSV = "timm results/results-imagenet.csv (huggingface/pytorch-image-models commit 0173a139), {tag}"
TIMM_RESULTS = {
    "vgg16.tv_in1k": (71.592, 90.384, 224, 0.875, "bilinear"),
    "resnet50.a1_in1k": (81.214, 95.102, 288, 1.0, "bicubic"),
    "inception_v3.tv_in1k": (77.434, 93.474, 299, 0.875, "bicubic"),
}


def _references(timm_name: str, pre: ImagePreprocess) -> tuple[Reference, ...]:
    top1, top5, size, pct, interp = TIMM_RESULTS[timm_name]
    src = TIMM_RESULTS_CSV.format(tag=timm_name)
    note = f"the row's settings: img_size {size}, crop_pct {pct}, {interp}"
    if (size, pct, interp) != (pre.crop_size[0], pre.crop_pct, pre.interpolation):
        note += (f"; zoo evaluates at the cfg's input_size, {pre.crop_size[0]} (crop_pct {pre.crop_pct}, "
                 f"{pre.interpolation}), so this figure is not the same test")
    return (Reference("top1", top1, "ImageNet-1K val", src, note=note),
            Reference("top5", top5, "ImageNet-1K val", src, note=note))


def _spec(name: str, timm_name: str, description: str, notes: str = "") -> ModelSpec:
    from timm.models import get_pretrained_cfg  # deferred: timm imports torch; runs when specs are recomputed

    cfg = get_pretrained_cfg(timm_name)
    pre = preprocess_from_timm(timm_name)
    return ModelSpec(
        name=name,
        task="image-classification",
        source="timm",
        architecture=timm_name,
        description=description,
        preprocess=pre,
        num_classes=cfg.num_classes,
        input_size=tuple(cfg.input_size),
        weights=Weights(
            kind="hf-hub",
            url=cfg.hf_hub_id,
            file_name=cfg.hf_hub_filename or "model.safetensors",
            sha256="",
            hash_source=_HF_HASH_NOTE,
            license=f"{cfg.license} (timm pretrained cfg); {IMAGENET_NOTE}",
            tag=cfg.tag,
            revision=None,  # timm's cfg names no revision: the repo's main branch
            num_classes=cfg.num_classes,
        ),
        references=_references(timm_name, pre),
        notes=notes,
        extra={"timm_origin_url": cfg.origin_url or cfg.url or "", "paper_ids": cfg.paper_ids or ""},
        builder=BuilderRef("zoo.models._timm_nets:build"),
    )


@register_model("timm/vgg16", task="image-classification", source="timm")
def vgg16() -> ModelSpec:
    return _spec("timm/vgg16", "vgg16.tv_in1k", "VGG-16 in timm (pre-logits as conv 'head'), torchvision's weights",
                 notes="timm's vgg16 runs the first two classifier layers as convolutions (ConvMlp), so it accepts "
                       "any input size; the tv_in1k weights are torchvision's IMAGENET1K_V1, re-keyed.")


@register_model("timm/resnet50", task="image-classification", source="timm")
def resnet50() -> ModelSpec:
    return _spec("timm/resnet50", "resnet50.a1_in1k", "ResNet-50 in timm, 'ResNet strikes back' A1 recipe weights",
                 notes="a1_in1k: trained at 224 with the RSB A1 recipe (Wightman et al. 2021, arXiv:2110.00476); "
                       "timm's cfg also lists a 288 test size, zoo evaluates at the cfg's input_size (224).")


@register_model("timm/inception_v3", task="image-classification", source="timm")
def inception_v3() -> ModelSpec:
    return _spec("timm/inception_v3", "inception_v3.tv_in1k", "Inception-v3 in timm, torchvision's ported weights",
                 notes="tv_in1k takes inputs normalized with mean=std=0.5 (timm's cfg), where torchvision's own "
                       "inception_v3 takes ImageNet mean/std and remaps inside the network (transform_input).")
