"""Training data by index: one permutation per epoch, seeded by (seed, epoch), cut into global batches.

Batch modes: ``batch_size=1`` is stochastic gradient descent, ``N`` mini-batch, ``None`` full batch (one step
per epoch). The last batch of an epoch may be smaller (unless ``drop_last``). Under torchrun every process
takes items ``rank, rank + world, ...`` of each global batch, so the data order does not depend on the number
of processes and a run resumed mid-epoch continues with the very batches it would have seen.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset, default_collate

from ...errors import UserError


class Items:
    """Random access to training items by index: a TensorDataset/tensor tuple, or any map-style Dataset."""

    def __init__(self, data: Any, collate_fn: Callable | None = None):
        if isinstance(data, DataLoader):
            collate_fn = collate_fn or data.collate_fn
            data = data.dataset
        if isinstance(data, torch.Tensor):
            data = (data,)
        self.tensors: tuple[torch.Tensor, ...] | None = None
        self.dataset = None
        if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
            lengths = [len(t) for t in data]
            if len(set(lengths)) > 1:
                raise UserError(f"training tensors have different lengths: {lengths}")
            self.tensors, self.n = tuple(data), lengths[0]
        elif isinstance(data, TensorDataset):
            self.tensors, self.n = tuple(data.tensors), len(data.tensors[0])
        elif isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
            self.dataset, self.n = data, len(data)
        else:
            raise UserError(f"cannot train on {type(data).__name__}: give tensors (x, y), a Dataset or a DataLoader")
        self.collate_fn = collate_fn or default_collate
        if self.n == 0:
            raise UserError("the training data is empty")

    def batch(self, idx: torch.Tensor) -> Any:
        if self.tensors is not None:
            out = tuple(t[idx] for t in self.tensors)
            return out if len(out) > 1 else out[0]
        return self.collate_fn([self.dataset[int(i)] for i in idx])


def permutation(n: int, seed: int, epoch: int, shuffle: bool) -> torch.Tensor:
    if not shuffle:
        return torch.arange(n)
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def global_batches(n: int, batch_size: int, drop_last: bool) -> list[tuple[int, int]]:
    """(start, end) of each global batch of an epoch of ``n`` items."""
    spans = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if drop_last and spans and spans[-1][1] - spans[-1][0] < batch_size:
        spans = spans[:-1]
    return spans
