"""zoo merge SOURCE... [--into DIR]: rows from other machines' results folders (e.g. the shards of a sweep)
appended to this raw folder once each; then ``zoo report`` covers them all (zoo.results.merge)."""

from __future__ import annotations

from ..results import raw_dir
from ..results.merge import merge


def register(sub) -> None:
    p = sub.add_parser("merge", help="bring rows from other results folders (shards, machines) into this one")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="raw folders (*.jsonl) or results folders (raw/)")
    p.add_argument("--into", help="raw folder to append to (default: $ZOO_RESULTS_DIR, else results/raw)")
    p.set_defaults(func=run)


def run(args) -> int:
    into = args.into or raw_dir()
    res = merge(args.sources, into)
    added = ", ".join(f"{n} {topic}" for topic, n in sorted(res.added.items())) or "no new rows"
    print(f"zoo merge: {added} appended to {into}; {res.present} rows were there already")
    return 0
