"""The default validation of the training loop: mean loss (and accuracy for class logits) over a data set."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ...models.base import move_to
from .data import Items, global_batches


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Any, *, loss_fn: Callable | None = None, step_fn: Callable | None = None,
                  batch_size: int = 512, device: str | torch.device = "cpu") -> dict[str, float]:
    """Mean loss over ``data`` (item-weighted) and, for (x, y) data with class logits, accuracy in [0, 1]."""
    was_training = model.training
    model.eval()
    src = Items(data)
    total, loss_sum, correct, counted = 0, 0.0, 0, 0
    for s, e in global_batches(src.n, batch_size, False):
        batch = move_to(src.batch(torch.arange(s, e)), device)
        n = e - s
        if step_fn is not None:
            loss = step_fn(model, batch)
        else:
            x, y = batch
            out = model(x)
            loss = loss_fn(out, y)
            if isinstance(out, torch.Tensor) and out.dim() == 2 and not y.is_floating_point():
                correct += int((out.argmax(1) == y).sum())
                counted += n
        loss_sum += float(loss) * n
        total += n
    model.train(was_training)
    out = {"loss": loss_sum / total}
    if counted:
        out["accuracy"] = correct / counted
    return out
