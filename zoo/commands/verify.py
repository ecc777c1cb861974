"""zoo verify [NAME...] [--json]: re-hash cached weight files; mismatched copies in caches are moved aside.

Exit status 1 when a copy mismatches or is unpinned (zoo has no hash to check it against), else 0."""

from __future__ import annotations

import json

from ..weights import verify
from ..console import print_table


def register(sub) -> None:
    p = sub.add_parser("verify", help="re-check the sha256 of cached weights (all models with weights by default)")
    p.add_argument("names", nargs="*", metavar="NAME", help="models to check (default: every model with weights)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = verify(args.names or None)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table = []
        for r in rows:
            note = f"moved to {r['moved_to']}" if r.get("moved_to") else (r.get("where") or "")
            table.append((r["name"], r["kind"] or "-", r["status"], (r["sha256"] or "")[:16], r["file"] or "", note))
        print_table(("name", "kind", "status", "sha256[:16]", "file", "note"), table)
    return 1 if any(r["status"] in ("mismatch", "unpinned") for r in rows) else 0  # unpinned: nothing checked it
