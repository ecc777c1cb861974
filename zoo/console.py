"""What zoo shows on the terminal besides its results: progress bars, and third-party noise kept out.

Progress bars (tqdm) go to stderr, and only when stderr is a terminal and nobody asked for quiet:
``zoo --quiet`` (or ``zoo COMMAND --quiet``) sets ZOO_QUIET=1 and TQDM_DISABLE=1 in the environment, so
subprocesses (bench sweep workers, torchrun ranks) and libraries that use tqdm stay quiet too.

Third-party banners (ultralytics' "Creating new Ultralytics Settings" lines, transformers / huggingface_hub /
datasets warnings and their download bars) are switched off here, in one place, unless ``--verbose``:
``quiet_libraries()`` sets the environment variables those libraries read when they are imported (the CLI
calls it before importing any of them) and lowers the loggers of any already imported.

Prose (``say``): messages wrap at the terminal's width on a terminal, and stay one line each in a file or a
pipe.

Tables (``print_table``): rich when the output is a terminal, aligned text otherwise. ``fit=True``: one line
per row, as wide as the terminal (``shutil.get_terminal_size``: $COLUMNS, else the terminal's width; no limit
when the output is neither): the widest columns are cut first, with "…"; short cells (figures) are never cut,
and the first column (the row's name) keeps 24 characters while it can.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

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


@contextlib.contextmanager
def stdout_to_stderr():
    """Within the block, whatever is written to stdout goes to stderr: Python prints (``sys.stdout``: torch.onnx's
    "[torch.onnx] Obtain model graph ..." lines) and, while file descriptors 1 and 2 are open, writes to fd 1
    from C code and subprocesses too. For commands whose stdout is their result (``zoo bench --json`` must be
    JSON only); the result is printed after the block."""
    fd_moved = None
    with contextlib.suppress(AttributeError, ValueError, OSError):  # a closed stream: the Python level only
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.fstat(2)
        fd_moved = os.dup(1)
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if fd_moved is not None:
            _flush_c_stdio()  # what C code buffered while fd 1 was stderr goes there, not to the result
            os.dup2(fd_moved, 1)
            os.close(fd_moved)


def _flush_c_stdio() -> None:
    import ctypes  # deferred: standard library, needed only here

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)


# --- tables on the terminal (zoo list, bench, verify) --------------------------------------------------------

MIN_COLUMN = 6  # a cut column keeps at least this many characters (or its header's length)
SHORT_CELL = 12  # cells up to this long (figures, dates) are never cut
NAME_COLUMN = 24  # the first column is cut below this only when the others cannot give more


def terminal_width() -> int:
    """Columns of the terminal ($COLUMNS first); 0 when unknown (output to a file or a pipe)."""
    return shutil.get_terminal_size(fallback=(0, 0)).columns


def fit_widths(widths: Sequence[int], floors: Sequence[int], width: int, sep: int = 2) -> list[int]:
    """Column widths whose total (with ``sep`` spaces between) is at most ``width``: the widest column is
    narrowed one character at a time, never below its floor. ``width`` 0: unchanged."""
    out = list(widths)
    if width <= 0:
        return out
    while sum(out) + sep * (len(out) - 1) > width:
        cuttable = [i for i, w in enumerate(out) if w > floors[i]]
        if not cuttable:
            break
        out[max(cuttable, key=lambda i: out[i])] -= 1
    return out


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _fitted(headers: Sequence[str], cells: list[list[str]], width: int, sep: int) -> list[int]:
    """Column widths that fit ``width`` (see the module docstring); ``sep``: characters between columns."""
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    floors = [max([MIN_COLUMN, min(len(h), w)] + [len(r[i]) for r in cells if len(r[i]) <= SHORT_CELL])
              for i, (h, w) in enumerate(zip(headers, widths))]
    named = [max(floors[0], min(widths[0], NAME_COLUMN))] + floors[1:]
    return fit_widths(fit_widths(widths, named, width, sep), floors, width, sep)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None,
                fit: bool = False) -> None:
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    if sys.stdout.isatty():
        # deferred: rich takes ~0.1 s to import and only a terminal needs it
        from rich.console import Console
        from rich.table import Table

        console = Console()
        t = Table(title=title)
        # rich draws a border and one space of padding each side: 3 characters per column, 1 more at the end
        widths = _fitted(headers, cells, console.width - 3 * len(headers) - 1, 0) if fit else None
        for i, h in enumerate(headers):
            if widths:
                t.add_column(_cut(h, widths[i]), no_wrap=True, min_width=widths[i], max_width=widths[i])
            else:
                t.add_column(h)
        for r in cells:
            t.add_row(*(_cut(c, widths[i]) if widths else c for i, c in enumerate(r)))
        console.print(t)
        return
    if fit:
        widths = _fitted(headers, cells, terminal_width(), 2)
    else:
        widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if title:
        print(title)
    print("  ".join(_cut(h, w).ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(_cut(c, w).ljust(w) for c, w in zip(r, widths)).rstrip())


def wrapped(text: str, stream: Any = None) -> str:
    """``text`` wrapped at the terminal's width when ``stream`` (default stdout) is a terminal, continuation
    lines indented two spaces; unchanged for a file or a pipe (one line per message there, for grep and logs).
    Words are never split, so a long path or command stays whole (and copyable)."""
    stream = sys.stdout if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    width = terminal_width() if tty else 0
    if width < 20 or "\n" in text or len(text) <= width:
        return text
    return textwrap.fill(text, width=width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def say(text: str, stream: Any = None) -> None:
    """Print one message (prose) to ``stream`` (default stdout), wrapped at the terminal's width on a terminal."""
    stream = sys.stdout if stream is None else stream
    print(wrapped(text, stream), file=stream, flush=True)


def shown_path(path: str | Path) -> str:
    """``path`` as a person reads it: relative to the current directory when under it, else absolute."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p.resolve())


def say_written(path: str | Path, n: int = 1, what: str = "row") -> None:
    """The one stderr line every command that writes rows prints: how many, and where."""
    noun = what if n == 1 else f"{what}s"
    say(f"{n} {noun} appended to {shown_path(path)}", sys.stderr)
