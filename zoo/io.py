"""Atomic file writes: the one place zoo writes a file that a crash must not leave half-written.

The data goes to a temp file beside the target (same folder, so the same filesystem), is flushed and
fsynced, then ``os.replace``-d over the target: a reader sees the old file or the new one, never a part.
The temp file gets the mode a plain ``open(path, "w")`` would (mkstemp makes it 0600).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator


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
