"""The training loop shared by zoo's trainable models and the gradient-descent studies.

    from zoo.harness.train import train, set_seed
    set_seed(0)
    model = zoo.create_model("mlp", activation="relu")
    result = train(model, (x_train, y_train), loss_fn=nn.functional.cross_entropy,
                   optimizer="sgd", lr=0.1, batch_size=32, epochs=10, seed=0)
    result["history"][-1]["train_loss"], result["diverged"]

What it does, in order, each step: take the next batch of a per-epoch permutation seeded by
(seed, epoch); compute the loss (``loss_fn(model(x), y)``, or ``step_fn(model, batch)`` for models that
compute their own, e.g. seq2seq or QA); add the explicit L1/L2 penalties; backward; average gradients
across processes when running under torchrun; clip; set the scheduled learning rate; optimizer step.

Batch modes: ``batch_size=1`` is stochastic gradient descent, ``batch_size=N`` mini-batch, ``None`` or
``"full"`` full batch (one step per epoch). The last batch of an epoch may be smaller (``drop_last``).

Regularization, said precisely:
  ``weight_decay``: passed to the optimizer (coupled L2 gradient term for sgd/momentum/adam, decoupled
  for adamw); applies to every parameter.
  ``l1`` / ``l2``: explicit penalties added to the loss, ``l1 * sum|w| + l2 * sum w^2``, over weight
  tensors with 2 or more dimensions (not biases or norm scales).
  Dropout lives in the model (e.g. ``create_model("mlp", dropout=0.3)``).

Checkpoints (``checkpoint_dir``): one safetensors file, ``last.safetensors``, written atomically (temp
file + rename) every ``checkpoint_every`` steps and at the end of every epoch. It holds the model's
state dict (keys ``model.*``), the optimizer's tensors (``optim.*``), the torch RNG state (CPU, and CUDA
when in use), the best epoch's weights under early stopping (``best.*``), and, in the
metadata, the optimizer's non-tensor state, step / epoch / position in the epoch, early-stopping state
and the history so far. ``resume=True`` loads it and continues; since the data order is a function of
(seed, epoch) and the RNG state is restored, a run killed mid-epoch and resumed ends with the same weights
as an uninterrupted run (bit-for-bit on the same machine and thread count).

Data parallelism (``torchrun --nproc_per_node N``, gloo on CPU, nccl on CUDA): the process group is
initialized from torchrun's environment; parameters are broadcast from rank 0; each global batch of
``batch_size`` items is split across ranks; after backward the gradients are all-reduced and averaged,
which is what ``DistributedDataParallel`` does, done explicitly so that ``step_fn`` may call any
submodule. Each rank's loss is weighted by its share of the global batch, so the averaged gradient
equals the single-process gradient of the same global batch even when the last batch does not split
evenly. Only rank 0 prints and writes checkpoints. Dropout masks differ from a single-process run
(each rank draws its own), so exact equality holds for models without dropout. With ``max_time_s`` the
ranks share the slowest rank's clock (an all-reduce of the elapsed time after every step), so they all
stop at the same step. Every rank runs ``val_fn``; it must give every rank the same scores (e.g. compute
on rank 0 and broadcast) so that early-stopping decisions agree.

Mixed precision (``autocast_dtype``, e.g. ``torch.bfloat16``): the loss computation (forward and
``loss_fn`` / ``step_fn``) runs under ``torch.autocast`` on the training device's type; weights, gradients,
optimizer state, the L1/L2 penalties, validation and checkpoints stay in the parameters' dtype (fp32).

Validation and the kept weights: with ``val_data``, every epoch ends with a validation; the best epoch by
``val_<monitor>`` (strictly better than all before) is recorded in ``best``. Its weights are kept (and
the run ends with them) under early stopping (``patience`` with ``restore_best``), or always with
``keep_best=True``. ``patience=N`` stops the run after N consecutive epochs without improvement, i.e. at
epoch best_epoch + N. A run that stops mid-epoch (``max_steps``, ``max_time_s`` or a callback) keeps no
record of that partial epoch unless ``record_partial=True``: then it is recorded (and validated, and may
become the best epoch) with ``"complete": False``, so the steps trained after the last full epoch are
not lost. Complete epochs carry no ``complete`` key.

Divergence: a non-finite loss, or a running mean of the loss above ``divergence_factor`` x the first
step's loss, stops the run with ``diverged=True`` (the weights are left as they were at that step).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, default_collate

from ..errors import UserError
from ..models.base import batch_size_of, move_to

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear", "step")
CHECKPOINT_NAME = "last.safetensors"

__all__ = ["train", "fit", "set_seed", "evaluate_loss", "unwrap", "StopTraining", "load_checkpoint",
           "OPTIMIZERS", "SCHEDULES"]


class StopTraining(Exception):
    """Raise from a callback (or return True from it) to end training after the current step."""


def set_seed(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and random: call before building a model for reproducible init."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def unwrap(model: nn.Module) -> nn.Module:
    """The model itself, whether or not it is wrapped (DDP / DataParallel ``.module``)."""
    return getattr(model, "module", model)


# --- data --------------------------------------------------------------------------------------------

class _Indexable:
    """Random access to training items by index: a TensorDataset/tensor tuple, or any map-style Dataset."""

    def __init__(self, data: Any, collate_fn: Callable | None = None):
        if isinstance(data, DataLoader):
            collate_fn = collate_fn or data.collate_fn
            data = data.dataset
        if isinstance(data, torch.Tensor):
            data = (data,)
        if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
            n = len(data[0])
            if any(len(t) != n for t in data):
                raise UserError(f"training tensors have different lengths: {[len(t) for t in data]}")
            self.tensors: tuple[torch.Tensor, ...] | None = tuple(data)
            self.dataset = None
            self.n = n
        elif isinstance(data, TensorDataset):
            self.tensors, self.dataset, self.n = tuple(data.tensors), None, len(data.tensors[0])
        elif isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
            self.tensors, self.dataset, self.n = None, data, len(data)
        else:
            raise UserError(f"cannot train on {type(data).__name__}: give tensors (x, y), a Dataset or a DataLoader")
        self.collate_fn = collate_fn or default_collate
        if self.n == 0:
            raise UserError("the training data is empty")

    def batch(self, idx: torch.Tensor) -> Any:
        if self.tensors is not None:
            out = tuple(t[idx] for t in self.tensors)
            return out if len(out) > 1 else out[0]
        return self.collate_fn([self.dataset[int(i)] for i in idx])


def _permutation(n: int, seed: int, epoch: int, shuffle: bool) -> torch.Tensor:
    if not shuffle:
        return torch.arange(n)
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _global_batches(n: int, batch_size: int, drop_last: bool) -> list[tuple[int, int]]:
    starts = range(0, n, batch_size)
    spans = [(s, min(s + batch_size, n)) for s in starts]
    if drop_last and spans and spans[-1][1] - spans[-1][0] < batch_size:
        spans = spans[:-1]
    return spans


# --- optimizer and schedule ----------------------------------------------------------------------------

def _make_optimizer(params, name: str, lr: float, momentum: float, weight_decay: float, betas) -> torch.optim.Optimizer:
    if isinstance(name, torch.optim.Optimizer):
        return name
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    raise UserError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


def _lr_factor(schedule: str | Callable | None, step: int, total: int, warmup: int) -> float:
    """Multiplier on the base learning rate at optimizer step ``step`` (0-based) of ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if callable(schedule):
        return float(schedule(step, total))
    if schedule in (None, "constant"):
        return 1.0
    t = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if schedule == "linear":
        return max(0.0, 1.0 - t)
    if isinstance(schedule, str) and schedule.startswith("step"):
        # "step:EVERY:GAMMA" -> multiply by GAMMA every EVERY steps
        try:
            _, every, gamma = schedule.split(":")
            return float(gamma) ** ((step - warmup) // int(every))
        except ValueError:
            raise UserError(f"bad step schedule {schedule!r}; write step:EVERY:GAMMA, e.g. step:100:0.5") from None
    raise UserError(f"unknown lr_schedule {schedule!r}; expected one of {', '.join(SCHEDULES)} or a callable")


def _penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


def first_layer_weight(model: nn.Module) -> torch.Tensor | None:
    """The first weight tensor with 2+ dimensions in registration order (an MLP's first Linear weight)."""
    return next((p for p in model.parameters() if p.requires_grad and p.dim() >= 2), None)


# --- distributed -------------------------------------------------------------------------------------

def _init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); initializes the process group from torchrun's environment when needed."""
    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 0, 1
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _broadcast_params(model: nn.Module) -> None:
    import torch.distributed as dist

    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)


def _allreduce_grads(params: Sequence[nn.Parameter], world: int) -> None:
    """Average gradients over ranks (a rank whose graph skipped a parameter contributes zeros)."""
    import torch.distributed as dist

    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    i = 0
    for g in grads:
        g.copy_(flat[i:i + g.numel()].view_as(g))
        i += g.numel()


# --- checkpoints -------------------------------------------------------------------------------------

def _split_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list with a reference into ``tensors`` (JSON-able skeleton)."""
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
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


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict,
                     best_state: dict[str, torch.Tensor] | None) -> None:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model.{k}"] = v.detach().cpu().contiguous()
    optim_skeleton = _split_state(optimizer.state_dict(), "optim", tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    if best_state is not None:
        for k, v in best_state.items():
            tensors[f"best.{k}"] = v
    # safetensors refuses tensors that share memory; clone any that alias another
    seen: set[int] = set()
    for k, v in list(tensors.items()):
        ptr = v.untyped_storage().data_ptr() if v.numel() else -id(v)
        if ptr in seen:
            tensors[k] = v.clone()
        seen.add(ptr)
    meta = {"zoo_checkpoint": "1", "state": json.dumps(state), "optim": json.dumps(optim_skeleton)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict, dict, dict[str, torch.Tensor]]:
    """(model state dict, optimizer state dict, loop state, other tensors) from a zoo checkpoint file."""
    from safetensors import safe_open
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
    return model_sd, optim_sd, json.loads(meta["state"]), other


def _load_model_state(model: nn.Module, sd: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad_shape = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    if missing or unexpected or bad_shape:
        what = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                else f"shape mismatch at {bad_shape[:3]}")
        raise UserError(f"{path}: checkpoint is for another architecture ({what}); "
                        "use another --checkpoint-dir or resume=False")
    model.load_state_dict(sd)


# --- evaluation ----------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Any, *, loss_fn: Callable | None = None, step_fn: Callable | None = None,
                  batch_size: int = 512, device: str | torch.device = "cpu") -> dict[str, float]:
    """Mean loss over ``data`` (item-weighted) and, for (x, y) data with class logits, accuracy in [0, 1]."""
    was_training = model.training
    model.eval()
    src = _Indexable(data)
    total, loss_sum, correct, counted = 0, 0.0, 0, 0
    for s, e in _global_batches(src.n, batch_size, False):
        batch = move_to(src.batch(torch.arange(s, e)), device)
        n = e - s
        if step_fn is not None:
            loss = step_fn(model, batch)
        else:
            x, y = batch
            out = model(x)
            loss = loss_fn(out, y)
            if isinstance(out, torch.Tensor) and out.dim() == 2 and not y.is_floating_point():
                correct += int((out.argmax(1) == y).sum())
                counted += n
        loss_sum += float(loss) * n
        total += n
    model.train(was_training)
    out = {"loss": loss_sum / total}
    if counted:
        out["accuracy"] = correct / counted
    return out


# --- the loop ------------------------------------------------------------------------------------------

def train(
    model: nn.Module,
    train_data: Any,
    *,
    loss_fn: Callable | None = None,
    step_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    optimizer: str | torch.optim.Optimizer = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    batch_size: int | str | None = 32,
    epochs: int = 1,
    max_steps: int | None = None,
    max_time_s: float | None = None,
    lr_schedule: str | Callable[[int, int], float] | None = None,
    warmup_steps: int = 0,
    clip_norm: float | None = None,
    autocast_dtype: torch.dtype | None = None,
    val_data: Any = None,
    val_fn: Callable[[nn.Module, Any], dict[str, float]] | None = None,
    monitor: str = "loss",
    monitor_mode: str = "min",
    patience: int | None = None,
    restore_best: bool = True,
    keep_best: bool = False,
    record_partial: bool = False,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    collate_fn: Callable | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    callbacks: Iterable[Callable[[dict], Any]] = (),
    log_grad_norm: bool = False,
    record_steps: bool = False,
    divergence_factor: float | None = 10.0,
    device: str | torch.device | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, Any]:
    """Train ``model`` in place; return a flat result dict with a per-epoch ``history``.

    loss_fn(outputs, targets) -> scalar loss, for data that yields (inputs, targets); or
    step_fn(model, batch) -> scalar loss, for models that compute their own (batch on ``device``).
    batch_size: 1 (stochastic), N (mini-batch) or None / "full" (full batch); under torchrun it is the
    global batch, split across ranks.
    max_steps / max_time_s: stop after that many optimizer steps / seconds of training (wall clock).
    val_data: evaluated after every epoch with ``val_fn(model, val_data) -> dict`` (default: mean loss and
    accuracy via ``evaluate_loss``); ``patience`` epochs without improvement of ``val_<monitor>`` stop the
    run (early stopping), and with ``restore_best`` the run ends with the best epoch's weights (whether or
    not it stopped early). ``keep_best``: end with the best epoch's weights even without ``patience``.
    ``record_partial``: record (and validate) an epoch cut short by max_steps / max_time_s / a callback,
    with ``"complete": False``.
    autocast_dtype: run forward and loss under ``torch.autocast(device.type, dtype=autocast_dtype)``.
    callbacks: called after every optimizer step with a dict (step, epoch, loss, lr, items, wall_s and, with
    ``log_grad_norm``, grad_norm (all parameters) and grad_norm_first (first weight tensor), before
    clipping); returning True or raising StopTraining ends the run.
    record_steps: keep those dicts in ``result["steps_log"]`` (for loss curves).

    Returns: epochs_run, steps, items_seen, final_train_loss, history (per epoch: epoch, train_loss,
    val_* , wall_s, items_per_s), best (epoch and metric), diverged, diverged_step, stopped_early,
    stopped_by, wall_s (training time excluding validation and checkpointing, s), items_per_s,
    resumed_from_step, world_size, rank.
    """
    if loss_fn is None and step_fn is None:
        raise UserError("train() needs loss_fn(outputs, targets) or step_fn(model, batch)")
    if monitor_mode not in ("min", "max"):
        raise UserError(f"monitor_mode must be 'min' or 'max', not {monitor_mode!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    rank, world = _init_distributed(device)
    if world > 1 and device.type == "cuda" and device.index is None:  # one GPU per process under torchrun
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    model.to(device)
    src = _Indexable(train_data, collate_fn)
    if batch_size in (None, "full"):
        batch_size = src.n
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive int, None or 'full', not {batch_size!r}")
    if world > 1 and batch_size < world:
        raise UserError(f"global batch_size {batch_size} is smaller than the {world} processes")
    spans = _global_batches(src.n, batch_size, drop_last)
    if not spans:
        raise UserError(f"no full batch of {batch_size} in {src.n} items with drop_last=True")
    steps_per_epoch = len(spans)
    total_steps = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _make_optimizer(params, optimizer, lr, momentum, weight_decay, betas)
    base_lrs = [g["lr"] for g in opt.param_groups]
    callbacks = list(callbacks)
    penalized = _penalized_weights(model) if (l1 or l2) else []
    first_w = first_layer_weight(model) if log_grad_norm else None

    # loop state (all of it goes into the checkpoint)
    st: dict[str, Any] = {
        "step": 0, "epoch": 0, "batch": 0, "items": 0, "wall_s": 0.0, "history": [], "steps_log": [],
        "first_loss": None, "ema_loss": None, "best": None, "best_epoch": None, "bad_epochs": 0,
        "epoch_loss_sum": 0.0, "epoch_items": 0, "epoch_wall_s": 0.0, "seed": seed, "batch_size": batch_size,
        "world_size": world, "diverged": False, "diverged_step": None, "stopped_by": None,
    }
    best_state: dict[str, torch.Tensor] | None = None
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    resumed_from = None
    torch.manual_seed(seed)
    if resume and ckpt is not None and ckpt.exists():
        model_sd, optim_sd, saved, other = load_checkpoint(ckpt)
        _load_model_state(model, model_sd, ckpt)
        for k in ("seed", "batch_size", "world_size"):
            if saved.get(k) != st[k]:
                raise UserError(f"{ckpt}: checkpoint was made with {k}={saved.get(k)}, this run has {k}={st[k]}; "
                                "resume with the same settings or use another checkpoint_dir")
        try:
            opt.load_state_dict(optim_sd)
        except (ValueError, KeyError) as e:
            raise UserError(f"{ckpt}: optimizer state does not fit this optimizer ({e})") from None
        st.update(saved)
        torch.set_rng_state(other["rng.torch"])
        if "rng.cuda" in other and torch.cuda.is_available():
            torch.cuda.set_rng_state(other["rng.cuda"])
        best = {k[len("best."):]: v for k, v in other.items() if k.startswith("best.")}
        best_state = best or None
        st["stopped_by"] = None  # a resumed run goes on, whatever stopped the one it continues
        resumed_from = st["step"]
    elif world > 1:
        _broadcast_params(model)

    def save() -> None:
        if ckpt is not None and rank == 0:
            _save_checkpoint(ckpt, model, opt, st, best_state)
        if ckpt is not None and world > 1:
            import torch.distributed as dist

            dist.barrier()

    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=st["step"], desc=desc, unit="step", dynamic_ncols=True, leave=False)

    def finished() -> bool:
        return (st["diverged"] or st["stopped_by"] is not None
                or (max_steps is not None and st["step"] >= max_steps)
                or (max_time_s is not None and st["wall_s"] >= max_time_s))

    def epoch_record(epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch + 1,
            "train_loss": st["epoch_loss_sum"] / max(st["epoch_items"], 1),
            "wall_s": st["epoch_wall_s"],
            "items_per_s": st["epoch_items"] / max(st["epoch_wall_s"], 1e-9),
            "steps": st["step"],
        }

    def validate_into(rec: dict[str, Any], epoch: int, complete: bool) -> None:
        """Validate, add val_* to ``rec``, track the best epoch; a partial epoch counts no bad epoch."""
        nonlocal best_state
        vm = val_fn(model, val_data) if val_fn else evaluate_loss(model, val_data, loss_fn=loss_fn, step_fn=step_fn,
                                                                  device=device)
        model.train()
        rec.update({f"val_{k}": v for k, v in vm.items()})
        key = f"val_{monitor}"
        if key not in rec:
            raise UserError(f"validation gave {sorted(vm)}; cannot monitor {monitor!r}")
        value = rec[key]
        better = st["best"] is None or (value < st["best"] if monitor_mode == "min" else value > st["best"])
        if better:
            st["best"], st["best_epoch"], st["bad_epochs"] = value, epoch + 1, 0
            if keep_weights:
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        elif complete:
            st["bad_epochs"] += 1
            if patience is not None and st["bad_epochs"] >= patience:
                st["stopped_by"] = "early_stopping"

    keep_weights = keep_best or (patience is not None and restore_best)
    model.train()
    while st["epoch"] < epochs and not finished():
        epoch = st["epoch"]
        perm = _permutation(src.n, seed, epoch, shuffle)
        while st["batch"] < steps_per_epoch and not finished():
            t0 = time.perf_counter()
            s, e = spans[st["batch"]]
            global_idx = perm[s:e]
            local_idx = global_idx[rank::world]
            n_global, n_local = len(global_idx), len(local_idx)
            batch = move_to(src.batch(local_idx), device)
            factor = _lr_factor(lr_schedule, st["step"], total_steps, warmup_steps)
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * factor
            opt.zero_grad(set_to_none=True)
            if n_local:
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    if step_fn is not None:
                        data_loss = step_fn(model, batch)
                    else:
                        x, y = batch
                        data_loss = loss_fn(model(x), y)
            else:  # this rank got no item of a short last batch
                data_loss = sum(p.sum() * 0.0 for p in params)
            loss = data_loss * (n_local * world / n_global) if world > 1 else data_loss
            if penalized:
                if l1:
                    loss = loss + l1 * sum(p.abs().sum() for p in penalized)
                if l2:
                    loss = loss + l2 * sum(p.pow(2).sum() for p in penalized)
            loss.backward()
            if world > 1:
                _allreduce_grads(params, world)
                import torch.distributed as dist

                lv = torch.tensor([float(data_loss.detach()) * n_local], dtype=torch.float64, device=device)
                dist.all_reduce(lv)
                loss_value = float(lv) / n_global
            else:
                loss_value = float(data_loss.detach())
            info: dict[str, Any] = {"step": st["step"] + 1, "epoch": epoch, "loss": loss_value,
                                    "lr": opt.param_groups[0]["lr"], "items": n_global}
            if log_grad_norm:
                grads = [p.grad for p in params if p.grad is not None]
                info["grad_norm"] = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
                info["grad_norm_first"] = float(first_w.grad.norm()) if first_w is not None and first_w.grad is not None else None
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            if st["first_loss"] is None:
                st["first_loss"] = loss_value
            st["ema_loss"] = loss_value if st["ema_loss"] is None else 0.9 * st["ema_loss"] + 0.1 * loss_value
            if not math.isfinite(loss_value) or (
                divergence_factor is not None and st["ema_loss"] > divergence_factor * max(st["first_loss"], 1e-12)
            ):
                st["diverged"], st["diverged_step"] = True, st["step"] + 1
            else:
                opt.step()
            st["step"] += 1
            st["batch"] += 1
            st["items"] += n_global
            st["epoch_items"] += n_global
            st["epoch_loss_sum"] += loss_value * n_global
            dt = time.perf_counter() - t0
            st["wall_s"] += dt
            st["epoch_wall_s"] += dt
            if world > 1 and max_time_s is not None:  # one clock for all ranks: they stop at the same step
                import torch.distributed as dist

                t = torch.tensor([st["wall_s"]], dtype=torch.float64, device=device)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                st["wall_s"] = float(t)
            info["wall_s"] = st["wall_s"]
            if record_steps:
                st["steps_log"].append(info)
            for cb in callbacks:
                try:
                    if cb(info) is True:
                        st["stopped_by"] = "callback"
                except StopTraining:
                    st["stopped_by"] = "callback"
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4g}", items_s=f"{st['epoch_items'] / max(st['epoch_wall_s'], 1e-9):.0f}",
                                refresh=False)
            st["last_loss"] = loss_value
            if (checkpoint_every and st["step"] % checkpoint_every == 0 and st["batch"] < steps_per_epoch
                    and not st["diverged"]):
                save()
        if st["batch"] < steps_per_epoch and not st["diverged"]:
            break  # stopped mid-epoch (max_steps, max_time_s or a callback): recorded below if record_partial
        rec = epoch_record(epoch)
        if val_data is not None and not st["diverged"]:
            validate_into(rec, epoch, complete=True)
        st["history"].append(rec)
        st["epoch"] += 1
        st["batch"] = 0
        st["epoch_loss_sum"], st["epoch_items"], st["epoch_wall_s"] = 0.0, 0, 0.0
        if not st["diverged"]:
            save()
    if (record_partial and 0 < st["batch"] < steps_per_epoch and st["epoch_items"] and not st["diverged"]
            and st["epoch"] < epochs):
        # cut short mid-epoch: record it (not saved: a resumed run redoes it from the last checkpoint)
        rec = {**epoch_record(st["epoch"]), "complete": False}
        if val_data is not None:
            validate_into(rec, st["epoch"], complete=False)
        st["history"].append(rec)
    if bar is not None:
        bar.close()
    if best_state is not None and keep_weights:  # end with the best epoch's weights
        model.load_state_dict(best_state)
    if max_steps is not None and st["step"] >= max_steps and st["stopped_by"] is None:
        st["stopped_by"] = "max_steps"
    if max_time_s is not None and st["wall_s"] >= max_time_s and st["stopped_by"] is None:
        st["stopped_by"] = "max_time"
    model.eval()
    hist = st["history"]
    return {
        "epochs_run": len(hist),
        "steps": st["step"],
        "items_seen": st["items"],
        "final_train_loss": hist[-1]["train_loss"] if hist else None,
        "last_loss": st.get("last_loss"),
        "history": hist,
        "steps_log": st["steps_log"],
        "best": {"epoch": st["best_epoch"], f"val_{monitor}": st["best"]} if st["best"] is not None else None,
        "diverged": st["diverged"],
        "diverged_step": st["diverged_step"],
        "stopped_early": st["stopped_by"] == "early_stopping",
        "stopped_by": st["stopped_by"],
        "wall_s": st["wall_s"],
        "items_per_s": st["items"] / max(st["wall_s"], 1e-9),
        "resumed_from_step": resumed_from,
        "world_size": world,
        "rank": rank,
    }


fit = train
