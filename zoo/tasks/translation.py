"""Translation (Multi30k en -> de): corpus BLEU and chrF from sacrebleu on detokenized output against the raw
references (sacrebleu defaults: 13a tokenization, exp smoothing), with the metric signatures in the row.
Data: ``--data multi30k`` (bundled) or a line-aligned pair ``FILE.en`` / ``FILE.de``."""

from __future__ import annotations

from typing import Any, Sequence

from ._registry import register_task
from .text import TextTask
from .base import Metric


def translation_metrics(hyps: Sequence[str], refs: Sequence[str]) -> dict:
    """Corpus BLEU and chrF (sacrebleu defaults), with their signatures."""
    import sacrebleu  # deferred: only translation needs sacrebleu

    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(list(hyps), [list(refs)])
    c = chrf.corpus_score(list(hyps), [list(refs)])
    return {"bleu": b.score, "chrf": c.score, "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


class CorpusBleu(Metric):
    def __init__(self):
        self.hyps: list[str] = []
        self.refs: list[str] = []

    def add_batch(self, *, predictions: Sequence[dict], references: Sequence[str]) -> None:
        self.hyps += [p["text"] for p in predictions]
        self.refs += list(references)

    def compute(self) -> dict[str, Any]:
        return {**translation_metrics(self.hyps, self.refs), "n": len(self.hyps)}


@register_task
class Translation(TextTask):
    name = "translation"
    dataset = "multi30k"
    score_keys = ("bleu", "chrf")
    data_help = "multi30k, or line-aligned FILE.en and FILE.de"

    def columns_to_items(self, cols):
        return cols["en"], cols["de"]

    def metric(self, data) -> CorpusBleu:
        return CorpusBleu()

    def record(self, prediction: dict, reference: str) -> dict:
        return {"text": prediction["text"], "reference": reference}
