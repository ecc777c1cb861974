"""Image preprocessing built from a spec's ``ImagePreprocess`` (the spec, not the caller, owns it).

Classification: resize the shorter side (PIL, antialiased) -> centre crop -> [0, 1] float -> normalize,
the same order and operations as torchvision's ``ImageClassification`` preset and timm's eval transform.
The PIL steps are ``zoo.prediction.image_ops`` (torchvision's rules for PIL images, which call PIL the same
way), shared with the export runtime; torchvision itself is not imported (it costs a second of start-up).
Detection with ``letterbox=True``: resize the longer side to the crop size keeping aspect ratio, pad to a
square with grey (114), no normalization (ultralytics' convention).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .prediction.image_ops import center_crop, resize
from .prediction.items import pil_open
from .spec import ImagePreprocess

_INTERP = ("bilinear", "bicubic", "nearest")


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
            img = resize(img, pre.resize_size, pre.interpolation)
        x = pil_to_tensor(center_crop(img, pre.crop_size)).float().div_(255)
        # as torchvision's normalize: in place, float32 mean/std per channel
        mean = torch.tensor(pre.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(pre.std, dtype=x.dtype).view(-1, 1, 1)
        return x.sub_(mean).div_(std)

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
    x[:, pad_top : pad_top + nh, pad_left : pad_left + nw] = pil_to_tensor(img)
    return x.float().div_(255)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 (C, H, W) tensor of a PIL image's pixels (torchvision's ``pil_to_tensor`` for 8-bit modes)."""
    x = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True))
    return (x.unsqueeze(-1) if x.ndim == 2 else x).permute(2, 0, 1).contiguous()


def letterbox_params(img_h: int, img_w: int, size: tuple[int, int]) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """(scale, (pad_top, pad_left), (new_h, new_w)) for letterboxing an img_h x img_w image into ``size``."""
    h, w = size
    r = min(h / img_h, w / img_w)
    nh, nw = round(img_h * r), round(img_w * r)
    return r, ((h - nh) // 2, (w - nw) // 2), (nh, nw)
