"""The network behind ``hf:`` specs: transformers' AutoModelForImageClassification (imports torch, transformers)."""

from __future__ import annotations

from ...spec import ModelSpec
from ..image import ImageClassifier, build_image_classifier


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> ImageClassifier:
    """Built from the cached config (random init); with ``pretrained`` the snapshot's safetensors file, verified
    by zoo.weights, is loaded into it. transformers never reads the weight file itself (no pickle path)."""
    from transformers import AutoConfig, AutoModelForImageClassification

    def make_net(num_classes: int):
        cfg = AutoConfig.from_pretrained(spec.extra["snapshot"])
        if num_classes != spec.num_classes:
            cfg.num_labels = num_classes
        return AutoModelForImageClassification.from_config(cfg)

    return build_image_classifier(spec, pretrained, overrides, make_net)
