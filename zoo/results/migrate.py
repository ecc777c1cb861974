"""Rewrite a raw results folder once to schema 2:  ``python -m zoo.results.migrate [RAW_DIR] [--check]``

- every row is upgraded by zoo.results.upgrade (field renames and moves, schema 1 -> 2) and gets its checksum;
- rows are routed by kind: "eval" rows (text ones were in nlp.jsonl) -> eval.jsonl, "train" rows -> train.jsonl,
  every other row stays in its file; a file left with no rows is removed;
- before anything is written, every numeric value of every old row is checked to be in its new row
  (``lost_numbers``), and every new row is validated; then each file is replaced atomically.
Rows already at schema 2 are kept as they are, except that a row whose ``machine`` predates the ISA flags gets
``"isa": null`` (unknown; zoo.results.upgrade.upgrade_machine) once; running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io import atomic_write_bytes
from .store import CorruptResultsError, decode_line, encode_row, raw_dir

# Row kind -> the topic (file stem) it belongs in; kinds not listed stay where they are.
KIND_TOPIC = {"eval": "eval", "train": "train"}


def numeric_leaves(v: Any) -> Counter:
    """Every int/float value nested anywhere in ``v`` (bools excluded), as a multiset."""
    out: Counter = Counter()
    if isinstance(v, dict):
        for x in v.values():
            out += numeric_leaves(x)
    elif isinstance(v, list):
        for x in v:
            out += numeric_leaves(x)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        out[(type(v).__name__, v)] += 1
    return out


def lost_numbers(old: dict[str, Any], new: dict[str, Any]) -> Counter:
    """Numeric values of ``old`` that ``new`` does not have (the schema version aside)."""
    before = numeric_leaves({k: v for k, v in old.items() if k != "schema"})
    after = numeric_leaves({k: v for k, v in new.items() if k != "schema"})
    return before - after


def _load(path: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(row as stored, schema-2 row) for every line of ``path``."""
    pairs = []
    for i, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            new = decode_line(raw)
            old = json.loads(raw)
        except ValueError as e:
            raise CorruptResultsError(f"{path}:{i}: {e}") from None
        old.pop("checksum", None)
        lost = lost_numbers(old, new)
        if lost:
            raise RuntimeError(f"{path}:{i}: migration would lose the values {sorted(lost)}")
        pairs.append((old, new))
    return pairs


def plan(raw: Path) -> dict[str, list[dict[str, Any]]]:
    """Topic -> schema-2 rows it will hold after migration (existing file order, moved rows after)."""
    files = sorted(raw.glob("*.jsonl"))
    if not files:
        raise UserError(f"no raw results (*.jsonl) under {raw}")
    out: dict[str, list[dict[str, Any]]] = {p.stem: [] for p in files}
    moved: dict[str, list[dict[str, Any]]] = {}
    for p in files:
        for _, new in _load(p):
            dest = KIND_TOPIC.get(new["kind"], p.stem)
            (out if dest == p.stem else moved).setdefault(dest, []).append(new)
    for topic, rows in moved.items():
        out.setdefault(topic, []).extend(rows)
    return out


def migrate(raw: str | os.PathLike | None = None, *, check: bool = False) -> list[str]:
    """Migrate ``raw`` (default: raw_dir()); returns one line per file changed (check: would change)."""
    raw = Path(raw) if raw is not None else raw_dir()
    target = plan(raw)
    encoded = {topic: b"".join(encode_row(r) for r in rows) for topic, rows in target.items()}
    changes = []
    for topic, data in sorted(encoded.items()):
        path = raw / f"{topic}.jsonl"
        before = path.read_bytes() if path.exists() else None
        if before == data:
            continue
        n = len(target[topic])
        changes.append(f"{path}: {'remove (no rows left)' if not n else f'{n} rows'}")
        if check:
            continue
        if n:
            atomic_write_bytes(path, data)
        else:
            path.unlink()
    return changes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zoo.results.migrate", description=__doc__.splitlines()[0])
    ap.add_argument("raw", nargs="?", default=None, help="raw results folder (default: $ZOO_RESULTS_DIR or results/raw)")
    ap.add_argument("--check", action="store_true", help="say what would change; write nothing")
    args = ap.parse_args(argv)
    try:
        changes = migrate(args.raw, check=args.check)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in changes:
        print(("would change " if args.check else "") + line)
    if not changes:
        print("nothing to migrate: every row is at schema 2")
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())
