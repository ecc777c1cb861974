"""zoo report [--raw results/raw] [--out results/] [--check]"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..report import report
from ..report.base import INCLUDE_NOISY_ENV
from ..results import raw_dir


def register(sub) -> None:
    p = sub.add_parser("report", help="regenerate every table, CSV and plot in results/ from the raw rows")
    p.add_argument("--raw", type=Path, default=None,
                   help="folder of raw *.jsonl rows (default: $ZOO_RESULTS_DIR, else results/raw)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the parent of --raw)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 when a generated file is missing, differs or is stale (for CI)")
    p.add_argument("--include-noisy", action="store_true",
                   help="keep speed rows marked noisy (timed on a busy machine) in the ratio tables; left out by default")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.include_noisy:
        os.environ[INCLUDE_NOISY_ENV] = "1"
    out = args.out if args.out is not None else (args.raw or raw_dir()).parent
    # the README beside results/ carries a leaderboard excerpt between markers (zoo/report/readme_excerpt.py)
    res = report(args.raw, args.out, check=args.check, readme=out.parent / "README.md")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.check:
        for line in res.problems:
            print(f"{res.out / line}", file=sys.stderr)
        if res.problems:
            print(f"zoo report --check: {len(res.problems)} difference(s); run `zoo report` and commit the result",
                  file=sys.stderr)
            return 1
        print(f"zoo report --check: {len(res.generated)} files in {res.out} match the raw rows")
        return 0
    print(f"{len(res.tables)} tables, {len(res.plots)} plots in {res.out}: {len(res.written)} written, "
          f"{len(res.removed)} stale removed, {len(res.generated) - len(res.written)} unchanged")
    for rel in res.written:
        print(f"  wrote {res.out / rel}")
    for rel in res.removed:
        print(f"  removed {res.out / rel}")
    return 0
