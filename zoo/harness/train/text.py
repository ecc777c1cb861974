"""Training text models: ``train_text("bilstm", "sst2", text_config("sst2", epochs=5))`` -> a checkpoint
folder and a "train" row (results/raw/train.jsonl).

The loop is zoo's one training loop (``zoo.harness.train.train``), run on the model's network (``model.net``)
with ``step_fn`` = ``model.loss(model.training_batch(rows))``. ``text_config(task)`` holds the text defaults:
AdamW (no weight decay on biases and norm scales), linear warm-up over 5 % of the steps then linear decay,
gradient-norm clipping 1.0, per-task epochs / batch / lr (``DEFAULTS``), the best validation epoch kept, a
partial epoch recorded. This module adds what is specific to text: the data and its validation metric, the
checkpoint folder and the row.

What the settings mean:
  ``patience=N``: stop after N consecutive epochs without a better validation score (at epoch
  best_epoch + N).
  ``max_minutes``: training time (forward, backward and optimizer steps, not validation or state writes);
  the run stops after the step that crosses it and records and validates the partial epoch
  (``"complete": false`` in the history). ``train_time_s`` is measured the same way.
  The kept weights: the best validation epoch's (partial epoch included) when the task has a validation
  metric, else the last.

Determinism and resume: the data order of epoch e is a function of (seed, e). Every ``checkpoint_every``
steps and at each epoch end the full training state is written atomically to ``<out>.state/last.safetensors``;
``resume=True`` continues from it, so a run killed mid-epoch ends with the same weights as an uninterrupted
one (tested). The state folder is removed once every epoch has run.

Data parallel (torchrun): each process takes rows r, r+W, ... of every global batch; DistributedDataParallel
averages the gradients: the same update as one process on the whole global batch (exact only without
dropout). Validation runs on rank 0 and its scores are broadcast. Rank 0 writes the checkpoint and the row.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from ... import registry
from ...datasets.text import DATASET_NAMES, SPLITS, check_task, dataset_sha256, read_split
from ...errors import UserError
from ...io import replace_folder
from ...models.base import check_device
from ...models.text import check_model_task, override_names
from ...models.text.checkpoint import CONFIG, check_architecture, default_checkpoint_dir, write_checkpoint
from ...results import append_row, check_appendable, make_row, raw_path
from ...tasks import get_task
from .. import distributed
from ..eval.runner import score
from .config import TrainConfig
from .loop import set_seed, train
from .out_folder import check_room, locked_out

# Per-task defaults: epochs, batch size, learning rate, validation metric (higher is better).
DEFAULTS = {
    "sst2": dict(epochs=8, batch_size=32, lr=2e-3, metric="accuracy"),
    "multi30k": dict(epochs=10, batch_size=64, lr=1e-3, metric="bleu"),
    "squad": dict(epochs=3, batch_size=16, lr=5e-4, metric=None),
}
PRETRAINED_LR = 5e-5  # fine-tuning a pretrained encoder
TOPIC = "train"


def val_metric(task: str) -> str | None:
    """The validation score the best epoch is chosen by; None when the data set has no validation split."""
    return DEFAULTS[task]["metric"] if "validation" in SPLITS[task] else None


def text_config(task: str, pretrained: bool = False, **settings: Any) -> TrainConfig:
    """The TrainConfig ``zoo train`` uses for a text task, with ``settings`` (TrainConfig fields) replaced."""
    d = DEFAULTS[check_task(task)]
    base = TrainConfig(
        optimizer="adamw", lr=PRETRAINED_LR if pretrained else d["lr"], weight_decay=0.01, decay_biases=False,
        schedule="linear", warmup=0.05, clip_norm=1.0, batch_size=d["batch_size"], epochs=d["epochs"],
        monitor=val_metric(task) or "loss", monitor_mode="max", keep_best=True, record_partial=True,
        divergence_factor=None, device="cpu", checkpoint_every=200)
    return base.replace(**settings)


def defaults_help() -> str:
    """One line for ``zoo train --help``: the text defaults an unset flag takes."""
    base = text_config("sst2")
    per_task = {k: " / ".join(f"{t} {d[k]}" for t, d in DEFAULTS.items()) for k in ("epochs", "batch_size", "lr")}
    shared = [f"{k} {getattr(base, k)}" for k in ("optimizer", "weight_decay", "schedule", "warmup", "clip_norm",
                                                  "checkpoint_every", "device")]
    return ("unset training settings take the text defaults: " + ", ".join(shared) + "; per task: "
            + "; ".join(f"{k} {v}" for k, v in per_task.items()) + f" ({PRETRAINED_LR} with --pretrained)")


class _RowIndices(torch.utils.data.Dataset):
    """Item i is the row index i; the collate function turns a batch of indices into the model's inputs."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def validate(model, cols: dict, batch_size: int = 64, limit: int | None = None) -> dict:
    """Score ``model`` on a split's columns (no row written); translation validates with greedy decoding."""
    beams = getattr(model, "num_beams", None)
    if beams is not None:
        model.num_beams = 1
    try:
        text_task = get_task(model.spec.task)
        data = text_task.from_columns(cols).take(limit)
        scores = score(model, text_task, data, batch_size=batch_size, device=str(next(model.net.parameters()).device))
    finally:
        if beams is not None:
            model.num_beams = beams
    scores.pop("n", None)
    return scores


def check_overrides(spec, overrides: dict) -> None:
    """Model overrides (``--set KEY=VALUE``) must be ones the model understands: a typo is refused, not saved."""
    valid = override_names(spec)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise UserError(f"{spec.name} has no option {unknown[0]!r}; valid --set options: {', '.join(valid)}")


def train_text(name: str, task: str, config: TrainConfig | None = None, *, out: str | Path | None = None,
               pretrained: bool = False, limit: int | None = None, val_limit: int | None = None,
               resume: bool = False, write: bool = True, progress: bool = True, overrides: dict | None = None,
               threads: int | None = None) -> dict:
    """Train ``name`` on ``task``; returns a flat dict (checkpoint, sha256, times, losses, validation scores).

    ``config``: default ``text_config(task, pretrained)``; its ``batch_size`` is the GLOBAL batch (all
    processes). ``limit`` / ``val_limit``: train / validate on the first rows only (tests). ``overrides``: model
    options (``--set``). ``out``: the checkpoint folder (default ``$ZOO_CACHE/checkpoints/NAME-TASK``), written
    once at the end (best validation epoch when there is a validation metric, else the last), atomically.
    """
    config = config or text_config(task, pretrained)
    check_task(task)
    spec = registry.get_spec(name)
    check_model_task(spec, task)
    check_overrides(spec, overrides or {})
    check_device(config.device or "cpu")
    if val_metric(task) and config.monitor != val_metric(task):
        raise UserError(f"{task} validates by {val_metric(task)}, not {config.monitor}: start from text_config()")
    out = Path(out) if out is not None else default_checkpoint_dir(name, task)
    with locked_out(out, distributed.from_env().is_main):  # one run per --out; a killed swap finished first
        return _train_text(name, task, config, spec, out, pretrained=pretrained, limit=limit, val_limit=val_limit,
                           resume=resume, write=write, progress=progress, overrides=overrides, threads=threads)


def _train_text(name: str, task: str, config: TrainConfig, spec, out: Path, *, pretrained, limit, val_limit, resume,
                write, progress, overrides, threads) -> dict:
    _check_out(out, spec)
    if write:
        check_appendable(raw_path(TOPIC))
    world = distributed.from_env().world_size
    if config.batch_size is not None and config.batch_size % world:
        raise UserError(f"global batch {config.batch_size} does not split evenly over {world} processes")
    if threads:
        torch.set_num_threads(threads)
    set_seed(config.seed)
    model = registry.create_model(name, pretrained=pretrained, **(overrides or {}))
    check_room(out, model.net)
    init_weights = model.weights_id
    r = _fit(model, task, config, out, limit=limit, val_limit=val_limit, resume=resume, progress=progress)
    device = str(next(model.net.parameters()).device)
    model.net.to("cpu")  # the checkpoint and the caller get CPU weights whatever the training device
    model.eval()
    if r["diverged"] and r["rank"] == 0:
        print(f"warning: non-finite loss at step {r['diverged_step']}; training stopped there", file=sys.stderr)
    run = {"model": name, "task": task, "pretrained": pretrained, "init_weights": init_weights, "limit": limit,
           "val_limit": val_limit, "overrides": overrides or {}, "device": device, "threads": torch.get_num_threads(),
           "threads_flag": threads}
    result = _result(r, run, out, config.monitor)
    if r["rank"] == 0:
        _save(model, spec, config, r, run, result, write)
        if sum(h["complete"] for h in result["history"]) >= config.epochs:  # finished: nothing left to resume
            shutil.rmtree(_state_dir(out), ignore_errors=True)
    distributed.barrier(distributed.from_env())
    return result


def _state_dir(out: Path) -> Path:
    return out.parent / f"{out.name}.state"


def _check_out(out: Path, spec) -> None:
    if (out / CONFIG).is_file():  # never replace another model's checkpoint
        check_architecture(out, spec)
    elif out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not a checkpoint of {spec.name}; choose another --out")


def _fit(model, task: str, config: TrainConfig, out: Path, *, limit, val_limit, resume, progress) -> dict:
    """Run the harness loop on the text model's network: rows by index, validation on rank 0."""
    cols = read_split(task, "train")
    if limit is not None:
        cols = {k: v[:limit] for k, v in cols.items()}
    n = len(next(iter(cols.values())))
    val_cols = read_split(task, "validation") if val_metric(task) else None

    def val_fn(net, val_cols) -> dict[str, float]:
        return _agreed_scores(lambda: validate(model, val_cols, limit=val_limit), model)

    model.train()
    return train(
        model.net, _RowIndices(n), config, step_fn=lambda net, inputs: model.loss(inputs),
        collate_fn=lambda idx: model.training_batch({k: [v[i] for i in idx] for k, v in cols.items()}),
        val_data=val_cols, val_fn=val_fn if val_cols is not None else None, checkpoint_dir=_state_dir(out),
        resume=resume, progress=progress, desc=f"train {model.spec.name} on {task}")


def _agreed_scores(score_fn: Callable[[], dict], model) -> dict[str, float]:
    """``score_fn()``'s numeric entries, computed in eval mode; under torchrun rank 0 computes them and
    broadcasts, so every process takes the same early-stopping decision."""
    info = distributed.from_env()
    scores = None
    if info.is_main:
        model.eval()
        scores = {k: v for k, v in score_fn().items() if isinstance(v, (int, float))}
        model.train()
    return distributed.broadcast(scores, info)


def _history_entry(h: dict) -> dict:
    """A harness history record in the train row's shape: epoch, train_loss, complete and (validated) val."""
    entry = {"epoch": h["epoch"], "train_loss": h["train_loss"], "complete": h.get("complete", True)}
    val = {k[len("val_"):]: v for k, v in h.items() if k.startswith("val_")}
    if val:
        entry["val"] = val
    return entry


def _result(r: dict, run: dict, out: Path, monitor: str) -> dict:
    best = r["best"] or {}
    return {"model": run["model"], "task": run["task"], "checkpoint": str(out), "world_size": r["world_size"],
            "step": r["steps"], "train_time_s": r["wall_s"], "best": best.get(f"val_{monitor}"),
            "best_epoch": best.get("epoch"), "history": [_history_entry(h) for h in r["history"]],
            "items": r["items_seen"]}


def command_line(config: TrainConfig, run: dict, world: int) -> str:
    """The ``zoo train`` command that reproduces the run (flags only where they differ from the defaults)."""
    args = ["zoo", "train", run["model"], "--task", run["task"]]
    if world > 1:
        args = ["torchrun", "--nproc_per_node", str(world), "-m"] + args
    if run["pretrained"]:
        args.append("--pretrained")
    for flag, key in (("--limit", "limit"), ("--val-limit", "val_limit"), ("--threads", "threads_flag")):
        if run.get(key) is not None:
            args += [flag, str(run[key])]
    for k, v in run["overrides"].items():
        args += ["--set", f"{k}={v}"]
    return shlex.join(args + config.command_args(text_config(run["task"], run["pretrained"])))


def _save(model, spec, config: TrainConfig, r: dict, run: dict, result: dict, write: bool) -> None:
    """Rank 0: the checkpoint folder (with the whole config) and the "train" row."""
    out, history = Path(result["checkpoint"]), result["history"]
    trained = {"train_time_s": r["wall_s"], "device": run["device"], "epochs_run": len(history), "steps": r["steps"],
               "seed": config.seed, "batch_size": config.batch_size, "lr": config.lr,
               "init_weights": run["init_weights"], "world_size": r["world_size"], "threads": run["threads"],
               "limit": run["limit"], "best_epoch": result["best_epoch"], "dtype": config.dtype,
               "config": config.settings()}
    task = run["task"]

    def record(sha: str) -> None:  # the row, written after the new folder is complete and before it is swapped in
        result["checkpoint_sha256"] = sha
        if write:
            append_row(raw_path(TOPIC), _row(spec, config, r, run, result, history))

    replace_folder(out, lambda folder: write_checkpoint(model, folder, task=task, extra={"train": trained}), record)


def _row(spec, config: TrainConfig, r: dict, run: dict, result: dict, history: list) -> dict:
    task = run["task"]
    settings = {**config.settings(), "task": task, "pretrained": run["pretrained"], "init_weights": run["init_weights"],
                "limit": run["limit"], "val_limit": run["val_limit"], "world_size": r["world_size"],
                "threads": run["threads"], "overrides": run["overrides"]}
    row = make_row(
        "train", model=run["model"], spec_hash=spec.spec_hash, weights=result["checkpoint_sha256"],
        dataset=DATASET_NAMES[task] + " train", dataset_sha256=dataset_sha256(task, "train"), settings=settings,
        metrics={"train_time_s": r["wall_s"], "steps": r["steps"], "items": r["items_seen"], "best_val": result["best"],
                 "best_epoch": result["best_epoch"],
                 "final_train_loss": history[-1]["train_loss"] if history else None},
        history=history, device=run["device"], checkpoint_sha256=result["checkpoint_sha256"], task=task,
        command=command_line(config, run, r["world_size"]))
    return row
