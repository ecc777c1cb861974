"""Out-of-memory handling for ``zoo bench``, in one place: run one batch size, and on out-of-memory halve
the batch and try again (as timm's ``benchmark.py`` does in ``_try_run``).

Out-of-memory is torch's ``OutOfMemoryError`` (CUDA), a RuntimeError saying so (CPU allocators), or
Python's ``MemoryError`` (host RAM exhausted, e.g. building a batch's items).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ...errors import UserError


def is_oom(e: BaseException) -> bool:
    if isinstance(e, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def free_memory(device: str) -> None:
    """Drop what a failed attempt left behind (Python garbage, the CUDA caching allocator's blocks)."""
    gc.collect()
    if str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class Attempt:
    """The outcome of one batch size: ``result`` at ``batch_size`` (the one that ran), or ``error``; the
    batch sizes that ran out of memory on the way down."""

    batch_size: int
    oom_batch_sizes: list[int] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None


def try_run(run: Callable[[int], Any], batch_size: int, device: str,
            log: Callable[[str], None] = lambda s: None) -> Attempt:
    """``run(batch_size)``, halving the batch on out-of-memory until it fits or reaches 1.

    A UserError propagates (bad input, not a measurement); any other failure is returned in ``error``
    for the caller to record as an error row."""
    attempt = Attempt(batch_size)
    while True:
        try:
            attempt.result = run(attempt.batch_size)
            return attempt
        except UserError:
            raise
        except Exception as e:  # MemoryError is an Exception too
            free_memory(device)
            if is_oom(e) and attempt.batch_size > 1:
                attempt.oom_batch_sizes.append(attempt.batch_size)
                log(f"out of memory at batch {attempt.batch_size}; halving")
                attempt.batch_size //= 2
                continue
            attempt.error = e
            return attempt
