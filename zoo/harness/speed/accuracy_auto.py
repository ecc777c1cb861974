"""``--backend auto`` checks accuracy itself: a bf16/fp16/int8 candidate with no eval row to read
(``accuracy_budget``) is scored here, on the task's local data, against fp32 eager on the same items.

The data is split by a seed (``zoo.harness.eval.holdout``): the calibrating backends draw their calibration
items from one part, every configuration (the fp32 eager reference included) is scored on the other, so no
candidate is measured on what it was calibrated on. Each candidate's check has its own time limit
(``--accuracy-time-limit``): one slow candidate (a detector at int8 on a small CPU) is left out, and the row
says so, instead of the whole model timing out. ``--accuracy-check never`` keeps reading eval rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...errors import UserError
from ...spec import RANDOM_INIT
from ..backends import AUTO, Prepared, outputs_to_fp32
from ..eval.holdout import (
    HEADLINE,
    Holdout,
    TimeLimit,
    holdout_split,
    local_data,
    loss_points,
    score,
)
from . import accuracy_budget

MEASURED_BY = "zoo bench --backend auto (held-out split of the task's local data)"


@dataclass
class AccuracyPlan:
    """What the self-checks of one model share: the split, the budget, the time limit, the fp32 reference."""

    holdout: Holdout
    budget: float
    time_limit_s: float
    reference: dict[str, Any] | None = field(default=None)
    timed_out: list[str] = field(default_factory=list)

    def calibration_pool(self):
        return self.holdout.calibration_pool()


def plan(model: Any, cfg) -> AccuracyPlan | None:
    """The plan when auto may check accuracy itself: real weights, a task with a headline score and local data."""
    task = model.spec.task
    if cfg.backend != AUTO or cfg.accuracy_check == "never" or model.weights_id in (None, RANDOM_INIT):
        return None
    if task not in HEADLINE:
        return None
    budget, limit = accuracy_budget.budget_for(task, cfg.accuracy_budget), float(cfg.accuracy_time_limit)
    key = (model.spec.name, model.weights_id, budget, limit, str(local_data(task)))
    if key in _PLANS:  # one split and one fp32 reference per model, whatever the batch sizes
        if _PLANS[key] is not None:
            _PLANS[key].timed_out = []
        return _PLANS[key]
    try:
        holdout = holdout_split(model.spec)
    except UserError:  # the local data is not this model's label set (e.g. a model trained on other classes)
        holdout = None
    _PLANS[key] = AccuracyPlan(holdout, budget, limit) if holdout is not None else None
    return _PLANS[key]


_PLANS: dict[tuple, AccuracyPlan | None] = {}


def _predict(model: Any, prep: Prepared):
    """Decoded items -> prediction dicts through ``prep``'s forward and the model's own pre/postprocessing."""

    def run(items: list[Any]) -> list[dict]:
        batch = model.preprocess(items)
        with torch.inference_mode():
            return model.postprocess(outputs_to_fp32(prep.run(prep.to_inputs(batch.inputs))), batch)

    return run


def check(p: AccuracyPlan, model: Any, baseline: Prepared, candidate: Prepared, batch_size: int) -> dict[str, Any]:
    """Score ``candidate`` (and, once, the fp32 eager ``baseline``) on the held-out items; the check's record."""
    key = HEADLINE[model.spec.task]
    out: dict[str, Any] = {"measured_by": MEASURED_BY, "budget_points": p.budget, "metric": key,
                           "numerics": candidate.config.numerics, "split": p.holdout.record}
    if p.reference is None:
        p.reference = score(_predict(model, baseline), p.holdout, batch_size)
    try:
        got = score(_predict(model, candidate), p.holdout, batch_size, time_limit_s=p.time_limit_s)
    except TimeLimit as e:
        p.timed_out.append(candidate.config.label)
        return {**out, "status": f"timed out ({e})", "eligible": False,
                "why": f"its accuracy check passed --accuracy-time-limit {p.time_limit_s:g} s"}
    loss = loss_points(model.spec.task, p.reference, got)
    ok = loss <= p.budget + 1e-9
    return {**out, "status": "within budget" if ok else "over budget", "eligible": ok, "loss_points": round(loss, 4),
            "fp32_eager": {key: p.reference[key], "n": p.reference["n"]}, "scores": {key: got[key], "n": got["n"]},
            "seconds": got["seconds"],
            **({} if ok else {"why": f"loses {loss:.2f} points of {key} (budget {p.budget:g})"})}
