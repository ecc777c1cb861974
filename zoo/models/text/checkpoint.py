"""Text-model checkpoints: a folder with ``model.safetensors``, the tokenizer, and ``zoo_config.json``.

``zoo_config.json`` names the zoo model and architecture the weights belong to, the builder overrides, the
HF config (for transformers models) and the task it was trained on. Loading a checkpoint into another
architecture is a ``UserError``. Files are written to a temporary folder beside the target and renamed
into place, so an interrupted save never leaves a half-written checkpoint and never clobbers the old one
until the new one is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ...errors import UserError
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


def save_checkpoint(model, path: str | os.PathLike, *, task: str, extra: dict | None = None) -> Path:
    """Write ``model`` (a zoo text model) to ``path`` atomically; returns the path."""
    from safetensors.torch import save_model  # deferred: safetensors.torch imports torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-tmp-"))
    try:
        save_model(model.net, str(tmp / WEIGHTS))
        model.tokenizer.save_pretrained(str(tmp))
        hf_config = getattr(model.net, "config", None)
        cfg = {
            "zoo_model": model.spec.name,
            "architecture": model.spec.architecture,
            "task": task,
            "overrides": model.overrides,
            "hf_config": hf_config.to_dict() if hf_config is not None else None,
            **(extra or {}),
        }
        (tmp / CONFIG).write_text(json.dumps(cfg, indent=2, sort_keys=True, default=str))
        old = None
        if path.exists():
            old = path.parent / f".{path.name}-old-{os.getpid()}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
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
