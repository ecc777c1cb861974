"""A package whose public names load on first use: its ``__init__`` maps each name to the module that defines
it, and ``lazy_getattr`` is that package's ``__getattr__``. The harness packages use it so that ``zoo bench`` /
``zoo eval`` parse and check their arguments before torch (which most of their modules import) loads."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def lazy_getattr(package: str, folder: str | Path, exports: dict[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: a name in ``exports`` (name -> module in the package) from its module,
    else one of the package's modules by name, else AttributeError."""
    folder = Path(folder)

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        if (folder / f"{name}.py").exists():
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
