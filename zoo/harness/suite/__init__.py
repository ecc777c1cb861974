"""The GPU suite (``zoo bench --suite gpu``): every GPU row in one bounded run (``gpu``), including the
end-to-end detection pipeline on the device (``e2e``)."""

from __future__ import annotations

from pathlib import Path

from ...lazy import lazy_getattr

_EXPORTS: dict[str, str] = {}

__all__ = ["gpu"]


__getattr__ = lazy_getattr(__name__, Path(__file__).parent, _EXPORTS)  # torch loads with the first name used
