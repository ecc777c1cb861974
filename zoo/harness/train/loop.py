"""The training loop: ``train(model, data, TrainConfig(...), loss_fn=...)`` (see the package docstring)."""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from ... import console
from ...errors import UserError
from ...models.base import check_device, move_to
from .. import distributed
from .checkpoint import CHECKPOINT_NAME, check_resumable, load_checkpoint, load_model_state, save_checkpoint
from .config import TrainConfig
from .data import Items, global_batches, permutation
from .optim import add_penalty, first_layer_weight, lr_factor, make_optimizer, penalized_weights, warmup_steps
from .validate import evaluate_loss

AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class StopTraining(Exception):
    """Raise from a callback (or return True from it) to end training after the current step."""


def set_seed(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and random: call before building a model for reproducible init."""
    import numpy as np  # deferred: heavy third-party import

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Step(nn.Module):
    """One training step's loss as a module call, ``forward(batch) -> scalar``: DistributedDataParallel must
    see the forward (its gradient hooks are armed there) whatever ``step_fn`` does inside, as Lightning wraps
    ``training_step``."""

    def __init__(self, model: nn.Module, loss_fn: Callable | None, step_fn: Callable | None):
        super().__init__()
        self.model, self.loss_fn, self.step_fn = model, loss_fn, step_fn

    def forward(self, batch: Any) -> torch.Tensor:
        if self.step_fn is not None:
            return self.step_fn(self.model, batch)
        x, y = batch
        return self.loss_fn(self.model(x), y)


def train(model: nn.Module, train_data: Any, config: TrainConfig | None = None, *,
          loss_fn: Callable | None = None, step_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None,
          val_data: Any = None, val_fn: Callable[[nn.Module, Any], dict[str, float]] | None = None,
          collate_fn: Callable | None = None, callbacks: Iterable[Callable[[dict], Any]] = (),
          checkpoint_dir: str | os.PathLike | None = None, resume: bool = False, log_grad_norm: bool = False,
          record_steps: bool = False, progress: bool = True, desc: str = "train") -> dict[str, Any]:
    """Train ``model`` in place with the settings of ``config``; return a flat dict with a per-epoch history.

    loss_fn(outputs, targets) -> scalar loss, for data that yields (inputs, targets); or
    step_fn(model, batch) -> scalar loss, for models that compute their own (batch on the device).
    val_data: validated after every epoch with ``val_fn(model, val_data) -> dict`` (default: mean loss and
    accuracy, ``evaluate_loss``). checkpoint_dir / resume: the resumable state (``last.safetensors``).
    callbacks: called after every optimizer step with a dict (step, epoch, loss, lr, items, wall_s and, with
    ``log_grad_norm``, grad_norm (all parameters) and grad_norm_first (first weight tensor), before
    clipping); returning True or raising StopTraining ends the run. record_steps: keep those dicts in
    ``result["steps_log"]``.

    Returns: epochs_run, steps, items_seen, final_train_loss, last_loss, history (per epoch: epoch,
    train_loss, val_*, wall_s, items_per_s, steps), steps_log, best (epoch and metric), diverged,
    diverged_step, stopped_early, stopped_by, wall_s (training time excluding validation and checkpointing,
    s), items_per_s, resumed_from_step, world_size, rank.
    """
    t = _Trainer(model, train_data, config or TrainConfig(), loss_fn, step_fn, collate_fn)
    t.hooks(val_data, val_fn, list(callbacks), log_grad_norm, record_steps)
    t.start(Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None, resume)
    t.open_progress(progress, desc)
    while t.st["epoch"] < t.config.epochs and not t.finished():
        perm = permutation(t.items.n, t.config.seed, t.st["epoch"], t.config.shuffle)
        while t.st["batch"] < t.steps_per_epoch and not t.finished():
            t.step(perm)
        if t.st["batch"] < t.steps_per_epoch and not t.st["diverged"]:
            break  # stopped mid-epoch (max_steps, max_minutes or a callback): recorded below if record_partial
        t.end_epoch()
    t.record_partial_epoch()
    return t.finish()


class _Trainer:
    """The state of one run and its parts; every piece of ``st`` goes into the checkpoint."""

    def __init__(self, model: nn.Module, train_data: Any, config: TrainConfig, loss_fn: Callable | None,
                 step_fn: Callable | None, collate_fn: Callable | None):
        if loss_fn is None and step_fn is None:
            raise UserError("train() needs loss_fn(outputs, targets) or step_fn(model, batch)")
        self.config = c = config
        device = torch.device(check_device(c.device) if c.device else next(model.parameters()).device)
        self.dist = distributed.init(str(device))
        self.device = torch.device(distributed.local_device(str(device), self.dist))
        self.model = model.to(self.device)
        self.items = Items(train_data, collate_fn)
        self.batch_size = c.batch_size or self.items.n
        if self.dist.world_size > self.batch_size:
            raise UserError(f"global batch_size {self.batch_size} is smaller than the {self.dist.world_size} processes")
        self.spans = global_batches(self.items.n, self.batch_size, c.drop_last)
        if not self.spans:
            raise UserError(f"no full batch of {self.batch_size} in {self.items.n} items with drop_last=True")
        self.steps_per_epoch = len(self.spans)
        self.total_steps = self.steps_per_epoch * c.epochs
        if c.max_steps is not None:
            self.total_steps = min(c.max_steps, self.total_steps)
        self.warmup = warmup_steps(c, self.total_steps)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = make_optimizer(model, c)
        self.base_lrs = [g["lr"] for g in self.opt.param_groups]
        self.penalized = penalized_weights(model) if (c.l1 or c.l2) else []
        self.loss_module = _Step(model, loss_fn, step_fn)
        self.loss_fn, self.step_fn = loss_fn, step_fn
        self.keep_weights = c.keep_best or (c.patience is not None and c.restore_best)
        self.best_state: dict[str, torch.Tensor] | None = None
        self.resumed_from: int | None = None
        self.bar = None
        self.st: dict[str, Any] = {
            "step": 0, "epoch": 0, "batch": 0, "items": 0, "wall_s": 0.0, "history": [], "steps_log": [],
            "first_loss": None, "ema_loss": None, "best": None, "best_epoch": None, "bad_epochs": 0,
            "epoch_loss_sum": 0.0, "epoch_items": 0, "epoch_wall_s": 0.0, "seed": c.seed,
            "batch_size": self.batch_size, "world_size": self.dist.world_size, "diverged": False,
            "diverged_step": None, "stopped_by": None,
        }

    def hooks(self, val_data: Any, val_fn: Callable | None, callbacks: list, log_grad_norm: bool,
              record_steps: bool) -> None:
        self.val_data, self.val_fn, self.callbacks = val_data, val_fn, callbacks
        self.record_steps = record_steps
        self.log_grad_norm = log_grad_norm
        self.first_w = first_layer_weight(self.model) if log_grad_norm else None

    # --- start, checkpoint, finish ----------------------------------------------------------------------

    def start(self, ckpt: Path | None, resume: bool) -> None:
        """Seed, resume from ``ckpt`` when asked and present, then wrap for data parallelism (which
        broadcasts rank 0's weights)."""
        self.ckpt = ckpt
        torch.manual_seed(self.config.seed)
        if resume and ckpt is not None and ckpt.exists():
            self._resume(ckpt)
        self.step_module = distributed.data_parallel(self.loss_module, self.dist, self.device)
        self.model.train()

    def _resume(self, ckpt: Path) -> None:
        model_sd, optim_sd, saved, other = load_checkpoint(ckpt)
        load_model_state(self.model, model_sd, ckpt)
        check_resumable(ckpt, saved, self.config, self.dist.world_size)
        if saved.get("batch_size") != self.batch_size:
            raise UserError(f"{ckpt}: checkpoint was made with batch_size={saved.get('batch_size')}, this run has "
                            f"{self.batch_size}; resume with the same settings or use another checkpoint folder")
        try:
            self.opt.load_state_dict(optim_sd)
        except (ValueError, KeyError) as e:
            raise UserError(f"{ckpt}: optimizer state does not fit this optimizer ({e})") from None
        saved.pop("config", None)
        self.st.update(saved)
        torch.set_rng_state(other["rng.torch"])
        if "rng.cuda" in other and torch.cuda.is_available():
            torch.cuda.set_rng_state(other["rng.cuda"])
        best = {k[len("best."):]: v for k, v in other.items() if k.startswith("best.")}
        self.best_state = best or None
        self.st["stopped_by"] = None  # a resumed run goes on, whatever stopped the one it continues
        self.resumed_from = self.st["step"]

    def save(self) -> None:
        """Rank 0 writes the state; every process waits for it."""
        if self.ckpt is None:
            return
        if self.dist.is_main:
            save_checkpoint(self.ckpt, self.model, self.opt, self.config, self.st, self.best_state)
        distributed.barrier(self.dist)

    def open_progress(self, progress: bool, desc: str) -> None:
        if progress and self.dist.is_main:  # on a terminal only, and not with --quiet (zoo.console)
            self.bar = console.progress(total=self.total_steps, initial=self.st["step"], desc=desc, unit="step")

    def finished(self) -> bool:
        st, c = self.st, self.config
        return (st["diverged"] or st["stopped_by"] is not None
                or (c.max_steps is not None and st["step"] >= c.max_steps)
                or (c.max_time_s is not None and st["wall_s"] >= c.max_time_s))

    # --- one step -----------------------------------------------------------------------------------------

    def step(self, perm: torch.Tensor) -> None:
        """One optimizer step on the next global batch of ``perm``; this process computes its share."""
        st, c, world = self.st, self.config, self.dist.world_size
        t0 = time.perf_counter()
        s, e = self.spans[st["batch"]]
        local_idx = perm[s:e][self.dist.rank::world]
        n_global, n_local = e - s, len(local_idx)
        # a process with no item of a short last batch runs one item at weight 0: the same graph, no gradient
        batch = move_to(self.items.batch(local_idx if n_local else perm[s:s + 1]), self.device)
        factor = lr_factor(c.schedule, st["step"], self.total_steps, self.warmup)
        for g, base in zip(self.opt.param_groups, self.base_lrs):
            g["lr"] = base * factor
        self.opt.zero_grad(set_to_none=True)
        dtype = AUTOCAST[c.dtype]
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            data_loss = self.step_module(batch)
        # weighted by this process's share: the averaged gradient is the one of the whole global batch
        loss = data_loss * (n_local * world / n_global) if world > 1 else data_loss
        if self.penalized:
            loss = add_penalty(loss, self.penalized, c)
        loss.backward()
        if world > 1:
            loss_value = distributed.reduce_floats([float(data_loss.detach()) * n_local], self.dist)[0] / n_global
        else:
            loss_value = float(data_loss.detach())
        info: dict[str, Any] = {"step": st["step"] + 1, "epoch": st["epoch"], "loss": loss_value,
                                "lr": self.opt.param_groups[0]["lr"], "items": n_global}
        if self.log_grad_norm:
            info.update(self._grad_norms())
        if c.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, c.clip_norm)
        if self._diverging(loss_value):
            st["diverged"], st["diverged_step"] = True, st["step"] + 1
        else:
            self.opt.step()
        self._count(n_global, loss_value, time.perf_counter() - t0)
        info["wall_s"] = st["wall_s"]
        self._after_step(info)

    def _grad_norms(self) -> dict[str, float | None]:
        grads = [p.grad for p in self.params if p.grad is not None]
        first = self.first_w
        return {"grad_norm": float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))),
                "grad_norm_first": float(first.grad.norm()) if first is not None and first.grad is not None else None}

    def _diverging(self, loss_value: float) -> bool:
        """A non-finite loss, or a running mean above ``divergence_factor`` x the first step's loss."""
        st, factor = self.st, self.config.divergence_factor
        if st["first_loss"] is None:
            st["first_loss"] = loss_value
        st["ema_loss"] = loss_value if st["ema_loss"] is None else 0.9 * st["ema_loss"] + 0.1 * loss_value
        return not math.isfinite(loss_value) or (
            factor is not None and st["ema_loss"] > factor * max(st["first_loss"], 1e-12))

    def _count(self, n_global: int, loss_value: float, dt: float) -> None:
        st = self.st
        st["step"] += 1
        st["batch"] += 1
        st["items"] += n_global
        st["epoch_items"] += n_global
        st["epoch_loss_sum"] += loss_value * n_global
        st["wall_s"] += dt
        st["epoch_wall_s"] += dt
        st["last_loss"] = loss_value
        if self.dist.enabled and self.config.max_time_s is not None:  # one clock: all stop at the same step
            st["wall_s"] = distributed.reduce_floats([st["wall_s"]], self.dist, op="max")[0]

    def _after_step(self, info: dict[str, Any]) -> None:
        st, every = self.st, self.config.checkpoint_every
        if self.record_steps:
            st["steps_log"].append(info)
        for cb in self.callbacks:
            try:
                if cb(info) is True:
                    st["stopped_by"] = "callback"
            except StopTraining:
                st["stopped_by"] = "callback"
        if self.bar is not None:
            self.bar.update(1)
            rate = st["epoch_items"] / max(st["epoch_wall_s"], 1e-9)
            self.bar.set_postfix(loss=f"{info['loss']:.4g}", items_s=f"{rate:.0f}", refresh=False)
        if every and st["step"] % every == 0 and st["batch"] < self.steps_per_epoch and not st["diverged"]:
            self.save()

    # --- epochs and validation --------------------------------------------------------------------------

    def _epoch_record(self) -> dict[str, Any]:
        st = self.st
        return {"epoch": st["epoch"] + 1, "train_loss": st["epoch_loss_sum"] / max(st["epoch_items"], 1),
                "wall_s": st["epoch_wall_s"], "items_per_s": st["epoch_items"] / max(st["epoch_wall_s"], 1e-9),
                "steps": st["step"]}

    def end_epoch(self) -> None:
        """Record (and validate) the finished epoch, move to the next, write the state."""
        st = self.st
        rec = self._epoch_record()
        if self.val_data is not None and not st["diverged"]:
            self._validate(rec, complete=True)
        st["history"].append(rec)
        st["epoch"] += 1
        st["batch"] = 0
        st["epoch_loss_sum"], st["epoch_items"], st["epoch_wall_s"] = 0.0, 0, 0.0
        if not st["diverged"]:
            self.save()

    def record_partial_epoch(self) -> None:
        """With record_partial, an epoch cut short is recorded (and validated) with ``complete: False``; it is
        not saved: a resumed run redoes it from the last checkpoint."""
        st = self.st
        if (self.config.record_partial and 0 < st["batch"] < self.steps_per_epoch and st["epoch_items"]
                and not st["diverged"] and st["epoch"] < self.config.epochs):
            rec = {**self._epoch_record(), "complete": False}
            if self.val_data is not None:
                self._validate(rec, complete=False)
            st["history"].append(rec)

    def _validate(self, rec: dict[str, Any], complete: bool) -> None:
        """Validate, add val_* to ``rec``, track the best epoch; a partial epoch counts no bad epoch."""
        st, c = self.st, self.config
        if self.val_fn is not None:
            vm = self.val_fn(self.model, self.val_data)
        else:
            vm = evaluate_loss(self.model, self.val_data, loss_fn=self.loss_fn, step_fn=self.step_fn,
                               device=self.device)
        self.model.train()
        rec.update({f"val_{k}": v for k, v in vm.items()})
        key = f"val_{c.monitor}"
        if key not in rec:
            raise UserError(f"validation gave {sorted(vm)}; cannot monitor {c.monitor!r}")
        value = rec[key]
        if st["best"] is None or (value < st["best"] if c.monitor_mode == "min" else value > st["best"]):
            st["best"], st["best_epoch"], st["bad_epochs"] = value, rec["epoch"], 0
            if self.keep_weights:
                self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        elif complete:
            st["bad_epochs"] += 1
            if c.patience is not None and st["bad_epochs"] >= c.patience:
                st["stopped_by"] = "early_stopping"

    def finish(self) -> dict[str, Any]:
        st, c = self.st, self.config
        if self.bar is not None:
            self.bar.close()
        if self.best_state is not None and self.keep_weights:  # end with the best epoch's weights
            self.model.load_state_dict(self.best_state)
        if c.max_steps is not None and st["step"] >= c.max_steps and st["stopped_by"] is None:
            st["stopped_by"] = "max_steps"
        if c.max_time_s is not None and st["wall_s"] >= c.max_time_s and st["stopped_by"] is None:
            st["stopped_by"] = "max_time"
        self.model.eval()
        hist = st["history"]
        return {
            "epochs_run": len(hist), "steps": st["step"], "items_seen": st["items"],
            "final_train_loss": hist[-1]["train_loss"] if hist else None, "last_loss": st.get("last_loss"),
            "history": hist, "steps_log": st["steps_log"],
            "best": {"epoch": st["best_epoch"], f"val_{c.monitor}": st["best"]} if st["best"] is not None else None,
            "diverged": st["diverged"], "diverged_step": st["diverged_step"],
            "stopped_early": st["stopped_by"] == "early_stopping", "stopped_by": st["stopped_by"],
            "wall_s": st["wall_s"], "items_per_s": st["items"] / max(st["wall_s"], 1e-9),
            "resumed_from_step": self.resumed_from, "world_size": self.dist.world_size, "rank": self.dist.rank,
        }
