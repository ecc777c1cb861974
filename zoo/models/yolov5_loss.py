"""The YOLOv5 training loss on zoo's YOLOv5 network: target assignment, CIoU box loss, objectness and class BCE.

    loss_fn = YOLOv5Loss(net.detect, imgsz=320)
    raw = net(images, raw=True)                 # per level (B, na, ny, nx, 5 + nc), logits
    loss, parts = loss_fn(raw, targets)         # targets: (N, 6) rows image-in-batch, class, cx, cy, w, h (0-1)

Written here from the recipe the YOLOv5 authors describe (Ultralytics, "YOLOv5 architecture" —
docs.ultralytics.com/yolov5/tutorials/architecture_description, sections 4.3-4.6 "Compute losses", "Balance
losses", "Eliminate grid sensitivity", "Build targets"; hyper-parameters from data/hyps/hyp.scratch-low.yaml):

* Assignment, per level: a ground-truth box goes to every anchor whose width and height ratios to it are all
  below ``anchor_t`` = 4 (max(w/a_w, a_w/w, h/a_h, a_h/h) < 4), in the grid cell holding its centre and in
  the one or two neighbouring cells whose centres are nearest to it (left/right by the x fraction of the
  centre, up/down by the y fraction). That works because the head predicts the centre offset as
  ``2 sigmoid - 0.5`` (range -0.5..1.5 of a cell) and the size as ``(2 sigmoid)^2 x anchor`` (0..4 x anchor).
* Box: 1 - CIoU between the predicted and the assigned box (torchvision's complete_box_iou_loss), mean
  over the assigned predictions. Objectness: BCE over every prediction, with target the detached CIoU
  (clamped at 0) at the assigned ones and 0 elsewhere; the levels are weighted 4.0, 1.0, 0.4 (P3, P4, P5).
  Class: BCE of the class logits against a one-hot target, at the assigned predictions.
* Gains: box 0.05, obj 1.0 x (imgsz / 640)^2, cls 0.5 x nc / 80 (YOLOv5 train.py scales them so for 3 levels).

One deliberate difference: YOLOv5 returns the loss multiplied by the batch size (and steps the optimizer every
64 images); this returns the batch mean, as every loss in zoo's training loop does, so a learning rate here
is YOLOv5's lr0 x the images per optimizer step (lr0 0.01 with 16-image steps is 0.16 here).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

BALANCE = (4.0, 1.0, 0.4)  # objectness weight of P3, P4, P5


@dataclass(frozen=True)
class LossGains:
    """hyp.scratch-low.yaml: box 0.05, cls 0.5, obj 1.0, anchor_t 4.0 (before train.py's scaling)."""

    box: float = 0.05
    cls: float = 0.5
    obj: float = 1.0
    anchor_t: float = 4.0


@dataclass
class Assigned:
    """The predictions one level assigns to ground truth: indices and targets (grid units)."""

    image: torch.Tensor  # (M,) image in the batch
    anchor: torch.Tensor  # (M,) anchor of the level
    gy: torch.Tensor  # (M,) grid row
    gx: torch.Tensor  # (M,) grid column
    box: torch.Tensor  # (M, 4) cx, cy offset from the cell's corner, w, h (grid units)
    anchor_wh: torch.Tensor  # (M, 2) the anchor's size (grid units)
    cls: torch.Tensor  # (M,) class index


def assign(targets: torch.Tensor, anchors: torch.Tensor, ny: int, nx: int, anchor_t: float = 4.0) -> Assigned:
    """The assignment of one level: ``targets`` (N, 6) normalised rows (image, class, cx, cy, w, h),
    ``anchors`` (na, 2) in grid units of this level (ny x nx cells)."""
    dev = targets.device
    scale = torch.tensor([nx, ny, nx, ny], dtype=targets.dtype, device=dev)
    t = targets[:, 2:6] * scale  # cx, cy, w, h in grid units
    ratio = t[:, None, 2:4] / anchors[None]  # (N, na, 2)
    fits = torch.maximum(ratio, 1 / ratio).amax(-1) < anchor_t  # (N, na)
    ti, ai = fits.nonzero(as_tuple=True)
    xy, row = t[ti, :2], targets[ti]
    cell = xy.floor()
    frac = xy - cell
    size = torch.tensor([nx, ny], dtype=xy.dtype, device=dev)
    # the centre cell, then the horizontal and the vertical neighbour nearest to the centre (when inside the grid)
    step = torch.where(frac < 0.5, -1.0, 1.0)
    inside = (cell + step >= 0) & (cell + step < size)
    cells, rows = [cell], [torch.arange(len(ti), device=dev)]
    for axis in (0, 1):
        keep = inside[:, axis] & ((frac[:, axis] - 0.5).abs() > 0)  # a centre exactly mid-cell has no nearer side
        moved = cell[keep].clone()
        moved[:, axis] += step[keep, axis]
        cells.append(moved)
        rows.append(keep.nonzero(as_tuple=True)[0])
    cell_all, idx = torch.cat(cells), torch.cat(rows)
    gxy = xy[idx]
    box = torch.cat((gxy - cell_all, t[ti[idx], 2:4]), 1)
    return Assigned(image=row[idx, 0].long(), anchor=ai[idx], gy=cell_all[:, 1].long(), gx=cell_all[:, 0].long(),
                    box=box, anchor_wh=anchors[ai[idx]], cls=row[idx, 1].long())


def _xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.cat((b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2), 1)


class YOLOv5Loss(nn.Module):
    """``forward(raw, targets) -> (loss, {"box", "obj", "cls"})``: the batch-mean YOLOv5 loss (see the module
    docstring). ``detect``: the network's Detect head (its anchors, in grid units, and the class count)."""

    def __init__(self, detect: nn.Module, imgsz: int, gains: LossGains = LossGains()):
        super().__init__()
        self.anchors = detect.anchors  # (nl, na, 2), grid units of each level
        self.nc, self.gains = detect.nc, gains
        self.obj_gain = gains.obj * (imgsz / 640) ** 2
        self.cls_gain = gains.cls * self.nc / 80

    def forward(self, raw: list[torch.Tensor], targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        from torchvision.ops import (
            complete_box_iou_loss,  # deferred: torchvision is heavy
        )

        dev = raw[0].device
        lbox, lobj, lcls = (torch.zeros((), device=dev) for _ in range(3))
        targets = targets.to(dev, torch.float32)
        for level, p in enumerate(raw):
            p = p.float()
            _, _, ny, nx, _ = p.shape
            a = assign(targets, self.anchors[level].to(dev).float(), ny, nx, self.gains.anchor_t)
            tobj = torch.zeros(p.shape[:4], device=dev)
            if len(a.image):
                ps = p[a.image, a.anchor, a.gy, a.gx]  # (M, 5 + nc)
                pxy = ps[:, :2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * a.anchor_wh
                loss = complete_box_iou_loss(_xyxy(torch.cat((pxy, pwh), 1)), _xyxy(a.box), reduction="none")
                lbox = lbox + loss.mean()
                iou = (1 - loss).detach().clamp(min=0)
                # several ground truths in one prediction slot: the highest IoU is its target (deterministic)
                flat = ((a.image * p.shape[1] + a.anchor) * ny + a.gy) * nx + a.gx
                tobj.view(-1).scatter_reduce_(0, flat, iou, reduce="amax")
                if self.nc > 1:  # one class: the objectness says it all (as YOLOv5)
                    lcls = lcls + F.binary_cross_entropy_with_logits(ps[:, 5:], F.one_hot(a.cls, self.nc).float())
            lobj = lobj + BALANCE[level] * F.binary_cross_entropy_with_logits(p[..., 4], tobj)
        lbox, lobj, lcls = lbox * self.gains.box, lobj * self.obj_gain, lcls * self.cls_gain
        parts = {"box": float(lbox.detach()), "obj": float(lobj.detach()), "cls": float(lcls.detach())}
        return lbox + lobj + lcls, parts
