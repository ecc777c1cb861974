"""Image preprocessing built from a spec's ``ImagePreprocess`` (the spec, not the caller, owns it).

Classification: resize the shorter side (PIL, antialiased) -> centre crop -> [0, 1] float -> normalize,
the same order and operations as torchvision's ``ImageClassification`` preset and timm's eval transform.
Detection with ``letterbox=True``: resize the longer side to the crop size keeping aspect ratio, pad to a
square with grey (114), no normalization (ultralytics' convention).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from .prediction.items import pil_open
from .spec import ImagePreprocess

_INTERP = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


def load_image(item: Any) -> Image.Image:
    """A PIL image in RGB from a PIL image or a path; a clear error for anything else."""
    if isinstance(item, Image.Image):
        return item.convert("RGB") if item.mode != "RGB" else item
    if isinstance(item, (str, Path)):
        with pil_open(item) as im:
            return im.convert("RGB")
    raise TypeError(f"expected a PIL image or an image path, got {type(item).__name__}")


class ImageTransform:
    """Callable PIL image -> float tensor (3, H, W), described by ``str()`` for result rows."""

    def __init__(self, pre: ImagePreprocess):
        if pre.interpolation not in _INTERP:
            raise ValueError(f"unknown interpolation {pre.interpolation!r}")
        self.pre = pre

    def __call__(self, item: Any) -> torch.Tensor:
        img = load_image(item)
        pre = self.pre
        if pre.letterbox:
            return letterbox(img, pre.crop_size)
        if pre.resize_size is not None:
            size = list(pre.resize_size) if isinstance(pre.resize_size, tuple) else [pre.resize_size]
            img = F.resize(img, size, interpolation=_INTERP[pre.interpolation], antialias=pre.antialias)
        img = F.center_crop(img, list(pre.crop_size))
        x = F.pil_to_tensor(img).float().div_(255)
        return F.normalize(x, mean=list(pre.mean), std=list(pre.std))

    def __repr__(self) -> str:
        p = self.pre
        if p.letterbox:
            return f"letterbox({p.crop_size[0]}x{p.crop_size[1]}, pad=114, scale=1/255)"
        return (
            f"resize({p.resize_size}, {p.interpolation}, antialias={p.antialias}, PIL) -> "
            f"center_crop({p.crop_size[0]}x{p.crop_size[1]}) -> to_float(/255) -> "
            f"normalize(mean={tuple(round(m, 4) for m in p.mean)}, std={tuple(round(s, 4) for s in p.std)})"
        )


def letterbox(img: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """Resize keeping aspect ratio so the image fits ``size`` (h, w), pad with 114 grey, centred.

    Returns a float tensor in [0, 1]; the scale and padding are recoverable with ``letterbox_params``.
    """
    h, w = size
    r, (pad_top, pad_left), (nh, nw) = letterbox_params(img.height, img.width, size)
    img = img.resize((nw, nh), Image.BILINEAR) if (nw, nh) != (img.width, img.height) else img
    x = torch.full((3, h, w), 114, dtype=torch.uint8)
    x[:, pad_top : pad_top + nh, pad_left : pad_left + nw] = F.pil_to_tensor(img)
    return x.float().div_(255)


def letterbox_params(img_h: int, img_w: int, size: tuple[int, int]) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """(scale, (pad_top, pad_left), (new_h, new_w)) for letterboxing an img_h x img_w image into ``size``."""
    h, w = size
    r = min(h / img_h, w / img_w)
    nh, nw = round(img_h * r), round(img_w * r)
    return r, ((h - nh) // 2, (w - nw) // 2), (nh, nw)
