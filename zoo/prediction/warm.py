"""The warm copy ``zoo predict NAME`` keeps: the second prediction of a registered model starts without torch.

Importing torch is most of what a one-image ``zoo predict efficientnet_lite0 bus.jpg`` costs (1.4 to 3 s of
2.3 to 4 s on 2 cores). So the first such call, after printing its results from the PyTorch model, writes an
fp32 ONNX export of the model's published weights under ``$ZOO_CACHE/predict/NAME-SHA`` (an export folder as
``zoo export`` writes, without the model card), and later calls are served from it by ONNX Runtime
(``zoo.prediction.runtime``), like an export folder. fp32 ONNX and PyTorch agree to float rounding (scores to
~1e-6): the same classes, the same printed scores.

A copy is used only when it is exactly what the PyTorch path would run: the spec's published weights (its
sha256), the same zoo version and export format, the spec's preprocessing unchanged, a task the export runtime
serves, CPU, no ``--checkpoint``. Anything else, or a copy that cannot be read, falls back to PyTorch. The
copy is a cache: ``zoo predict --no-cache`` (or ``ZOO_PREDICT_CACHE=0``) neither reads nor writes it, and
deleting the folder is always safe.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path

from ..offline import zoo_cache_dir
from .runtime import CONFIG, EXPORT_FORMAT, TASKS, ExportedModel, read_config

ENV = "ZOO_PREDICT_CACHE"  # "0": never read or write warm copies
RUNTIME = "onnxruntime"  # the lighter of the two export runtimes to import (ONNX Runtime ~0.2 s)


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def warm_folder(spec) -> Path | None:
    """Where the warm copy of ``spec``'s published weights lives, or None (no published weights, or a task the
    export runtime does not serve)."""
    sha = getattr(spec.weights, "sha256", None) if spec.weights is not None else None
    if not sha or spec.task not in TASKS:
        return None
    return zoo_cache_dir() / "predict" / f"{spec.name}-{sha[:16]}"


def refusal(folder: Path) -> Path:
    """The note left beside ``folder`` when the model's graph could not be exported: later calls skip the try."""
    return folder.with_name(folder.name + ".refused")


def _same_preprocess(spec, recorded: dict) -> bool:
    now = json.loads(json.dumps(dataclasses.asdict(spec.preprocess), default=str))
    return {k: v for k, v in recorded.items() if k != "description"} == now


def matches(spec, cfg: dict, zoo_version: str) -> bool:
    """Whether the export config ``cfg`` is what the PyTorch path of this zoo would run for ``spec`` now."""
    weights = cfg.get("weights") or {}
    return (cfg.get("format") == EXPORT_FORMAT and cfg.get("zoo_version") == zoo_version
            and cfg.get("model") == spec.name and weights.get("source") == "pretrained"
            and weights.get("sha256") == spec.weights.sha256
            and (cfg.get("artifact") or {}).get("dtype") == "fp32"
            and _same_preprocess(spec, cfg.get("preprocess") or {}))


def load_warm(spec, zoo_version: str) -> ExportedModel | None:
    """The warm copy of ``spec`` ready to predict, or None (none yet, of another zoo version, stale, unreadable,
    or its runtime missing): the caller then runs the PyTorch model."""
    folder = warm_folder(spec)
    if folder is None or not (folder / CONFIG).is_file() or importlib.util.find_spec(RUNTIME) is None:
        return None
    try:
        if not matches(spec, read_config(folder), zoo_version):
            return None
        return ExportedModel(folder)
    except Exception:  # noqa: BLE001 -- unreadable, stale or a graph the runtime refuses: PyTorch serves instead
        return None
