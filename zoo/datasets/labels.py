"""Class names of the label sets zoo's models predict, available offline: ImageNet-1k (timm's bundled
ImageNetInfo files, read without importing timm), COCO (the 80 categories in the 91-id space of the json
files) and SST-2 (negative / positive).

    label_names("image-classification", 1000)[654]    # 'minibus'
    name_predictions(spec.task, spec.num_classes, preds)  # adds "name" (and "topk_names" / "names")

A model's label set is told by its task and class count: every 1000-class image classifier in zoo predicts
the ILSVRC-2012 classes in sorted-wnid order, every detector COCO category ids, every 2-class text
classifier SST-2 sentiment (0 negative, 1 positive).
"""

from __future__ import annotations

import csv
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

# COCO-80 class index (YOLO / ultralytics order) -> COCO category id (the 1..90 "91-id" space of the json
# files and of torchvision's detectors). Fact from the COCO 2017 category list; tested against ultralytics.
COCO80_TO_91 = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60,
    61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)

# The 80 COCO 2017 category names in COCO-80 order (ultralytics' coco.yaml order; tested against it).
COCO80_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
SST2_NAMES = ("negative", "positive")


def _timm_info_dir() -> Path | None:
    """timm's bundled ImageNet files (``timm/data/_info``), found without importing timm: ``import timm`` imports
    every model family it has (seconds), and ``zoo predict`` only needs two text files."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
    return folder if (folder / "imagenet_synsets.txt").is_file() else None


@functools.cache
def imagenet_descriptions() -> tuple[str, ...]:
    """The 1,000 ILSVRC-2012 descriptions ("tench, Tinca tinca") in sorted-wnid order, from timm's bundled info:
    its wnid list and wnid -> lemma table, read as ``timm.data.ImageNetInfo`` reads them (tested equal)."""
    folder = _timm_info_dir()
    if folder is None:  # a timm that keeps them elsewhere: ask it (slow import)
        from timm.data import ImageNetInfo  # deferred: timm is heavy

        info = ImageNetInfo()
        return tuple(info.index_to_description(i) for i in range(info.num_classes()))
    wnids = (folder / "imagenet_synsets.txt").read_text(encoding="utf-8").splitlines()
    lemmas = dict(csv.reader((folder / "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines(),
                             delimiter="\t"))
    return tuple(lemmas[w] for w in wnids)


@functools.cache
def imagenet_names() -> tuple[str, ...]:
    """Short ImageNet-1k class names: the first synonym of each description ("tench", "minibus")."""
    return tuple(d.split(",")[0].strip() for d in imagenet_descriptions())


@functools.cache
def coco91_names() -> dict[int, str]:
    """COCO category id (1..90) -> name."""
    return dict(zip(COCO80_TO_91, COCO80_NAMES))


def label_names(task: str, num_classes: int) -> Sequence[str] | dict[int, str] | None:
    """The class names of a model's label set (index -> name), or None when zoo does not know them."""
    if task == "image-classification" and num_classes == 1000:
        return imagenet_names()
    if task == "object-detection" and num_classes == 91:
        return coco91_names()
    if task == "text-classification" and num_classes == 2:
        return SST2_NAMES
    return None


def class_synonyms(task: str, num_classes: int) -> Sequence[str] | None:
    """index -> the model's class name with its synonyms comma-separated (ImageNet: "tench, Tinca tinca"), for
    checking a data set's class names against the model's; None when the label set is not known."""
    if task == "image-classification" and num_classes == 1000:
        return imagenet_descriptions()
    names = label_names(task, num_classes)
    return None if names is None or isinstance(names, dict) else names


def _name(names, c: int) -> str | None:
    try:
        return names[int(c)]
    except (IndexError, KeyError):
        return None


def name_predictions(task: str, num_classes: int, preds: list[dict]) -> list[dict]:
    """Prediction dicts with class names added where the label set is known: ``name`` beside ``label`` (and
    ``topk_names`` parallel to ``topk``) for classifiers, ``names`` parallel to ``labels`` for detectors."""
    names = label_names(task, num_classes)
    if names is None:
        return preds
    for p in preds:
        if "labels" in p:
            p["names"] = [_name(names, c) for c in p["labels"]]
        elif "label" in p:
            p["name"] = _name(names, p["label"])
            if "topk" in p:
                p["topk_names"] = [_name(names, c) for c, *_ in p["topk"]]
    return preds
