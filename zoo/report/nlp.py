"""NLP tables from the text rows: kind "eval" with a text task (results/raw/eval.jsonl, ``zoo eval``) and kind
"train" (results/raw/train.jsonl, ``zoo train``).

nlp_applications: the article's NLP table made real: application, architecture, data set, metric, the
    measured score beside the published reference (with its source and why it is not the same setting),
    parameters, training time and device, inference items/s, weights (sha256 of the checkpoint).
    One row per (model, task): the latest evaluation on the whole test split, else the latest partial one
    (its item count is shown).
nlp_training: every training run: epochs, steps, time, best validation score, seed, threads, start weights.
"""

from __future__ import annotations

from typing import Any

from ..registry import get_spec
from ..results import machine_identity
from ..spec import weights_label
from .base import Table, provenance, rows_of_kind, sig

APPLICATIONS = {"text-classification": "Sentiment analysis", "translation": "Machine translation (en→de)",
                "question-answering": "Question answering"}
ARCHITECTURES = {
    "lstm": "RNN (LSTM)",
    "gru": "RNN (GRU)",
    "bilstm": "RNN (bidirectional LSTM)",
    "transformer_classifier": "Transformer encoder, from scratch",
    "minilm_sst2": "Transformer encoder, pretrained (MiniLM-L6) + fine-tuned",
    "bert_base": "Transformer encoder (BERT-base)",
    "rnn_attention": "RNN encoder-decoder + attention",
    "transformer_mt": "Transformer encoder-decoder, from scratch",
    "transformer_qa": "Transformer encoder, from scratch",
    "minilm_qa": "Transformer encoder, pretrained (MiniLM-L6) + fine-tuned",
}
ORDER = ["lstm", "gru", "bilstm", "transformer_classifier", "minilm_sst2", "bert_base", "rnn_attention",
         "transformer_mt", "transformer_qa", "minilm_qa"]
# Text task -> (score, second score, label): the eval row's metrics keys shown.
METRICS = {"text-classification": ("accuracy", "f1", "accuracy / F1 (%)"), "translation": ("bleu", "chrf", "BLEU / chrF"),
           "question-answering": ("exact_match", "f1", "EM / F1 (%)")}
TARGETS = {("bilstm", "text-classification"): "≥ 78", ("minilm_sst2", "text-classification"): "≥ 85",
           ("rnn_attention", "translation"): "≥ 20 (CPU, ≤ 30 min)", ("transformer_mt", "translation"): "≥ 22 (CPU, ≤ 30 min)"}


def _reference(model: str, metric: str) -> str | None:
    try:
        ref = get_spec(model).reference(metric)
    except Exception:  # a model no longer registered: no reference column
        return None
    if ref is None:
        return None
    return f"{ref.value} — {ref.source}; {ref.dataset}" + (f" ({ref.note})" if ref.note else "")


def _pick(evals: list[dict]) -> dict:
    full = [r for r in evals if r.get("n") == r.get("n_split")]
    pool = full or evals
    return max(pool, key=lambda r: str(r.get("time")))


def _device(r: dict[str, Any] | dict) -> str:
    m = r.get("machine") or {}
    return machine_identity(m) if not m.get("gpu") else m["gpu"]


def applications_table(rows: list[dict]) -> Table:
    evals = [r for r in rows if r["task"] in METRICS and (r.get("settings") or {}).get("split") == "test"]
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in evals:
        groups.setdefault((r["model"], r["task"], r["dataset"]), []).append(r)
    order = {m: i for i, m in enumerate(ORDER)}
    keys = sorted(groups, key=lambda k: (list(METRICS).index(k[1]), order.get(k[0], 99), k[0], k[2]))
    out, used = [], []
    for model, task, dataset in keys:
        r = _pick(groups[(model, task, dataset)])
        used.append(r)
        m1, m2, label = METRICS[task]
        met = r.get("metrics") or {}
        tr = r.get("train") or {}
        train_min = tr.get("train_time_s") / 60 if tr.get("train_time_s") is not None else None
        w = r.get("weights")
        out.append([
            APPLICATIONS[task], ARCHITECTURES.get(model, model), model, r.get("dataset"), r.get("n"), label,
            met.get(m1), met.get(m2), TARGETS.get((model, task)), _reference(model, m1), r.get("params"),
            train_min, f"{tr.get('device', 'cpu')}: {_device(r)}, {tr.get('threads', '?')} thread(s)" if tr else None,
            met.get("items_per_s"), weights_label(w),
        ])
    sigs = sorted({f"{k}: {v}" for r in used for k, v in (r.get("signatures") or {}).items()})
    notes = provenance(used) + [
        "commands: `zoo train NAME --task TASK [...]` then `zoo eval NAME --task TASK` (settings in each raw row)",
        "SQuAD: v1.1 dev split by article — first 24 articles train, last 24 test; no official train set used, "
        "so scores are not comparable with official SQuAD dev results",
        "SST-2: Kim (2014) sentence-level test split (1,821); Multi30k: test_2016_flickr (1,000), detokenized "
        "output scored with sacrebleu",
        "train min: wall-clock training time of the checkpoint (from its zoo_config.json), on a shared 2-core CPU; "
        "items/s: end-to-end evaluation throughput (tokenize + forward + decode), batch 64",
        "a model trained under a time budget stopped at the budget: epochs run are in nlp_training",
    ] + [f"sacrebleu signature — {s}" for s in sigs]
    refs = sorted({x[9] for x in out if x[9]})
    return Table(
        slug="nlp_applications", title="NLP applications: architecture, data set, metric and measured score",
        columns=["application", "architecture", "model", "data set (test)", "n", "metric", "score", "score 2",
                 "target", "published reference", "params", "train min", "train device", "items/s", "weights"],
        rows=out, notes=notes, references=refs, digits=2,
    )


def training_table(rows: list[dict]) -> Table:
    runs = sorted((r for r in rows if r.get("task") not in ("image-classification", "object-detection")),
                  key=lambda r: (str(r.get("model")), str(r.get("time"))))  # vision runs: report/vision_train.py
    out = []
    for r in runs:
        s, m = r.get("settings") or {}, r.get("metrics") or {}
        hist = r.get("history") or []
        init = s.get("init_weights")
        complete = sum(1 for h in hist if h.get("complete", True))
        epochs = f"{complete} + partial" if complete < len(hist) else complete
        out.append([
            r.get("model"), s.get("task"), epochs, m.get("steps"), s.get("batch_size"), sig(s.get("lr"), 2),
            (m.get("train_time_s") or 0) / 60, s.get("max_minutes"), m.get("best_val"), m.get("best_epoch"),
            m.get("final_train_loss"), s.get("seed"), r.get("device") or "cpu", s.get("dtype", "fp32"), s.get("threads"),
            s.get("world_size"), s.get("limit"),
            weights_label(init),
            f"sha256 {str(r.get('checkpoint_sha256'))[:12]}", str(r.get("time"))[:16],
        ])
    return Table(
        slug="nlp_training", title="NLP training runs (zoo train)",
        columns=["model", "task", "epochs run", "steps", "batch", "lr", "train min", "budget min", "best val",
                 "best epoch", "last train loss", "seed", "device", "dtype", "threads", "processes", "limit",
                 "start weights",
                 "checkpoint", "time (UTC)"],
        rows=out, digits=3,
        notes=provenance(runs) + [
            "best val: validation accuracy (SST-2 dev, %) or greedy BLEU on the first val sentences (Multi30k); "
            "SQuAD has no validation split here (last epoch kept)",
            "SQuAD: trained on the first 24 articles of SQuAD v1.1 dev (the last 24 are the test split); no "
            "official train set used",
            "epochs run: complete epochs; '+ partial' when the time budget stopped the run inside an epoch "
            "(that partial epoch was validated too)",
            "dtype bf16: forward and loss under bf16 autocast, fp32 weights and optimizer",
            "optimizer AdamW, linear warm-up (5% of steps unless the row says otherwise) and linear decay, gradient clipping 1.0 (zoo.nlp.train)",
        ],
    )


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    return [applications_table(rows_of_kind(rows, "eval")), training_table(rows_of_kind(rows, "train"))]
