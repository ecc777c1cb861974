"""Study 6 — regularization: none, L1, L2 and dropout on an MLP made to overfit.

Claim tested: regularization narrows the gap between training and test accuracy; L1 in particular drives
weights to zero (sparsity). To make overfitting visible the MLP is wide and trains on a small subset of the
training split (the same subset for every configuration). L1 and L2 are explicit penalties added to the
loss over the weight matrices (``l1 * sum|w|``, ``l2 * sum w^2``; biases not penalized); dropout is applied
after every hidden activation. Optimizer: SGD with momentum 0.9. Measured: train and test accuracy, their
gap, and weight sparsity: the share of weight-matrix entries with |w| < 1e-3.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..harness.train import TrainConfig, train
from .common import Split, accuracy, build, digits, record

TITLE = "Regularization"
SPARSE_BELOW = 1e-3
SUBSET_SEED = 7
CONFIGS = {
    "none": {},
    "L1 (1e-4)": {"l1": 1e-4},
    "L1 (1e-3)": {"l1": 1e-3},
    "L2 (1e-3)": {"l2": 1e-3},
    "L2 (1e-2)": {"l2": 1e-2},
    "dropout (0.5)": {"dropout": 0.5},
}
SCALES = {
    "full": dict(subset=300, width=256, depth=2, epochs=150, lr=0.05, batch_size=32),
    "tiny": dict(subset=150, width=64, depth=1, epochs=30, lr=0.05, batch_size=32),
}


def sparsity(model: torch.nn.Module, below: float = SPARSE_BELOW) -> float:
    """Share of entries of the weight matrices (tensors with 2+ dims) whose magnitude is below ``below``."""
    w = torch.cat([p.detach().abs().flatten() for p in model.parameters() if p.dim() >= 2])
    return float((w < below).float().mean())


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    data = digits()
    g = torch.Generator().manual_seed(SUBSET_SEED)
    idx = torch.randperm(len(data.train), generator=g)[: c["subset"]]
    train_split = Split(data.train.x[idx], data.train.y[idx])
    out = []
    for name, reg in CONFIGS.items():
        for seed in seeds:
            model = build("mlp", seed, activation="relu", depth=c["depth"], width=c["width"], init="auto",
                          dropout=reg.get("dropout", 0.0))
            cfg = TrainConfig(optimizer="momentum", lr=c["lr"], batch_size=c["batch_size"], epochs=c["epochs"],
                              l1=reg.get("l1", 0.0), l2=reg.get("l2", 0.0), seed=seed)
            r = train(model, train_split.pair, cfg, loss_fn=F.cross_entropy, progress=False,
                      desc=f"regularization {name}")
            tr, te = accuracy(model, train_split), accuracy(model, data.test)
            out.append(record(
                {"regularization": name, **reg, "train_items": c["subset"], "width": c["width"], "depth": c["depth"],
                 "optimizer": "momentum", "momentum": 0.9, "lr": c["lr"], "batch_size": c["batch_size"],
                 "epochs": c["epochs"], "sparse_below": SPARSE_BELOW},
                seed,
                {"train_accuracy": tr, "test_accuracy": te, "gap": tr - te, "sparsity": sparsity(model),
                 "final_train_loss": r["final_train_loss"], "diverged": r["diverged"], "train_s": r["wall_s"]},
            ))
    return out
