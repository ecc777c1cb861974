"""Training ultralytics detectors with ultralytics' own trainer: ``zoo train yolov8n --data coco128``.

    r = train_detector("yolov8n", "coco128", epochs=3, imgsz=320)
    r["metrics"]["map"], r["metrics"]["map50"]       # percent, from ultralytics' DetectionValidator

The network starts from the model's yaml (random init: zoo pins no ultralytics training weights), so a short
run's mAP is near 0: the printed line and the row say "from scratch". Offline: ``zoo.offline`` sets
YOLO_OFFLINE / no auto-install / a config dir holding a font before ultralytics is imported; training runs
with ``device="cpu"``, ``workers=0``, ``amp=False`` (the AMP check would fetch weights; it is a CUDA check
anyway), ``plots=False``. The data yaml ultralytics needs is written under ``$ZOO_CACHE/ultralytics_data``
with links to each image and label file, so ultralytics' label cache is written there, never into the data.
ultralytics sets the process's torch threads to cores - 1 when it picks the device: restored afterwards.

Data (``--data``): ``coco128`` (../shared/data/coco128, or $ZOO_SHARED_DATA/coco128), ``coco`` (the 24 bundled
images in data/coco), a folder with ``images/`` and ``labels/`` (YOLO txt), or an ultralytics data yaml.
Validation is on the training images (coco128 has no other split): the mAP measures fitting, not
generalisation, and the row says so.
"""

from __future__ import annotations

import csv
import os
import shlex
import time
from pathlib import Path
from typing import Any

import torch

from ... import registry
from ...datasets.labels import COCO80_NAMES
from ...errors import UserError
from ...models.ultralytics_nets import keep_threads
from ...offline import configure_ultralytics, zoo_cache_dir
from ...results import append_row, check_appendable, make_row, raw_path, sha256_file, sha256_tree

TOPIC = "train"
REPO = Path(__file__).resolve().parents[3]
NOTE = ("from scratch (random init from the model yaml): a short run's mAP is near 0; validated on the training "
        "images (fitting, not generalisation)")


def shared_data() -> Path:
    return Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data"))


def yolo_folder(data: str) -> tuple[Path, Path, Path]:
    """(root, images dir, labels dir) of a named or given YOLO data set."""
    named = {"coco128": (shared_data() / "coco128", "images/train2017", "labels/train2017"),
             "coco": (REPO / "data" / "coco", "images", "labels")}
    if data in named:
        root, im, lb = named[data]
        if not root.is_dir():
            raise UserError(f"--data {data}: {root} is not here")
        return root, root / im, root / lb
    root = Path(data).expanduser()
    if not root.is_dir():
        raise UserError(f"--data {data}: not coco128, coco, a YOLO folder or a .yaml file")
    for im, lb in (("images/train2017", "labels/train2017"), ("images/train", "labels/train"), ("images", "labels")):
        if (root / im).is_dir() and (root / lb).is_dir():
            return root, root / im, root / lb
    raise UserError(f"--data {root}: expected images/ and labels/ (YOLO txt) folders in it")


def data_yaml(data: str, names: list[str]) -> tuple[Path, str, str]:
    """(the yaml ultralytics reads, the data set's name, its sha256): a given yaml as is, else one written
    under $ZOO_CACHE/ultralytics_data/<name>/ with links to the images and labels."""
    if data.endswith((".yaml", ".yml")):
        path = Path(data).expanduser()
        if not path.is_file():
            raise UserError(f"--data {data} does not exist")
        return path, path.stem, sha256_file(path)
    root, images, labels = yolo_folder(data)
    if not any(images.iterdir()):
        raise UserError(f"--data {data}: {images} holds no images")
    work = zoo_cache_dir() / "ultralytics_data" / f"{root.name}-{sha256_tree(labels)[:12]}"
    for kind, source in (("images", images), ("labels", labels)):  # file links: ultralytics resolves folders
        folder = work / kind / "train"
        folder.mkdir(parents=True, exist_ok=True)
        for f in source.iterdir():
            if f.is_file() and not (folder / f.name).exists():
                (folder / f.name).symlink_to(f.resolve())
    yaml = work / "data.yaml"
    lines = [f"path: {work}", "train: images/train", "val: images/train", "names:"]
    yaml.write_text("\n".join(lines + [f"  {i}: {n}" for i, n in enumerate(names)]) + "\n")
    return yaml, root.name, sha256_tree(labels)


def train_detector(name: str, data: str, *, epochs: int = 1, batch: int = 16, imgsz: int = 640,
                   limit: int | None = None, seed: int = 0, pretrained: bool = False, out: str | Path | None = None,
                   threads: int | None = None, write: bool = True) -> dict[str, Any]:
    """Train detector ``name`` with ultralytics' trainer; returns mAP (percent), times and the row's fields."""
    spec = registry.get_spec(name)
    if spec.source != "ultralytics":
        raise UserError(f"zoo train trains the ultralytics detectors (yolov8n, yolo11n, yolov3); {name} is "
                        f"from {spec.source}")
    if pretrained:
        raise UserError(f"{name}: zoo pins no ultralytics training weights; train from scratch (the default for detectors)")
    for k, v in (("epochs", epochs), ("batch", batch), ("imgsz", imgsz), ("limit", limit), ("threads", threads)):
        if v is not None and v < 1:
            raise UserError(f"--{k} must be at least 1, got {v}")
    if imgsz % 32:
        raise UserError(f"--image-size must be a multiple of 32 for {name}, got {imgsz}")
    if write:
        check_appendable(raw_path(TOPIC))
    out = Path(out) if out is not None else zoo_cache_dir() / "checkpoints" / f"{name}-{Path(data).stem}"
    yaml, data_name, data_sha = data_yaml(data, list(COCO80_NAMES))
    fraction = 1.0 if limit is None else min(1.0, limit / _count_images(data))
    if threads:
        torch.set_num_threads(threads)
    with keep_threads() as kept:
        r = _ultralytics_train(spec, yaml, out, epochs=epochs, batch=batch, imgsz=imgsz, fraction=fraction, seed=seed)
    settings = {"task": spec.task, "data": data, "epochs": epochs, "batch_size": batch, "imgsz": imgsz, "seed": seed,
                "limit": limit, "fraction": fraction, "pretrained": False, "init_weights": "random-init",
                "trainer": "ultralytics", "device": "cpu", "workers": 0, "amp": False, "threads": kept,
                "validated_on": "the training images"}
    r.update(model=name, dataset=data_name, settings=settings)
    r["summary"] = (f"{name} on {data_name}: {epochs} epoch(s) at imgsz {imgsz} in {r['train_time_s']:.0f} s; "
                    f"mAP50-95 {r['metrics']['map']:.2f} / mAP50 {r['metrics']['map50']:.2f} on the training "
                    f"images; {NOTE}; weights {r['checkpoint']}")
    if write:
        row = make_row("train", model=name, spec_hash=spec.spec_hash, weights=r["checkpoint_sha256"],
                       dataset=f"{data_name} ({r['n_images']} images, YOLO labels)", dataset_sha256=data_sha,
                       settings=settings, metrics={**r["metrics"], "train_time_s": r["train_time_s"],
                                                   "best_val": r["metrics"]["map"], "best_epoch": None},
                       history=r["history"], device="cpu", checkpoint_sha256=r["checkpoint_sha256"], task=spec.task,
                       note=NOTE, command=command_line(name, data, epochs, batch, imgsz, limit, seed, threads))
        append_row(raw_path(TOPIC), row)
    return r


def _count_images(data: str) -> int:
    if data.endswith((".yaml", ".yml")):
        raise UserError("--limit needs a data folder (coco128, coco or a YOLO folder), not a yaml")
    _, images, _ = yolo_folder(data)
    return sum(1 for p in images.iterdir() if p.is_file())


def _ultralytics_train(spec, yaml: Path, out: Path, **kw) -> dict[str, Any]:
    """One ``YOLO(yaml).train(...)``; mAP and loss history read from the trainer."""
    configure_ultralytics()
    from ultralytics import YOLO  # deferred: imported after configure_ultralytics() set its environment

    yolo = YOLO(spec.extra["yaml"])
    t0 = time.perf_counter()
    yolo.train(data=str(yaml), device="cpu", workers=0, amp=False, plots=False, project=str(out.parent),
               name=out.name, exist_ok=True, verbose=False, val=True, deterministic=True, **kw)
    elapsed = time.perf_counter() - t0
    trainer = yolo.trainer
    m = trainer.metrics or {}
    best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    metrics = {"map": 100.0 * float(m.get("metrics/mAP50-95(B)", 0.0)), "map50": 100.0 * float(m.get("metrics/mAP50(B)", 0.0)),
               "precision": 100.0 * float(m.get("metrics/precision(B)", 0.0)),
               "recall": 100.0 * float(m.get("metrics/recall(B)", 0.0))}
    history = _history(Path(trainer.save_dir) / "results.csv")
    n_images = len(trainer.train_loader.dataset) if getattr(trainer, "train_loader", None) is not None else None
    return {"checkpoint": str(best), "checkpoint_sha256": sha256_file(best), "train_time_s": elapsed,
            "metrics": metrics, "history": history, "n_images": n_images}


def _history(csv_path: Path) -> list[dict[str, Any]]:
    """Per epoch, from ultralytics' results.csv: the summed train loss (box + cls + dfl) and the mAPs (%)."""
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]
    return [{"epoch": int(float(r["epoch"])), "complete": True,
             "train_loss": sum(float(r[k]) for k in ("train/box_loss", "train/cls_loss", "train/dfl_loss")),
             "val": {"map": 100.0 * float(r["metrics/mAP50-95(B)"]), "map50": 100.0 * float(r["metrics/mAP50(B)"])}}
            for r in rows]


def command_line(name, data, epochs, batch, imgsz, limit, seed, threads) -> str:
    args = ["zoo", "train", name, "--data", data, "--epochs", str(epochs), "--image-size", str(imgsz)]
    for flag, v, default in (("--batch-size", batch, 16), ("--limit", limit, None), ("--seed", seed, 0),
                             ("--threads", threads, None)):
        if v != default:
            args += [flag, str(v)]
    return shlex.join(args)
