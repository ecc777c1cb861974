"""Replace and remove a set of files all or nothing: what ``zoo report`` uses to update results/.

Phase 1 writes every new file as a temp file beside its target (same folder, so the rename cannot cross a
filesystem) and hard-links every file to be replaced or removed to a backup name beside it. Anything that
fails here (a folder that cannot be written, a target that is a folder) fails before any target changed.
Phase 2 renames the temp files over the targets and unlinks the removed files; should one of these fail,
the targets already changed are put back from their backups, so the folder is as it was before.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass
class _Plan:
    temps: dict[Path, str] = field(default_factory=dict)  # target -> temp file beside it
    backups: dict[Path, str] = field(default_factory=dict)  # existing target -> hard link beside it
    made_dirs: list[Path] = field(default_factory=list)


def _mkdirs(folder: Path, plan: _Plan) -> None:
    missing = []
    d = folder
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        d.mkdir()
        plan.made_dirs.append(d)


def _backup(target: Path, plan: _Plan) -> None:
    if target.is_dir():
        raise UserError(f"{target} is a folder where zoo report writes a file; move it aside (nothing was written)")
    if target.exists():
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".bak")
        os.close(fd)
        os.unlink(name)
        os.link(target, name)
        plan.backups[target] = name


def _stage(writes: dict[Path, bytes], removals: list[Path], plan: _Plan) -> None:
    mode = 0o666 & ~_umask()
    for target, data in writes.items():
        _mkdirs(target.parent, plan)
        _backup(target, plan)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        plan.temps[target] = tmp
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    for target in removals:
        _backup(target, plan)


def _swap(removals: list[Path], plan: _Plan) -> None:
    done: list[Path] = []
    try:
        for target, tmp in plan.temps.items():
            os.replace(tmp, target)
            done.append(target)
        for target in removals:
            os.unlink(target)
            done.append(target)
    except BaseException:
        for target in reversed(done):
            if target in plan.backups:
                os.replace(plan.backups.pop(target), target)
            else:
                os.unlink(target)
        raise


def _clean(plan: _Plan, failed: bool) -> None:
    for name in (*plan.temps.values(), *plan.backups.values()):
        with contextlib.suppress(OSError):
            os.unlink(name)
    if failed:
        for d in reversed(plan.made_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()


def commit_files(writes: dict[Path, bytes], removals: list[Path]) -> None:
    """Write every ``writes`` target and remove every ``removals`` file, or change nothing. An OSError on
    the way is a one-line UserError that says nothing was changed."""
    plan = _Plan()
    failed = True
    try:
        _stage(writes, removals, plan)
        _swap(removals, plan)
        failed = False
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        raise UserError(f"zoo report could not update its files: {e.strerror or e}{where}; "
                        "nothing was changed") from None
    finally:
        _clean(plan, failed)
