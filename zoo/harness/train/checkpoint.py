"""The resumable training state: one safetensors file, ``last.safetensors``, written atomically.

It holds the model's state dict (keys ``model.*``), the optimizer's tensors (``optim.*``), the torch RNG state
(CPU, and CUDA when in use), the best epoch's weights under early stopping / keep_best (``best.*``), and in
the metadata: the whole TrainConfig (``config``, as nanoGPT saves its config), the optimizer's non-tensor
state, and the loop state (step / epoch / position in the epoch, early-stopping state, the history so far).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import UserError
from ...io import atomic_write_bytes
from .config import TRAJECTORY, TrainConfig

CHECKPOINT_NAME = "last.safetensors"


def _split_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list with a reference into ``tensors`` (JSON-able skeleton)."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_key_json(k), _split_state(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__":
                [_split_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    return obj


def _key_json(k: Any) -> Any:
    return k if isinstance(k, (str, int)) else str(k)


def _join_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _join_state(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_join_state(v, tensors) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(_join_state(v, tensors) for v in obj["__tuple__"])
    return obj


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
                    state: dict, best_state: dict[str, torch.Tensor] | None) -> None:
    from safetensors.torch import save  # deferred: heavy third-party import

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_skeleton = _split_state(optimizer.state_dict(), "optim", tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    for k, v in (best_state or {}).items():
        tensors[f"best.{k}"] = v
    seen: set[int] = set()  # safetensors refuses tensors that share memory; clone any that alias another
    for k, v in list(tensors.items()):
        ptr = v.untyped_storage().data_ptr() if v.numel() else -id(v)
        if ptr in seen:
            tensors[k] = v.clone()
        seen.add(ptr)
    meta = {"zoo_checkpoint": "1", "state": json.dumps(state), "optim": json.dumps(optim_skeleton),
            "config": json.dumps(config.settings())}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict, dict, dict[str, torch.Tensor]]:
    """(model state dict, optimizer state dict, loop state, other tensors) from a zoo checkpoint file; the
    loop state carries the run's TrainConfig settings under ``"config"``."""
    from safetensors import safe_open  # deferred: heavy third-party import
    from safetensors.torch import load_file

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for truncated / foreign files
        raise UserError(f"{path}: not a readable safetensors checkpoint ({e})") from None
    if meta.get("zoo_checkpoint") != "1":
        raise UserError(f"{path}: not a zoo training checkpoint (no zoo_checkpoint metadata)")
    model_sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    optim_sd = _join_state(json.loads(meta["optim"]), tensors)
    other = {k: v for k, v in tensors.items() if not k.startswith(("model.", "optim."))}
    state = json.loads(meta["state"])
    state["config"] = json.loads(meta.get("config", "{}"))
    return model_sd, optim_sd, state, other


def check_resumable(path: Path, saved: dict, config: TrainConfig, world_size: int) -> None:
    """The checkpoint's run must have taken the same path: same trajectory settings, same process count."""
    now = {**config.settings(), "world_size": world_size}
    was = {**saved.get("config", {}), "world_size": saved.get("world_size")}
    for k in (*TRAJECTORY, "world_size"):
        if k in was and was[k] != now[k]:
            raise UserError(f"{path}: checkpoint was made with {k}={was[k]}, this run has {k}={now[k]}; "
                            "resume with the same settings or use another checkpoint folder")


def load_model_state(model: nn.Module, sd: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad_shape = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    if missing or unexpected or bad_shape:
        what = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                else f"shape mismatch at {bad_shape[:3]}")
        raise UserError(f"{path}: checkpoint is for another architecture ({what}); "
                        "use another checkpoint folder or resume=False")
    model.load_state_dict(sd)
