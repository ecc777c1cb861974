"""Calibration data for post-training quantization: ``n`` real items of the model's own task data, chosen by
a seed, preprocessed by the model into batches of one.

Sources, the first one present (the record says which, and whether ``zoo eval`` scores the same items):
- image classification: the 200 ImageNet photos in ../shared/data/imagenet_sample_dev (labels unused; they
  are also the photos ``zoo eval --data ../shared/data/imagenet_sample_dev`` scores, so the overlap is
  recorded), else the 24 COCO photos bundled in data/coco (not ImageNet data; said so);
- object detection: the coco128 images in ../shared/data/coco128 (also scored by a coco128 eval; recorded),
  else the 24 bundled COCO images (also a bundled eval's images; recorded);
- text tasks (SST-2, SQuAD, Multi30k): the task's bundled **train** split, disjoint from the test split eval
  scores;
- any other task: the model's own example items.

The same seed gives the same items (their list's sha256 is recorded) and so the same quantized model.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...datasets.text import read_split
from ...tasks import get_task
from ...tasks.text import TextTask
from ...transforms import load_image

CALIBRATION_N = 64  # items (batches of one), as in OpenVINO/NNCF's post-training quantization examples
CALIBRATION_SEED = 0
REPO = Path(__file__).resolve().parents[3]  # zoo/harness/backends/calibration.py -> the checkout
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def shared_data() -> Path:
    """The shared data folder (../shared/data beside the checkout; ZOO_SHARED_DATA overrides)."""
    return Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data"))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _image_pool(task: str) -> tuple[list[Path], dict[str, Any]]:
    """The image files of the first source present for ``task``, and what the record says about them."""
    shared, bundled = shared_data(), REPO / "data" / "coco" / "images"
    bundled_info = {"source": "data/coco/images (24 COCO train2017 photos bundled with zoo)",
                    "overlaps_eval": "also the images a detection eval on the bundled set (--data data/coco) scores"}
    if task == "image-classification":
        pool = _images(shared / "imagenet_sample_dev" / "images")
        if pool:
            return pool, {"source": "../shared/data/imagenet_sample_dev (200 ImageNet photos; pixels only, labels unused)",
                          "overlaps_eval": "drawn from the 200 photos `zoo eval --data ../shared/data/imagenet_sample_dev` "
                                           "scores (no other ImageNet photos are here)"}
        return _images(bundled), {**bundled_info, "overlaps_eval": None,
                                  "note": "not ImageNet data (no ImageNet photos here): natural photos only"}
    pool = _images(shared / "coco128" / "images" / "train2017")
    if pool:
        return pool, {"source": "../shared/data/coco128 (first 128 COCO train2017 images)",
                      "overlaps_eval": "drawn from the images `zoo eval --data ../shared/data/coco128` scores"}
    return _images(bundled), bundled_info


def _text_pool(task: TextTask) -> tuple[list[Any], list[str], dict[str, Any]]:
    cols = read_split(task.dataset, "train")
    items, _ = task.columns_to_items(cols)
    ids = [str(x) for x in cols["id"]] if "id" in cols else [str(i) for i in range(len(items))]
    return list(items), ids, {"source": f"{task.dataset} train split (bundled; eval scores the test split)",
                              "overlaps_eval": None}


def _choose(n_pool: int, n: int, seed: int) -> list[int]:
    """``n`` indices into a pool of ``n_pool`` items, drawn by ``seed`` (cycled when the pool is smaller)."""
    order = list(range(n_pool))
    random.Random(seed).shuffle(order)
    return [order[i % n_pool] for i in range(n)] if n_pool else []


def calibration_items(model: Any, n: int = CALIBRATION_N, seed: int = CALIBRATION_SEED,
                      pool: tuple[list[Path], dict] | None = None) -> tuple[list[Any], dict]:
    """``n`` decoded items (what ``model.preprocess`` takes) of the model's task data, and their record.
    ``pool``: (image files, record) to draw from instead, e.g. the calibration half of a held-out split whose
    other half is scored (``zoo.harness.eval.holdout``)."""
    task_name = model.spec.task
    task = get_task(task_name)
    if pool is not None:
        pool_files, info = pool
        pool, ids, loader = list(pool_files), [p.name for p in pool_files], load_image
    elif task_name in ("image-classification", "object-detection"):
        pool, info = _image_pool(task_name)
        ids = [p.name for p in pool]
        loader = load_image
    elif isinstance(task, TextTask):
        pool, ids, info = _text_pool(task)
        loader = None
    else:
        pool = list(model.example_items(n))
        ids, info, loader = [str(i) for i in range(len(pool))], {"source": "the model's example items",
                                                                 "overlaps_eval": None}, None
    if not pool:
        pool, ids, loader = list(model.example_items(n)), [str(i) for i in range(n)], None
        info = {"source": "the model's example items (no task data found)", "overlaps_eval": None}
    chosen = _choose(len(pool), n, seed)
    digest = hashlib.sha256("\n".join(ids[i] for i in chosen).encode()).hexdigest()
    items = [loader(pool[i]) if loader else pool[i] for i in chosen]
    return items, {**info, "n": n, "seed": seed, "pool_size": len(pool), "items_sha256": digest,
                   "first_items": [ids[i] for i in chosen[:3]]}


@dataclass
class Calibration:
    """Calibration inputs for one model, built on first use and kept: ``batches()`` are model inputs
    (``preprocess(...).inputs`` of one item each, on the CPU); ``info`` is the record rows keep."""

    model: Any
    n: int = CALIBRATION_N
    seed: int = CALIBRATION_SEED
    _batches: list[Any] | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict)
    pool: tuple[list[Path], dict] | None = None  # image files to draw from (default: the task's data)

    def batches(self) -> list[Any]:
        if self._batches is None:
            items, self.info = calibration_items(self.model, self.n, self.seed, self.pool)
            self._batches = [self.model.preprocess([it]).inputs for it in items]
        return self._batches
