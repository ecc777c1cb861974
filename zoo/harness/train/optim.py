"""The optimizer, the learning-rate schedule and the explicit L1/L2 penalties a TrainConfig names.

Regularization, said precisely:
  ``weight_decay``: passed to the optimizer (coupled L2 gradient term for sgd/momentum/adam, decoupled for
  adamw); applies to every trainable parameter, or with ``decay_biases=False`` to tensors of 2+ dims only.
  ``l1`` / ``l2``: explicit penalties added to the loss, ``l1 * sum|w| + l2 * sum w^2``, over weight tensors
  with 2 or more dimensions (not biases or norm scales).
  Dropout lives in the model (e.g. ``create_model("mlp", dropout=0.3)``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig


def make_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``c`` over the trainable parameters. A model with ``lr_scales()`` (a list of (parameters,
    multiplier) pairs covering its trainable parameters) gets one group per multiplier, at ``c.lr`` x multiplier:
    e.g. pretrained blocks slower than a fresh head."""
    scaled = model.lr_scales() if hasattr(model, "lr_scales") else [(list(model.parameters()), 1.0)]
    groups: list = []
    for params, scale in scaled:
        params = [p for p in params if p.requires_grad]
        lr = c.lr * scale
        if c.decay_biases or not c.weight_decay:
            groups.append({"params": params, "lr": lr})
        else:
            groups += [{"params": [p for p in params if p.dim() >= 2], "weight_decay": c.weight_decay, "lr": lr},
                       {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0, "lr": lr}]
    groups = [g for g in groups if g["params"]]
    if c.optimizer in ("sgd", "momentum"):
        momentum = c.momentum if c.optimizer == "momentum" else 0.0
        return torch.optim.SGD(groups, lr=c.lr, momentum=momentum, weight_decay=c.weight_decay)
    cls = torch.optim.Adam if c.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)


def warmup_steps(c: TrainConfig, total_steps: int) -> int:
    return int(c.warmup * total_steps) if c.warmup else c.warmup_steps


def lr_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    """Multiplier on the base learning rate at optimizer step ``step`` (0-based) of ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if schedule == "linear":
        return max(0.0, 1.0 - t)
    _, every, gamma = schedule.split(":")  # "step:EVERY:GAMMA", checked by TrainConfig
    return float(gamma) ** ((step - warmup) // int(every))


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The tensors the L1/L2 penalties cover: trainable, 2 or more dimensions."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


def first_layer_weight(model: nn.Module) -> torch.Tensor | None:
    """The first weight tensor with 2+ dimensions in registration order (an MLP's first Linear weight)."""
    return next(iter(penalized_weights(model)), None)


def add_penalty(loss: torch.Tensor, weights: list[torch.Tensor], c: TrainConfig) -> torch.Tensor:
    """``loss`` plus the explicit L1 and L2 penalties over ``weights`` (in that order)."""
    if c.l1:
        loss = loss + c.l1 * sum(p.abs().sum() for p in weights)
    if c.l2:
        loss = loss + c.l2 * sum(p.pow(2).sum() for p in weights)
    return loss
