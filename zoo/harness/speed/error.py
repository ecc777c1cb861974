"""How much a faster configuration changes the answers, against fp32 eager on the same real inputs.

rel_l2: ||y - y_ref||_2 / ||y_ref||_2 over all floating outputs, flattened (None when the output shapes
differ, e.g. a detector that returns a different number of boxes).
top1_agreement: share of items whose argmax class is the same (classification, text classification).
box_agreement: share of reference boxes (score >= 0.25) matched by a box of the same label with IoU >= 0.5
(detection).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils import _pytree as pytree

# The key of the output-deviation figures in a speed row's metrics and in each auto candidate (row schema 2;
# a row's "error" is a failure message only).
DEVIATION = "output_deviation"
BOX_SCORE_MIN = 0.25
BOX_IOU_MIN = 0.5


def rel_l2(out: Any, ref: Any) -> float | None:
    a = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor) and t.is_floating_point()]
    b = [t for t in pytree.tree_leaves(ref) if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if len(a) != len(b) or not b or any(x.shape != y.shape for x, y in zip(a, b)):
        return None
    num = sum(float((x.double() - y.double()).pow(2).sum()) for x, y in zip(a, b))
    den = sum(float(y.double().pow(2).sum()) for y in b)
    return (num ** 0.5) / (den ** 0.5) if den > 0 else (0.0 if num == 0 else float("inf"))


def top1_agreement(preds: list[dict], ref_preds: list[dict]) -> float | None:
    if not ref_preds or "label" not in ref_preds[0]:
        return None
    return sum(int(p["label"] == r["label"]) for p, r in zip(preds, ref_preds)) / len(ref_preds)


def box_agreement(preds: list[dict], ref_preds: list[dict]) -> tuple[float | None, int]:
    """(matched share, number of reference boxes); share is None when the reference has no confident box."""
    from torchvision.ops import box_iou  # deferred: heavy; detection rows only

    matched = total = 0
    for p, r in zip(preds, ref_preds):
        keep = [i for i, s in enumerate(r.get("scores", [])) if s >= BOX_SCORE_MIN]
        if not keep:
            continue
        rb = torch.tensor([r["boxes"][i] for i in keep], dtype=torch.float64).reshape(-1, 4)
        rl = [r["labels"][i] for i in keep]
        total += len(keep)
        if not p.get("boxes"):
            continue
        pb = torch.tensor(p["boxes"], dtype=torch.float64).reshape(-1, 4)
        iou = box_iou(rb, pb)
        used: set[int] = set()
        for i, lab in enumerate(rl):
            order = torch.argsort(iou[i], descending=True).tolist()
            for j in order:
                if iou[i, j] < BOX_IOU_MIN:
                    break
                if j not in used and p["labels"][j] == lab:
                    used.add(j)
                    matched += 1
                    break
    return (matched / total if total else None), total


def output_error(task: str, outs: list[Any], ref_outs: list[Any], preds: list[dict] | None,
                 ref_preds: list[dict] | None) -> dict[str, Any]:
    """Compare per-batch outputs (lists, one entry per batch) and the flattened predictions."""
    errs = [rel_l2(o, r) for o, r in zip(outs, ref_outs)]
    out: dict[str, Any] = {"rel_l2": None if any(e is None for e in errs) or not errs else max(errs),
                           "error_items": len(ref_preds) if ref_preds else None}
    if preds is not None and ref_preds is not None:
        if task == "object-detection":
            out["box_agreement"], out["ref_boxes"] = box_agreement(preds, ref_preds)
        elif "label" in (ref_preds[0] if ref_preds else {}):
            out["top1_agreement"] = top1_agreement(preds, ref_preds)
    return out
