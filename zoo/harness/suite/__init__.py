"""The GPU suite (``zoo bench --suite gpu``): every GPU row in one bounded run (``gpu``), including the
end-to-end detection pipeline on the device (``e2e``)."""

from __future__ import annotations

import importlib
from pathlib import Path

_EXPORTS: dict[str, str] = {}

__all__ = ["gpu"]


def __getattr__(name: str):
    """The names above (and this package's modules), imported on first use: most of them import torch, and
    ``zoo bench`` / ``zoo eval`` parse and check their arguments before torch loads."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if (Path(__file__).parent / f"{name}.py").exists():
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
