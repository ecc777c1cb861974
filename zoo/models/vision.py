"""Shared data of the image families (torchvision.py, timm.py, ultralytics.py): torch-free.

Not a family (the leading underscore keeps ``zoo.models`` from importing it as one): the sample photos
packaged with zoo, the ImageNet license note, and preprocessing read from the source libraries (run by spec
functions, whose results are precomputed into specs.json; see ``zoo.models.precomputed``). The image
networks' wrappers live in ``_image.py``, which imports torch.
"""

from __future__ import annotations

from pathlib import Path

from ..spec import ImagePreprocess

SAMPLE_IMAGES_DIR = Path(__file__).resolve().parents[1] / "data" / "images"
SAMPLE_IMAGES = ("bus.jpg", "zidane.jpg")  # see zoo/data/images/README.md for source and license

# Licenses as the sources state them; the ImageNet note applies to every ImageNet-trained checkpoint.
IMAGENET_NOTE = "trained on ImageNet-1K, whose terms limit use to non-commercial research and education"


def sample_images(n: int) -> list:
    """``n`` real RGB photos (PIL), cycling through the images packaged in zoo/data/images/."""
    from PIL import Image  # deferred: only models' example_items need it, not `import zoo`

    out = []
    for i in range(n):
        with Image.open(SAMPLE_IMAGES_DIR / SAMPLE_IMAGES[i % len(SAMPLE_IMAGES)]) as im:
            out.append(im.convert("RGB"))
    return out


def sample_image_files(n: int) -> list[Path]:
    """``n`` paths of the photos packaged in zoo/data/images/ (JPEG files, cycled): raw items as stored."""
    return [SAMPLE_IMAGES_DIR / SAMPLE_IMAGES[i % len(SAMPLE_IMAGES)] for i in range(n)]


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
    # deferred: timm and torchvision import torch; spec functions run only when specs are recomputed
    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg
    from torchvision import transforms as T

    cfg = get_pretrained_cfg(model_name)
    if cfg is None:
        raise ValueError(f"timm has no pretrained cfg named {model_name!r}")
    data = resolve_data_config(pretrained_cfg=cfg.to_dict())
    # center: resize the shorter side, centre crop; squash: resize to (h, w), then a no-op crop. Both are what
    # ImagePreprocess describes; "border" (resize the longer side, pad) is not.
    if data.get("crop_mode", "center") not in ("center", "squash"):
        raise ValueError(f"{model_name}: crop_mode {data['crop_mode']!r} is not supported (center or squash only)")
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
