"""Text-model checkpoints: a folder with ``model.safetensors``, the tokenizer, and ``zoo_config.json``.

``zoo_config.json`` names the zoo model and architecture the weights belong to, the builder overrides, the
HF config (for transformers models) and the task it was trained on. Loading a checkpoint into another
architecture is a ``UserError``. Files are written to a folder beside the target and swapped in all or
nothing (zoo.io.replace_folder), so an interrupted save never leaves a half-written checkpoint, never
clobbers the old one until the new one is complete, and a kill between the renames is finished or undone
by the next run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...errors import UserError
from ...io import replace_folder
from ...offline import zoo_cache_dir
from ...weights.integrity import sha256_file

CONFIG = "zoo_config.json"
WEIGHTS = "model.safetensors"


def default_checkpoint_dir(name: str, task: str) -> Path:
    """Where ``zoo train NAME --task TASK`` writes and ``zoo eval`` looks: $ZOO_CACHE/checkpoints/NAME-TASK."""
    return zoo_cache_dir() / "checkpoints" / f"{name}-{task}"


def read_config(path: str | os.PathLike) -> dict:
    path = Path(path)
    cfg = path / CONFIG
    if not cfg.is_file() or not (path / WEIGHTS).is_file():
        raise UserError(f"{path} is not a zoo text checkpoint (expected {CONFIG} and {WEIGHTS} in it)")
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{cfg}: not valid JSON ({e.msg})") from None


def check_architecture(path: str | os.PathLike, spec) -> dict:
    cfg = read_config(path)
    if cfg.get("zoo_model") != spec.name or cfg.get("architecture") != spec.architecture:
        raise UserError(
            f"checkpoint {path} holds weights for {cfg.get('zoo_model')!r} ({cfg.get('architecture')}), "
            f"not {spec.name!r} ({spec.architecture}); pass a checkpoint trained for {spec.name}"
        )
    return cfg


def write_checkpoint(model, folder: Path, *, task: str, extra: dict | None = None) -> str:
    """The files of a checkpoint of ``model`` (a zoo text model) into the empty ``folder``; returns the
    weights' sha256. ``save_checkpoint`` and ``zoo train`` swap such a folder in (zoo.io.replace_folder)."""
    from safetensors.torch import save_model  # deferred: safetensors.torch imports torch

    save_model(model.net, str(folder / WEIGHTS))
    model.tokenizer.save_pretrained(str(folder))
    hf_config = getattr(model.net, "config", None)
    cfg = {
        "zoo_model": model.spec.name,
        "architecture": model.spec.architecture,
        "task": task,
        "overrides": model.overrides,
        "hf_config": hf_config.to_dict() if hf_config is not None else None,
        **(extra or {}),
    }
    (folder / CONFIG).write_text(json.dumps(cfg, indent=2, sort_keys=True, default=str))
    return sha256_file(folder / WEIGHTS)


def save_checkpoint(model, path: str | os.PathLike, *, task: str, extra: dict | None = None) -> Path:
    """Write ``model`` (a zoo text model) to ``path``, replacing any folder there all or nothing; returns the path."""
    path = Path(path)
    replace_folder(path, lambda folder: write_checkpoint(model, folder, task=task, extra=extra))
    return path


def load_weights(net, path: str | os.PathLike) -> str:
    """Load ``model.safetensors`` into ``net`` (strict); returns the file's sha256."""
    from safetensors.torch import load_model  # deferred: safetensors.torch imports torch

    f = Path(path) / WEIGHTS
    try:
        missing, unexpected = load_model(net, str(f), strict=False)
    except RuntimeError as e:  # shape mismatch
        raise UserError(f"{f}: weights do not fit this model ({str(e).splitlines()[0]})") from None
    if missing or unexpected:
        raise UserError(f"{f}: weights do not fit this model (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    return sha256_file(f)


def load_tokenizer_dir(path: str | os.PathLike):
    from transformers import PreTrainedTokenizerFast  # deferred: transformers is heavy

    return PreTrainedTokenizerFast.from_pretrained(str(path))
