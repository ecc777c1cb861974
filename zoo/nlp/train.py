"""Training text models: ``train_text("bilstm", "sst2", epochs=5)`` -> a checkpoint folder and a result row.

The loop is zoo's one training loop, ``zoo.harness.train.train``, run on the model's network
(``model.net``) with ``step_fn`` = ``model.loss(model.training_batch(rows))``: AdamW (no weight decay on
biases and norm scales), linear warm-up then linear decay (or constant), gradient-norm clipping, a fixed
seed, a tqdm progress bar with loss and items/s, validation after each epoch (rank 0 scores, the scores
are broadcast) with early stopping, a time budget and data parallelism over ``torchrun`` processes (gloo
on CPU). This module adds what is specific to text: per-task defaults, the data and validation metric,
the checkpoint folder and the "train" row.

What the settings mean:
  ``patience=N``: stop after N consecutive epochs without a better validation score (at epoch
  best_epoch + N).
  ``max_minutes``: training time (forward, backward and optimizer steps, not validation or state
  writes); the run stops after the step that crosses it and records and validates the partial epoch
  (``"complete": false`` in the history). ``train_time_s`` is measured the same way.
  The kept weights: the best validation epoch's (partial epoch included) when the task has a validation
  metric, else the last.

Determinism and resume: the data order of epoch e is a function of (seed, e). Every ``save_every`` steps and
at each epoch end the full training state (weights, optimizer, schedule position, RNG, best epoch and its
weights) is written atomically to ``<out>.state/last.safetensors`` (the harness's checkpoint);
``resume=True`` continues from it, so a run killed mid-epoch ends with the same weights as an
uninterrupted one (tested). The state folder is removed once every epoch has run.

Data parallel: with WORLD_SIZE > 1 each process takes rows r, r+W, ... of every global batch and the
gradients are averaged before the step: the same update as one process on the whole global batch (exact
only without dropout, whose masks differ between processes). Rank 0 writes checkpoints and rows.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
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


class _RowIndices(torch.utils.data.Dataset):
    """Item i is the row index i; the collate function turns a batch of indices into the model's inputs."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def _rows(cols: dict, idx: list[int]) -> dict:
    return {k: [v[i] for i in idx] for k, v in cols.items()}


def validate(model, task: str, cols: dict, batch_size: int = 64, limit: int | None = None) -> dict:
    """Score ``model`` on a split's columns (no row written); translation validates with greedy decoding."""
    from .evaluate import score_predictions, predict_split

    beams = getattr(model, "num_beams", None)
    if beams is not None:
        model.num_beams = 1
    try:
        device = str(next(model.net.parameters()).device)
        preds = predict_split(model, task, cols, batch_size=batch_size, limit=limit, device=device)
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
               overrides: dict | None = None, threads: int | None = None, dtype: str = "fp32",
               device: str = "cpu") -> dict:
    """Train ``name`` on ``task``; returns a flat dict (checkpoint, sha256, times, losses, validation scores).

    epochs/batch_size/lr default per task (``DEFAULTS``); ``batch_size`` is the GLOBAL batch (all processes).
    ``warmup``: fraction of the steps; ``clip``: gradient-norm bound (0: off); ``patience``: epochs without
    improvement before stopping. ``limit``: train on the first ``limit`` rows only (tests).
    ``max_minutes``: training-time budget (validation not counted), see the module docstring.
    ``dtype``: "bf16" runs forward and loss under bf16 autocast on the training device (weights, optimizer
    and gradients stay fp32; ~1.5x faster on CPUs with bf16 matrix units); validation and the saved
    checkpoint are fp32. ``device``: "cpu" or "cuda[:i]" (under torchrun each process takes cuda:LOCAL_RANK).
    ``out``: the checkpoint folder (default ``$ZOO_CACHE/checkpoints/NAME-TASK``); written only at the end
    (best validation epoch when there is a validation metric, else the last), atomically.
    """
    from .. import create_model
    from ..harness.train import set_seed, train
    from ..registry import UnknownModelError, get_spec
    from ..results import append_row, make_row, raw_path, sha256_file
    from ..models.text.checkpoint import default_checkpoint_dir, save_checkpoint
    from ..datasets.text import DATASET_NAMES, check_task, dataset_sha256, read_split

    check_task(task)
    if dtype not in ("fp32", "bf16"):
        raise UserError(f"dtype must be fp32 or bf16, not {dtype!r}")
    from ..models.base import check_device

    device = check_device(device)
    if schedule not in ("linear", "constant"):
        raise UserError(f"schedule must be linear or constant, not {schedule!r}")
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
        from ..models.text.checkpoint import check_architecture

        check_architecture(out, spec)
    elif out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not a checkpoint of {name}; choose another --out")
    if write:
        from ..results import check_appendable

        check_appendable(raw_path("nlp"))
    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's; the harness joins the process group
    if batch_size % world:
        raise UserError(f"global batch {batch_size} does not split evenly over {world} processes")

    set_seed(seed)
    model = create_model(name, pretrained=pretrained, **(overrides or {}))
    init_weights = model.weights_id
    model.train()
    cols = read_split(task, "train")
    if limit is not None:
        cols = {k: v[:limit] for k, v in cols.items()}
    n = len(next(iter(cols.values())))
    metric = d["metric"] if "validation" in _splits(task) else None
    val_cols = read_split(task, "validation") if metric else None
    steps_per_epoch = math.ceil(n / batch_size)
    total = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    params = [p for p in model.net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)

    def val_fn(net, val_cols) -> dict[str, float]:
        return _agreed_scores(lambda: validate(model, task, val_cols, limit=val_limit), model)

    r = train(
        model.net, _RowIndices(n), step_fn=lambda net, inputs: model.loss(inputs),
        collate_fn=lambda idx: model.training_batch(_rows(cols, idx)), optimizer=opt, batch_size=batch_size,
        epochs=epochs, max_steps=max_steps, max_time_s=60 * max_minutes if max_minutes is not None else None,
        lr_schedule=schedule, warmup_steps=int(warmup * total), clip_norm=clip or None,
        autocast_dtype=torch.bfloat16 if dtype == "bf16" else None,
        val_data=val_cols, val_fn=val_fn if val_cols is not None else None, monitor=metric or "loss",
        monitor_mode="max", patience=patience, keep_best=True, record_partial=True, seed=seed,
        checkpoint_dir=state_dir, checkpoint_every=save_every or None, resume=resume,
        divergence_factor=None, progress=progress, desc=f"train {name} on {task}", device=device,
    )
    dev = str(next(model.net.parameters()).device)
    model.net.to("cpu")  # the checkpoint and the caller get CPU weights whatever the training device
    model.eval()
    rank, world = r["rank"], r["world_size"]
    history = [_history_entry(h) for h in r["history"]]
    best = r["best"][f"val_{metric}"] if r["best"] is not None else None
    best_epoch = r["best"]["epoch"] if r["best"] is not None else None
    if r["diverged"] and rank == 0:
        print(f"warning: non-finite loss at step {r['diverged_step']}; training stopped there", file=sys.stderr)
    result = {"model": name, "task": task, "checkpoint": str(out), "world_size": world, "step": r["steps"],
              "train_time_s": r["wall_s"], "best": best, "best_epoch": best_epoch, "history": history,
              "items": r["items_seen"]}
    if rank == 0:
        save_checkpoint(model, out, task=task, extra={"train": {
            "train_time_s": r["wall_s"], "device": dev, "epochs_run": len(history), "steps": r["steps"],
            "seed": seed, "batch_size": batch_size, "lr": lr, "init_weights": init_weights, "world_size": world,
            "threads": torch.get_num_threads(), "limit": limit, "best_epoch": best_epoch, "dtype": dtype}})
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
                metrics={"train_time_s": r["wall_s"], "steps": r["steps"], "items": r["items_seen"],
                         "best_val": best, "best_epoch": best_epoch,
                         "final_train_loss": history[-1]["train_loss"] if history else None},
                history=history, device=dev, checkpoint_sha256=result["checkpoint_sha256"],
            )
            append_row(raw_path("nlp"), row)
        if sum(h["complete"] for h in history) >= epochs:  # finished: nothing left to resume
            shutil.rmtree(state_dir, ignore_errors=True)
    if world > 1:
        torch.distributed.barrier()
    return result


def _agreed_scores(score, model) -> dict[str, float]:
    """``score()``'s numeric entries, computed in eval mode; under torchrun rank 0 computes them and
    broadcasts, so every process takes the same early-stopping decision."""
    import torch.distributed as dist

    distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    box: list = [None]
    if not distributed or dist.get_rank() == 0:
        model.eval()
        box[0] = {k: v for k, v in score().items() if isinstance(v, (int, float))}
        model.train()
    if distributed:
        dist.broadcast_object_list(box, src=0)
    return box[0]


def _history_entry(h: dict) -> dict:
    """A harness history record in the train row's shape: epoch, train_loss, complete and (validated) val."""
    entry = {"epoch": h["epoch"], "train_loss": h["train_loss"], "complete": h.get("complete", True)}
    val = {k[len("val_"):]: v for k, v in h.items() if k.startswith("val_")}
    if val:
        entry["val"] = val
    return entry


def _splits(task):
    from ..datasets.text import SPLITS

    return SPLITS[task]
