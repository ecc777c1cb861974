"""Misconception 3 — "a bigger network is a better network": over-fitting against width on a small training set.

Claims tested: (1) on a small training set, widening a network past some point buys little or no held-out
accuracy while its size (and cost) keeps growing; (2) the folk version, "the bigger network over-fits more":
does the train - held-out gap widen, and the held-out loss rise, with width? The table and plot answer both
from the rows (zoo/report/misconceptions.py); the training-set size is varied beside the width, so the two
levers can be compared. Set-up: MLPs with one hidden ReLU layer of width 4 ... 4,096
(He init), each trained from scratch on the same 100 or 500 digits (fixed subsets of the training split, the
100 inside the 500) with Adam for a fixed number of epochs (no early stopping, no regularization: the
over-fitting is what is measured), scored on the 360-image test split; 3 seeds per width.

The other half of misconception 3 (params, FLOPs, latency and accuracy of the real-weight classifiers on the
same photos) is a report over the committed eval and speed rows: zoo/report/misconceptions.py.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..harness.train import TrainConfig, train
from .common import Split, accuracy, build, digits, mean_loss, n_params, record

TITLE = "Misconception 3: bigger is not always better (width vs over-fitting)"
SUBSET_SEED = 11
SCALES = {
    "full": dict(subsets=(100, 500), widths=(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096), depth=1,
                 epochs=100, lr=1e-3, batch_size=32),
    "tiny": dict(subsets=(50,), widths=(4, 64), depth=1, epochs=5, lr=1e-3, batch_size=32),
}


def small_train_split(size: int) -> Split:
    """The same ``size`` training images for every width and seed (a seeded subset of the training split)."""
    data = digits()
    g = torch.Generator().manual_seed(SUBSET_SEED)
    idx = torch.randperm(len(data.train), generator=g)[:size]
    return Split(data.train.x[idx], data.train.y[idx])


def fit_width(width: int, seed: int, train_split: Split, test: Split, c: dict) -> dict:
    """Train one MLP of ``width``; its record (train / held-out accuracy and loss, gap, params, time, curves)."""
    model = build("mlp", seed, activation="relu", depth=c["depth"], width=width, init="auto")
    cfg = TrainConfig(optimizer="adam", lr=c["lr"], batch_size=c["batch_size"], epochs=c["epochs"], seed=seed)
    r = train(model, train_split.pair, cfg, loss_fn=F.cross_entropy, val_data=test.pair, progress=False,
              desc=f"bigger_better width {width}")
    tr, te = accuracy(model, train_split), accuracy(model, test)
    hist = r["history"]
    return record(
        {"width": width, "depth": c["depth"], "train_items": len(train_split), "test_items": len(test),
         "optimizer": "adam", "lr": c["lr"], "batch_size": c["batch_size"], "epochs": c["epochs"],
         "subset_seed": SUBSET_SEED},
        seed,
        {"params": n_params(model), "train_accuracy": tr, "test_accuracy": te, "gap": tr - te,
         "train_loss": mean_loss(model, train_split), "test_loss": mean_loss(model, test),
         "best_test_accuracy": max(h.get("val_accuracy", 0.0) for h in hist), "diverged": r["diverged"],
         "train_s": r["wall_s"]},
        {"train_loss": [h["train_loss"] for h in hist], "test_accuracy": [h.get("val_accuracy") for h in hist],
         "test_loss": [h.get("val_loss") for h in hist]},
    )


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    test = digits().test
    out = []
    for size in c["subsets"]:
        train_split = small_train_split(size)
        out += [fit_width(w, seed, train_split, test, c) for w in c["widths"] for seed in seeds]
    return out
