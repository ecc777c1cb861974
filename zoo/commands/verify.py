"""zoo verify [NAME...] [--json] | zoo verify --results [--json]

Weights: re-hash cached weight files; mismatched copies in caches are moved aside. Exit status 1 when a
copy mismatches or is unpinned (zoo has no hash to check it against), else 0.

``--results``: check every raw results file (each line a whole row with a matching checksum) and list the
quarantine files the store made of cut-off lines (bytes moved aside). Exit status 1 when any file is
corrupt, has a torn tail, or quarantined bytes are there to look at; delete a quarantine file once read."""

from __future__ import annotations

import json

from ..results import raw_dir, results_health
from ..weights import verify
from ..console import print_table


def register(sub) -> None:
    p = sub.add_parser("verify", help="re-check the sha256 of cached weights (all models with weights by default)")
    p.add_argument("names", nargs="*", metavar="NAME", help="models to check (default: every model with weights)")
    p.add_argument("--results", action="store_true",
                   help="check the raw results files instead and list quarantined (cut-off) bytes")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.results:
        return _results(args)
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


def _results(args) -> int:
    rows = results_health(raw_dir())
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(("file", "status", "bytes", "note"), [(r["file"], r["status"], r["bytes"], r["note"]) for r in rows])
    return 1 if any(r["status"] != "ok" for r in rows) else 0
