"""Metric parity: sklearn / torchmetrics for classification, the sacrebleu CLI for BLEU and chrF, and an
independent SQuAD v1.1 EM/F1 implementation written here from the official script's definition."""

from __future__ import annotations

import json
import random
import re
import shutil
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from zoo.datasets.text import read_split
from zoo.tasks import get_task
from zoo.tasks.question_answering import normalize_answer, squad_metrics
from zoo.tasks.text_classification import classification_metrics
from zoo.tasks.translation import translation_metrics


def test_classification_matches_sklearn_and_torchmetrics():
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
    from torchmetrics.functional.classification import (
        binary_accuracy,
        binary_f1_score,
        binary_precision,
        binary_recall,
    )

    rng = random.Random(0)
    labels = read_split("sst2", "test")["label"]
    preds = [y if rng.random() < 0.8 else 1 - y for y in labels]
    m = classification_metrics(preds, labels)
    assert m["accuracy"] == pytest.approx(100 * accuracy_score(labels, preds))
    assert m["precision"] == pytest.approx(100 * precision_score(labels, preds))
    assert m["recall"] == pytest.approx(100 * recall_score(labels, preds))
    assert m["f1"] == pytest.approx(100 * f1_score(labels, preds))
    p, t = torch.tensor(preds), torch.tensor(labels)
    for key, fn in (("accuracy", binary_accuracy), ("precision", binary_precision), ("recall", binary_recall), ("f1", binary_f1_score)):
        assert m[key] == pytest.approx(100 * fn(p, t).item(), abs=1e-4)
    assert 75 < m["accuracy"] < 85


def _sacrebleu_cli():
    exe = Path(sys.executable).parent / "sacrebleu"
    return str(exe) if exe.exists() else shutil.which("sacrebleu")


@pytest.mark.skipif(_sacrebleu_cli() is None, reason="sacrebleu CLI not installed")
def test_bleu_and_chrf_equal_the_sacrebleu_cli(tmp_path):
    refs = read_split("multi30k", "test")["de"][:300]
    rng = random.Random(1)
    hyps = []
    for r in refs:  # a noisy "system": drop and swap words
        w = r.split()
        w = [x for x in w if rng.random() > 0.15]
        if len(w) > 3 and rng.random() < 0.5:
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
        hyps.append(" ".join(w))
    (tmp_path / "ref.de").write_text("\n".join(refs) + "\n")
    (tmp_path / "hyp.de").write_text("\n".join(hyps) + "\n")
    m = translation_metrics(hyps, refs)
    out = subprocess.run([_sacrebleu_cli(), str(tmp_path / "ref.de"), "-i", str(tmp_path / "hyp.de"), "-m", "bleu", "chrf",
                          "-b", "-w", "6"], capture_output=True, text=True, check=True).stdout
    cli_bleu, cli_chrf = json.loads(out)
    assert m["bleu"] == pytest.approx(cli_bleu, abs=1e-5)
    assert m["chrf"] == pytest.approx(cli_chrf, abs=1e-5)
    assert m["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert 20 < m["bleu"] < 90


# --- independent SQuAD v1.1 evaluation, as the official evaluate-v1.1.py defines it ---------------------
def _norm(text):
    text = text.lower()
    text = "".join(c for c in text if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _official_f1(prediction, truth):
    p, t = _norm(prediction).split(), _norm(truth).split()
    common = Counter(p) & Counter(t)
    n = sum(common.values())
    if n == 0:
        return 0
    prec, rec = 1.0 * n / len(p), 1.0 * n / len(t)
    return (2 * prec * rec) / (prec + rec)


def _official(dataset_preds, gold):
    f1 = em = total = 0
    for qid, answers in gold.items():
        total += 1
        pred = dataset_preds[qid]
        em += max(_norm(pred) == _norm(a) for a in answers)
        f1 += max(_official_f1(pred, a) for a in answers)
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}


def test_squad_em_f1_equal_the_official_definition():
    cols = read_split("squad", "test")
    rng = random.Random(2)
    preds = {}
    for qid, ctx, ans in zip(cols["id"], cols["context"], cols["answers"]):
        s, t = ans["answer_start"][0], ans["text"][0]
        r = rng.random()
        if r < 0.4:
            preds[qid] = t
        elif r < 0.6:
            preds[qid] = "The " + t.upper() + "."  # normalizes to an exact match
        elif r < 0.85:
            preds[qid] = ctx[max(0, s - 15) : s + len(t) + 10]  # overlap: partial F1
        else:
            preds[qid] = ctx[:20]
    gold = {qid: ans["text"] for qid, ans in zip(cols["id"], cols["answers"])}
    ours = squad_metrics([preds[q] for q in cols["id"]], [gold[q] for q in cols["id"]])
    ref = _official(preds, gold)
    assert ours["exact_match"] == pytest.approx(ref["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(ref["f1"], abs=1e-9)
    assert 55 < ours["exact_match"] < 75 and ours["f1"] > ours["exact_match"]


def test_squad_normalization_cases():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert squad_metrics(["an apple"], [["Apple", "a pear"]]) == {"exact_match": 100.0, "f1": 100.0}
    m = squad_metrics(["Denver Broncos team"], [["Denver Broncos"]])
    assert m["exact_match"] == 0.0 and m["f1"] == pytest.approx(80.0)


def test_streaming_metrics_equal_the_one_shot_functions():
    """Each text task's metric fed in uneven batches (add_batch) gives what its function gives on everything."""
    cols = read_split("multi30k", "test")
    hyps, refs = cols["de"][:40], cols["de"][1:41]
    labels = [i % 2 for i in range(50)]
    preds = [(i * 7) % 3 % 2 for i in range(50)]
    answers = [["Denver Broncos", "Broncos"], ["the apple"], ["x y"]] * 5
    guesses = ["Broncos team", "an Apple", "y"] * 5
    cases = [
        ("text-classification", [{"label": p} for p in preds], labels, classification_metrics(preds, labels)),
        ("translation", [{"text": h} for h in hyps], refs, translation_metrics(hyps, refs)),
        ("question-answering", [{"text": g} for g in guesses], answers, squad_metrics(guesses, answers)),
    ]
    for task, predictions, references, expected in cases:
        metric = get_task(task).metric(None)
        for a, b in ((0, 7), (7, 8), (8, len(predictions))):
            metric.add_batch(predictions=predictions[a:b], references=references[a:b])
        got = metric.compute()
        assert got.pop("n") == len(predictions)
        assert got == expected, task
