"""Text classification (SST-2 sentiment): accuracy and binary precision / recall / F1 (positive class 1), in
percent, from scikit-learn. Data: ``--data sst2`` (bundled) or a TSV with the header ``sentence<TAB>label``."""

from __future__ import annotations

from typing import Any, Sequence

from ..datasets.labels import SST2_NAMES
from ..errors import UserError
from ._registry import register_task
from .text import TextTask
from .base import Metric


def classification_metrics(preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support  # deferred: sklearn is heavy

    p, r, f1, _ = precision_recall_fscore_support(labels, preds, average="binary", pos_label=1, zero_division=0)
    return {"accuracy": 100.0 * accuracy_score(labels, preds), "precision": 100.0 * p, "recall": 100.0 * r,
            "f1": 100.0 * f1}


class LabelMetric(Metric):
    """Collects predicted and true labels; ``compute`` scores them with ``score(preds, labels)``."""

    def __init__(self, score=classification_metrics):
        self.score = score
        self.preds: list[int] = []
        self.labels: list[int] = []

    def add_batch(self, *, predictions: Sequence[dict], references: Sequence[int]) -> None:
        self.preds += [int(p["label"]) for p in predictions]
        self.labels += [int(y) for y in references]

    def compute(self) -> dict[str, Any]:
        return {**self.score(self.preds, self.labels), "n": len(self.preds)}


@register_task
class TextClassification(TextTask):
    name = "text-classification"
    dataset = "sst2"
    score_keys = ("accuracy", "f1", "precision", "recall")
    data_help = "sst2, or a TSV file with the header sentence<TAB>label"

    def columns_to_items(self, cols):
        return cols["sentence"], cols["label"]

    def load(self, data, *, split=None, labels=None, spec=None):
        """The data, with its labels checked against the model's classes (an SST-5 set has five)."""
        ds = super().load(data, split=split, labels=labels, spec=spec)
        bad = sorted({int(y) for y in ds.references} - set(range(spec.num_classes))) if spec is not None else []
        if bad:
            raise UserError(f"{ds.name} has labels {bad[:5]} but model {spec.name!r} predicts classes "
                            f"0..{spec.num_classes - 1}; the label spaces differ")
        return ds

    def metric(self, data) -> LabelMetric:
        return LabelMetric()

    def record(self, prediction: dict, reference: int) -> dict:
        out = {"label": int(reference), "pred": int(prediction["label"]), "probs": prediction.get("probs"),
               "correct": int(prediction["label"]) == int(reference)}
        if prediction.get("name") is not None:  # a 2-class model: SST-2's negative / positive (zoo.datasets.labels)
            out.update(pred_name=prediction["name"], label_name=SST2_NAMES[int(reference)])
        return out
