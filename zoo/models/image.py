"""The image networks' shared wrapper pieces (imports torch): the ImageNet classifier wrapper, its builder
steps, and the one place pretrained weight files are resolved, verified and loaded.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import torch

from .. import weights as zw
from ..errors import UserError
from ..spec import ModelSpec
from ..transforms import ImageTransform, letterbox_params, load_image
from .base import RANDOM_INIT, Batch, ZooModel, requested_topk
from .vision import sample_image_files, sample_images


def fetch_state_dict(spec: ModelSpec) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict, sha256 of the file) for the spec's weights, from the local cache via zoo.weights.

    zoo.weights verifies the file against the spec's hash before anything is loaded, and loads with
    safetensors or ``torch.load(weights_only=True)``. Offline with the file missing it raises
    ``WeightsUnavailable`` naming the file and ``zoo fetch NAME``.
    """
    if spec.weights is None:
        raise UserError(f"{spec.name} has no pretrained weights registered; use pretrained=False")
    path = zw.ensure_weights(spec)
    return zw.load_state_dict(path), zw.known_sha256(path)  # hashed once, by the check above


def build_image_classifier(spec: ModelSpec, pretrained: bool, overrides: dict,
                           make_net: Callable[[int], torch.nn.Module]) -> "ImageClassifier":
    """The classifier builders' shared steps: ``num_classes`` override (random init only), weights verified
    before the network ``make_net(num_classes)`` is built, then loaded into it."""
    num_classes = overrides.pop("num_classes", spec.num_classes)
    if pretrained and num_classes != spec.num_classes:
        raise UserError(f"{spec.name}: pretrained weights have {spec.num_classes} classes, not {num_classes}")
    if overrides:
        raise UserError(f"{spec.name}: unknown overrides {sorted(overrides)} (supported: num_classes)")
    state, weights_id = fetch_state_dict(spec) if pretrained else (None, RANDOM_INIT)  # verify before building
    net = make_net(num_classes)
    if state is not None:
        net.load_state_dict(state)
    if num_classes != spec.num_classes:
        spec = dataclasses.replace(spec, num_classes=num_classes)
    return ImageClassifier(spec, net, weights_id)


class ImageModel(ZooModel):
    """An image model's items as stored are image files: ``example_files`` gives the sample JPEGs and
    ``decode`` reads them to PIL RGB (the decode stage ``zoo bench`` times before preprocess)."""

    def example_files(self, n: int = 1) -> list:
        return sample_image_files(n)

    def decode(self, items: Sequence[Any]) -> list:
        return [load_image(it) for it in items]


class ImageClassifier(ImageModel):
    """An ImageNet-style classifier: resize -> centre crop -> normalize (from the spec), network, softmax top-5.

    preprocess: PIL/path -> float tensor (B, 3, H, W) on CPU (zoo.transforms.ImageTransform)
    forward:    the library network alone -> logits (B, num_classes)
    postprocess: softmax, top-5 -> ``{"label": int, "topk": [[class, prob], ...]}``
    """

    topk = 5

    def __init__(self, spec: ModelSpec, net: torch.nn.Module, weights_id: str = RANDOM_INIT):
        super().__init__(spec, net, weights_id)
        self.transform = ImageTransform(spec.preprocess)

    def preprocess(self, items: Sequence[Any]) -> Batch:
        if not len(items):
            raise ValueError("preprocess needs at least one image")
        return Batch(torch.stack([self.transform(it) for it in items]), [{} for _ in items])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.net(inputs)
        return out.logits if hasattr(out, "logits") else out  # torchvision InceptionOutputs in train mode

    def postprocess(self, outputs: torch.Tensor, batch: Batch) -> list[dict]:
        probs = outputs.float().softmax(dim=-1).cpu()
        top_p, top_i = probs.topk(min(requested_topk(batch, self.topk), probs.shape[-1]), dim=-1)
        return [
            {"label": int(i[0]), "topk": [[int(c), float(p)] for c, p in zip(i.tolist(), pr.tolist())]}
            for i, pr in zip(top_i, top_p)
        ]

    def example_items(self, n: int = 1) -> list:
        return sample_images(n)


class LetterboxDetector(ImageModel):
    """The stages YOLO-style detectors share; subclasses add ``forward`` and ``postprocess`` (their own NMS).

    preprocess: PIL/path -> letterbox to the spec's crop size (aspect kept, grey 114 padding, centred) ->
        [0, 1] float tensor (B, 3, H, W); meta keeps each image's scale, padding and original size.
    ``to_original(boxes, meta)`` maps xyxy boxes from letterboxed-input pixels back to the original image.
    """

    stage_names = {"preprocess": "letterbox", "postprocess": "NMS"}

    def __init__(self, spec: ModelSpec, net: torch.nn.Module, weights_id: str = RANDOM_INIT):
        super().__init__(spec, net, weights_id)
        self.transform = ImageTransform(spec.preprocess)
        self.nms = dict(spec.extra["postprocess"])

    def preprocess(self, items: Sequence[Any]) -> Batch:
        if not len(items):
            raise ValueError("preprocess needs at least one image")
        xs, meta = [], []
        for it in items:
            img = load_image(it)
            r, (top, left), _ = letterbox_params(img.height, img.width, self.spec.preprocess.crop_size)
            xs.append(self.transform(img))
            meta.append({"orig_size": (img.height, img.width), "scale": r, "pad": (top, left)})
        return Batch(torch.stack(xs), meta)

    @staticmethod
    def to_original(boxes: torch.Tensor, meta: dict) -> torch.Tensor:
        """xyxy boxes in letterboxed-input pixels -> original-image pixels, clamped to the image."""
        (top, left), (h, w), scale = meta["pad"], meta["orig_size"], meta["scale"]
        out = boxes.clone()
        out[:, [0, 2]] = ((boxes[:, [0, 2]] - left) / scale).clamp(0, w)
        out[:, [1, 3]] = ((boxes[:, [1, 3]] - top) / scale).clamp(0, h)
        return out

    def example_items(self, n: int = 1) -> list:
        return sample_images(n)
