"""What the row store does about a torn tail and a full disk, and what ``zoo verify --results`` reports.

A torn tail is a last line without its newline: a writer died inside its ``write`` (SIGKILL, power loss) or
the disk filled up half way. Every writer appends under the file's lock, so a torn tail seen under that lock
belongs to a writer that is gone. It is then moved aside, never dropped: its bytes are appended to a dated
quarantine file beside the raw file (``eval.jsonl.quarantine-20261206``), the raw file is cut back to its
last whole line, and one warning line says so. A tail that is a whole, checksummed row short of only its
newline is kept: the newline is added. Readers (``zoo report``) do not hold the lock, so they skip a torn
tail with a warning and change nothing.

Free space is checked before writing (statvfs), and a write that still comes up short is rolled back to the
file's old size before the error, so a full disk leaves the file as it was.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io import fsync_path

QUARANTINE = ".quarantine-"
MIN_FREE_BYTES = 1 << 20  # before a measurement: room for its row with margin (rows are a few KiB)


def warn(message: str) -> None:
    """One line on stderr, the way the CLI prints warnings."""
    print(f"zoo: warning: {message}", file=sys.stderr, flush=True)


def quarantine_path(path: Path, today: _dt.date | None = None) -> Path:
    day = (today or _dt.datetime.now(_dt.timezone.utc).date()).strftime("%Y%m%d")
    return path.with_name(f"{path.name}{QUARANTINE}{day}")


def repair_torn_tail(path: Path, cut: int, tail: bytes, is_whole_row: Callable[[bytes], bool]) -> str:
    """Called under the file's lock: ``tail`` (the bytes after offset ``cut``, the end of the last whole
    line) has no newline. Completes it when it is a whole row, else moves it to the quarantine file and
    truncates the raw file to ``cut``. Returns what was done (for the caller's message)."""
    try:
        if is_whole_row(tail):
            with open(path, "ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
            warn(f"{path}: the last row had lost only its newline; it was added")
            return "completed"
        q = quarantine_path(path)
        with open(q, "ab") as f:  # first the copy, durable; only then the cut: a crash between keeps both
            f.write(tail + b"\n")
            f.flush()
            os.fsync(f.fileno())
        fsync_path(path.parent)
        with open(path, "r+b") as f:
            f.truncate(cut)
            os.fsync(f.fileno())
    except OSError as e:
        raise UserError(f"{path}: its last line is incomplete (a write was cut off) and could not be moved "
                        f"aside: {e.strerror or e}; nothing was changed") from None
    warn(f"{path}: its last line was incomplete ({len(tail)} bytes, a write was cut off); moved to {q}, "
         "appends go on (`zoo verify --results` lists it)")
    return "quarantined"


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use on ``folder``'s filesystem; None if it cannot be told."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def check_space(path: Path, need: int) -> None:
    """Refuse before writing when the filesystem of ``path`` has less than ``need`` bytes free."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = free_bytes(folder)
    if free is not None and free < need:
        raise UserError(f"{path}: the disk is full ({free} bytes free, {need} needed); free some space and run "
                        "again (nothing was written)")


def append_or_roll_back(fd: int, path: Path, line: bytes) -> None:
    """One ``os.write`` of ``line`` on an O_APPEND descriptor (the caller holds the lock). A failed or short
    write is undone by truncating the file back to its size before the write, then reported."""
    old = os.fstat(fd).st_size
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
    except OSError as e:
        try:
            os.ftruncate(fd, old)
        except OSError as e2:  # the row may be half on disk: the next append quarantines it
            raise UserError(f"{path}: could not append the row ({e.strerror or e}) nor undo the partial write "
                            f"({e2.strerror or e2}); the next append moves the cut line aside") from None
        raise UserError(f"{path}: could not append the row ({e.strerror or e}); the file was left as it was and "
                        "this row was not recorded") from None


def results_health(raw: Path, check_file: Callable[[Path], None]) -> list[dict[str, Any]]:
    """Every raw file and quarantine file under ``raw``: status ok | corrupt | torn | quarantined, bytes and a
    note. ``check_file`` raises ValueError (one line) for a damaged file."""
    out = []
    for p in sorted(raw.glob("*.jsonl")):
        size = p.stat().st_size
        status, note = "ok", ""
        try:
            with open(p, "rb") as f:
                if size:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        status, note = "torn", "last line has no newline; the next append moves it aside"
            if status == "ok":
                check_file(p)
        except (ValueError, OSError) as e:
            status, note = "corrupt", str(e)
        out.append({"file": str(p), "status": status, "bytes": size, "note": note})
    for q in sorted(raw.glob(f"*.jsonl{QUARANTINE}*")):
        n = q.stat().st_size
        lines = q.read_bytes().count(b"\n")
        out.append({"file": str(q), "status": "quarantined", "bytes": n,
                    "note": f"{lines} cut-off line(s) moved out of {q.name.split(QUARANTINE)[0]}; not rows"})
    return out
