"""YOLOv5 made ready for fine-tuning: a head for other classes, and the network with an EMA of its weights.

    net = create_model("yolov5n", pretrained=True).net
    set_classes(net, 2)                       # a Detect head for 2 classes (box / objectness rows kept)
    model = WithEMA(net, freeze="bn")         # model.net trains (BatchNorm statistics kept), model.ema follows it
    model.update()                            # after each optimizer step
    model.ema                                 # the averaged network, the one to evaluate and save

EMA as YOLOv5's ModelEMA (utils/torch_utils.py, described in its README's training notes): after every
optimizer step each floating-point tensor of the state (weights and BatchNorm statistics) moves as
``ema = d * ema + (1 - d) * net`` with ``d = decay * (1 - exp(-updates / tau))`` (decay 0.9999, tau 2000): the
ramp lets the average follow the network closely early on. The copy and its update count live in the module's
state dict, so zoo's training checkpoint saves them and ``--resume`` continues them exactly.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .yolov5_arch import YOLOv5

# What a fine-tune keeps as it was: "none"; "bn", every BatchNorm's running statistics (a batch of 16 small
# images is a poor estimate of them, and 30 steps at momentum 0.03 replace 60 % of the pretrained ones);
# "backbone", those and every weight of the backbone (layers 0-9 of yolov5n.yaml, YOLOv5's ``--freeze 10``).
FREEZE = ("none", "bn", "backbone")
BACKBONE_LAYERS = 10


def set_classes(net: YOLOv5, nc: int) -> None:
    """Give ``net`` a Detect head for ``nc`` classes. The box and objectness rows of each level's 1x1 conv
    are kept (they do not depend on the classes); the class rows start fresh, with YOLOv5's prior bias
    log(0.6 / (nc - 0.99)) (a class probability of about 0.6 / nc)."""
    detect = net.detect
    if nc == detect.nc:
        return
    old_no, no, na = detect.no, nc + 5, detect.na
    new = nn.ModuleList()
    for conv in detect.m:
        fresh = nn.Conv2d(conv.in_channels, na * no, 1)
        w_old = conv.weight.detach().view(na, old_no, -1)
        b_old = conv.bias.detach().view(na, old_no)
        w, b = fresh.weight.detach().view(na, no, -1), fresh.bias.detach().view(na, no)
        w[:, :5] = w_old[:, :5]
        b[:, :5] = b_old[:, :5]
        b[:, 5:] = math.log(0.6 / (nc - 0.99)) if nc > 1 else 0.0
        new.append(fresh)
    detect.m, detect.nc, detect.no = new, nc, no


class WithEMA(nn.Module):
    """The network being trained (``net``, whose forward this is) and its exponential moving average (``ema``,
    no gradients); ``update()`` after each optimizer step."""

    def __init__(self, net: nn.Module, decay: float = 0.9999, tau: float = 2000.0, freeze: str = "none"):
        super().__init__()
        if freeze not in FREEZE:
            raise ValueError(f"freeze must be one of {', '.join(FREEZE)}, got {freeze!r}")
        self.net, self.freeze = net, freeze
        if freeze == "backbone":
            for p in net.model[:BACKBONE_LAYERS].parameters():
                p.requires_grad_(False)
        self.ema = copy.deepcopy(net).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau = decay, tau
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def forward(self, *args, **kwargs):
        return self.net(*args, **kwargs)

    def train(self, mode: bool = True) -> WithEMA:
        super().train(mode)
        if self.freeze != "none":  # BatchNorm statistics stay the pretrained ones (affine weights still train)
            for m in self.net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        self.ema.eval()  # the average is never in training mode (its BatchNorm statistics are averaged)
        return self

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-int(self.updates) / self.tau))
        src = self.net.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(src[k].detach(), alpha=1 - d)
