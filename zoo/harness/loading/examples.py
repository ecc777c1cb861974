"""A model's own example items (the files its spec ships), as stored and as decoded: what a backend is prepared
on, what bench times when no data is given, and what calibration falls back to."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ...transforms import load_image


def stored_items(model: Any, n: int) -> list[Any]:
    """``n`` items as stored, before the model's ``decode`` (image files for image models), cycled."""
    items = list(model.example_files(n))
    return (items * math.ceil(n / max(1, len(items))))[:n] if len(items) < n else items[:n]


def decoded_items(model: Any, n: int) -> list[Any]:
    """``n`` decoded items (``model.decode`` of the stored ones: image files -> PIL), what preprocess takes."""
    items = list(model.decode(stored_items(model, n)))
    if model.spec.task in ("image-classification", "object-detection"):
        items = [load_image(i) if isinstance(i, (str, Path)) else i for i in items]  # a model that left paths
    return items
