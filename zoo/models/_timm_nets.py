"""The builder behind the specs in ``timm.py`` (imports timm and torch)."""

from __future__ import annotations

import timm

from ..spec import ModelSpec
from ._image import ImageClassifier, build_image_classifier


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> ImageClassifier:
    return build_image_classifier(spec, pretrained, overrides,
                                  lambda n: timm.create_model(spec.architecture, pretrained=False, num_classes=n))
