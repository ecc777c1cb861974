"""What zoo shows on the terminal besides its results: progress bars, and third-party noise kept out.

Progress bars (tqdm) go to stderr, and only when stderr is a terminal and nobody asked for quiet:
``zoo --quiet`` (or ``zoo COMMAND --quiet``) sets ZOO_QUIET=1 and TQDM_DISABLE=1 in the environment, so
subprocesses (bench sweep workers, torchrun ranks) and libraries that use tqdm stay quiet too.

Third-party banners (ultralytics' "Creating new Ultralytics Settings" lines, transformers / huggingface_hub /
datasets warnings and their download bars) are switched off here, in one place, unless ``--verbose``:
``quiet_libraries()`` sets the environment variables those libraries read when they are imported (the CLI
calls it before importing any of them) and lowers the loggers of any already imported.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any, Iterable

QUIET_ENV = "ZOO_QUIET"
_TRUE = ("1", "true", "yes", "on")

# read by each library when it is imported (values as its own docs spell them)
LIBRARY_ENV = {
    "YOLO_VERBOSE": "False",  # ultralytics: logger at ERROR (no settings banner, no per-image lines)
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DATASETS_VERBOSITY": "error",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # the "process just got forked" warning
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
# torch.utils.cpp_extension: torch.compile on a CPU-only machine warns "No CUDA runtime is found" once per process
LIBRARY_LOGGERS = ("ultralytics", "transformers", "huggingface_hub", "datasets", "timm", "torch._dynamo",
                   "torch._inductor", "torch.utils.cpp_extension")
_LIBRARY_MODULES = r"(ultralytics|transformers|huggingface_hub|datasets|timm|torchvision|onnxruntime)(\.|$)"


def is_quiet() -> bool:
    """Whether the user asked for no progress output (``--quiet``, ZOO_QUIET=1 or TQDM_DISABLE=1)."""
    return any(os.environ.get(v, "").lower() in _TRUE for v in (QUIET_ENV, "TQDM_DISABLE"))


def set_quiet(quiet: bool = True) -> None:
    """``--quiet``: no progress bars here or in any subprocess (the environment is inherited)."""
    if quiet:
        os.environ[QUIET_ENV] = "1"
        os.environ["TQDM_DISABLE"] = "1"


def show_progress() -> bool:
    """Progress bars only on a terminal (stderr) and only when not quiet."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        tty = False
    return tty and not is_quiet()


def progress(iterable: Iterable | None = None, *, desc: str, total: float | None = None, unit: str = "it",
             leave: bool = False, disable: bool = False, **kwargs: Any):
    """A tqdm bar on stderr that is disabled (a plain pass-through) when ``disable`` or not ``show_progress()``."""
    from tqdm import tqdm  # deferred: third-party, only commands with a long loop need it

    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, disable=disable or not show_progress(),
                file=sys.stderr, dynamic_ncols=True, **kwargs)


def quiet_libraries(verbose: bool = False) -> None:
    """Keep third-party banners, warnings and download bars out unless ``verbose``. Values already in the
    environment win (a user's TRANSFORMERS_VERBOSITY=info stays)."""
    if verbose:
        return
    for name, value in LIBRARY_ENV.items():
        os.environ.setdefault(name, value)
    for name in LIBRARY_LOGGERS:  # libraries imported before this call
        logging.getLogger(name).setLevel(logging.ERROR)
    for category in (UserWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=_LIBRARY_MODULES)
