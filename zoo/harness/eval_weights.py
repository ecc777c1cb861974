"""The weights ``zoo eval`` scores: ``--checkpoint`` (a file or a folder, detected), else a task's default
checkpoint (text: the folder ``zoo train`` writes), else the spec's pretrained weights when the task takes
them by default. Random init is scored only when asked for (``--random-init`` / ``pretrained=False``): a
model that would otherwise fall back to random weights is refused with one line saying what to train or
give (``refuse_random_init``); when asked for, the row says "random-init" and the CLI says RANDOM WEIGHTS.

A file is a state dict (safetensors or ``torch.load(weights_only=True)``) loaded strictly into the model built
with random init; a folder is either a ``zoo train`` text checkpoint (``zoo_config.json`` + safetensors +
tokenizer, built with ``create_model(NAME, checkpoint=FOLDER)``), a ``zoo train`` image-classifier folder
(``zoo_vision.json``: its classes and input size, ``zoo.harness.train.vision_model``) or a folder holding one
``model.safetensors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import registry
from ..errors import UserError
from ..models.text.checkpoint import CONFIG, WEIGHTS, read_config
from ..results import sha256_file
from ..weights import load_state_dict
from .train.vision_model import VISION_CONFIG, load_trained_classifier, read_vision_config


@dataclass
class LoadedWeights:
    checkpoint: str | None = None  # the path scored (given or the task's default)
    checkpoint_sha256: str | None = None
    train: dict[str, Any] = field(default_factory=dict)  # how a zoo train checkpoint was trained


def load_checkpoint_into(model, path: str | Path) -> str:
    """Load a state dict file into ``model`` (ZooModel or its ``net``), strictly; return the file's sha256.

    Accepts the ZooModel's own keys (``net.…``), the library network's keys, and zoo training checkpoints
    (``model.…`` keys). Any missing, unexpected or mis-shaped tensor is a one-line UserError.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        sd = load_state_dict(path)
    except UserError:
        raise
    except Exception as e:  # safetensors raises its own types for truncated or foreign files
        first = str(e).splitlines()[0] if str(e) else ""
        raise UserError(f"{path}: not a readable checkpoint ({type(e).__name__}: {first})") from None
    if sd and all(k.startswith("model.") for k in sd if not k.startswith(("optim.", "rng.", "best."))):
        sd = {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}
    targets = [(model, model.state_dict()), (model.net, model.net.state_dict())]
    target, own = max(targets, key=lambda t: len(set(t[1]) & set(sd)))
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or bad:
        what = (f"shape mismatch: {bad[0]}" if bad else f"missing {missing[:3]}" if missing
                else f"unexpected {unexpected[:3]}")
        raise UserError(f"checkpoint {path} does not fit model {model.spec.name!r} ({what})")
    target.load_state_dict(sd)
    return sha256_file(path)


def _checkpoint_kind(path: Path, folder_ok: bool) -> tuple[str, Path]:
    """("folder", path) for a zoo train checkpoint folder, ("file", file) for a state dict."""
    if path.is_dir():
        if (path / VISION_CONFIG).is_file():  # a `zoo train` image-classifier folder (classes, input size)
            return "vision", path
        if (path / CONFIG).is_file():
            if not folder_ok:
                raise UserError(f"{path} is a text-model checkpoint folder ({CONFIG}); give this model a "
                                "state-dict file or a folder holding model.safetensors")
            return "folder", path
        if (path / WEIGHTS).is_file():
            return "file", path / WEIGHTS
        raise UserError(f"checkpoint folder {path} holds neither {CONFIG} nor {WEIGHTS}")
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist")
    return "file", path


def resolve_weights(spec, task, checkpoint=None, pretrained: bool | None = None) -> tuple[Any, bool]:
    """(checkpoint, pretrained) as ``build_model`` will use them: a given checkpoint, else the task's default
    one (unless ``pretrained=True``), else the spec's pretrained weights when the task scores them by default."""
    if checkpoint is None and pretrained is not True:
        checkpoint = task.default_checkpoint(spec)
    if pretrained is None:
        pretrained = checkpoint is None and task.pretrained_by_default(spec)
    return checkpoint, bool(pretrained) and checkpoint is None


def refuse_random_init(spec, task, checkpoint=None, pretrained: bool | None = None) -> None:
    """A one-line UserError when these settings would score random weights without ``pretrained=False``
    (``--random-init``): a task metric of an untrained network is noise, not a result."""
    checkpoint, use_pretrained = resolve_weights(spec, task, checkpoint, pretrained)
    if checkpoint is not None or use_pretrained or pretrained is False:
        return
    ways = []
    if spec.trainable and getattr(task, "dataset", ""):
        # published weights that are not a whole task model (MiniLM's encoder) are where training starts
        start = " --pretrained" if spec.weights is not None else ""
        ways.append(f"train it (`zoo train {spec.name} --task {task.dataset}{start}`)")
    ways.append("give --checkpoint FILE")
    raise UserError(f"{spec.name} has no trained weights here: {', or '.join(ways)}; or pass --random-init to "
                    "score random weights on purpose")


def build_model(name: str, task, *, checkpoint=None, pretrained: bool | None = None, device: str = "cpu",
                overrides: dict | None = None):
    """The ZooModel to evaluate, on ``device`` in eval mode, and what weights it holds (``LoadedWeights``)."""
    spec = registry.get_spec(name)
    checkpoint, pretrained = resolve_weights(spec, task, checkpoint, pretrained)
    info = LoadedWeights()
    kind, path = _checkpoint_kind(Path(checkpoint).expanduser(), task.folder_checkpoints) if checkpoint else (None, None)
    threads = torch.get_num_threads()
    kw = dict(overrides or {})
    if kind == "folder":
        kw["checkpoint"] = path
    if kind == "vision":
        model = load_trained_classifier(path, name)
    else:
        model = registry.create_model(name, pretrained=pretrained, **kw)
    torch.set_num_threads(threads)  # ultralytics lowers the process's thread count when it builds a model
    if kind == "file":
        model.weights_id = load_checkpoint_into(model, path)
    if checkpoint is not None:
        info = LoadedWeights(str(checkpoint), model.weights_id,
                             read_config(path).get("train", {}) if kind == "folder" else
                             read_vision_config(path).get("train", {}) if kind == "vision" else {})
    return model.to(device).eval(), info
