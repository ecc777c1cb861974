"""Study 2 — feed-forward vs recurrent: an MLP and an LSTM, with and without an order to exploit.

Claim tested: recurrent networks suit inputs whose order carries information; feed-forward networks do not
use order at all. Both models classify the same digits in two forms:
  "rows in order": each image read top to bottom, a sequence of 8 rows of 8 pixels (order carries the
  shape, and the LSTM reads it as a sequence);
  "pixels permuted": the 64 pixels shuffled by one fixed random permutation (the same for every image), so
  the rows the LSTM reads are no longer image rows.
An MLP is indifferent to a fixed permutation of its inputs (it is the same function class); the LSTM is
not. Measured: test accuracy, parameter count, training time (s, one thread).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..harness.train import train
from .common import Split, accuracy, build, digits, n_params, record

TITLE = "Feed-forward vs recurrent"
PERMUTATION_SEED = 1234
TASKS = ("rows in order", "pixels permuted")
MODELS = {"mlp": dict(depth=2, width=64, activation="relu", init="auto"), "lstm_rows": dict(hidden=64)}
SCALES = {
    "full": dict(epochs=20, lr=0.01, batch_size=32),
    "tiny": dict(epochs=4, lr=0.01, batch_size=32),
}


def _permuted(split: Split, perm: torch.Tensor) -> Split:
    return Split(split.x[:, perm], split.y)


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    data = digits()
    perm = torch.randperm(data.train.x.shape[1], generator=torch.Generator().manual_seed(PERMUTATION_SEED))
    out = []
    for task in TASKS:
        tr, va, te = data.train, data.val, data.test
        if task == "pixels permuted":
            tr, va, te = (_permuted(s, perm) for s in (tr, va, te))
        for name, overrides in MODELS.items():
            for seed in seeds:
                model = build(name, seed, **overrides)
                r = train(model, tr.pair, loss_fn=F.cross_entropy, optimizer="adam", lr=c["lr"],
                          batch_size=c["batch_size"], epochs=c["epochs"], val_data=va.pair, seed=seed,
                          progress=False, desc=f"{name} {task}")
                out.append(record(
                    {"task": task, "arch": name, **overrides, "optimizer": "adam", "lr": c["lr"],
                     "batch_size": c["batch_size"], "epochs": c["epochs"], "permutation_seed": PERMUTATION_SEED},
                    seed,
                    {"test_accuracy": accuracy(model, te), "params": n_params(model), "train_s": r["wall_s"],
                     "final_train_loss": r["final_train_loss"]},
                    {"val_accuracy": [h["val_accuracy"] for h in r["history"]]},
                    model=name,
                ))
    return out
