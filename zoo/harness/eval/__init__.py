"""The accuracy harness (``zoo eval``): one loop for every task (read, preprocess, forward, postprocess,
score), optionally through a speed backend (``backend``) and with GPU decode (``gpu_decode``).

    row = evaluate("efficientnet_lite0", data="path/to/imagenet_val")
"""

from __future__ import annotations

from pathlib import Path

from ...lazy import lazy_getattr

_EXPORTS = {**dict.fromkeys(("EvalConfig", "add_arguments", "config_from_args"), "config"),
            **dict.fromkeys(("evaluate", "reference_check", "refuse_random_init", "run_loop", "score", "tolerance_pp"),
                            "runner")}

__all__ = ["EvalConfig", "add_arguments", "config_from_args", "evaluate", "reference_check", "refuse_random_init",
           "run_loop", "score", "tolerance_pp"]


__getattr__ = lazy_getattr(__name__, Path(__file__).parent, _EXPORTS)  # torch loads with the first name used
