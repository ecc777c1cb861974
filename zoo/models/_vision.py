"""Shared pieces of the image families (torchvision.py, timm.py, ultralytics.py).

Not a family (the leading underscore keeps ``zoo.models`` from importing it as one): the sample photos
packaged with zoo, the image classifier wrapper, preprocessing read from the source libraries, and the
one place pretrained weight files are resolved and hashed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from ..spec import ImagePreprocess, ModelSpec
from ..transforms import ImageTransform
from .base import RANDOM_INIT, Batch, ZooModel

SAMPLE_IMAGES_DIR = Path(__file__).resolve().parents[1] / "data" / "images"
SAMPLE_IMAGES = ("bus.jpg", "zidane.jpg")  # see zoo/data/images/README.md for source and license

# Licenses as the sources state them; the ImageNet note applies to every ImageNet-trained checkpoint.
IMAGENET_NOTE = "trained on ImageNet-1K, whose terms limit use to non-commercial research and education"


def sample_images(n: int) -> list:
    """``n`` real RGB photos (PIL), cycling through the images packaged in zoo/data/images/."""
    from PIL import Image

    out = []
    for i in range(n):
        with Image.open(SAMPLE_IMAGES_DIR / SAMPLE_IMAGES[i % len(SAMPLE_IMAGES)]) as im:
            out.append(im.convert("RGB"))
    return out


def fetch_state_dict(spec: ModelSpec) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict, sha256 of the file) for the spec's weights, from the local cache via zoo.weights.

    zoo.weights verifies the file against the spec's hash before anything is loaded, and loads with
    safetensors or ``torch.load(weights_only=True)``. Offline with the file missing it raises
    ``WeightsUnavailable`` naming the file and ``zoo fetch NAME``.
    """
    from .. import weights as zw  # lazy: written alongside this module, and pulls in download code

    if spec.weights is None:
        from ..errors import UserError

        raise UserError(f"{spec.name} has no pretrained weights registered; use pretrained=False")
    path = zw.ensure_weights(spec)
    return zw.load_state_dict(path), zw.known_sha256(path)  # hashed once, by the check above


def preprocess_from_torchvision(weights) -> ImagePreprocess:
    """Read resize/crop/interpolation/antialias/mean/std from a torchvision weight's ``transforms()``."""
    t = weights.transforms()
    resize = list(t.resize_size)
    crop = list(t.crop_size)
    return ImagePreprocess(
        resize_size=resize[0] if len(resize) == 1 else tuple(resize),
        crop_size=(crop[0], crop[0]) if len(crop) == 1 else tuple(crop),
        interpolation=t.interpolation.value,
        antialias=bool(t.antialias),
        mean=tuple(float(m) for m in t.mean),
        std=tuple(float(s) for s in t.std),
        source=f"torchvision {type(weights).__name__}.{weights.name}.transforms()",
    )


def preprocess_from_timm(model_name: str) -> ImagePreprocess:
    """Read preprocessing from timm's pretrained cfg via ``resolve_data_config`` + ``create_transform``.

    The resize size is taken from the transform timm builds (it derives it from crop_pct), not recomputed.
    """
    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg
    from torchvision import transforms as T

    cfg = get_pretrained_cfg(model_name)
    if cfg is None:
        raise ValueError(f"timm has no pretrained cfg named {model_name!r}")
    data = resolve_data_config(pretrained_cfg=cfg.to_dict())
    if data.get("crop_mode", "center") != "center":
        raise ValueError(f"{model_name}: crop_mode {data['crop_mode']!r} is not supported (center only)")
    steps = create_transform(**data).transforms
    resize = next(s for s in steps if isinstance(s, T.Resize))
    crop = next(s for s in steps if isinstance(s, T.CenterCrop))
    size = resize.size if isinstance(resize.size, int) else tuple(resize.size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        size = size[0]
    return ImagePreprocess(
        resize_size=size,
        crop_size=tuple(crop.size),
        interpolation=resize.interpolation.value,
        antialias=bool(resize.antialias),
        mean=tuple(float(m) for m in data["mean"]),
        std=tuple(float(s) for s in data["std"]),
        crop_pct=float(data["crop_pct"]),
        source=f"timm resolve_data_config(pretrained_cfg={model_name!r}) -> create_transform()",
    )


class ImageClassifier(ZooModel):
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
        top_p, top_i = probs.topk(min(self.topk, probs.shape[-1]), dim=-1)
        return [
            {"label": int(i[0]), "topk": [[int(c), float(p)] for c, p in zip(i.tolist(), pr.tolist())]}
            for i, pr in zip(top_i, top_p)
        ]

    def example_items(self, n: int = 1) -> list:
        return sample_images(n)
