"""An image classifier made ready for training on an ImageFolder, and the checkpoint folder it is saved in.

    model = prepare_classifier("efficientnet_lite0", data.class_names, pretrained=True, image_size=128)
    save_vision_checkpoint(model, out, info)    # out/model.safetensors + out/zoo_vision.json
    model = load_trained_classifier(out)        # the same ZooModel back, ready for zoo eval / explain

The head: the network's last ``nn.Linear`` (timm: ``get_classifier()``), replaced by a fresh one with as many
outputs as the data has classes (the pretrained backbone is kept). The model's spec is replaced to match: its
``num_classes``, ``extra["class_names"]`` (what ``zoo eval`` checks an ImageFolder's class names against)
and its preprocessing: resize the image to ``image_size`` (no crop: CIFAR-sized images are upscaled whole),
the pretrained weights' interpolation, mean and std.

Freezing and feature extraction for training are ``zoo.harness.train.vision_model``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ... import registry
from ...errors import UserError
from ...io import replace_folder
from ...results import sha256_file
from ...spec import ImagePreprocess, ModelSpec
from ...transforms import ImageTransform

VISION_CONFIG = "zoo_vision.json"
WEIGHTS = "model.safetensors"


def head_of(net: nn.Module) -> tuple[nn.Module, str]:
    """(the classifier ``nn.Linear``, its dotted name): timm's ``get_classifier()``, else the last Linear."""
    if hasattr(net, "get_classifier") and isinstance(net.get_classifier(), nn.Linear):
        target = net.get_classifier()
        return target, next(n for n, m in net.named_modules() if m is target)
    linears = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError(f"{type(net).__name__} has no nn.Linear head to replace")
    name, module = linears[-1]
    return module, name


def _set_module(net: nn.Module, dotted: str, module: nn.Module) -> None:
    parent, _, leaf = dotted.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, leaf, module)


def replace_head(net: nn.Module, num_classes: int) -> nn.Linear:
    """A fresh ``Linear(in_features, num_classes)`` in place of the head; torchvision Inception's auxiliary
    classifier is dropped (it would need its own loss)."""
    if getattr(net, "aux_logits", False):
        net.aux_logits, net.AuxLogits = False, None
    old, name = head_of(net)
    new = nn.Linear(old.in_features, num_classes)
    _set_module(net, name, new)
    return new


def train_preprocess(spec, image_size: int) -> ImagePreprocess:
    """Resize the whole image to ``image_size`` square, with the pretrained weights' interpolation/mean/std."""
    pre = spec.preprocess
    return ImagePreprocess(resize_size=(image_size, image_size), crop_size=(image_size, image_size),
                           interpolation=pre.interpolation, antialias=True, mean=pre.mean, std=pre.std,
                           source=f"{spec.name} mean/std/interpolation; whole image resized to {image_size}px")


def prepare_classifier(name: Any, class_names: list[str], *, pretrained: bool, image_size: int,
                       seed: int | None = None):
    """The registered classifier ``name`` (or its spec) with a fresh head for ``class_names`` (pretrained
    backbone or random init), its spec and preprocessing set for ``image_size`` px inputs."""
    spec = name if isinstance(name, ModelSpec) else registry.get_spec(name)
    name = spec.name
    if spec.task != "image-classification":
        raise UserError(f"{name} is a {spec.task} model, not an image classifier")
    if pretrained and spec.weights is None:
        raise UserError(f"{name} has no pretrained weights; train it from scratch with --random-init")
    if seed is not None:
        torch.manual_seed(seed)
    model = registry.build(spec, pretrained=pretrained)
    if seed is not None:
        torch.manual_seed(seed)  # the head's init does not depend on how much the builder drew
    replace_head(model.net, len(class_names))
    set_classes(model, class_names, image_size)
    return model


def set_classes(model, class_names: list[str], image_size: int) -> None:
    """Point the model's spec and preprocessing at the trained label set and input size."""
    spec = model.spec
    pre = train_preprocess(spec, image_size)
    model.spec = dataclasses.replace(spec, num_classes=len(class_names), preprocess=pre,
                                     input_size=(3, image_size, image_size),
                                     extra={**spec.extra, "class_names": list(class_names)})
    model.transform = ImageTransform(pre)


def write_vision_checkpoint(model, folder: Path, info: dict[str, Any]) -> str:
    """``folder/model.safetensors`` (the network's state dict) and ``folder/zoo_vision.json`` into an empty
    folder; returns the weights' sha256."""
    from safetensors.torch import save  # deferred: heavy third-party import

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    (folder / WEIGHTS).write_bytes(save(tensors))
    pre = model.spec.preprocess
    config = {"model": model.spec.name, "task": "image-classification", "class_names": model.spec.extra["class_names"],
              "image_size": pre.crop_size[0], "preprocess": repr(model.transform), **info}
    (folder / VISION_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    return sha256_file(folder / WEIGHTS)


def save_vision_checkpoint(model, out: Path, info: dict[str, Any], record=None) -> str:
    """The checkpoint folder ``out`` (weights + config) replaced all or nothing (zoo.io.replace_folder), with
    ``record(sha256)`` (the caller's row) run before the swap; returns the weights' sha256."""
    return replace_folder(out, lambda folder: write_vision_checkpoint(model, folder, info), record)


def read_vision_config(folder: str | Path) -> dict | None:
    """The folder's ``zoo_vision.json``, or None when it is not a vision training checkpoint."""
    path = Path(folder) / VISION_CONFIG
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None


def checkpoint_spec(spec, checkpoint) -> Any:
    """``spec`` as a vision checkpoint folder changes it (classes, input size); else ``spec`` unchanged."""
    cfg = read_vision_config(checkpoint) if checkpoint is not None and Path(checkpoint).is_dir() else None
    if cfg is None:
        return spec
    if cfg.get("model") != spec.name:
        raise UserError(f"{checkpoint} was trained from {cfg.get('model')!r}, not {spec.name!r}")
    pre = train_preprocess(spec, int(cfg["image_size"]))
    return dataclasses.replace(spec, num_classes=len(cfg["class_names"]), preprocess=pre,
                               extra={**spec.extra, "class_names": list(cfg["class_names"])})


def load_trained_classifier(folder: str | Path, name: Any = None, device: str = "cpu"):
    """The classifier a ``zoo train`` vision checkpoint folder holds, in eval mode on ``device``; its
    ``weights_id`` is the sha256 of ``model.safetensors`` and ``model.spec.extra["class_names"]`` its labels."""
    from safetensors.torch import load_file  # deferred: heavy third-party import


    folder = Path(folder).expanduser()
    cfg = read_vision_config(folder)
    if cfg is None or not (folder / WEIGHTS).is_file():
        raise UserError(f"{folder} is not a vision training checkpoint ({VISION_CONFIG} + {WEIGHTS})")
    spec = name if isinstance(name, ModelSpec) else None  # the caller's spec, when it resolved the name
    name = spec.name if spec is not None else name
    if name is not None and cfg.get("model") != name:
        raise UserError(f"{folder} was trained from {cfg.get('model')!r}, not {name!r}")
    model = prepare_classifier(spec or cfg["model"], cfg["class_names"], pretrained=False,
                               image_size=int(cfg["image_size"]))
    try:
        model.net.load_state_dict(load_file(str(folder / WEIGHTS)))
    except (RuntimeError, OSError) as e:
        raise UserError(f"{folder / WEIGHTS} does not fit {cfg['model']} ({str(e).splitlines()[0]})") from None
    model.weights_id = sha256_file(folder / WEIGHTS)
    return model.to(device).eval()
