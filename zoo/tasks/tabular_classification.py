"""Tabular classification: accuracy and macro F1 (percent, scikit-learn) on feature vectors.
Data: ``--data digits`` (the default: scikit-learn's digits, the studies' stratified split) or a CSV file
with a ``label`` column."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..datasets.tabular import load_csv, load_digits_split
from ._registry import register_task
from .base import EvalData, Task
from .text_classification import LabelMetric


def tabular_metrics(preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score  # deferred: sklearn is heavy

    return {"accuracy": 100.0 * accuracy_score(labels, preds),
            "f1_macro": 100.0 * f1_score(labels, preds, average="macro", zero_division=0)}


@register_task
class TabularClassification(Task):
    name = "tabular-classification"
    score_keys = ("accuracy", "f1_macro")
    default_batch_size = 256
    data_help = "digits, or a CSV file with a 'label' column and numeric features"

    def load(self, data, *, split=None, labels=None, spec=None) -> EvalData:
        ds = load_digits_split(split or "test") if data in (None, "digits") else load_csv(data)
        return EvalData(ds.name, ds.rows, ds.labels, [str(i) for i in range(len(ds.rows))], sha256=lambda: ds.sha256,
                        path=None if data in (None, "digits") else str(Path(data).resolve()),
                        split=(split or "test") if data in (None, "digits") else None)

    def metric(self, data: EvalData) -> LabelMetric:
        return LabelMetric(tabular_metrics)

    def record(self, prediction: dict, reference: int) -> dict:
        return {"label": int(reference), "pred": int(prediction["label"]), "probs": prediction.get("probs"),
                "correct": int(prediction["label"]) == int(reference)}
