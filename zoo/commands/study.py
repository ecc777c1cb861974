"""zoo study NAME|all [--seeds 0,1,2] [--scale full|tiny] [--no-report]"""

from __future__ import annotations

import sys
import time

from ..errors import UserError
from ..console import say_written
from ..report import report
from ..results import raw_path
from ..studies import MISCONCEPTION_STUDIES, STUDIES, new_run_id, run_study, study_module


def register(sub) -> None:
    p = sub.add_parser("study", help="run a gradient-descent study (or all seven); write raw rows and tables",
                       description="Studies: " + ", ".join(STUDIES) + " (all: these seven); misconceptions: "
                       + ", ".join(MISCONCEPTION_STUDIES) + ". Rows go to results/raw/studies.jsonl; "
                       "then `zoo report` regenerates results/ (tables study_*.md/.csv, plots/studies_*.png).")
    p.add_argument("name", help="a study name, or 'all'")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2; at least 3 for a table)")
    p.add_argument("--scale", default="full", choices=("full", "tiny"), help="tiny: seconds, for smoke tests")
    p.add_argument("--no-report", action="store_true", help="only append raw rows; do not regenerate results/")
    p.set_defaults(func=run)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds must be comma-separated integers, not {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds needs one or more distinct integers, got {text!r}")
    return seeds


def run(args) -> int:
    names = list(STUDIES) if args.name == "all" else [args.name]
    for n in names:
        study_module(n)  # unknown names fail before anything runs
    seeds = _seeds(args.seeds)
    command = "zoo study " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["study"] else [args.name])
    run_id = new_run_id()
    t0 = time.perf_counter()
    for n in names:
        t = time.perf_counter()
        rows = run_study(n, seeds=seeds, scale=args.scale, run_id=run_id, command=command)
        print(f"{n}: {len(rows)} rows in {time.perf_counter() - t:.1f} s")
        say_written(raw_path("studies"), len(rows))
    print(f"studies done in {time.perf_counter() - t0:.1f} s")
    if not args.no_report:
        res = report()
        print(f"zoo report: {len(res.tables)} tables, {len(res.plots)} plots in {res.out}; {len(res.written)} written")
    return 0
