"""``zoo eval --decode gpu``: JPEG bytes decoded on the GPU (``torchvision.io.decode_jpeg``, nvjpeg) and resized
there with tensor ops. Faster than PIL but not bit-identical to PIL's resize (the row says which ran). Both
pieces run on the CPU too, which is how they are tested without a GPU."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...spec import ImagePreprocess
from ...transforms import ImageTransform


@dataclass
class GpuTransform:
    """The spec's resize -> centre crop -> normalize on uint8 CUDA tensors (antialiased tensor resize)."""

    pre: ImagePreprocess

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode  # deferred: torchvision is heavy
        from torchvision.transforms.v2 import functional as F

        p = self.pre
        interp = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                  "nearest": InterpolationMode.NEAREST}[p.interpolation]
        if p.resize_size is not None:
            size = list(p.resize_size) if isinstance(p.resize_size, tuple) else [p.resize_size]
            img = F.resize(img, size, interpolation=interp, antialias=p.antialias)
        img = F.center_crop(img, list(p.crop_size))
        x = img.float().div_(255)
        return F.normalize(x, mean=list(p.mean), std=list(p.std))

    def __repr__(self) -> str:
        p = self.pre
        return (f"decode_jpeg(cuda) -> resize({p.resize_size}, {p.interpolation}, antialias={p.antialias}, tensor) -> "
                f"center_crop({p.crop_size[0]}x{p.crop_size[1]}) -> to_float(/255) -> "
                f"normalize(mean={tuple(round(m, 4) for m in p.mean)}, std={tuple(round(s, 4) for s in p.std)})")


def decode_on_gpu(raw: list[torch.Tensor], device: str) -> tuple[list[torch.Tensor | None], list[str | None]]:
    """Decode a batch of encoded images on the GPU; one bad file does not sink the batch."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg  # deferred: torchvision is heavy

    def one(data):
        if data[:2].tolist() == [0xFF, 0xD8]:  # JPEG magic
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        return decode_image(data, mode=ImageReadMode.RGB).to(device)  # PNG etc.: CPU decode

    try:
        if all(d[:2].tolist() == [0xFF, 0xD8] for d in raw):
            return list(decode_jpeg(raw, mode=ImageReadMode.RGB, device=device)), [None] * len(raw)
    except RuntimeError:
        pass
    imgs, errs = [], []
    for d in raw:
        try:
            imgs.append(one(d))
            errs.append(None)
        except RuntimeError as e:
            imgs.append(None)
            errs.append(f"decode error: {str(e).splitlines()[0]}")
    return imgs, errs


def gpu_batch(raw: list[torch.Tensor], idx: list[int], transform: GpuTransform, device: str):
    """(kept indices, input tensor or None, [(index, error)]) for one batch of encoded images."""
    imgs, errs = decode_on_gpu(raw, device)
    bad = [(i, e) for i, e in zip(idx, errs) if e is not None]
    keep = [k for k, e in enumerate(errs) if e is None]
    if not keep:
        return [], None, bad
    return [idx[k] for k in keep], torch.stack([transform(imgs[k]) for k in keep]), bad


def preprocess_repr(model) -> str | None:
    """The exact image transform the model's preprocess applies, as text (its ``repr``); None for non-images."""
    for attr in ("transform", "_transform", "image_transform"):
        t = getattr(model, attr, None)
        if t is not None:
            return repr(t)
    pre = model.spec.preprocess
    return repr(ImageTransform(pre)) if isinstance(pre, ImagePreprocess) else None
