"""What the studies share: the digits data and its splits, seeded model building, and small statistics.

Data: scikit-learn's bundled copy of the UCI "Optical Recognition of Handwritten Digits" test set
(1,797 8x8 images, 10 classes; Alpaydin & Kaynak 1998; ships inside scikit-learn, BSD-3-Clause), split once,
stratified, with a fixed seed into train 60 % / validation 20 % / test 20 % (1,078 / 359 / 360). Inputs
go through the model's own preprocessing (pixel counts / 16).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from ..console import progress
from ..harness.train import set_seed
from ..registry import create_model

DATASET = "sklearn-digits (UCI optdigits 8x8, 1797 images)"
SPLIT_SEED = 0


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # (n, 64) float32, scaled as the model's preprocess does
    y: torch.Tensor  # (n,) int64 class ids

    def __len__(self) -> int:
        return len(self.y)

    @property
    def pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y


@dataclass(frozen=True)
class Digits:
    train: Split
    val: Split
    test: Split
    sha256: str  # of the raw arrays (features then labels, as stored by scikit-learn)


@functools.cache
def digits() -> Digits:
    from sklearn.datasets import load_digits  # deferred: scikit-learn is heavy
    from sklearn.model_selection import train_test_split

    d = load_digits()
    sha = hashlib.sha256(d.data.astype("float64").tobytes() + d.target.astype("int64").tobytes()).hexdigest()
    idx = list(range(len(d.target)))
    tr, rest = train_test_split(idx, test_size=0.4, stratify=d.target, random_state=SPLIT_SEED)
    va, te = train_test_split(rest, test_size=0.5, stratify=d.target[rest], random_state=SPLIT_SEED)
    pre = create_model("mlp").preprocess  # the spec's scaling (pixel / 16)

    def split(ids: Sequence[int]) -> Split:
        x = pre(list(d.data[ids])).inputs
        return Split(x, torch.as_tensor(d.target[ids], dtype=torch.int64))

    return Digits(split(tr), split(va), split(te), sha)


_open_bars: list[Any] = []  # the running study's progress bar: run_progress() opens it, build() ticks it


@contextlib.contextmanager
def run_progress(study: str) -> Iterator[Any]:
    """A progress bar (on a terminal, unless --quiet) counting the training runs of ``study`` as they start:
    every study builds each run's model with ``build``, so the count needs nothing from the study."""
    bar = progress(desc=f"study {study}", unit="run")
    _open_bars.append(bar)
    try:
        yield bar
    finally:
        _open_bars.remove(bar)
        bar.close()


def build(name: str, seed: int, **overrides):
    """A registered model with its weights initialized from ``seed`` (one training run starts: one tick)."""
    for bar in _open_bars:
        bar.update(1)
    set_seed(seed)
    return create_model(name, **overrides)


@torch.no_grad()
def accuracy(model: torch.nn.Module, split: Split) -> float:
    model.eval()
    return float((model(split.x).argmax(1) == split.y).float().mean())


@torch.no_grad()
def mean_loss(model: torch.nn.Module, split: Split) -> float:
    model.eval()
    return float(torch.nn.functional.cross_entropy(model(split.x), split.y))


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None, int]:
    """Mean and sample standard deviation (n - 1) of the values that are not None; and how many there were."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return None, None, 0
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s, len(v)


def first_reaching(values: Sequence[float], target: float, *, below: bool) -> int | None:
    """1-based index of the first value at or beyond ``target`` (<= when ``below``), else None."""
    for i, v in enumerate(values, start=1):
        if v is not None and ((v <= target) if below else (v >= target)):
            return i
    return None


def record(config: dict[str, Any], seed: int, metrics: dict[str, Any], curves: dict[str, Any] | None = None,
           model: str = "mlp", dataset: str | None = None, dataset_sha256: str | None = None) -> dict[str, Any]:
    """One measurement of a study: which configuration, which seed, the figures, and optional curves.

    ``dataset`` / ``dataset_sha256`` default to the digits (see ``digits()``)."""
    return {"model": model, "config": config, "seed": seed, "metrics": metrics, "curves": curves or {},
            "dataset": dataset, "dataset_sha256": dataset_sha256}
