"""Extractive question answering (SQuAD v1.1): exact match and F1 in percent with the official answer
normalization (lowercase, strip punctuation, drop the articles a/an/the, collapse whitespace), max over the
gold answers, averaged over questions; written here from the v1.1 evaluation script's definition and tested
against it. Data: ``--data squad`` (bundled: the held-out 24 dev articles) or a SQuAD v1.1 JSON file."""

from __future__ import annotations

import collections
import re
import string
from typing import Any, Sequence

from ._registry import register_task
from .text import TextTask
from .base import Metric


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 normalization: lowercase, remove punctuation, articles and extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(preds: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """``preds[i]`` is the answer text for question i; ``golds[i]`` its gold answer texts."""
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions for {len(golds)} questions")
    em = f1 = 0.0
    for p, gs in zip(preds, golds):
        em += max(float(normalize_answer(p) == normalize_answer(g)) for g in gs)
        f1 += max(_f1(p, g) for g in gs)
    n = max(len(preds), 1)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


class SquadMetric(Metric):
    def __init__(self):
        self.preds: list[str] = []
        self.golds: list[list[str]] = []

    def add_batch(self, *, predictions: Sequence[dict], references: Sequence[Sequence[str]]) -> None:
        self.preds += [p["text"] for p in predictions]
        self.golds += [list(g) for g in references]

    def compute(self) -> dict[str, Any]:
        return {**squad_metrics(self.preds, self.golds), "n": len(self.preds)}


@register_task
class QuestionAnswering(TextTask):
    name = "question-answering"
    dataset = "squad"
    score_keys = ("exact_match", "f1")
    data_help = "squad, or a SQuAD v1.1 JSON file"

    def columns_to_items(self, cols):
        items = [{"question": q, "context": c} for q, c in zip(cols["question"], cols["context"])]
        return items, [a["text"] for a in cols["answers"]]

    def metric(self, data) -> SquadMetric:
        return SquadMetric()

    def record(self, prediction: dict, reference: Sequence[str]) -> dict:
        return {**prediction, "answers": list(reference)}
