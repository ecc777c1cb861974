"""Misconception 4 — more data is not always better: learning curves, label noise, augmentation.

Claim tested: accuracy grows with the amount of training data but with diminishing returns; more data with
wrong labels can be worth less than less data with right ones; augmentation is a (cheap) form of more data.

Model and method (a cheaper but honest stand-in for fine-tuning every cell): EfficientNet-Lite0 with its real
ImageNet weights, backbone frozen; the head's input features (1,280 numbers per image) are computed once per
image, under the evaluation transform (the whole 32x32 image resized to ``image_size``) for every training and
held-out image, and under ``views`` random train-transform views (timm's ``create_transform(is_training=True)``:
random-resized crop of 60-100 %, flip; drawn once with seed 0) for every training image. Each cell then fits a
linear head: a multinomial logistic regression (scikit-learn, lbfgs, C = 1, standardised features; the linear
probe of ``zoo train --linear-probe``) on its training features, and is scored top-1 on the 1,000 held-out
images. So "augmentation on" here means the head sees the clean image plus its augmented views, not a
network trained end to end on them: what it measures is the data side of the claim, not fine-tuning dynamics.

Cells (each over the seeds): learning curve, n = 100 ... 4,000 clean images (n / 10 per class, a seeded
stratified subset); label noise 0 / 10 / 30 % of the n labels replaced by a different class drawn uniformly
(seeded), at n = 1,000 and 4,000; augmentation off / on at n = 250, 1,000 and 4,000. What a seed changes: which
images are in the subset and which labels are flipped (the views and the fit are fixed); at n = 4,000 with no
noise every seed sees the same data, so its spread is 0 by construction.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import torch

from ..datasets.imagefolder import ImageFolderItems, load_imagefolder
from ..harness.train.vision import augment_transform, fit_linear
from ..harness.loading.vision import prepare_classifier
from ..harness.train.vision_model import extract_features
from ..results import sha256_tree
from .common import record

TITLE = "Misconception 4: more data is not always better"
MODEL = "efficientnet_lite0"
DATA = Path(__file__).resolve().parents[2] / "data" / "cifar10"
VIEW_SEED = 0
METHOD = "frozen Lite0 features + logistic-regression head per cell"
SCALES = {
    "full": dict(sizes=(100, 250, 500, 1000, 2000, 4000), noise=(0.0, 0.1, 0.3), noise_sizes=(1000, 4000),
                 aug_sizes=(250, 1000, 4000), image_size=128, views=2, per_class=None, heldout_per_class=None),
    "tiny": dict(sizes=(10, 20), noise=(0.0, 0.3), noise_sizes=(20,), aug_sizes=(20,), image_size=32, views=1,
                 per_class=2, heldout_per_class=2),
}


def _cut(folder, per_class: int | None):
    if per_class is None:
        return folder
    seen: dict[int, int] = {}
    keep = []
    for i, y in enumerate(folder.labels):
        seen[y] = seen.get(y, 0) + 1
        if seen[y] <= per_class:
            keep.append(i)
    return folder.subset(keep)


def features(c: dict) -> dict:
    """Features of every training image (clean and ``views`` augmented) and every held-out image."""
    train = _cut(load_imagefolder(DATA / "train"), c["per_class"])
    held = _cut(load_imagefolder(DATA / "heldout"), c["heldout_per_class"])
    model = prepare_classifier(MODEL, train.class_names, pretrained=True, image_size=c["image_size"], seed=0)
    t0 = time.perf_counter()
    clean = extract_features(model, ImageFolderItems(train, model.transform))
    held_x = extract_features(model, ImageFolderItems(held, model.transform))
    aug = augment_transform(model, c["image_size"])
    random.seed(VIEW_SEED)
    torch.manual_seed(VIEW_SEED)
    views = [extract_features(model, ImageFolderItems(train, aug)) for _ in range(c["views"])]
    return {"train": clean, "views": views, "y": torch.tensor(train.labels), "held": held_x,
            "held_y": torch.tensor(held.labels), "weights": model.weights_id, "classes": len(train.class_names),
            "features_s": time.perf_counter() - t0, "sha256": sha256_tree(DATA, "*.jpg")}


def stratified(labels: torch.Tensor, n: int, classes: int, seed: int) -> torch.Tensor:
    """``n // classes`` indices of each class, drawn with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    per = n // classes
    picks = [idx[torch.randperm(len(idx), generator=g)[:per]] for idx in
             (torch.nonzero(labels == k).flatten() for k in range(classes))]
    return torch.cat(picks).sort().values


def flip(labels: torch.Tensor, rate: float, classes: int, seed: int) -> torch.Tensor:
    """``round(rate * n)`` labels, chosen with ``seed``, replaced by a different class drawn uniformly."""
    g = torch.Generator().manual_seed(10_000 + seed)
    out = labels.clone()
    k = round(rate * len(labels))
    idx = torch.randperm(len(labels), generator=g)[:k]
    out[idx] = (labels[idx] + torch.randint(1, classes, (k,), generator=g)) % classes
    return out


def cell(f: dict, n: int, noise: float, augment: bool, seed: int) -> dict:
    """Fit one head on the cell's training features; score it on the held-out features."""
    idx = stratified(f["y"], n, f["classes"], seed)
    y = flip(f["y"][idx], noise, f["classes"], seed)
    x = torch.cat([f["train"][idx]] + ([v[idx] for v in f["views"]] if augment else []))
    y_all = y.repeat(1 + (len(f["views"]) if augment else 0))
    t0 = time.perf_counter()
    fit = fit_linear(x, y_all, num_classes=f["classes"])
    pred = (f["held"] @ fit["W"].T + fit["b"]).argmax(1)
    clean_train = (f["train"][idx] @ fit["W"].T + fit["b"]).argmax(1)
    return {"heldout_top1": 100.0 * float((pred == f["held_y"]).float().mean()),
            "train_top1_given_labels": fit["train_accuracy"],
            "train_top1_true_labels": 100.0 * float((clean_train == f["y"][idx]).float().mean()),
            "labels_flipped": int((y != f["y"][idx]).sum()), "n_fit": len(y_all), "fit_s": time.perf_counter() - t0,
            "lbfgs_iterations": fit["iterations"]}


def _cells(c: dict) -> list[tuple[str, int, float, bool]]:
    out = [("learning_curve", n, 0.0, False) for n in c["sizes"]]
    out += [("label_noise", n, p, False) for n in c["noise_sizes"] for p in c["noise"]]
    out += [("augmentation", n, 0.0, a) for n in c["aug_sizes"] for a in (False, True)]
    return out


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    f = features(c)
    out = []
    for experiment, n, noise, augment in _cells(c):
        n = min(n, len(f["y"]))
        for seed in seeds:
            config = {"experiment": experiment, "n_train": n, "noise": noise, "augment": augment,
                      "views": c["views"] if augment else 0, "image_size": c["image_size"], "method": METHOD,
                      "head": "LogisticRegression(C=1, lbfgs, standardised)", "view_seed": VIEW_SEED,
                      "heldout_n": len(f["held_y"]), "features_s": f["features_s"]}
            rec = record(config, seed, cell(f, n, noise, augment, seed), model=MODEL,
                         dataset=f"data/cifar10 (train {len(f['y'])} / heldout {len(f['held_y'])}, ImageFolder)",
                         dataset_sha256=f["sha256"])
            rec["weights"] = f["weights"]
            out.append(rec)
    return out
