"""The networks and builders behind the specs in ``mlp.py`` (imports torch)."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import UserError
from ..spec import ModelSpec
from .base import Batch, ZooModel
from .mlp import INITS

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units: Linear -> activation (-> Dropout), then a Linear head."""

    def __init__(self, in_features: int, num_classes: int, width: int = 64, depth: int = 2,
                 activation: str = "relu", dropout: float = 0.0, init: str = "torch"):
        super().__init__()
        if init not in INITS:
            raise UserError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
        if activation not in ACTIVATIONS:
            raise UserError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        if depth < 0 or width < 1 or not 0.0 <= dropout < 1.0:
            raise UserError(f"bad MLP size: depth={depth} (>= 0), width={width} (>= 1), dropout={dropout} (in [0, 1))")
        layers: list[nn.Module] = []
        d = in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            d = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(d, num_classes)
        if init != "torch":
            kind = init if init != "auto" else ("kaiming" if activation in ("relu", "gelu") else "xavier")
            for m in self.features:
                if isinstance(m, nn.Linear):
                    if kind == "kaiming":
                        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    else:
                        nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain("relu" if activation == "gelu" else activation))
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.flatten(1)))


class RowLSTM(nn.Module):
    """Reads a (B, rows*cols) vector as ``rows`` steps of ``cols`` features; classifies the last state."""

    def __init__(self, rows: int, cols: int, num_classes: int, hidden: int = 64, layers: int = 1):
        super().__init__()
        self.rows, self.cols = rows, cols
        self.lstm = nn.LSTM(cols, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.reshape(x.shape[0], self.rows, self.cols)
        out, _ = self.lstm(seq)
        return self.head(out[:, -1])


class TabularClassifier(ZooModel):
    """A feature-vector classifier: items are 1-D arrays; predictions are {"label", "probs"}."""

    def preprocess(self, items: Sequence[Any]) -> Batch:
        pre = self.spec.preprocess
        rows = [torch.as_tensor(it, dtype=torch.float32).reshape(-1) for it in items]
        bad = [i for i, r in enumerate(rows) if r.numel() != pre.num_features]
        if bad:
            raise UserError(f"{self.spec.name}: item {bad[0]} has {rows[bad[0]].numel()} features, "
                            f"expected {pre.num_features}")
        x = torch.stack(rows) if rows else torch.empty(0, pre.num_features)
        return Batch(scale_features(x, pre.scale), [{} for _ in rows])

    def postprocess(self, outputs: torch.Tensor, batch: Batch) -> list[dict]:
        probs = outputs.float().softmax(-1)
        return [{"label": int(p.argmax()), "probs": [round(float(v), 6) for v in p]} for p in probs]

    def example_items(self, n: int = 1) -> list[Any]:
        from sklearn.datasets import load_digits  # deferred: sklearn is slow to import; only examples need it

        data = load_digits().data
        return [data[i % len(data)].astype("float32") for i in range(n)]


def scale_features(x: torch.Tensor, scale: str) -> torch.Tensor:
    if scale == "none":
        return x
    if scale.startswith("divide:"):
        return x / float(scale.split(":", 1)[1])
    raise ValueError(f"unknown feature scaling {scale!r}")


def _no_pretrained(spec: ModelSpec) -> None:
    raise UserError(f"{spec.name} has no pretrained weights; train it (zoo study ..., zoo.harness.train.train)")


def build_mlp(spec: ModelSpec, pretrained: bool = False, *, width: int = 64, depth: int = 2, activation: str = "relu",
               dropout: float = 0.0, init: str = "torch", num_classes: int | None = None, num_features: int | None = None) -> ZooModel:
    if pretrained:
        _no_pretrained(spec)
    if num_features is not None and num_features != spec.preprocess.num_features:
        spec = dataclasses.replace(spec, preprocess=dataclasses.replace(spec.preprocess, num_features=num_features),
                                   input_size=(num_features,))
    net = MLP(spec.preprocess.num_features, num_classes or spec.num_classes, width, depth, activation, dropout, init)
    return TabularClassifier(spec, net)


def build_lstm_rows(spec: ModelSpec, pretrained: bool = False, *, hidden: int = 64, layers: int = 1, rows: int = 8,
                     num_classes: int | None = None) -> ZooModel:
    if pretrained:
        _no_pretrained(spec)
    n = spec.preprocess.num_features
    if n % rows:
        raise UserError(f"{n} features do not split into {rows} rows")
    return TabularClassifier(spec, RowLSTM(rows, n // rows, num_classes or spec.num_classes, hidden, layers))
