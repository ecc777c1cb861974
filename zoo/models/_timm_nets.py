"""The builder behind the specs in ``timm.py`` (imports timm and torch)."""

from __future__ import annotations

import timm

from ..spec import ModelSpec
from ..weights import unpinned_label
from .image import ImageClassifier, build_image_classifier


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> ImageClassifier:
    model = build_image_classifier(spec, pretrained, overrides,
                                   lambda n: timm.create_model(spec.architecture, pretrained=False, num_classes=n))
    # timm's hub files are the ones zoo cannot always check: a file loaded under zoo.weights.allow_unpinned
    # (--allow-unpinned) is recorded as "unpinned:<sha256>", never as a checked sha256
    model.weights_id = unpinned_label(model.weights_id)
    return model
