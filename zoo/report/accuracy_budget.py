"""The accuracy budget table: what each bf16/fp16/int8 configuration costs in accuracy, from the eval rows
``zoo eval NAME --backend B --dtype D`` wrote beside the fp32 eager row on the same data; the check
``zoo bench --backend auto`` applies (zoo.harness.speed.accuracy_budget) before it may pick a configuration."""

from __future__ import annotations

from typing import Any

from ..harness.speed.accuracy_budget import BASELINE_NUMERICS, budget_for, pairs, row_numerics, score_keys

from ..spec import weights_label
from .base import Table, fmt


def _cells(cand: dict[str, Any], base: dict[str, Any] | None) -> list[Any]:
    task, keys = cand["task"], score_keys(cand["task"])
    b = cand.get("backend") or {}
    cal = b.get("calibration") or {}
    scores = [(base or {}).get("metrics", {}).get(k) if base else None for k in keys]
    mine = [cand["metrics"].get(k) for k in keys]
    loss = max((s - m for s, m in zip(scores, mine) if s is not None and m is not None), default=None) if base else None
    budget = budget_for(task)
    verdict = ("no fp32 eager row on the same data" if base is None
               else "within budget" if loss is not None and loss <= budget + 1e-9 else "over budget")
    return [cand["model"], b.get("label", row_numerics(cand)), weights_label(cand.get("weights")),
            f"{cand.get('dataset')} ({cand.get('n')})", "/".join(keys),
            " / ".join(fmt(s) for s in scores) if base else None, " / ".join(fmt(m) for m in mine), loss,
            budget, verdict, b.get("setup_s"),
            f"{cal.get('source', '')[:40]} n={cal.get('n')} seed={cal.get('seed')}" if cal else None]


def tables(rows: dict[str, list[dict]]) -> list[Table]:
    evals = [r for topic in sorted(rows) for r in rows[topic] if r.get("kind") == "eval" and not r.get("error")]
    seen, out, sources = set(), [], []
    for r in sorted(evals, key=lambda r: (r["model"], row_numerics(r), str(r.get("time")))):
        ident = (r["model"], r.get("weights"), row_numerics(r))
        if row_numerics(r) == BASELINE_NUMERICS or ident in seen:
            continue
        seen.add(ident)
        cand, base = next(pairs(r["model"], r.get("weights"), row_numerics(r), evals))
        out.append(_cells(cand, base))
        sources += [cand] + ([base] if base else [])
    return [Table(
        "accuracy_budget", "Accuracy budget: bf16 / int8 configurations against fp32 eager on the same data",
        ["model", "configuration", "weights", "data (items)", "metric", "fp32 eager", "configuration score",
         "loss (points)", "budget", "verdict", "setup s", "calibration"], out,
        notes=["each row: the latest `zoo eval NAME --backend B --dtype D` row and the fp32 eager eval row of the "
               "same model, weights and data; `zoo bench --backend auto` picks a bf16/fp16/int8 configuration "
               "only within the budget (--accuracy-budget; default 1.0 point of top-1, mAP or accuracy/F1)",
               "setup s: export, conversion, calibration and quantization before the eval loop (not in its seconds)",
               "int8 calibration: real items of the model's task data (zoo.harness.backends.calibration), labels unused"],
        sources=sources or None)]
