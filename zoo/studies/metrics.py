"""Study 4 — classification metrics for one trained classifier, computed with scikit-learn.

Accuracy alone hides which classes fail. An MLP is trained (Adam, early stopping on the validation split)
and scored on the test split with ``sklearn.metrics``: accuracy, macro precision / recall / F1, the same per
class, and the confusion matrix (rows: true class, columns: predicted).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..harness.train import TrainConfig, train
from .common import build, digits, record

TITLE = "Classification metrics (scikit-learn)"
SCALES = {
    "full": dict(epochs=40, patience=5, lr=0.003, batch_size=32, width=64, depth=2),
    "tiny": dict(epochs=4, patience=2, lr=0.01, batch_size=32, width=32, depth=1),
}


def scores(y_true, y_pred, num_classes: int = 10) -> dict:
    """sklearn's accuracy, macro and per-class precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support  # deferred: heavy

    labels = list(range(num_classes))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    pc, rc, fc, sc = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(p), "recall_macro": float(r), "f1_macro": float(f),
        "per_class": {str(k): {"precision": float(pc[k]), "recall": float(rc[k]), "f1": float(fc[k]),
                               "support": int(sc[k])} for k in labels},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    data = digits()
    out = []
    for seed in seeds:
        model = build("mlp", seed, activation="relu", depth=c["depth"], width=c["width"], init="auto")
        cfg = TrainConfig(optimizer="adam", lr=c["lr"], batch_size=c["batch_size"], epochs=c["epochs"],
                          patience=c["patience"], seed=seed)
        r = train(model, data.train.pair, cfg, loss_fn=F.cross_entropy, val_data=data.val.pair, progress=False,
                  desc="metrics")
        with torch.no_grad():
            pred = model(data.test.x).argmax(1)
        out.append(record(
            {"optimizer": "adam", "lr": c["lr"], "batch_size": c["batch_size"], "max_epochs": c["epochs"],
             "patience": c["patience"], "depth": c["depth"], "width": c["width"], "activation": "relu"},
            seed,
            {**scores(data.test.y.tolist(), pred.tolist()), "epochs_run": r["epochs_run"],
             "best_epoch": (r["best"] or {}).get("epoch"), "train_s": r["wall_s"]},
        ))
    return out
