"""The accuracy harness (``zoo eval``): one loop for every task (read, preprocess, forward, postprocess,
score), optionally through a speed backend (``backend``) and with GPU decode (``gpu_decode``).

    row = evaluate("efficientnet_lite0", data="path/to/imagenet_val")
"""

from __future__ import annotations

import importlib
from pathlib import Path

_EXPORTS = {**dict.fromkeys(("EvalConfig", "add_arguments", "config_from_args"), "config"),
            **dict.fromkeys(("evaluate", "reference_check", "refuse_random_init", "run_loop", "score", "tolerance_pp"),
                            "runner")}

__all__ = ["EvalConfig", "add_arguments", "config_from_args", "evaluate", "reference_check", "refuse_random_init",
           "run_loop", "score", "tolerance_pp"]


def __getattr__(name: str):
    """The names above (and this package's modules), imported on first use: most of them import torch, and
    ``zoo bench`` / ``zoo eval`` parse and check their arguments before torch loads."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if (Path(__file__).parent / f"{name}.py").exists():
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
