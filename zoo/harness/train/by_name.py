"""``zoo.train(name, ...)``: train a registered model by name, the task deciding the trainer, as ``zoo.evaluate``
and ``zoo.bench`` take a name.

    zoo.train("bilstm", task="sst2", epochs=1)                                  # text: train_text
    zoo.train("efficientnet_lite0", "data/cifar10/train", freeze="last:13")     # ImageFolder: fine-tune
    zoo.train("yolov5n", "coco128", limit=96, heldout=32, epochs=5)             # YOLOv5n fine-tune, zoo's loop
    zoo.train("yolov8n", "coco128", epochs=3)                                   # detector, ultralytics' trainer

``settings`` are TrainConfig fields (lr, epochs, batch_size, ...) over the task's defaults; the rest of the
keywords are the trainer's own (out, resume, write, limit, ...). Returns the trainer's result dict.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from ... import registry
from ...errors import UserError
from ...models.text import TASK_OF
from .config import TrainConfig
from .detection import train_detector
from .text import text_config, train_text
from .vision import VisionRun, image_config, train_image_classifier
from .vision_fast import fast_recipe
from .yolov5 import DetectRun, detection_config, train_yolov5

_CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def trainer_kind(spec) -> str:
    """"vision", "detection" or "text": which trainer a model's task takes (a one-line error otherwise)."""
    if spec.task == "image-classification":
        return "vision"
    if spec.task == "object-detection":
        return "detection"
    if spec.builder is None or spec.extra.get("arch") is None:
        raise UserError(f"zoo train handles text models, image classifiers and detectors; {spec.name} is a "
                        f"{spec.task} model")
    return "text"


def train_model(name: str, data: str | Path | None = None, *, task: str | None = None, out: str | Path | None = None,
                resume: bool = False, write: bool = True, verbose: bool = False, **settings: Any) -> dict[str, Any]:
    """Train ``name``: text models on ``task`` (sst2, multi30k, squad; default the model's), image classifiers
    on the ImageFolder ``data``, detectors on ``data`` (coco128, a YOLO folder, a data yaml). ``verbose``: the
    progress bar on a terminal (zoo's trainers; ultralytics keeps its own output); off by default."""
    spec = registry.get_spec(name)
    kind = trainer_kind(spec)
    config = {k: settings.pop(k) for k in list(settings) if k in _CONFIG_FIELDS}
    if kind == "vision":
        if data is None:
            raise UserError(f"zoo.train({name!r}) needs data: an ImageFolder (DIR/<class name>/<images>)")
        run, cfg = VisionRun(**settings), image_config(**config)
        if run.recipe == "fast":
            run, cfg = fast_recipe(run, cfg, set(settings), set(config))
        return train_image_classifier(name, data, cfg, run, out=out, resume=resume, write=write, progress=verbose)
    if kind == "detection":
        if data is None:
            raise UserError(f"zoo.train({name!r}) needs data: coco128, coco, a YOLO folder or a data yaml")
        if spec.source == "zoo":  # yolov5n: zoo's own loop
            return train_yolov5(name, str(data), detection_config(**config), DetectRun(**settings), out=out,
                                resume=resume, write=write)
        for ours, theirs in (("epochs", "epochs"), ("batch_size", "batch"), ("seed", "seed")):
            if ours in config:
                settings[theirs] = config.pop(ours)
        if config:
            raise UserError(f"detectors train through ultralytics' trainer: {sorted(config)} do not apply")
        return train_detector(name, str(data), out=out, write=write, **settings)
    task = task or TASK_OF[spec.task]
    pretrained = bool(settings.pop("pretrained", False))
    settings.setdefault("progress", verbose)
    return train_text(name, task, text_config(task, pretrained, **config), out=out, pretrained=pretrained,
                      resume=resume, write=write, **settings)
