"""Checkpoints of every kind, opened for ``load_model``, and whether a spec's weights are on disk.

A file is a state dict (safetensors or ``torch.load(weights_only=True)``) loaded strictly into the model built
with random init; a folder is either a ``zoo train`` text checkpoint (``zoo_config.json`` + safetensors +
tokenizer, built with ``create_model(NAME, checkpoint=FOLDER)``), a ``zoo train`` image-classifier folder
(``zoo_vision.json``: its classes and input size, ``zoo.harness.loading.vision``) or a folder holding one
``model.safetensors``.
"""

from __future__ import annotations

from pathlib import Path

from ... import registry
from ...errors import UserError
from ...models.text.checkpoint import CONFIG, WEIGHTS, read_config
from ...results import sha256_file
from ...weights import load_state_dict
from ...weights.sources import locations
from .vision import VISION_CONFIG, load_trained_classifier, read_vision_config


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
    """("folder", path) for a text ``zoo train`` folder, ("vision", path) for an image-classifier one,
    ("file", file) for a state dict."""
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


def open_checkpoint(spec, path: Path, task, overrides: dict | None = None):
    """(model ``spec`` holding the checkpoint at ``path``, how it was trained). ``task.folder_checkpoints``:
    whether a text ``zoo train`` folder is a checkpoint this task's models take."""
    kind, path = _checkpoint_kind(path, getattr(task, "folder_checkpoints", False))
    if kind == "vision":
        return load_trained_classifier(path, spec), (read_vision_config(path) or {}).get("train", {})
    kw = dict(overrides or {})
    if kind == "folder":
        kw["checkpoint"] = path
    model = registry.build(spec, pretrained=False, **kw)
    if kind == "file":
        model.weights_id = load_checkpoint_into(model, path)
        return model, {}
    return model, read_config(path).get("train", {})


def cached(spec) -> bool:
    """Whether a copy of the spec's weight file is already on disk (no download)."""
    try:
        return spec.weights is not None and any(loc.path.is_file() for loc in locations(spec.weights))
    except Exception:  # an unknown weights kind: treat as not cached
        return False
