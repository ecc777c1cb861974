"""Atomic file writes: the one place zoo writes a file that a crash must not leave half-written.

The data goes to a temp file beside the target (same folder, so the same filesystem), is flushed and
fsynced, then ``os.replace``-d over the target: a reader sees the old file or the new one, never a part.
The temp file gets the mode a plain ``open(path, "w")`` would (mkstemp makes it 0600).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Iterable, Iterator

from .signals import deferred


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO]:
    """Open a temp file beside ``path`` for writing; on a clean exit it replaces ``path``.

    On an exception the temp file is removed and ``path`` is untouched. ``f.name`` is the temp file's path
    (a caller that wants to keep a rejected file may ``os.replace`` it elsewhere before raising).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)  # reopened by name, so f.name is the temp file's path
        with open(tmp, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def atomic_write_lines(path: str | os.PathLike, lines: Iterable[str], encoding: str = "utf-8") -> Path:
    """Each item of ``lines`` is written followed by a newline (JSON lines, CSV rows, ...)."""
    with atomic_open(path, "w", encoding=encoding) as f:
        for line in lines:
            f.write(line + "\n")
    return Path(path)


__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_write_lines"]



# --- replacing a whole folder (a training checkpoint) ----------------------------------------------------------
#
# A folder cannot be renamed over a non-empty one, so its replacement takes two renames. Around them:
#   1. the new folder is filled and fsynced at ``.<name>.zoo-new`` beside the target;
#   2. a journal ``.<name>.zoo-swap`` (JSON: the new weights' sha256, whether a row records it) is written;
#   3. the caller records its row (``record``), naming that sha256;
#   4. target -> ``.<name>.zoo-old``, ``.zoo-new`` -> target;  5. the old folder and the journal are removed.
# SIGINT/SIGTERM are held from 2 to 5. After a SIGKILL anywhere, ``recover_folder`` (the next run, under the
# same lock) rolls forward when the row was recorded (or none was to be) and back otherwise, so the folder
# that stays is the one the last row names.

def _side_folder(target: Path, what: str) -> Path:
    return target.with_name(f".{target.name}.zoo-{what}")


def fsync_path(path: str | os.PathLike) -> None:
    """fsync a file or a folder (a folder: its entries, so a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            fsync_path(p)
    for d in (folder, folder.parent):
        fsync_path(d)


swap_step_hook: Callable[[str], None] | None = None  # tests: stop the process between the two renames


def _swap_in(target: Path) -> None:
    new, old = _side_folder(target, "new"), _side_folder(target, "old")
    if new.is_dir():
        if target.exists() and not old.exists():
            os.rename(target, old)
            if swap_step_hook is not None:
                swap_step_hook("between-renames")
        if not target.exists():
            os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _swap_back(target: Path) -> None:
    new, old = _side_folder(target, "new"), _side_folder(target, "old")
    if old.is_dir():
        if target.exists():
            shutil.rmtree(target)  # the new folder, swapped in before its row was recorded
        os.rename(old, target)
    shutil.rmtree(new, ignore_errors=True)


def recover_folder(target: str | os.PathLike, recorded: Callable[[str], bool]) -> str | None:
    """Finish or undo a replacement of ``target`` that a killed process left; None when there was none.
    ``recorded(sha256)``: whether a row names that checkpoint (then the new folder is what stays)."""
    import json

    target = Path(target)
    journal = _side_folder(target, "swap")
    new, old = _side_folder(target, "new"), _side_folder(target, "old")
    for tmp in target.parent.glob(f".{journal.name}.*.tmp"):  # a journal cut off while written (atomic_open)
        tmp.unlink(missing_ok=True)
    if not (journal.exists() or new.exists() or old.exists()):
        return None
    plan = None
    if journal.is_file():
        try:
            plan = json.loads(journal.read_text())
        except (ValueError, OSError):
            plan = None  # a journal being written when the kill came: step 2 never finished
    forward = plan is not None and (not plan.get("row") or recorded(plan.get("sha256", "")))
    with deferred():
        _swap_in(target) if forward else _swap_back(target)
        journal.unlink(missing_ok=True)
    return f"{target}: an interrupted checkpoint replacement was {'completed' if forward else 'undone'}"


def install_folder(ready: str | os.PathLike, target: str | os.PathLike) -> None:
    """Put the finished folder ``ready`` (beside ``target``) in place of ``target`` all or nothing: the same
    journal and swap as replace_folder, with no row (a killed swap is completed by ``recover_folder``)."""
    import json

    target = Path(target)
    new, journal = _side_folder(target, "new"), _side_folder(target, "swap")
    shutil.rmtree(new, ignore_errors=True)
    os.rename(ready, new)
    _fsync_tree(new)
    with deferred():
        atomic_write_text(journal, json.dumps({"sha256": "", "row": False}))
        _swap_in(target)
        journal.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a folder named after a dead one is a leftover)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replace_folder(target: str | os.PathLike, fill: Callable[[Path], str],
                   record: Callable[[str], None] | None = None) -> str:
    """Replace the folder ``target`` by one ``fill(folder)`` writes (returning its weights' sha256), all or
    nothing across SIGINT, SIGTERM and SIGKILL; ``record(sha256)`` (the caller's row) runs between the
    journal and the swap. Returns the sha256."""
    import json

    target = Path(target)
    new, journal = _side_folder(target, "new"), _side_folder(target, "swap")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    try:
        sha = fill(new)
        _fsync_tree(new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    with deferred():
        atomic_write_text(journal, json.dumps({"sha256": sha, "row": record is not None}))
        if swap_step_hook is not None:
            swap_step_hook("journal")
        if record is not None:
            try:
                record(sha)
            except BaseException:
                shutil.rmtree(new, ignore_errors=True)
                journal.unlink(missing_ok=True)
                raise
        _swap_in(target)
        journal.unlink(missing_ok=True)
    return sha
