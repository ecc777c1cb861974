"""The ``--out`` folder of a training run: one run at a time, room checked first, the checkpoint swapped in.

``locked_out(out)`` holds ``.<out>.lock`` beside the folder (filelock: an flock the kernel drops when its
holder dies) for the whole run, so two trainings with one ``--out`` cannot interleave: the second is refused
with one line. Under the lock it first finishes or undoes a checkpoint replacement a killed run left
(zoo.io.recover_folder): the folder that stays is the one the last "train" row names. The checkpoint itself
is replaced with zoo.io.replace_folder, the row written between the journal and the swap.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import filelock

from ...errors import UserError
from ...io import recover_folder
from ...results import raw_path, read_rows
from ...results.recovery import check_space

TOPIC = "train"


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def recorded(sha256: str) -> bool:
    """Whether a "train" row names the checkpoint with this sha256."""
    return any(r.get("checkpoint_sha256") == sha256 for r in read_rows(raw_path(TOPIC)))


@contextlib.contextmanager
def locked_out(out: Path, enabled: bool = True) -> Iterator[None]:
    """Hold ``out``'s lock for the block (``enabled=False``: the other ranks of a torchrun, which never write)."""
    if not enabled:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_path(out)), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise UserError(f"{out}: another zoo train is writing this --out folder; wait for it to end or choose "
                        "another --out") from None
    try:
        note = recover_folder(out, recorded)
        if note:
            print(f"zoo: warning: {note}", file=sys.stderr)
        sweep_stale_temps(out)
        yield
    finally:
        lock.release()


def state_dir(out: Path) -> Path:
    """Where the resumable training state of ``out`` lives (text and vision training alike)."""
    return out.parent / f"{out.name}.state"


def sweep_stale_temps(out: Path) -> None:
    """Temp files (``.<name>.<random>.tmp``, zoo.io.atomic_open) a killed run left in the state folder;
    under the lock no writer of ours is alive to own them."""
    for d in (state_dir(out), out):
        if d.is_dir():
            for tmp in d.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def check_room(out: Path, net) -> None:
    """Before training: the folder's disk can take the checkpoint and the resumable state (weights, optimizer
    moments, the best epoch's weights: about four times the weights) with margin."""
    weights = sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))
    check_space(out.parent, 5 * weights + (16 << 20))
