"""Freezing and feature extraction for fine-tuning an image classifier (``zoo train --freeze``).

Freezing (``--freeze``): ``none`` trains every weight; ``head`` only the head (a linear probe); ``last:N`` the
head and the last N blocks. Blocks are the network's parameterised modules in order, with ``nn.Sequential``
containers opened two levels (EfficientNet: stem conv, its BN, 16 blocks, head conv, its BN). Frozen modules
get ``requires_grad=False`` (no backward through them) and their BatchNorm layers stay in eval mode (running
statistics used and kept), as in a linear probe. The classifier itself (fresh head, classes, checkpoint
folder) is ``zoo.harness.loading.vision``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...errors import UserError
from ..loading.vision import head_of

FREEZE_HELP = "none (all weights), head (linear probe) or last:N (the head and the last N blocks)"


def blocks(net: nn.Module) -> list[nn.Module]:
    """The network's parameterised modules in order, ``nn.Sequential``/``ModuleList`` opened two levels."""
    out: list[nn.Module] = []

    def walk(m: nn.Module, depth: int) -> None:
        for child in m.children():
            if isinstance(child, (nn.Sequential, nn.ModuleList)) and depth < 2:
                walk(child, depth + 1)
            elif any(True for _ in child.parameters()):
                out.append(child)
    walk(net, 0)
    return out


def parse_freeze(mode: str) -> tuple[str, int]:
    if mode in ("none", "head"):
        return mode, 0
    if mode.startswith("last:"):
        try:
            n = int(mode.split(":", 1)[1])
        except ValueError:
            n = -1
        if n >= 1:
            return "last", n
    raise UserError(f"--freeze must be {FREEZE_HELP}; got {mode!r}")


def freeze(net: nn.Module, mode: str) -> dict[str, int]:
    """Freeze per ``mode``; return the trainable and total parameter counts."""
    kind, n = parse_freeze(mode)
    head, _ = head_of(net)
    if kind == "none":
        trainable = [net]
    else:
        body = [b for b in blocks(net) if b is not head and not any(p is q for p in b.parameters() for q in head.parameters())]
        if kind == "last" and n > len(body):
            raise UserError(f"--freeze last:{n}: {type(net).__name__} has only {len(body)} blocks")
        trainable = [head] + (body[-n:] if kind == "last" else [])
    for p in net.parameters():
        p.requires_grad = False
    for m in trainable:
        for p in m.parameters():
            p.requires_grad = True
    live = {id(m) for t in trainable for m in t.modules()}
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in live:
            m.register_forward_pre_hook(_keep_eval)
    return {"trainable_params": sum(p.numel() for p in net.parameters() if p.requires_grad),
            "params": sum(p.numel() for p in net.parameters())}


def _keep_eval(module: nn.Module, inputs: Any) -> None:
    if module.training:
        module.eval()  # a frozen BatchNorm normalises with (and keeps) its running statistics


@torch.inference_mode()
def extract_features(model, items, batch_size: int = 64, progress=None) -> torch.Tensor:
    """(n, d) float32: the head's inputs for every item of ``items`` (``items[i] -> (tensor, label)``)."""
    head, _ = head_of(model.net)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda m, inp: captured.append(inp[0].detach().float().cpu()))
    model.net.eval()
    try:
        for s in range(0, len(items), batch_size):
            x = torch.stack([items[i][0] for i in range(s, min(s + batch_size, len(items)))])
            model.net(x)
            if progress is not None:
                progress(len(x))
    finally:
        hook.remove()
    return torch.cat(captured)
