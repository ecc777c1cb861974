"""Accuracy checks that calibrate and score on disjoint items: a seeded split of the task's local data.

``--backend auto`` (``zoo bench``) and ``zoo export`` check a lower-precision configuration themselves: the
task's data found locally (image classification: ../shared/data/imagenet_sample_dev, 200 labelled ImageNet
photos; detection: ../shared/data/coco128) is shuffled by a seed; the first ``n_calibration`` items are the
calibration pool a quantizer draws from, the rest are scored, by the fp32 eager reference and by each
candidate alike. Both lists are recorded (count, seed, sha256 of their ids), so a row says exactly which
items taught the quantizer and which measured it.

    split = holdout_split(model.spec)                       # None when the task has no local data
    ref = score(lambda items: model.predict_dicts(items), split)
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...tasks import EvalData, get_task
from ..backends.calibration import shared_data

HOLDOUT_SEED = 0
N_CALIBRATION = 64
LOCAL_DATA = {"image-classification": "imagenet_sample_dev", "object-detection": "coco128"}
HEADLINE = {"image-classification": "top1", "object-detection": "map"}


class TimeLimit(Exception):
    """A check ran past its own time limit (the candidate is left out and the row says so)."""


@dataclass
class Holdout:
    """The scored items (an ``EvalData``), the calibration files, and the record rows keep."""

    task: str
    scored: EvalData
    calibration: list[Path]
    record: dict[str, Any]

    def calibration_pool(self) -> tuple[list[Path], dict]:
        """(files, record) for ``Calibration(model, pool=...)``: calibrate on these, never on the scored ones."""
        return self.calibration, {"source": f"{self.record['data']} (calibration part of a seeded split)",
                                  "overlaps_eval": None, "split": self.record}


def _ids_sha256(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def local_data(task: str) -> Path | None:
    """The task's data on this machine (../shared/data/...), or None."""
    name = LOCAL_DATA.get(task)
    path = shared_data() / name if name else None
    return path if path is not None and path.is_dir() else None


def holdout_split(spec, data: str | Path | None = None, n_calibration: int = N_CALIBRATION,
                  seed: int = HOLDOUT_SEED, max_scored: int | None = None) -> Holdout | None:
    """Split the task's local data (or ``data``) by ``seed``: ``n_calibration`` files to calibrate on, the
    rest (at most ``max_scored``) to score. None when the task has no data here."""
    path = Path(data) if data is not None else local_data(spec.task)
    if path is None:
        return None
    loaded = get_task(spec.task).load(str(path), spec=spec)
    order = list(range(len(loaded)))
    random.Random(seed).shuffle(order)
    n_cal = min(n_calibration, len(order) // 2)
    cal, scored = sorted(order[:n_cal]), sorted(order[n_cal:])[:max_scored]
    if not scored:
        raise UserError(f"{path}: too few items ({len(loaded)}) to calibrate on some and score the others")
    sub = replace(loaded, sources=[loaded.sources[i] for i in scored], references=[loaded.references[i] for i in scored],
                  ids=[loaded.ids[i] for i in scored])
    record = {"data": loaded.name, "path": str(path), "seed": seed, "n_calibration": len(cal), "n_scored": len(scored),
              "calibration_ids_sha256": _ids_sha256([loaded.ids[i] for i in cal]),
              "scored_ids_sha256": _ids_sha256(sub.ids), "disjoint": True}
    return Holdout(spec.task, sub, [Path(loaded.sources[i]) for i in cal], record)


def score(predict: Callable[[list[Any]], list[dict]], holdout: Holdout, batch_size: int = 8,
          time_limit_s: float | None = None) -> dict[str, Any]:
    """Run ``predict`` (decoded items -> prediction dicts, as a model's postprocess gives) over the scored items
    and compute the task's metrics; ``TimeLimit`` when ``time_limit_s`` runs out first."""
    data = holdout.scored
    task = get_task(holdout.task)
    metric = task.metric(data)
    t0 = time.perf_counter()
    for lo in range(0, len(data), batch_size):
        srcs = data.sources[lo:lo + batch_size]
        items = [data.read(s) for s in srcs] if data.read else list(srcs)
        metric.add_batch(predictions=predict(items), references=data.references[lo:lo + batch_size])
        if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
            raise TimeLimit(f"{lo + len(srcs)} of {len(data)} items scored in {time_limit_s:g} s")
    out = metric.compute()
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def torch_predict(model) -> Callable[[list[Any]], list[dict]]:
    """The fp32 eager reference: decoded items -> the model's prediction dicts (preprocess, forward, postprocess)."""
    import torch  # deferred: the harness has torch, but this module's split and scoring need none of it

    def run(items: list[Any]) -> list[dict]:
        batch = model.preprocess(items)
        with torch.inference_mode():
            return model.postprocess(model(batch.inputs), batch)

    return run


def loss_points(task: str, reference: dict, candidate: dict) -> float:
    """Points of the task's headline score the candidate loses against the fp32 reference (negative: gains)."""
    key = HEADLINE[task]
    return float(reference[key]) - float(candidate[key])
