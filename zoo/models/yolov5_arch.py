"""YOLOv5 (v6.x) as plain torch modules, written from the public architecture (models/yolov5n.yaml, v6.0+).

Not a family module (leading underscore): ``yolov5.py`` registers the spec, ``_yolov5_nets.py`` wraps this network.
The module tree and parameter names follow the original exactly (``model.0.conv.weight`` ...
``model.24.m.2.bias``, ``model.24.anchors``), so a release checkpoint's state dict maps one-to-one by name
and shape. Layer table for ``depth_multiple`` d and ``width_multiple`` w (n: 0.33, 0.25), channels rounded
up to a multiple of 8, repeats ``max(round(n * d), 1)``::

    0 Conv 64 k6 s2 p2 | 1 Conv 128 k3 s2 | 2 C3 128 x3 | 3 Conv 256 k3 s2 | 4 C3 256 x6 (P3)
    5 Conv 512 k3 s2 | 6 C3 512 x9 (P4) | 7 Conv 1024 k3 s2 | 8 C3 1024 x3 | 9 SPPF 1024 k5
    10 Conv 512 k1 | 11 up x2 | 12 cat 6 | 13 C3 512 x3 (no shortcut) | 14 Conv 256 k1 | 15 up x2
    16 cat 4 | 17 C3 256 x3 -> P3/8 | 18 Conv 256 k3 s2 | 19 cat 14 | 20 C3 512 x3 -> P4/16
    21 Conv 512 k3 s2 | 22 cat 10 | 23 C3 1024 x3 -> P5/32 | 24 Detect(17, 20, 23)

Detect: a 1x1 conv per level to ``na * (5 + nc)`` channels; at inference sigmoid, then
``xy = (2 * s_xy - 0.5 + grid) * stride`` and ``wh = (2 * s_wh) ** 2 * anchor * stride`` (anchors are stored
in grid units, i.e. pixels / stride, as in the checkpoint), giving (B, anchors, 5 + nc) rows of
cx, cy, w, h (input pixels), objectness, class scores.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

BN_EPS, BN_MOMENTUM = 1e-3, 0.03  # YOLOv5's initialize_weights() sets these on every BatchNorm2d
ANCHORS = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326))  # pixels
STRIDES = (8, 16, 32)  # P3, P4, P5


def _ch(c: int, width: float) -> int:
    return int(math.ceil(c * width / 8) * 8)


def _n(n: int, depth: float) -> int:
    return max(round(n * depth), 1)


class Conv(nn.Module):
    """Conv2d (no bias, 'same' padding k // 2 unless given) -> BatchNorm2d -> SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_, c2, 3, 1)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP bottleneck with 3 convolutions: cv3(cat(m(cv1(x)), cv2(x)))."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        c_ = int(c2 * 0.5)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained k x k max-pools, concatenated with their input."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Concat(nn.Module):
    def forward(self, xs):
        return torch.cat(xs, 1)


class Detect(nn.Module):
    """Anchor-based head: per level a 1x1 conv, then (eval) sigmoid + grid/anchor decoding to input pixels."""

    def __init__(self, nc: int, ch: tuple[int, ...], anchors=ANCHORS, strides=STRIDES):
        super().__init__()
        self.nc, self.no = nc, nc + 5
        self.nl, self.na = len(anchors), len(anchors[0]) // 2
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)
        stride = torch.tensor(strides, dtype=torch.float32)
        self.register_buffer("stride", stride, persistent=False)  # the checkpoint keeps it as an attribute
        a = torch.tensor(anchors, dtype=torch.float32).view(self.nl, self.na, 2)
        self.register_buffer("anchors", a / stride.view(-1, 1, 1))  # grid units, as in the checkpoint

    def forward(self, xs: list[torch.Tensor], raw: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """Decoded rows (B, anchors, 5 + nc); with ``raw`` the logits per level, (B, na, ny, nx, 5 + nc), which
        the training loss (``yolov5_loss``) reads."""
        z = []
        for i in range(self.nl):
            x = self.m[i](xs[i])
            bs, _, ny, nx = x.shape
            if raw:
                z.append(x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
                continue
            if torch.jit.is_tracing():  # an exporter's graph (OpenVINO, ONNX): see _decode_traced
                y = x.permute(0, 2, 3, 1).reshape(bs, ny, nx, self.na, self.no).sigmoid()
                out = self._decode_traced(i, y).permute(0, 3, 1, 2, 4)  # rows in YOLOv5's order: anchor, y, x
            else:
                out = self._decode(i, x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).sigmoid())
            z.append(out.reshape(bs, -1, self.no))
        return z if raw else torch.cat(z, 1)

    def _decode(self, i: int, y: torch.Tensor) -> torch.Tensor:
        """YOLOv5's decoding of level ``i``'s sigmoids ``y`` (bs, na, ny, nx, no), as its models/yolo.py writes
        it: xy = (2y - 0.5 + cell) x stride, wh = (2y)^2 x anchor (pixels), objectness and classes as they are."""
        _, _, ny, nx, _ = y.shape
        grid = _cells(ny, nx, y).view(1, 1, ny, nx, 2)
        anchor_px = (self.anchors[i] * self.stride[i]).to(y.dtype).view(1, self.na, 1, 1, 2)
        xy = (y[..., :2] * 2 - 0.5 + grid) * self.stride[i].to(y.dtype)
        wh = (y[..., 2:4] * 2) ** 2 * anchor_px
        return torch.cat((xy, wh, y[..., 4:]), -1)

    def _decode_traced(self, i: int, y: torch.Tensor) -> torch.Tensor:
        """``_decode`` for exported graphs, on ``y`` (bs, ny, nx, na, no) (the convolution's channels-last
        output, which OpenVINO keeps): one expression over all channels, shift + y x (scale + quad x y), with
        per-channel constants (scale 2 x stride on xy, 0 on wh, 1 on the rest; quad 4 x anchor on wh; shift the
        cell's corner on xy). The same numbers (to float rounding) without splitting and re-joining the last
        axis, which OpenVINO's CPU plugin runs with a reference kernel after reorders: YOLOv5n's OpenVINO call
        at 640 px is 8 % faster. Eager keeps ``_decode``: this one makes more passes over the (B, 25200, 85)
        tensor, 10 % slower there (both timed side by side)."""
        _, ny, nx, _, no = y.shape
        dt, s = y.dtype, self.stride[i].to(y.dtype)
        shift = F.pad((_cells(ny, nx, y) - 0.5) * s, (0, no - 2)).view(1, ny, nx, 1, no)
        scale = torch.cat(((2 * s).expand(2), torch.zeros(2, device=y.device, dtype=dt),
                           torch.ones(no - 4, device=y.device, dtype=dt)))
        quad = F.pad(4 * (self.anchors[i] * self.stride[i]).to(dt), (2, no - 4))  # (na, no)
        return torch.addcmul(shift, y, torch.addcmul(scale, quad, y))


def _cells(ny: int, nx: int, like: torch.Tensor) -> torch.Tensor:
    """(ny, nx, 2): each grid cell's (x, y) index, in ``like``'s dtype and device."""
    gy, gx = torch.meshgrid(torch.arange(ny, device=like.device, dtype=like.dtype),
                            torch.arange(nx, device=like.device, dtype=like.dtype), indexing="ij")
    return torch.stack((gx, gy), -1)


def _layers(nc: int, depth: float, width: float) -> list[nn.Module]:
    c = lambda n: _ch(n, width)  # noqa: E731
    d = lambda n: _n(n, depth)  # noqa: E731
    return [
        Conv(3, c(64), 6, 2, 2), Conv(c(64), c(128), 3, 2), C3(c(128), c(128), d(3)),
        Conv(c(128), c(256), 3, 2), C3(c(256), c(256), d(6)), Conv(c(256), c(512), 3, 2),
        C3(c(512), c(512), d(9)), Conv(c(512), c(1024), 3, 2), C3(c(1024), c(1024), d(3)),
        SPPF(c(1024), c(1024), 5),
        Conv(c(1024), c(512), 1, 1), nn.Upsample(None, 2, "nearest"), Concat(), C3(c(1024), c(512), d(3), False),
        Conv(c(512), c(256), 1, 1), nn.Upsample(None, 2, "nearest"), Concat(), C3(c(512), c(256), d(3), False),
        Conv(c(256), c(256), 3, 2), Concat(), C3(c(512), c(512), d(3), False),
        Conv(c(512), c(512), 3, 2), Concat(), C3(c(1024), c(1024), d(3), False),
        Detect(nc, (c(256), c(512), c(1024))),
    ]


# Inputs of each layer that does not take the previous layer's output (the yaml's ``from`` column).
_FROM = {12: (-1, 6), 16: (-1, 4), 19: (-1, 14), 22: (-1, 10), 24: (17, 20, 23)}


class YOLOv5(nn.Module):
    """The whole network: ``forward(x)`` -> decoded predictions (B, sum(na * ny * nx), 5 + nc);
    ``forward(x, raw=True)`` -> the head's logits per level (training)."""

    def __init__(self, nc: int = 80, depth: float = 0.33, width: float = 0.25):
        super().__init__()
        self.model = nn.Sequential(*_layers(nc, depth, width))
        self.keep = {j for srcs in _FROM.values() for j in srcs if j >= 0}

    @property
    def detect(self) -> Detect:
        return self.model[-1]

    def forward(self, x: torch.Tensor, raw: bool = False) -> torch.Tensor | list[torch.Tensor]:
        outs: list[torch.Tensor | None] = []
        last = len(self.model) - 1
        for i, layer in enumerate(self.model):
            if i in _FROM:
                ins = [x if j == -1 else outs[j] for j in _FROM[i]]
                x = layer(ins, raw) if i == last else layer(ins)
            else:
                x = layer(x)
            outs.append(x if i in self.keep else None)
        return x
