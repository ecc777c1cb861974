"""Training text models: ``train_text("bilstm", "sst2", epochs=5)`` -> a checkpoint folder and a result row.

The loop: AdamW, linear warm-up then linear decay (or constant), gradient-norm clipping, a fixed seed, a
tqdm progress bar with loss and items/s, validation after each epoch with early stopping (patience),
a time budget (``max_minutes``; the run stops after the step that crosses it), and data parallelism over
``torchrun`` processes (gloo on CPU).

Determinism and resume: epoch e visits the training set in ``randperm(n, seed + e)`` order; global batch i
is rows [i*B, (i+1)*B) of that order. Every ``save_every`` steps (and at each epoch end) the full training
state (weights, optimizer, schedule position, RNG, best score) is written atomically to
``<out>.state/state.pt``; ``resume=True`` reloads it and skips the batches already done, so a run killed
mid-epoch ends with the same weights as an uninterrupted one (tested).

Data parallel: with WORLD_SIZE > 1 each process takes rows r, r+W, ... of every global batch and the
gradients are averaged with ``all_reduce`` before the step: the same update as one process on the whole
global batch (for losses that are means over items; each shard's loss is weighted by its share of the batch,
so an uneven last batch is handled; exact only without dropout, whose masks differ between processes). Rank 0 writes checkpoints and rows.

Why not ``zoo/harness/train.py``? It did not exist when this was written; this loop is small and specific to
the text models' ``training_batch`` / ``loss`` interface.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ..errors import UserError

# Per-task defaults: epochs, batch size, learning rate, validation metric (higher is better).
DEFAULTS = {
    "sst2": dict(epochs=8, batch_size=32, lr=2e-3, metric="accuracy"),
    "multi30k": dict(epochs=10, batch_size=64, lr=1e-3, metric="bleu"),
    "squad": dict(epochs=3, batch_size=16, lr=5e-4, metric=None),
}
PRETRAINED_LR = 5e-5  # fine-tuning a pretrained encoder


def _dist():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return dist, dist.get_rank(), world
    return None, 0, 1


def _set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass


def _rows(cols: dict, idx: list[int]) -> dict:
    return {k: [v[i] for i in idx] for k, v in cols.items()}


def _lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    return max(0.0, (total - step) / max(1, total - warmup))


def _save_state(path: Path, state: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".state-", suffix=".pt")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path / "state.pt")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def validate(model, task: str, cols: dict, batch_size: int = 64, limit: int | None = None) -> dict:
    """Score ``model`` on a split's columns (no row written); translation validates with greedy decoding."""
    from .evaluate import score_predictions, predict_split

    beams = getattr(model, "num_beams", None)
    if beams is not None:
        model.num_beams = 1
    try:
        preds = predict_split(model, task, cols, batch_size=batch_size, limit=limit)
    finally:
        if beams is not None:
            model.num_beams = beams
    return score_predictions(task, preds, cols, limit=limit)


def train_text(name: str, task: str, *, out: str | os.PathLike | None = None, epochs: int | None = None,
               batch_size: int | None = None, lr: float | None = None, weight_decay: float = 0.01,
               warmup: float = 0.05, schedule: str = "linear", clip: float = 1.0, seed: int = 0,
               pretrained: bool = False, patience: int | None = None, max_minutes: float | None = None,
               max_steps: int | None = None, limit: int | None = None, val_limit: int | None = None,
               save_every: int = 200, resume: bool = False, write: bool = True, progress: bool = True,
               overrides: dict | None = None, threads: int | None = None, dtype: str = "fp32") -> dict:
    """Train ``name`` on ``task``; returns a flat dict (checkpoint, sha256, times, losses, validation scores).

    epochs/batch_size/lr default per task (``DEFAULTS``); ``batch_size`` is the GLOBAL batch (all processes).
    ``limit``: train on the first ``limit`` rows only (tests). ``max_minutes``: stop when the budget is used.
    ``dtype``: "bf16" runs forward and loss under CPU bf16 autocast (weights, optimizer and gradients stay
    fp32; ~1.5x faster on CPUs with bf16 matrix units); validation and the saved checkpoint are fp32.
    ``out``: the checkpoint folder (default ``$ZOO_CACHE/checkpoints/NAME-TASK``); written only at the end
    (best validation epoch when there is a validation metric, else the last), atomically.
    """
    from tqdm.auto import tqdm

    from .. import create_model
    from ..registry import UnknownModelError, get_spec
    from ..results import append_row, make_row, raw_path, sha256_file
    from .checkpoint import default_checkpoint_dir, save_checkpoint
    from .data import DATASET_NAMES, check_task, dataset_sha256, read_split

    check_task(task)
    if dtype not in ("fp32", "bf16"):
        raise UserError(f"dtype must be fp32 or bf16, not {dtype!r}")
    try:
        spec = get_spec(name)
    except UnknownModelError as e:
        raise UserError(str(e)) from None
    from ..models.text import _check_task

    _check_task(spec, task)
    if threads:
        torch.set_num_threads(threads)
    d = DEFAULTS[task]
    epochs = epochs if epochs is not None else d["epochs"]
    batch_size = batch_size or d["batch_size"]
    lr = lr or (PRETRAINED_LR if pretrained else d["lr"])
    out = Path(out) if out is not None else default_checkpoint_dir(name, task)
    state_dir = out.parent / f"{out.name}.state"
    if (out / "zoo_config.json").is_file():  # never replace another model's checkpoint
        from .checkpoint import check_architecture

        check_architecture(out, spec)
    elif out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not a checkpoint of {name}; choose another --out")

    dist, rank, world = _dist()
    if batch_size % world:
        raise UserError(f"global batch {batch_size} does not split evenly over {world} processes")
    _set_seed(seed)
    model = create_model(name, pretrained=pretrained, **(overrides or {}))
    init_weights = model.weights_id
    model.train()
    cols = read_split(task, "train")
    if limit is not None:
        cols = {k: v[:limit] for k, v in cols.items()}
    n = len(next(iter(cols.values())))
    val_cols = read_split(task, "validation") if d["metric"] and "validation" in _splits(task) else None
    steps_per_epoch = math.ceil(n / batch_size)
    total = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    warm = int(warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, total, warm, schedule))

    st = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "best": None, "best_epoch": None, "bad_epochs": 0,
          "history": [], "train_time_s": 0.0, "items": 0, "loss_sum": 0.0, "loss_n": 0}
    best_state = None
    if resume and (state_dir / "state.pt").is_file():
        saved = torch.load(state_dir / "state.pt", weights_only=True)
        if saved["meta"]["name"] != name or saved["meta"]["task"] != task:
            raise UserError(f"{state_dir} holds a training state for {saved['meta']['name']}/{saved['meta']['task']}")
        model.net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        random.setstate((3, tuple(int(x) for x in saved["py_rng"].tolist()), None))
        st = json.loads(saved["meta"]["state"])
        best_state = saved.get("best_model")

    def checkpoint_state():
        if rank != 0:
            return
        py = random.getstate()[1]
        _save_state(state_dir, {
            "model": model.net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "rng": torch.get_rng_state(), "py_rng": torch.tensor(py, dtype=torch.int64),
            "meta": {"name": name, "task": task, "state": json.dumps(st)},
            **({"best_model": best_state} if best_state is not None else {}),
        })

    t_start = time.perf_counter() - st["train_time_s"]
    stop = False
    bar = tqdm(total=total, initial=st["step"], desc=f"train {name} on {task}", unit="step",
               disable=not progress or rank != 0, dynamic_ncols=True)
    while st["epoch"] < epochs and not stop:
        g = torch.Generator().manual_seed(seed + st["epoch"])
        order = torch.randperm(n, generator=g).tolist()
        if st["batch_in_epoch"] == 0:
            st["loss_sum"], st["loss_n"] = 0.0, 0
        for b in range(st["batch_in_epoch"], steps_per_epoch):
            if st["step"] >= total:
                stop = True
                break
            global_idx = order[b * batch_size : (b + 1) * batch_size]
            idx = global_idx[rank::world]
            t0 = time.perf_counter()
            inputs = model.training_batch(_rows(cols, idx))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                loss = model.loss(inputs)
            opt.zero_grad(set_to_none=True)
            # weight by this shard's share, so the averaged gradient is the global batch's mean gradient
            (loss * (len(idx) * world / len(global_idx)) if world > 1 else loss).backward()
            if dist is not None:
                for p in params:
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                    dist.all_reduce(p.grad)
                    p.grad /= world
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            sched.step()
            st["step"] += 1
            st["batch_in_epoch"] = b + 1
            st["items"] += len(idx) * world
            st["loss_sum"] += loss.item()
            st["loss_n"] += 1
            bar.update(1)
            bar.set_postfix(epoch=st["epoch"] + 1, loss=f"{loss.item():.3f}",
                            items_s=f"{len(idx) * world / (time.perf_counter() - t0):.0f}")
            st["train_time_s"] = time.perf_counter() - t_start
            if save_every and st["step"] % save_every == 0:
                checkpoint_state()
            if max_minutes is not None and st["train_time_s"] > 60 * max_minutes:
                stop = True
                break
        epoch_done = st["batch_in_epoch"] >= steps_per_epoch
        entry = {"epoch": st["epoch"] + 1, "train_loss": st["loss_sum"] / max(st["loss_n"], 1), "complete": epoch_done}
        if val_cols is not None and rank == 0 and (epoch_done or stop):
            model.eval()
            scores = validate(model, task, val_cols, limit=val_limit)
            model.train()
            entry["val"] = {k: v for k, v in scores.items() if isinstance(v, (int, float))}
            score = scores[d["metric"]]
            if st["best"] is None or score > st["best"]:
                st["best"], st["best_epoch"], st["bad_epochs"] = score, st["epoch"] + 1, 0
                best_state = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
            else:
                st["bad_epochs"] += 1
                if patience is not None and st["bad_epochs"] > patience:
                    stop = True
        st["history"].append(entry)
        if epoch_done:
            st["epoch"] += 1
            st["batch_in_epoch"] = 0
        checkpoint_state()
    bar.close()
    st["train_time_s"] = time.perf_counter() - t_start
    if best_state is not None:
        model.net.load_state_dict(best_state)
    model.eval()
    result = {"model": name, "task": task, "checkpoint": str(out), "world_size": world, **{
        k: st[k] for k in ("step", "train_time_s", "best", "best_epoch", "history", "items")}}
    if rank == 0:
        dev = "cpu"
        save_checkpoint(model, out, task=task, extra={"train": {
            "train_time_s": st["train_time_s"], "device": dev, "epochs_run": len(st["history"]), "steps": st["step"],
            "seed": seed, "batch_size": batch_size, "lr": lr, "init_weights": init_weights, "world_size": world,
            "threads": torch.get_num_threads(), "limit": limit, "best_epoch": st["best_epoch"], "dtype": dtype}})
        result["checkpoint_sha256"] = sha256_file(out / "model.safetensors")
        if write:
            row = make_row(
                "train", model=name, spec_hash=spec.spec_hash, weights=result["checkpoint_sha256"],
                dataset=DATASET_NAMES[task] + " train", dataset_sha256=dataset_sha256(task, "train"),
                settings={"task": task, "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                          "warmup": warmup, "schedule": schedule, "clip": clip, "seed": seed, "pretrained": pretrained,
                          "init_weights": init_weights, "patience": patience, "max_minutes": max_minutes,
                          "limit": limit, "world_size": world, "threads": torch.get_num_threads(), "dtype": dtype,
                          "overrides": overrides or {}},
                metrics={"train_time_s": st["train_time_s"], "steps": st["step"], "items": st["items"],
                         "best_val": st["best"], "best_epoch": st["best_epoch"],
                         "final_train_loss": st["history"][-1]["train_loss"] if st["history"] else None},
                history=st["history"], device=dev, checkpoint_sha256=result["checkpoint_sha256"],
            )
            append_row(raw_path("nlp"), row)
        shutil.rmtree(state_dir, ignore_errors=True) if not stop or st["epoch"] >= epochs else None
    if dist is not None:
        dist.barrier()
    return result


def _splits(task):
    from .data import SPLITS

    return SPLITS[task]
