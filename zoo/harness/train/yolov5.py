"""Fine-tuning YOLOv5n in zoo's own loop: ``zoo train yolov5n --data coco128 --limit 96 --heldout 32``.

    r = train_yolov5("yolov5n", "coco128", detection_config(epochs=5), DetectRun(imgsz=320, limit=96, heldout=32))
    r["metrics"]["map"], r["metrics"]["pretrained_map"]   # held-out mAP50-95 (%) after, and before, training
    DetectRun(classes=(0, 2))                              # a 2-class detector (person, car) with a fresh class head

Everything runs through zoo's one training loop (``zoo.harness.train.train``: TrainConfig, ``--resume`` from
``<out>.state/last.safetensors``, DDP under torchrun, the progress bar): the step is YOLOv5's loss
(``zoo.models.yolov5_loss``) on the network's raw head outputs; after every optimizer step the EMA of the
weights (``zoo.models.yolov5_train.WithEMA``, part of the model's state so it is checkpointed) is updated;
the EMA network is the one scored and saved, as YOLOv5 saves its EMA.

Data: a YOLO folder (or ``coco128``): images sorted by name, the first ``limit`` train, the next ``heldout``
are scored (COCO mAP by pycocotools, the detector's eval NMS, letterboxed at ``imgsz``), before training (the
pretrained network) and after every epoch. Bad label lines are counted and skipped
(``zoo.datasets.yolo_format``); the counts go into the row. ``classes`` keeps only those COCO-80 classes,
relabelled 0..k-1, and gives the network a head for k classes (box/objectness rows kept, class rows fresh).

Defaults (``detection_config``): SGD with momentum 0.937 (hyp.scratch-low.yaml), no weight decay on biases and
BatchNorm, 16 images per step, a linear decay after a warm-up over the first 20 % of the steps. YOLOv5 multiplies
its loss by the batch size; zoo's loss is the batch mean, so a learning rate here is YOLOv5's lr0 x 16 (weight
decay 3e-5 is its 5e-4 / 16). The default lr 0.002 (YOLOv5 lr0 0.000125) is low on purpose: a fine-tune of a few
dozen steps on ~100 images pushes down the scores of every class absent from them.

``freeze`` (default "bn", "none" with ``classes``): BatchNorm layers keep their pretrained running statistics
(they are in eval mode while the rest trains; their affine weights still train). Measured on coco128 (first 96
images train, next 32 scored, 320 px, 5 epochs, lr 0.002; pretrained mAP50-95 31.96 / mAP50 46.51): with the
statistics updated ("none") the
held-out mAP50-95 ended at 30.22 (epochs: 32.19, 31.56, 30.21, 31.01, 30.22; lr 0.001: 30.72), 1.2-1.7 below
the pretrained network although the training loss barely moved (0.1260 -> 0.1251): batches of 16 letterboxed
images at 320 px are not the statistics the network was trained with at 640, and 30 steps at YOLOv5's
momentum 0.03 replace 60 % of them. With "bn" it ended at 32.82 / 47.44, loss 0.1092 -> 0.1022. A new head
(``--classes``) has nothing to forget and must learn: give it a higher lr (0.1) and let BatchNorm adapt ("none";
person + car, 15 epochs, lr 0.1: with "bn" mAP50 fell from 11.40 to 8.64, with "none" it rose to 22.17; 30 epochs
with "backbone" reached 28.78).
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ... import registry
from ...datasets.detection import COCO80_TO_91
from ...datasets.yolo_format import (
    Augment,
    LabelReport,
    LetterboxItems,
    Sample,
    collate_detection,
    read_yolo_folder,
)
from ...errors import UserError
from ...io import atomic_write_bytes, atomic_write_text
from ...models.yolov5_loss import YOLOv5Loss
from ...models.yolov5_train import FREEZE, WithEMA, set_classes
from ...offline import zoo_cache_dir
from ...results import (
    append_row,
    check_appendable,
    make_row,
    raw_path,
    sha256_file,
    sha256_tree,
)
from ...tasks.object_detection import coco_map, to_coco_results
from .. import distributed
from .config import TrainConfig
from .detection import yolo_folder
from .loop import set_seed, train

TOPIC = "train"
TASK = "object-detection"
METHOD = "fine-tune (zoo loop, YOLOv5 loss, EMA)"
CONFIG_FILE = "zoo_detect.json"


@dataclass(frozen=True)
class DetectRun:
    """The detection-specific settings of a run (the loop's are in TrainConfig)."""

    imgsz: int = 320
    limit: int | None = None  # the first N images train (default: all but the held-out ones)
    heldout: int = 0  # the next N images are scored before and after training
    classes: tuple[int, ...] | None = None  # keep these COCO-80 classes, relabelled 0..k-1
    augment: bool = True
    ema_tau: float = 2000.0
    freeze: str | None = None  # none | bn | backbone (zoo.models.yolov5_train.FREEZE); None: bn, none with classes
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.freeze is None:  # a new class head must learn, and its BatchNorm statistics with it
            object.__setattr__(self, "freeze", "none" if self.classes else "bn")
        if self.freeze not in FREEZE:
            raise UserError(f"--freeze for a YOLOv5 fine-tune is one of {', '.join(FREEZE)}, got {self.freeze!r}")
        if self.imgsz <= 0 or self.imgsz % 32:
            raise UserError(f"--image-size must be a positive multiple of 32, got {self.imgsz}")
        if self.limit is not None and self.limit < 1 or self.heldout < 0:
            raise UserError(f"--limit must be at least 1 and --heldout at least 0, got {self.limit}, {self.heldout}")
        if self.classes is not None and (len(set(self.classes)) != len(self.classes) or not self.classes
                                         or not all(0 <= c < 80 for c in self.classes)):
            raise UserError(f"--classes must be distinct COCO-80 class ids (0-79), got {self.classes}")

    @property
    def class_map(self) -> dict[int, int] | None:
        return None if self.classes is None else {c: i for i, c in enumerate(self.classes)}


def detection_config(**settings: Any) -> TrainConfig:
    """The TrainConfig for fine-tuning YOLOv5 (see the module docstring), with ``settings`` replaced."""
    base = TrainConfig(optimizer="momentum", momentum=0.937, lr=0.002, weight_decay=3e-5, decay_biases=False,
                       schedule="linear", warmup=0.2, batch_size=16, epochs=5, divergence_factor=None,
                       device="cpu", monitor="map", monitor_mode="max", checkpoint_every=5)
    return base.replace(**settings)


def split(data: str, run: DetectRun) -> tuple[Path, list[Sample], list[Sample], LabelReport]:
    """(data root, training samples, held-out samples, label report) of a YOLO folder."""
    root, images, labels = yolo_folder(data)
    samples, report = read_yolo_folder(images, labels, 80, run.class_map)
    limit = run.limit if run.limit is not None else len(samples) - run.heldout
    if limit < 1 or limit + run.heldout > len(samples):
        raise UserError(f"--data {data}: {len(samples)} images, fewer than --limit {limit} + --heldout {run.heldout}")
    return root, samples[:limit], samples[limit:limit + run.heldout], report


def heldout_map(detector, net: torch.nn.Module, samples: list[Sample], nc: int, batch: int = 8) -> dict[str, float]:
    """COCO mAP50-95 / mAP50 (%) of ``net`` on ``samples`` through ``detector``'s letterbox and eval NMS."""
    from PIL import Image  # deferred: heavy third-party import

    images, anns, dets = [], [], []
    for i, s in enumerate(samples, start=1):
        with Image.open(s.image) as im:
            w, h = im.size
        images.append({"id": i, "width": w, "height": h, "file_name": s.image.name})
        for cls, cx, cy, bw, bh in s.boxes.tolist():
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": COCO80_TO_91[int(cls)], "iscrowd": 0,
                         "bbox": [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h], "area": bw * w * bh * h})
    kept, detector.net = detector.net, net.eval()
    try:
        for s in range(0, len(samples), batch):
            for j, pred in enumerate(detector.predict([x.image for x in samples[s:s + batch]])):
                dets += to_coco_results(s + j + 1, pred)
    finally:
        detector.net = kept
    gt = {"images": images, "annotations": anns, "categories": [{"id": COCO80_TO_91[c], "name": str(c)} for c in range(nc)]}
    m = coco_map(gt, dets, [im["id"] for im in images])
    return {"map": m["map"] or 0.0, "map50": m["map50"] or 0.0}


def _state_dir(out: Path) -> Path:
    return out.parent / f"{out.name}.state"


def _check_run_file(state: Path, run: DetectRun, resume: bool, is_main: bool) -> None:
    path, now = state / "detect_run.json", json.loads(json.dumps({k: v for k, v in asdict(run).items() if k != "threads"}))
    if resume and path.is_file():
        was = json.loads(path.read_text())
        diff = sorted(k for k in now if was.get(k) != now[k])
        if diff:
            raise UserError(f"{state}: the run to resume had {diff[0]}={was.get(diff[0])!r}, this one "
                            f"{now[diff[0]]!r}; resume with the same settings or drop --resume")
    elif is_main:
        state.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(now, sort_keys=True))


def train_yolov5(name: str, data: str, config: TrainConfig | None = None, run: DetectRun | None = None, *,
                 out: str | Path | None = None, resume: bool = False, write: bool = True, progress: bool = True,
                 callbacks: tuple = ()) -> dict[str, Any]:
    """Fine-tune the registered YOLOv5 ``name`` on a YOLO folder; returns the result dict and appends the row.
    ``callbacks``: the loop's, called after each step (after the EMA update)."""
    config, run = config or detection_config(), run or DetectRun()
    root, train_s, held_s, report = split(data, run)
    out = Path(out) if out is not None else zoo_cache_dir() / "checkpoints" / f"{name}-{root.name}"
    if write:
        check_appendable(raw_path(TOPIC))
    dist = distributed.from_env()
    _check_run_file(_state_dir(out), run, resume, dist.is_main)
    if run.threads:
        torch.set_num_threads(run.threads)
    set_seed(config.seed)
    detector = registry.create_model(name, pretrained=True, imgsz=run.imgsz)
    nc = len(run.classes) if run.classes else detector.net.detect.nc
    set_classes(detector.net, nc)
    model = WithEMA(detector.net, tau=run.ema_tau, freeze=run.freeze)
    val = (lambda m, s: heldout_map(detector, m.ema, s, nc)) if held_s else None
    before = heldout_map(detector, model.ema, held_s, nc) if held_s and dist.is_main else None
    loss_fn = YOLOv5Loss(model.net.detect, run.imgsz)
    items = LetterboxItems(train_s, run.imgsz, Augment() if run.augment else None, report)
    r = train(model, items, config, step_fn=lambda m, b: loss_fn(m(b[0], raw=True), b[1])[0],
              collate_fn=collate_detection, callbacks=[lambda info: model.update(), *callbacks], val_data=held_s or None,
              val_fn=val, checkpoint_dir=_state_dir(out), resume=resume, progress=progress,
              desc=f"train {name} on {root.name}")
    result = {"model": name, "checkpoint": str(out), "steps": r["steps"], "train_time_s": r["wall_s"],
              "history": r["history"], "labels": report.as_dict(), "world_size": r["world_size"],
              "resumed_from_step": r["resumed_from_step"], "final_train_loss": r["final_train_loss"]}
    if r["rank"] == 0:
        after = heldout_map(detector, model.ema, held_s, nc) if held_s else {}
        result["metrics"] = {**after, **({f"pretrained_{k}": v for k, v in before.items()} if before else {})}
        result["checkpoint_sha256"] = _save(model, out, name, nc, run)
        if write:
            _record(detector, root, train_s, held_s, report, config, run, r, result)
        if len([h for h in r["history"] if h.get("complete", True)]) >= config.epochs:
            shutil.rmtree(_state_dir(out), ignore_errors=True)
    distributed.barrier(dist)
    return result


def _save(model: WithEMA, out: Path, name: str, nc: int, run: DetectRun) -> str:
    """``out/model.safetensors`` (the EMA network) then ``out/zoo_detect.json``; returns the weights' sha256."""
    from safetensors.torch import save  # deferred: heavy third-party import

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "model.safetensors",
                       save({k: v.detach().cpu().contiguous() for k, v in model.ema.state_dict().items()}))
    cfg = {"model": name, "task": TASK, "nc": nc, "classes": list(run.classes) if run.classes else None,
           "imgsz": run.imgsz, "weights": "EMA of the trained network"}
    atomic_write_text(out / CONFIG_FILE, json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return sha256_file(out / "model.safetensors")


def _record(detector, root: Path, train_s: list, held_s: list, report: LabelReport, config: TrainConfig,
            run: DetectRun, r: dict, result: dict) -> None:
    spec = registry.get_spec(detector.spec.name)
    m = result["metrics"]
    settings = {**config.settings(), **asdict(run), "classes": list(run.classes) if run.classes else None,
                "method": METHOD, "task": TASK, "data": str(root), "n_train": len(train_s), "n_heldout": len(held_s),
                "imgsz": run.imgsz, "init_weights": detector.weights_id, "world_size": r["world_size"],
                "threads": torch.get_num_threads(), "validated_on": f"the {len(held_s)} images after the training ones"}
    metrics = {**m, "train_time_s": r["wall_s"], "steps": r["steps"], "final_train_loss": r["final_train_loss"],
               "first_epoch_loss": r["history"][0]["train_loss"] if r["history"] else None,
               "best_val": (r["best"] or {}).get("val_map"), "best_epoch": (r["best"] or {}).get("epoch"),
               "bad_labels": {k: v for k, v in report.as_dict().items() if k != "examples"}}
    classes = f", classes {list(run.classes)} relabelled 0..{len(run.classes) - 1}" if run.classes else ""
    note = (f"fine-tuned from the official COCO weights in zoo's loop; mAP on the {len(held_s)} held-out images "
            f"(pretrained: {m.get('pretrained_map', float('nan')):.2f} / {m.get('pretrained_map50', float('nan')):.2f})"
            f"{classes}; labels: {report.summary()}")
    history = [{k: h[k] for k in ("epoch", "train_loss", "val_map", "val_map50", "items_per_s") if k in h}
               | {"complete": h.get("complete", True)} for h in r["history"]]
    row = make_row("train", model=spec.name, spec_hash=spec.spec_hash, weights=result["checkpoint_sha256"],
                   dataset=f"{root.name} (first {len(train_s)} images train, next {len(held_s)} held out, YOLO labels)",
                   dataset_sha256=sha256_tree(root / "labels") if (root / "labels").is_dir() else None,
                   settings=settings, metrics=metrics, history=history, device=str(config.device or "cpu"),
                   checkpoint_sha256=result["checkpoint_sha256"], task=TASK, note=note,
                   command=command_line(spec.name, str(root) if root.name != "coco128" else "coco128", config, run,
                                        result["checkpoint"], r["world_size"]))
    append_row(raw_path(TOPIC), row)


def command_line(name: str, data: str, config: TrainConfig, run: DetectRun, out: str, world: int = 1) -> str:
    """The ``zoo train`` command that reproduces the run (flags where they differ from the defaults)."""
    args = ["zoo", "train", name, "--data", data, "--image-size", str(run.imgsz)]
    if world > 1:
        args = ["torchrun", "--nproc_per_node", str(world), "-m"] + args
    if run.limit is not None:
        args += ["--limit", str(run.limit)]
    if run.heldout:
        args += ["--heldout", str(run.heldout)]
    if run.classes:
        args += ["--classes", ",".join(map(str, run.classes))]
    if not run.augment:
        args.append("--no-augment")
    if run.freeze != DetectRun(classes=run.classes).freeze:
        args += ["--freeze", run.freeze]
    if run.threads:
        args += ["--threads", str(run.threads)]
    return shlex.join(args + ["--out", out] + config.command_args(detection_config()))
