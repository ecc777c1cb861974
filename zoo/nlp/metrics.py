"""NLP metrics, all in percent (0-100).

classification: scikit-learn accuracy and binary precision / recall / F1 (positive class 1).
translation:    sacrebleu corpus BLEU and chrF on detokenized text, with their signatures.
QA:             SQuAD v1.1 exact match and F1 with the official answer normalization (lowercase, strip
                punctuation, drop the articles a/an/the, collapse whitespace); max over the gold answers, then
                averaged over questions. Written here from the v1.1 evaluation script's definition.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Sequence


def classification_metrics(preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    p, r, f1, _ = precision_recall_fscore_support(labels, preds, average="binary", pos_label=1, zero_division=0)
    return {
        "accuracy": 100.0 * accuracy_score(labels, preds),
        "precision": 100.0 * p,
        "recall": 100.0 * r,
        "f1": 100.0 * f1,
    }


def translation_metrics(hyps: Sequence[str], refs: Sequence[str]) -> dict:
    """Corpus BLEU (13a tokenization, exp smoothing: sacrebleu defaults) and chrF, with signatures."""
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(list(hyps), [list(refs)])
    c = chrf.corpus_score(list(hyps), [list(refs)])
    return {
        "bleu": b.score,
        "chrf": c.score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


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
