"""EfficientNet-Lite0 and ResNet-50 written once over a small ops interface, and the checked PyTorch key map.

The architecture functions (``efficientnet_lite0``, ``resnet50``) name every parameterized layer by its
PyTorch module name (timm ``tf_efficientnet_lite0`` as zoo builds it; torchvision ``resnet50``) and call an
``ops`` object for each layer. Three ops backends run the same function:

- ``Recorder`` (here): records the parameters, which IS the key map: PyTorch name and shape -> the Keras/TF
  variable path (``<layer>/<var>``, the module name with "." -> "_") and the layout conversion;
- ``frameworks_tf.KerasOps``: builds a Keras 3 functional model (one definition, any Keras backend);
- ``frameworks_tf.TFOps``: plain TensorFlow ops (tf.nn.conv2d, ...) over tf.Variables in a tf.Module.

Padding: every convolution and pooling gets an EXPLICIT zero pad equal to PyTorch's, then a "valid"
convolution, so no framework's own "same" rule is involved. torchvision pads symmetrically (conv1 3/3,
3x3 convs 1/1, max pool 1/1: zero padding equals -inf padding there because it follows a ReLU); timm's
``tf_`` EfficientNet pads like TF "same" (Conv2dSame: at stride 2 the extra pixel goes bottom/right), which
``same_pad`` computes for the fixed input size. Batch norm: PyTorch's epsilon (1e-3 Lite0, 1e-5 ResNet)
and momentum (Keras momentum = 1 - PyTorch momentum; inference does not use it).
Layouts: conv OIHW -> HWIO, depthwise (C, 1, H, W) -> (H, W, C, 1), Linear (out, in) -> (in, out).
Torch-, TF- and Keras-free (numpy only), so the key map is checked before any framework is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..errors import UserError

# (PyTorch layout) -> axes for np.transpose giving the TF layout
LAYOUTS = {"conv": (2, 3, 1, 0), "dw": (2, 3, 0, 1), "dense": (1, 0), "vec": (0,)}
BN_VARS = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
           ("running_var", "moving_variance"))
# PyTorch buffers with no inference meaning and no Keras/TF variable: dropped by name, counted in the report.
IGNORED_SUFFIX = ".num_batches_tracked"
NO_PAD = ((0, 0), (0, 0))


class KeyMapError(UserError):
    """A state dict does not map one to one, with equal shapes, onto the Keras/TF model."""


@dataclass(frozen=True)
class Param:
    """One entry of the key map."""

    torch_name: str
    torch_shape: tuple[int, ...]
    tf_path: str
    layout: str  # a LAYOUTS key

    @property
    def tf_shape(self) -> tuple[int, ...]:
        return tuple(self.torch_shape[i] for i in LAYOUTS[self.layout])


def tf_layer_name(torch_module: str) -> str:
    """Keras layer names cannot hold "." (the torch backend refuses it): "blocks.1.0.conv_dw" -> "blocks_1_0_conv_dw"."""
    return torch_module.replace(".", "_")


def same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """TF "same" / timm Conv2dSame padding along one axis: (before, after); at stride 2 'after' may be one more."""
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def out_size(size: int, k: int, s: int, pad: tuple[int, int]) -> int:
    return (size + pad[0] + pad[1] - k) // s + 1


class Recorder:
    """The ops backend that records the key map; tensors are ignored."""

    def __init__(self) -> None:
        self.params: list[Param] = []

    def _add(self, module: str, torch_var: str, shape: tuple[int, ...], tf_var: str, layout: str) -> None:
        self.params.append(Param(f"{module}.{torch_var}", shape, f"{tf_layer_name(module)}/{tf_var}", layout))

    def conv(self, x, name, cin, cout, k, s, pad, groups=1, bias=False):
        if groups not in (1, cin) or (groups > 1 and cin != cout):
            raise ValueError(f"{name}: only plain and depthwise convolutions are supported")
        self._add(name, "weight", (cout, cin // groups, k, k), "kernel", "dw" if groups > 1 else "conv")
        if bias:
            self._add(name, "bias", (cout,), "bias", "vec")
        return x

    def bn(self, x, name, c, eps, momentum=0.1):
        for t, k in BN_VARS:
            self._add(name, t, (c,), k, "vec")
        return x

    def dense(self, x, name, cin, cout):
        self._add(name, "weight", (cout, cin), "kernel", "dense")
        self._add(name, "bias", (cout,), "bias", "vec")
        return x

    def act(self, x, kind):
        return x

    def add(self, a, b):
        return a

    def maxpool(self, x, k, s, pad):
        return x

    def gap(self, x):
        return x


# --- the architectures -------------------------------------------------------------------------------

# timm's efficientnet_lite arch_def: (repeats, kernel, stride, expansion, out channels) per stage; stem 32 and
# head 1280 fixed ("lite": no SE, ReLU6). Block 0 is a depthwise-separable block, the rest inverted residuals.
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
                (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
LITE_EPS = 1e-3  # the BN eps of the TF checkpoint (timm BatchNormAct2d eps=0.001)


def efficientnet_lite0(ops, x, size: int = 224, num_classes: int = 1000):
    """timm ``tf_efficientnet_lite0`` over ``ops``; every conv padded as Conv2dSame / symmetric (same_pad)."""
    state = {"size": size}

    def cba(x, conv, bn, cin, cout, k, s, groups=1, act="relu6"):
        p = same_pad(state["size"], k, s)
        x = ops.conv(x, conv, cin, cout, k, s, (p, p), groups)
        state["size"] = out_size(state["size"], k, s, p)
        x = ops.bn(x, bn, cout, LITE_EPS)
        return ops.act(x, act) if act else x

    x = cba(x, "conv_stem", "bn1", 3, 32, 3, 2)
    cin = 32
    for si, (reps, k, s, e, cout) in enumerate(LITE0_STAGES):
        for bi in range(reps):
            p, stride = f"blocks.{si}.{bi}", s if bi == 0 else 1
            if e == 1:  # DepthwiseSeparableConv
                y = cba(x, f"{p}.conv_dw", f"{p}.bn1", cin, cin, k, stride, groups=cin)
                y = cba(y, f"{p}.conv_pw", f"{p}.bn2", cin, cout, 1, 1, act=None)
            else:  # InvertedResidual
                mid = cin * e
                y = cba(x, f"{p}.conv_pw", f"{p}.bn1", cin, mid, 1, 1)
                y = cba(y, f"{p}.conv_dw", f"{p}.bn2", mid, mid, k, stride, groups=mid)
                y = cba(y, f"{p}.conv_pwl", f"{p}.bn3", mid, cout, 1, 1, act=None)
            x = ops.add(y, x) if stride == 1 and cin == cout else y
            cin = cout
    x = cba(x, "conv_head", "bn2", cin, 1280, 1, 1)
    return ops.dense(ops.gap(x), "classifier", 1280, num_classes)


RESNET50_STAGES = ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2))  # blocks, width, stride (torchvision v1.5)
RESNET_EPS = 1e-5


def resnet50(ops, x, size: int = 224, num_classes: int = 1000):
    """torchvision ``resnet50`` over ``ops``: symmetric padding as PyTorch's, stride on the 3x3 conv."""
    state = {"size": size}

    def cb(x, conv, bn, cin, cout, k, s, pad, act=True):
        x = ops.conv(x, conv, cin, cout, k, s, (pad, pad))
        state["size"] = out_size(state["size"], k, s, pad)
        x = ops.bn(x, bn, cout, RESNET_EPS)
        return ops.act(x, "relu") if act else x

    x = cb(x, "conv1", "bn1", 3, 64, 7, 2, (3, 3))
    x = ops.maxpool(x, 3, 2, ((1, 1), (1, 1)))  # after ReLU: zero pad == PyTorch's -inf pad
    state["size"] = out_size(state["size"], 3, 2, (1, 1))
    cin = 64
    for li, (blocks, width, stride) in enumerate(RESNET50_STAGES, start=1):
        for bi in range(blocks):
            p, s = f"layer{li}.{bi}", stride if bi == 0 else 1
            size_in = state["size"]
            y = cb(x, f"{p}.conv1", f"{p}.bn1", cin, width, 1, 1, (0, 0))
            y = cb(y, f"{p}.conv2", f"{p}.bn2", width, width, 3, s, (1, 1))
            y = cb(y, f"{p}.conv3", f"{p}.bn3", width, width * 4, 1, 1, (0, 0), act=False)
            if bi == 0:
                state["size"], keep = size_in, state["size"]
                x = cb(x, f"{p}.downsample.0", f"{p}.downsample.1", cin, width * 4, 1, s, (0, 0), act=False)
                state["size"] = keep
            x = ops.act(ops.add(y, x), "relu")
            cin = width * 4
    return ops.dense(ops.gap(x), "fc", cin, num_classes)


ARCHS: dict[str, Callable] = {"efficientnet_lite0": efficientnet_lite0, "resnet50": resnet50}


def key_map(arch: Callable, **kw) -> list[Param]:
    """The key map of an architecture function: its parameters in definition order."""
    rec = Recorder()
    arch(rec, None, **kw)
    paths = [p.tf_path for p in rec.params]
    if len(set(paths)) != len(paths):
        dup = next(p for p in paths if paths.count(p) > 1)
        raise KeyMapError(f"two PyTorch tensors map to the Keras/TF variable {dup!r}")
    return rec.params


def map_state_dict(sd: Mapping[str, np.ndarray], params: list[Param]) -> dict[str, np.ndarray]:
    """PyTorch tensors (as numpy, by name) -> {Keras/TF variable path: array in TF layout}, checked.

    Raises KeyMapError (one line, naming the tensor) for a tensor the map does not cover, a tensor the map
    needs that is absent, or a shape that differs; never a partial result.
    """
    by_name = {p.torch_name: p for p in params}
    extra = [k for k in sd if k not in by_name and not k.endswith(IGNORED_SUFFIX)]
    if extra:
        raise KeyMapError(f"PyTorch tensor {extra[0]!r} {tuple(np.shape(sd[extra[0]]))} has no Keras/TF variable "
                          f"in the key map ({len(extra)} unmapped)")
    missing = [p for p in params if p.torch_name not in sd]
    if missing:
        p = missing[0]
        raise KeyMapError(f"PyTorch tensor {p.torch_name!r} {p.torch_shape} is missing from the state dict "
                          f"(Keras/TF variable {p.tf_path!r} needs it; {len(missing)} missing)")
    for p in params:
        got = tuple(np.shape(sd[p.torch_name]))
        if got != p.torch_shape:
            raise KeyMapError(f"PyTorch tensor {p.torch_name!r} has shape {got}, the key map expects {p.torch_shape} "
                              f"(Keras/TF variable {p.tf_path!r} {p.tf_shape})")
    return {p.tf_path: np.ascontiguousarray(np.transpose(np.asarray(sd[p.torch_name], np.float32), LAYOUTS[p.layout]))
            for p in params}


def check_targets(mapped: Mapping[str, np.ndarray], targets: Mapping[str, tuple], what: str) -> None:
    """The model's own variables (path -> shape) against the mapped arrays: one to one with equal shapes."""
    missing = [k for k in targets if k not in mapped]
    if missing:
        raise KeyMapError(f"{what} variable {missing[0]!r} {tuple(targets[missing[0]])} gets no PyTorch tensor "
                          f"({len(missing)} unfilled)")
    extra = [k for k in mapped if k not in targets]
    if extra:
        raise KeyMapError(f"mapped tensor {extra[0]!r} has no variable in the {what} model ({len(extra)} extra)")
    for k, shape in targets.items():
        if tuple(shape) != tuple(mapped[k].shape):
            raise KeyMapError(f"{what} variable {k!r} has shape {tuple(shape)}, the mapped tensor {tuple(mapped[k].shape)}")
