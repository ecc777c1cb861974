"""Training image classifiers on an ImageFolder: ``zoo train NAME --data DIR`` -> a checkpoint folder + a "train" row.

    r = train_image_classifier("efficientnet_lite0", "data/cifar10/train", image_config(epochs=5),
                               VisionRun(image_size=160, freeze="last:13"))
    r = linear_probe("efficientnet_lite0", "data/cifar10/train", VisionRun(image_size=160))
    # then: zoo eval efficientnet_lite0 --checkpoint r["checkpoint"] --data data/cifar10/heldout

Fine-tuning runs zoo's one training loop (``zoo.harness.train.train``: TrainConfig, resume, ``max_minutes``,
progress bar, DDP under torchrun, safetensors state) on the network with a fresh head for the data's classes
(``zoo.harness.loading.vision``): pretrained backbone by default, random init with ``pretrained=False`` (any registered
classifier). For EfficientNet-Lite0, ``freeze="last:13"`` trains the head, the head conv (+ BN) and the last 11
of 16 blocks (its last four stages); the stem and the first three stages, which run at the highest
resolutions and cost most in backward, stay frozen. Loss: cross-entropy with label smoothing (``VisionRun.label_smoothing``).
Training images go through timm's train transform (``create_transform(is_training=True)``: random-resized crop of 60-100 % of
the image, bicubic resize to ``image_size``, horizontal flip, the weights' mean/std; no colour jitter), or,
with ``augment=False``, the evaluation transform (the whole image resized to ``image_size``).

The linear probe is the baseline: the backbone frozen and untouched, the head's input features computed
once per image (evaluation transform, no augmentation), a multinomial ``sklearn`` LogisticRegression fitted on
the standardised features and folded back into the head (``W / sigma``, ``b - W mu / sigma``), so the probe is
a checkpoint like any other and ``zoo eval`` scores it the same way.

Checkpoint folder (default ``$ZOO_CACHE/checkpoints/NAME-<data folder>``): ``model.safetensors`` + ``zoo_vision.json``
(classes, image size, how it was trained). The resumable loop state is ``<out>.state/`` (removed when every
epoch has run); ``resume=True`` continues from it and refuses other vision settings than the run it continues.
"""

from __future__ import annotations

import functools
import json
import shlex
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ... import registry
from ...datasets.imagefolder import ImageFolderData, ImageFolderItems, load_imagefolder
from ...errors import UserError
from ...offline import zoo_cache_dir
from ...results import append_row, check_appendable, make_row, raw_path
from .. import distributed
from . import vision_fast
from .config import TrainConfig
from .loop import set_seed, train
from .validate import evaluate_loss
from .out_folder import check_room, locked_out
from ..loading.vision import VISION_CONFIG, head_of, prepare_classifier, save_vision_checkpoint
from .vision_model import extract_features, freeze, parse_freeze

TOPIC = "train"
DEFAULT_IMAGE_SIZE = 128
RUN_FILE = "vision_run.json"
TASK = "image-classification"
RECIPES = ("default", "fast")


@dataclass(frozen=True)
class VisionRun:
    """The image-specific settings of a run (the loop's are in TrainConfig)."""

    image_size: int = DEFAULT_IMAGE_SIZE
    freeze: str = "none"
    augment: bool = True
    pretrained: bool = True
    label_smoothing: float = 0.1
    limit: int | None = None  # first N images of each class
    threads: int | None = None
    recipe: str = "default"  # or "fast": the frozen stem computed once, see vision_fast
    mixup: float = 0.0  # --recipe fast: Beta(a, a) mixup of the cached activations (0: off)
    dropout: float = 0.0  # --recipe fast: dropout before the classifier
    block_lr: float = 1.0  # --recipe fast: the pretrained blocks' learning rate, x the head's

    def __post_init__(self) -> None:
        parse_freeze(self.freeze)
        if not 16 <= self.image_size <= 1024:
            raise UserError(f"--image-size must be between 16 and 1024, got {self.image_size}")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.mixup < 0 or not 0 <= self.dropout < 1:
            raise UserError(f"--mixup must be >= 0 and --dropout in [0, 1), got {self.mixup}, {self.dropout}")
        if not 0 < self.block_lr <= 1:
            raise UserError(f"--block-lr must be in (0, 1], got {self.block_lr}")
        if (self.mixup or self.dropout or self.block_lr != 1) and self.recipe != "fast":
            raise UserError("--mixup, --dropout and --block-lr are settings of --recipe fast")
        if self.recipe not in RECIPES:
            raise UserError(f"--recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        for k in ("limit", "threads"):
            if getattr(self, k) is not None and getattr(self, k) < 1:
                raise UserError(f"--{k} must be at least 1, got {getattr(self, k)}")


def image_config(**settings: Any) -> TrainConfig:
    """The TrainConfig ``zoo train`` uses for image classifiers, with ``settings`` replaced: AdamW (no decay
    on biases / norm scales), cosine decay after a 5 % warm-up, batch 32, 3 epochs, a resumable state every
    25 steps, the partial epoch of a time-budgeted run recorded."""
    base = TrainConfig(optimizer="adamw", lr=1e-3, weight_decay=0.05, decay_biases=False, schedule="cosine",
                       warmup=0.05, batch_size=32, epochs=3, record_partial=True, divergence_factor=None,
                       device="cpu", checkpoint_every=25)
    return base.replace(**settings)


def augment_transform(model, image_size: int):
    """timm's train pipeline at ``image_size`` with the model's interpolation, mean and std."""
    from timm.data import create_transform  # deferred: timm imports torch and torchvision

    pre = model.spec.preprocess
    return create_transform(input_size=(3, image_size, image_size), is_training=True, scale=(0.6, 1.0),
                            hflip=0.5, color_jitter=None, interpolation=pre.interpolation, mean=pre.mean, std=pre.std)


def load_training_data(data: str | Path, limit: int | None = None) -> ImageFolderData:
    """The checked ImageFolder, cut to the first ``limit`` images of each class when given."""
    folder = load_imagefolder(data)
    if limit is None:
        return folder
    seen: dict[int, int] = {}
    keep = []
    for i, (_, y) in enumerate(folder.samples):
        seen[y] = seen.get(y, 0) + 1
        if seen[y] <= limit:
            keep.append(i)
    return folder.subset(keep)


def default_out(name: str, data: ImageFolderData) -> Path:
    return zoo_cache_dir() / "checkpoints" / f"{name}-{data.root.resolve().name}"


def _check_out(out: Path, name: str) -> None:
    cfg = out / VISION_CONFIG
    if cfg.is_file():
        if json.loads(cfg.read_text()).get("model") != name:
            raise UserError(f"{out} holds a checkpoint of another model; choose another --out")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not a vision checkpoint of {name}; choose another --out")


def _state_dir(out: Path) -> Path:
    return out.parent / f"{out.name}.state"


def _check_run_file(state: Path, run: VisionRun, resume: bool, is_main: bool) -> None:
    """The state folder remembers the vision settings; a resumed run must use the same ones."""
    path, now = state / RUN_FILE, {k: v for k, v in asdict(run).items() if k != "threads"}
    if resume and path.is_file():
        was = json.loads(path.read_text())
        diff = sorted(k for k in now if was.get(k) != now[k])
        if diff:
            k = diff[0]
            raise UserError(f"{state}: the run to resume had {k}={was.get(k)!r}, this one {now[k]!r}; resume with "
                            "the same settings or drop --resume")
    elif is_main:
        state.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(now, sort_keys=True))


def train_image_classifier(name: str, data: str | Path, config: TrainConfig | None = None,
                           run: VisionRun | None = None, *, out: str | Path | None = None, resume: bool = False,
                           write: bool = True, progress: bool = True, val_data: str | Path | None = None) -> dict[str, Any]:
    """Fine-tune (or train from scratch) ``name`` on the ImageFolder ``data``; returns the result dict
    (checkpoint, checkpoint_sha256, steps, train_time_s, history, ...) and appends the "train" row.
    ``val_data``: an ImageFolder with the same classes, scored after every epoch (``val_accuracy`` in the
    history, beside the training minutes so far: the accuracy-vs-minutes curve); not counted as training time."""
    config, run = config or image_config(), run or VisionRun()
    folder = load_training_data(data, run.limit)
    out = Path(out) if out is not None else default_out(name, folder)
    with locked_out(out, distributed.from_env().is_main):  # one run per --out; a killed swap finished first
        return _train_image_classifier(name, folder, config, run, out, resume=resume, write=write, progress=progress,
                                       val_data=val_data)


def _train_image_classifier(name: str, folder: ImageFolderData, config: TrainConfig, run: VisionRun, out: Path, *,
                            resume: bool, write: bool, progress: bool, val_data=None) -> dict[str, Any]:
    _check_out(out, name)
    if write:
        check_appendable(raw_path(TOPIC))
    dist = distributed.from_env()
    if config.batch_size is not None and config.batch_size % dist.world_size:
        raise UserError(f"global batch {config.batch_size} does not split evenly over {dist.world_size} processes")
    _check_run_file(_state_dir(out), run, resume, dist.is_main)
    if run.threads:
        torch.set_num_threads(run.threads)
    set_seed(config.seed)
    model = prepare_classifier(name, folder.class_names, pretrained=run.pretrained, image_size=run.image_size,
                               seed=config.seed)
    check_room(out, model.net)
    init_weights = model.weights_id
    counts = freeze(model.net, run.freeze)
    val = _val_folder(val_data, folder)
    run_info = {"val_data": str(val.root) if val is not None else None}
    r = _loop(model, folder, config, run, _state_dir(out), resume, progress, f"train {name} on {folder.root.name}", val)
    device = str(next(model.net.parameters()).device)
    model.net.to("cpu")
    info = {"init_weights": init_weights, "device": device, **counts}
    result = {"model": name, "checkpoint": str(out), "steps": r["steps"], "train_time_s": r["wall_s"],
              "items": r["items_seen"], "history": r["history"], "world_size": r["world_size"],
              "stopped_by": r["stopped_by"], "resumed_from_step": r["resumed_from_step"], **counts, **run_info}
    if r["rank"] == 0:
        _save_and_record(model, folder, config, run, r, info, result, write)
        if sum(h.get("complete", True) for h in r["history"]) >= config.epochs:
            shutil.rmtree(_state_dir(out), ignore_errors=True)
    distributed.barrier(dist)
    return result


def _val_folder(val_data: str | Path | None, folder: ImageFolderData) -> ImageFolderData | None:
    if val_data is None:
        return None
    val = load_imagefolder(val_data)
    if val.class_names != folder.class_names:
        raise UserError(f"--val-data {val_data}: classes {val.class_names} differ from the training data's "
                        f"{folder.class_names}")
    return val


def _score(model, data) -> dict[str, float]:
    m = evaluate_loss(model, data, loss_fn=F.cross_entropy, batch_size=64)
    return {"loss": m["loss"], "accuracy": 100.0 * m["accuracy"]}


def _loop(model, folder: ImageFolderData, config: TrainConfig, run: VisionRun, state: Path, resume: bool,
          progress: bool, desc: str, val: ImageFolderData | None = None) -> dict[str, Any]:
    """The training loop on the network (default recipe) or on its trainable part fed cached activations
    (``--recipe fast``, vision_fast); with the fast recipe ``wall_s`` includes the caching. ``val``: scored
    after every epoch (top-1 %, ``val_accuracy``)."""
    val_items = ImageFolderItems(val, model.transform) if val is not None else None
    if run.recipe == "fast":
        suffix, data, cache_s, val_views = vision_fast.prepare(model.net, ImageFolderItems(folder, model.transform),
                                                               folder.labels, val_items, dropout=run.dropout,
                                                               block_lr=run.block_lr)
        step = vision_fast.augmented_loss(run.label_smoothing, run.mixup)
        r = train(suffix, data, config, step_fn=step, checkpoint_dir=state,
                  resume=resume, progress=progress, desc=desc, val_data=val_views, val_fn=_score if val else None)
        return {**r, "wall_s": r["wall_s"] + cache_s, "cache_s": cache_s, "loop_s": r["wall_s"]}
    transform = augment_transform(model, run.image_size) if run.augment else model.transform
    loss_fn = functools.partial(F.cross_entropy, label_smoothing=run.label_smoothing)
    return train(model.net, ImageFolderItems(folder, transform), config, loss_fn=loss_fn, checkpoint_dir=state,
                 resume=resume, progress=progress, desc=desc, val_data=val_items, val_fn=_score if val else None)


def _save_and_record(model, folder: ImageFolderData, config: TrainConfig, run: VisionRun, r: dict, info: dict,
                     result: dict, write: bool) -> None:
    method = "fine-tune" if run.pretrained else "from scratch"
    train_info = {"method": method, "train_time_s": r["wall_s"], "steps": r["steps"], "epochs_run": len(r["history"]),
                  "data": str(folder.root), "n_train": len(folder), **asdict(run), **info, "config": config.settings()}
    history, minutes = [], r.get("cache_s", 0.0) / 60
    for h in r["history"]:  # minutes: training time at the end of the epoch (caching included)
        minutes += h["wall_s"] / 60
        history.append({"epoch": h["epoch"], "train_loss": h["train_loss"], "complete": h.get("complete", True),
                        "items_per_s": h["items_per_s"], "train_minutes": minutes,
                        **{k: h[k] for k in ("val_accuracy", "val_loss") if k in h}})
    settings = {**config.settings(), **asdict(run), "method": method, "task": TASK, "data": str(folder.root),
                "n_train": len(folder), "num_classes": len(folder.class_names), "world_size": r["world_size"],
                "threads": torch.get_num_threads(), "trainable_params": info["trainable_params"],
                "init_weights": info["init_weights"]}
    metrics = {"train_time_s": r["wall_s"], "steps": r["steps"], "items": r["items_seen"],
               "final_train_loss": history[-1]["train_loss"] if history else None, "best_val": None,
               "best_epoch": None, "stopped_by": r["stopped_by"],
               **({"cache_s": r["cache_s"], "loop_s": r["loop_s"]} if "cache_s" in r else {})}
    cmd = command_line(model.spec.name, folder, config, run, result["checkpoint"], r["world_size"])
    if result.get("val_data"):
        cmd += " --val-data " + shlex.quote(result["val_data"])
        settings["val_data"] = result["val_data"]

    def record(sha: str) -> None:  # after the new folder is complete, before it is swapped in
        result["checkpoint_sha256"] = sha
        if write:
            _append(model, folder, settings, metrics, history, info["device"], sha, cmd)

    save_vision_checkpoint(model, Path(result["checkpoint"]), {"train": train_info}, record)


def _append(model, folder: ImageFolderData, settings: dict, metrics: dict, history: list, device: str, sha: str,
            cmd: str) -> None:
    spec = registry.get_spec(model.spec.name)
    row = make_row("train", model=spec.name, spec_hash=spec.spec_hash, weights=sha,
                   dataset=f"{folder.root} (ImageFolder, {len(folder)} images, {len(folder.class_names)} classes)",
                   dataset_sha256=folder.sha256(), settings=settings, metrics=metrics, history=history,
                   device=device, checkpoint_sha256=sha, task=TASK, command=cmd)
    append_row(raw_path(TOPIC), row)


def command_line(name: str, folder: ImageFolderData, config: TrainConfig | None, run: VisionRun, out: str,
                 world: int = 1, probe: bool = False) -> str:
    """The ``zoo train`` command that reproduces the run (flags only where they differ from the defaults)."""
    args = ["zoo", "train", name, "--data", str(folder.root)]
    if world > 1:
        args = ["torchrun", "--nproc_per_node", str(world), "-m"] + args
    base = VisionRun()
    if probe:
        args.append("--linear-probe")
    if not run.pretrained:
        args.append("--random-init")
    if not run.augment and not probe:
        args.append("--no-augment")
    for flag, key in (("--recipe", "recipe"), ("--image-size", "image_size"), ("--freeze", "freeze"),
                      ("--label-smoothing", "label_smoothing"), ("--mixup", "mixup"), ("--dropout", "dropout"),
                      ("--block-lr", "block_lr"),
                      ("--limit", "limit"), ("--threads", "threads")):
        if getattr(run, key) != getattr(base, key) and not (probe and key in ("freeze", "label_smoothing")):
            args += [flag, str(getattr(run, key))]
    args += ["--out", out]
    return shlex.join(args + (config.command_args(image_config()) if config is not None else []))


def linear_probe(name: str, data: str | Path, run: VisionRun | None = None, *, out: str | Path | None = None,
                 C: float = 1.0, write: bool = True, progress: bool = True) -> dict[str, Any]:
    """The baseline: frozen pretrained backbone, sklearn LogisticRegression on its features, folded into the
    head; saved and recorded like a fine-tuning run ("method": "linear-probe")."""
    run = run or VisionRun()
    if distributed.from_env().world_size > 1:
        raise UserError("the linear probe runs in one process; start it without torchrun")
    folder = load_training_data(data, run.limit)
    out = Path(out) if out is not None else default_out(name, folder).with_name(default_out(name, folder).name + "-probe")
    with locked_out(out):
        return _linear_probe(name, folder, run, out, C=C, write=write)


def _linear_probe(name: str, folder: ImageFolderData, run: VisionRun, out: Path, *, C: float, write: bool) -> dict:
    _check_out(out, name)
    if write:
        check_appendable(raw_path(TOPIC))
    if run.threads:
        torch.set_num_threads(run.threads)
    model = prepare_classifier(name, folder.class_names, pretrained=run.pretrained, image_size=run.image_size, seed=0)
    t0 = time.perf_counter()
    feats = extract_features(model, ImageFolderItems(folder, model.transform))
    fit = fit_head(model, feats, torch.tensor(folder.labels), C=C)
    elapsed = time.perf_counter() - t0
    info = {"init_weights": model.weights_id, "device": "cpu", "trainable_params": fit["head_params"],
            "params": sum(p.numel() for p in model.net.parameters())}
    result = {"model": name, "checkpoint": str(out), "steps": fit["iterations"], "train_time_s": elapsed,
              "items": len(folder), "history": [], "train_accuracy": fit["train_accuracy"], "world_size": 1}
    _save_probe(model, folder, run, C, fit, info, result, write)
    return result


def fit_linear(feats: torch.Tensor, labels: torch.Tensor, C: float = 1.0, max_iter: int = 1000,
               num_classes: int | None = None) -> dict:
    """A multinomial LogisticRegression (sklearn, lbfgs) on standardised ``feats``, as ``logits = feats @ W.T + b``
    on the raw features (the standardisation folded in); also its training accuracy (%) and iterations.
    Standardised: centred per feature, divided by one scale (the features' overall std), not per feature: a
    feature nearly constant on a small training set would otherwise get a huge weight."""
    from sklearn.linear_model import LogisticRegression  # deferred: scikit-learn is heavy
    from threadpoolctl import threadpool_limits

    feats = feats.double()
    mu = feats.mean(0)
    sigma = (feats - mu).std().clamp_min(1e-12)
    z = ((feats - mu) / sigma).numpy()
    with threadpool_limits(limits=1):  # BLAS threads beside torch's spin and fight: 10x slower on 2 cores
        clf = LogisticRegression(C=C, max_iter=max_iter).fit(z, labels.numpy())
    w = torch.as_tensor(clf.coef_, dtype=torch.float64)
    b = torch.as_tensor(clf.intercept_, dtype=torch.float64)
    if w.shape[0] == 1:  # sklearn fits one row for two classes: logit difference
        w, b = torch.cat([-w / 2, w / 2]), torch.cat([-b / 2, b / 2])
    k = num_classes or int(labels.max()) + 1
    if len(clf.classes_) < k:  # rows only for the classes seen: an unseen class is never predicted
        full_w, full_b = torch.zeros(k, w.shape[1], dtype=w.dtype), torch.full((k,), -1e4, dtype=b.dtype)
        full_w[torch.as_tensor(clf.classes_)], full_b[torch.as_tensor(clf.classes_)] = w, b
        w, b = full_w, full_b
    return {"W": (w / sigma).float(), "b": (b - (w / sigma) @ mu).float(), "train_accuracy": 100.0 * float(clf.score(z, labels.numpy())),
            "iterations": int(max(clf.n_iter_))}


def fit_head(model, feats: torch.Tensor, labels: torch.Tensor, C: float = 1.0) -> dict:
    """``fit_linear`` on the head's input features, written into the model's head."""
    head, _ = head_of(model.net)
    fit = fit_linear(feats, labels, C, num_classes=head.out_features)
    with torch.no_grad():
        head.weight.copy_(fit["W"])
        head.bias.copy_(fit["b"])
    return {**fit, "head_params": head.weight.numel() + head.bias.numel()}

def _save_probe(model, folder: ImageFolderData, run: VisionRun, C: float, fit: dict, info: dict, result: dict,
                write: bool) -> None:
    method = "linear-probe (sklearn LogisticRegression on frozen features)"
    train_info = {"method": method, "train_time_s": result["train_time_s"], "data": str(folder.root),
                  "n_train": len(folder), "C": C, **asdict(run), **info}
    settings = {**asdict(run), "freeze": "all but head", "augment": False, "method": method, "C": C, "task": TASK,
                "data": str(folder.root), "n_train": len(folder), "num_classes": len(folder.class_names),
                "world_size": 1, "threads": torch.get_num_threads(), "trainable_params": info["trainable_params"],
                "init_weights": info["init_weights"], "seed": 0}
    metrics = {"train_time_s": result["train_time_s"], "steps": fit["iterations"], "items": len(folder),
               "train_accuracy": fit["train_accuracy"], "final_train_loss": None, "best_val": None, "best_epoch": None}
    cmd = command_line(model.spec.name, folder, None, run, result["checkpoint"], probe=True)
    if C != 1.0:
        cmd += f" --C {C}"

    def record(sha: str) -> None:
        result["checkpoint_sha256"] = sha
        if write:
            _append(model, folder, settings, metrics, [], "cpu", sha, cmd)

    save_vision_checkpoint(model, Path(result["checkpoint"]), {"train": train_info}, record)
