"""Scoring text models on the bundled splits; ``zoo eval NAME --task TASK`` lands here.

    evaluate_text("bilstm", "sst2")     # -> {"accuracy": ..., "f1": ..., "weights": sha256, ...}; writes a row

Metrics (percent): sst2 accuracy / precision / recall / F1 (scikit-learn); multi30k BLEU and chrF
(sacrebleu, detokenized output against the raw references, signatures in the row); squad exact match / F1
(SQuAD v1.1 normalization) on the held-out 24 articles. Rows go to results/raw/nlp.jsonl with the dataset
and checkpoint sha256. ``items_per_s`` is end-to-end inference throughput during the evaluation
(tokenize + forward + decode/postprocess, at ``batch_size``, on ``device``), measured wall-clock.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import torch

from ..errors import UserError


def _items(task: str, cols: dict) -> list:
    if task == "sst2":
        return cols["sentence"]
    if task == "multi30k":
        return cols["en"]
    return [{"question": q, "context": c} for q, c in zip(cols["question"], cols["context"])]


def predict_split(model, task: str, cols: dict, *, batch_size: int = 64, limit: int | None = None,
                  device: str = "cpu", progress: bool = False) -> list[dict]:
    from tqdm.auto import tqdm

    from ..models.base import move_to

    items = _items(task, cols)[:limit]
    preds: list[dict] = []
    with torch.inference_mode():
        for i in tqdm(range(0, len(items), batch_size), desc=f"eval {model.spec.name} on {task}", disable=not progress):
            batch = model.preprocess(items[i : i + batch_size])
            preds.extend(model.postprocess(model(move_to(batch.inputs, device)), batch))
    return preds


def score_predictions(task: str, preds: Sequence[dict], cols: dict, limit: int | None = None) -> dict:
    """Metrics for predictions (base.py formats) against the split's columns."""
    from .metrics import classification_metrics, squad_metrics, translation_metrics

    n = len(preds)
    if limit is None and n != len(next(iter(cols.values()))):
        limit = n
    if task == "sst2":
        return classification_metrics([p["label"] for p in preds], cols["label"][:n])
    if task == "multi30k":
        return translation_metrics([p["text"] for p in preds], cols["de"][:n])
    return squad_metrics([p["text"] for p in preds], [a["text"] for a in cols["answers"][:n]])


def _write_predictions(path, preds: list[dict], ids: list | None) -> None:
    """One JSON object per line; refuses an existing file; written to a temp file and renamed."""
    import tempfile

    path = Path(path)
    if path.exists():
        raise UserError(f"{path} already exists; zoo will not overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w") as f:
        for i, p in enumerate(preds):
            f.write(json.dumps({"index": i, **({"id": ids[i]} if ids else {}), **p}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def evaluate_text(name: str, task: str | None, *, checkpoint=None, split: str = "test", limit: int | None = None,
                  device: str = "cpu", batch_size: int = 64, predictions=None, write: bool = True,
                  pretrained: bool | None = None, num_beams: int | None = None, progress: bool = True) -> dict:
    """Score ``name`` on ``task``/``split``; a flat dict of metrics and provenance (row written when ``write``).

    checkpoint: a folder from ``zoo train`` (default: ``$ZOO_CACHE/checkpoints/NAME-TASK`` when it exists,
    else the model's pretrained weights when ``pretrained``, else random init; the row says which).
    pretrained=None (the default) means True for published checkpoints that zoo does not train
    (``spec.trainable`` false, e.g. distilbert_sst2) and False otherwise.
    predictions: a path to write one JSON line per item (refused if it exists).
    """
    from ..registry import UnknownModelError, get_spec
    from ..results import append_row, make_row, raw_path
    from ..models.text.checkpoint import default_checkpoint_dir, read_config
    from ..datasets.text import DATASET_NAMES, SQUAD_SPLIT_NOTE, check_task, dataset_sha256, read_split

    try:
        spec = get_spec(name)
    except UnknownModelError as e:
        raise UserError(str(e)) from None
    from ..models.text import _check_task

    if task is not None:
        check_task(task)
    task = _check_task(spec, task)
    if write:
        from ..results import check_appendable

        check_appendable(raw_path("nlp"))
    if predictions is not None and Path(predictions).exists():
        raise UserError(f"{predictions} already exists; zoo will not overwrite it")
    cols = read_split(task, split)
    n_total = len(next(iter(cols.values())))
    if limit is not None:
        cols = {k: v[:limit] for k, v in cols.items()}
    if checkpoint is None:
        default = default_checkpoint_dir(name, task)
        checkpoint = default if (default / "zoo_config.json").is_file() else None
    if pretrained is None:
        pretrained = checkpoint is None and not spec.trainable and spec.weights is not None
    train_info, weights, ckpt_sha = {}, None, None
    elapsed = None
    from .. import create_model

    overrides = {"num_beams": num_beams} if num_beams is not None and spec.task == "translation" else {}
    model = create_model(name, pretrained=pretrained, checkpoint=checkpoint, **overrides).to(device)
    weights = model.weights_id
    if checkpoint is not None:
        ckpt_sha = weights
        train_info = read_config(checkpoint).get("train", {})
    t0 = time.perf_counter()
    preds = predict_split(model, task, cols, batch_size=batch_size, device=device, progress=progress)
    elapsed = time.perf_counter() - t0
    if predictions is not None:
        _write_predictions(predictions, preds, cols.get("id"))
    metrics = score_predictions(task, preds, cols)
    sigs = {k: metrics.pop(k) for k in list(metrics) if k.endswith("_signature")}
    if elapsed:
        metrics["items_per_s"] = len(preds) / elapsed
        metrics["eval_time_s"] = elapsed
    result = {
        "model": name, "task": task, "split": split, "n": len(preds), "n_split": n_total, **metrics, **sigs,
        "weights": weights, "checkpoint": str(checkpoint) if checkpoint else None, "checkpoint_sha256": ckpt_sha,
        "dataset": f"{DATASET_NAMES[task]} {split}", "dataset_sha256": dataset_sha256(task, split),
        "device": device, "params": sum(p.numel() for p in model.parameters()),
    }
    if task == "squad":
        result["note"] = SQUAD_SPLIT_NOTE
    if progress:  # the CLI's summary line
        shown = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if k != "eval_time_s")
        print(f"{name} on {result['dataset']} ({len(preds)} of {n_total} items): {shown}; weights {str(weights)[:12]}")
        for v in sigs.values():
            print(f"  sacrebleu {v}")
    if write:
        row = make_row(
            "eval", model=name, spec_hash=spec.spec_hash, weights=weights, dataset=result["dataset"],
            dataset_sha256=result["dataset_sha256"],
            settings={"task": task, "split": split, "limit": limit, "batch_size": batch_size, "device": device,
                      "num_beams": getattr(model, "num_beams", None),
                      "threads": torch.get_num_threads()},
            metrics=metrics, signatures=sigs, n=len(preds), n_split=n_total, device=device,
            checkpoint_sha256=ckpt_sha, train=train_info, params=result["params"], task=task,
            note=result.get("note"),
        )
        append_row(raw_path("nlp"), row)
    return result
