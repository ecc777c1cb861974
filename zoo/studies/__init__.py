"""Gradient-descent studies: the article's claims about training, each turned into a measured table.

    from zoo.studies import run_study
    rows = run_study("learning_rate")                 # full size, seeds 0, 1, 2; appends raw rows
    rows = run_study("activations", scale="tiny")     # seconds: what the tests run

One module per study (activations, ff_vs_recurrent, learning_rate, metrics, gd_variants, regularization,
local_minima), each with ``TITLE`` and ``run(seeds, scale) -> list[record]``. ``run_study`` stamps every
record into a raw row (``zoo.results.make_row``, kind "study", weights "random-init") and appends it to
``results/raw/studies.jsonl``; all rows of one invocation share a ``run_id``, and ``zoo report``
(zoo/report/studies.py) builds each study's table from its latest run.

Everything runs on the CPU with one intra-op thread (``torch.set_num_threads(1)``, restored afterwards):
these models are tiny, one thread is faster for them than two, and timings stay comparable on a shared
machine.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import time
import uuid
from typing import Any, Sequence

from ..errors import UserError
from ..harness.speed.measure import torch_threads
from ..models.base import RANDOM_INIT
from ..results import append_row, check_appendable, make_row, raw_path
from .common import DATASET, digits, run_progress

STUDIES = ("activations", "ff_vs_recurrent", "learning_rate", "metrics", "gd_variants", "regularization",
           "local_minima")
# The article's misconceptions (zoo/report/misconceptions.py): run by name, not by `all` (faithfulness needs the
# ImageNet sample photos and real weights; its rows name those weights, not random-init).
MISCONCEPTION_STUDIES = ("bigger_better", "faithfulness", "more_data")
DEFAULT_SEEDS = (0, 1, 2)
TOPIC = "studies"


def study_module(name: str):
    if name not in STUDIES + MISCONCEPTION_STUDIES:
        raise UserError(f"unknown study {name!r}; expected one of {', '.join(STUDIES + MISCONCEPTION_STUDIES)} or all")
    return importlib.import_module(f"{__name__}.{name}")


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_study(name: str, *, seeds: Sequence[int] = DEFAULT_SEEDS, scale: str = "full", write: bool = True,
              run_id: str | None = None, command: str | None = None) -> list[dict[str, Any]]:
    """Run one study; return its raw rows (appended to results/raw/studies.jsonl when ``write``)."""
    mod = study_module(name)
    if scale not in mod.SCALES:
        raise UserError(f"unknown scale {scale!r}; expected one of {', '.join(mod.SCALES)}")
    if write:
        check_appendable(raw_path(TOPIC))
    run_id = run_id or new_run_id()
    t0 = time.perf_counter()
    with torch_threads(1), run_progress(name):
        records = mod.run(list(seeds), scale)
    elapsed = time.perf_counter() - t0
    data = digits()
    rows = []
    for rec in records:
        row = make_row(
            "study",
            model=rec["model"],
            weights=rec.get("weights") or RANDOM_INIT,  # a study of a pretrained model names its weights
            dataset=rec.get("dataset") or DATASET,
            dataset_sha256=rec.get("dataset_sha256") or data.sha256,
            settings={**rec["config"], "seed": rec["seed"], "scale": scale, "threads": 1},
            metrics=rec["metrics"],
            study=name,
            title=mod.TITLE,
            run_id=run_id,
            seeds=list(seeds),
            curves=rec["curves"],
            study_wall_s=elapsed,
            device="cpu",
            command=command or f"zoo study {name}",
        )
        rows.append(row)
    if write:
        path = raw_path(TOPIC)
        for row in rows:
            append_row(path, row)
    return rows


def run_all(names: Sequence[str] = STUDIES, **kw) -> dict[str, list[dict[str, Any]]]:
    return {n: run_study(n, **kw) for n in names}
