"""``zoo merge SOURCE... [--into DIR]``: rows measured on many machines (the results folder of each shard of a
sweep, a colleague's raw folder) brought into one raw folder, so one ``zoo report`` covers them all.

A source is a raw folder (``*.jsonl``) or a results folder holding ``raw/``. Every row is read and checked as
any read is (JSON, checksum, schema) and appended to the file of the same topic under ``--into`` (default:
this checkout's raw folder) through the ordinary locked append, unless the same row is already there: a row
is identified by its content (every field but the checksum), so merging a folder twice, or two copies of one
folder, adds nothing the second time. Rows keep the machine that measured them (its identity is in the row),
so the report names each machine. A damaged source file is refused with its ``file:line`` before anything is
appended from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .store import CHECKSUM, append_row, raw_dir, read_rows


@dataclass
class MergeResult:
    added: dict[str, int] = field(default_factory=dict)  # topic -> rows appended
    present: int = 0  # rows already in the destination (or twice in the sources)


def row_identity(row: dict[str, Any]) -> str:
    """The content of a row, every field but its checksum, as a digest."""
    body = {k: v for k, v in row.items() if k != CHECKSUM}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def source_files(source: str | Path) -> list[Path]:
    """The raw files of a source: ``*.jsonl`` in it, or in its ``raw/`` folder."""
    src = Path(source).expanduser()
    if src.is_dir() and not any(src.glob("*.jsonl")) and (src / "raw").is_dir():
        src = src / "raw"
    if not src.is_dir():
        raise UserError(f"{source}: not a folder of raw results (*.jsonl, or a results folder holding raw/)")
    return sorted(src.glob("*.jsonl"))


def merge(sources: list[str | Path], into: str | Path | None = None) -> MergeResult:
    """Append every row of ``sources`` not yet in ``into`` (default: raw_dir()); return what was added."""
    dest = Path(into) if into is not None else raw_dir()
    files = [(p, read_rows(p)) for s in sources for p in source_files(s)]  # every source checked before a write
    result = MergeResult()
    seen: dict[str, set[str]] = {}
    for path, rows in files:
        target = dest / path.name
        if path.resolve() == target.resolve():
            raise UserError(f"{path} is the destination itself; merge other folders into it")
        if path.name not in seen:
            seen[path.name] = {row_identity(r) for r in read_rows(target)} if target.exists() else set()
        for row in rows:
            ident = row_identity(row)
            if ident in seen[path.name]:
                result.present += 1
                continue
            append_row(target, {k: v for k, v in row.items() if k != CHECKSUM})
            seen[path.name].add(ident)
            result.added[path.stem] = result.added.get(path.stem, 0) + 1
    return result
