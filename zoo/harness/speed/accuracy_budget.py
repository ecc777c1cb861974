"""The accuracy budget: a configuration that computes with less than fp32 (bf16, fp16, int8, quantized
weights) is a ``--backend auto`` pick only when an eval row on real data shows it loses at most the budget.

The check is the ordinary ``zoo eval``: ``zoo eval NAME --backend B --dtype D`` writes an eval row whose
``backend`` field names its configuration (``numerics``: backend + dtype + precision; layout and compile
settings do not change the answers). A candidate passes when, for the same model and the same weights
(sha256), the latest such row and a plain fp32 eager eval row on the same data (dataset sha256, items
scored, split) differ by at most the budget, in points of the task's headline scores:

- image classification: top-1; object detection: mAP@[.5:.95]; text classification: accuracy and F1 (the
  larger loss counts); any other task: its first score key. Default budget 1.0 point each
  (``--accuracy-budget POINTS``).

Random weights: the candidate is measured and may be picked, and the check says "accuracy not checked:
random weights" (an untrained network has no accuracy to keep). Real weights without both eval rows: not
picked, and the check says why and which ``zoo eval`` commands would settle it.
"""

from __future__ import annotations

from typing import Any, Sequence

from ...results import raw_path, read_rows
from ...spec import RANDOM_INIT
from ...tasks import get_task
from ..backends import BackendConfig, accuracy_checked

DEFAULT_BUDGET_POINTS = 1.0
BUDGETS = {"image-classification": 1.0, "object-detection": 1.0, "text-classification": 1.0}
SCORE_KEYS = {"image-classification": ("top1",), "object-detection": ("map",),
              "text-classification": ("accuracy", "f1")}
EVAL_DATA = {"image-classification": " --data ../shared/data/imagenet_sample_dev",
             "object-detection": " --data ../shared/data/coco128"}
BASELINE_NUMERICS = "eager+fp32"
RANDOM_WEIGHTS = "accuracy not checked: random weights"


def budget_for(task: str | None, asked: float | None = None) -> float:
    """The budget in points: the one asked for, else the task's default."""
    return float(asked) if asked is not None else BUDGETS.get(task or "", DEFAULT_BUDGET_POINTS)


def score_keys(task: str) -> tuple[str, ...]:
    return SCORE_KEYS.get(task) or get_task(task).score_keys[:1]


def row_numerics(row: dict[str, Any]) -> str:
    """The numerics an eval row was computed with (plain fp32 eager when it names no backend)."""
    return (row.get("backend") or {}).get("numerics") or BASELINE_NUMERICS


def eval_rows() -> list[dict[str, Any]]:
    """The eval rows of the results store (ZOO_RESULTS_DIR or results/raw), failed ones left out."""
    return [r for r in read_rows(raw_path("eval")) if r.get("kind") == "eval" and not r.get("error")]


def eval_command(name: str, task: str, config: BackendConfig | None) -> str:
    """The ``zoo eval`` line that writes the row a check needs (None: the fp32 eager one)."""
    line = f"zoo eval {name}{EVAL_DATA.get(task, '')}"
    if config is None:
        return line
    line += f" --backend {config.backend}"
    if config.dtype != "fp32":
        line += f" --dtype {config.dtype}"
    if config.dtype in ("bf16", "fp16"):
        line += f" --precision {config.precision}" if config.precision != "hint" else ""
    return line


def _same_data(a: dict[str, Any], b: dict[str, Any]) -> bool:
    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    return (a.get("dataset_sha256") == b.get("dataset_sha256") and a.get("dataset") == b.get("dataset")
            and a.get("n") == b.get("n") and sa.get("split") == sb.get("split"))


def _ref(row: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """What the check records about an eval row: enough to find it again."""
    return {"time": row.get("time"), "dataset": row.get("dataset"), "dataset_sha256": row.get("dataset_sha256"),
            "n": row.get("n"), "backend": (row.get("backend") or {}).get("label", BASELINE_NUMERICS),
            "commit": row.get("commit"), "scores": {k: (row.get("metrics") or {}).get(k) for k in keys}}


def pairs(name: str, weights: str, numerics: str, rows: list[dict[str, Any]]):
    """(backend row, fp32 eager row on the same data), the latest backend rows first; the eager row may be None."""
    mine = [r for r in rows if r.get("model") == name and r.get("weights") == weights]
    cands = sorted((r for r in mine if row_numerics(r) == numerics), key=lambda r: str(r.get("time")), reverse=True)
    bases = sorted((r for r in mine if row_numerics(r) == BASELINE_NUMERICS), key=lambda r: str(r.get("time")),
                   reverse=True)
    for c in cands:
        yield c, next((b for b in bases if _same_data(b, c)), None)


def check(name: str, task: str, weights: str | None, config: BackendConfig, budget: float | None = None,
          rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Whether ``config`` may be picked for this model and weights: ``eligible`` and the reason
    (``status``), with the budget, the measured loss and the eval rows it was read from."""
    if not accuracy_checked(config):
        return {"status": "not needed: fp32", "eligible": True}
    points = budget_for(task, budget)
    if weights in (None, RANDOM_INIT):
        return {"status": RANDOM_WEIGHTS, "eligible": True, "budget_points": points}
    keys = score_keys(task)
    rows = eval_rows() if rows is None else rows
    out: dict[str, Any] = {"budget_points": points, "metric": "/".join(keys), "numerics": config.numerics}
    lonely = None
    for cand, base in pairs(name, weights, config.numerics, rows):
        if base is None:
            lonely = lonely or cand
            continue
        losses = [(base["metrics"].get(k), cand["metrics"].get(k)) for k in keys]
        if any(b is None or c is None for b, c in losses):
            continue
        loss = max(b - c for b, c in losses)
        ok = loss <= points + 1e-9
        return {**out, "status": "within budget" if ok else "over budget", "eligible": ok,
                "loss_points": round(loss, 4), "eval_row": _ref(cand, keys), "fp32_eval_row": _ref(base, keys),
                **({} if ok else {"why": f"loses {loss:.2f} points of {'/'.join(keys)} (budget {points:g})"})}
    if lonely is not None:
        return {**out, "status": "not checked: no fp32 eager eval row on the same data", "eligible": False,
                "eval_row": _ref(lonely, keys), "why": "its eval row has no fp32 eager row on the same data to "
                f"compare with; run `{eval_command(name, task, None)}` on {lonely.get('dataset')}",
                "commands": [eval_command(name, task, None)]}
    cmds = [eval_command(name, task, None), eval_command(name, task, config)]
    return {**out, "status": "not checked: no eval row", "eligible": False,
            "why": f"no eval row of {config.numerics} for these weights; run `{cmds[1]}` and `{cmds[0]}`",
            "commands": cmds}
