"""The accuracy harness (``zoo eval``): one loop for every task (read, preprocess, forward, postprocess,
score), optionally through a speed backend (``backend``) and with GPU decode (``gpu_decode``).

    row = evaluate("efficientnet_lite0", data="path/to/imagenet_val")
"""

from .config import EvalConfig, add_arguments, config_from_args
from .runner import evaluate, reference_check, refuse_random_init, run_loop, score, tolerance_pp

__all__ = ["EvalConfig", "add_arguments", "config_from_args", "evaluate", "reference_check", "refuse_random_init", "run_loop", "score", "tolerance_pp"]
