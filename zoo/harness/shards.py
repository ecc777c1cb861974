"""``--shard i/N``: a sweep split deterministically into N parts, so that existing launchers run it on many
machines with no zoo scheduler (a Slurm array, a Kubernetes indexed Job, a loop over hosts).

The work is the ordered list of settings the sweep would run (``zoo bench``: every (model, batch size);
``zoo eval``: every model), and shard ``i`` (0-based) takes every N-th setting starting at ``i``: the same
arguments give the same split on any machine (nothing depends on the machine, the clock or a hash seed),
the shards are disjoint, together they are the whole sweep, and their sizes differ by at most one. Rows from
the shards' results folders come together with ``zoo merge``.
"""

from __future__ import annotations

import re
from typing import Sequence, TypeVar

from ..errors import UserError

T = TypeVar("T")
SHARD_HELP = ("run part i of N of the sweep (0 <= i < N; e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT): "
              "every N-th setting from the i-th, the same split on every machine")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/N"`` -> (i, N); None for None; a one-line UserError for anything else."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise UserError(f"--shard takes i/N with 0 <= i < N (e.g. 0/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def take_shard(items: Sequence[T], shard: tuple[int, int] | None) -> list[T]:
    """The settings of ``items`` that shard ``(i, N)`` runs (all of them for None)."""
    if shard is None:
        return list(items)
    i, n = shard
    return [x for k, x in enumerate(items) if k % n == i]
