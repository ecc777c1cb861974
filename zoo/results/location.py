"""Where result rows go when ``$ZOO_RESULTS_DIR`` does not say.

Inside a zoo checkout (the current directory is in a git checkout whose pyproject.toml names the project
"zoo"): that checkout's ``results/raw``, the committed rows ``zoo report`` and the README are built from
(``results/raw`` as a relative path when run from the checkout's top, as before). Anywhere else (an installed
zoo run from another project): a folder of the user's, ``$XDG_DATA_HOME/zoo/results/raw`` (default
``~/.local/share/zoo/results/raw``), so a run never appends to the tracked files of some other checkout.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

RESULTS_ENV = "ZOO_RESULTS_DIR"
CHECKOUT_RAW = Path("results/raw")
_PROJECT_NAME = re.compile(r'^\s*name\s*=\s*["\']zoo["\']\s*(#.*)?$')


def names_zoo(pyproject: Path) -> bool:
    """Whether ``pyproject`` is a pyproject.toml whose [project] table has ``name = "zoo"``."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    table = None
    for line in text.splitlines():
        if line.strip().startswith("["):
            table = line.strip()
        elif table == "[project]" and _PROJECT_NAME.match(line):
            return True
    return False


def zoo_checkout(start: Path | None = None) -> Path | None:
    """The top of the git checkout holding ``start`` (default: the current directory) when it is a zoo
    checkout, else None. ``.git`` may be a folder or, in a worktree, a file."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / ".git").exists():
            return d if names_zoo(d / "pyproject.toml") else None
    return None


def user_results_dir() -> Path:
    """The user's own results folder: $XDG_DATA_HOME/zoo/results/raw, else ~/.local/share/zoo/results/raw."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "zoo" / "results" / "raw"


def default_raw_dir(cwd: Path | None = None) -> Path:
    """$ZOO_RESULTS_DIR, else the zoo checkout's results/raw, else the user's results folder."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    cwd = Path(cwd if cwd is not None else Path.cwd()).resolve()
    top = zoo_checkout(cwd)
    if top is None:
        return user_results_dir()
    return CHECKOUT_RAW if top == cwd else top / CHECKOUT_RAW
