"""zoo list [pattern] [--task T] [--source S] [--json]"""

from __future__ import annotations

import json

from ..registry import get_spec, list_models
from ..spec import SOURCES, TASKS
from ..console import print_table


def register(sub) -> None:
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", help="wildcard or substring, e.g. '*resnet*'")
    p.add_argument("--task", choices=TASKS, metavar="TASK", help=f"only this task: {', '.join(TASKS)}")
    p.add_argument("--source", choices=SOURCES, metavar="SOURCE", help=f"only this source library: {', '.join(SOURCES)}")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _fmt_count(n: int | None, unit: str) -> str:
    return "" if n is None else f"{n / 1e6:.1f}M" if unit == "M" else f"{n / 1e9:.2f}"


def run(args) -> int:
    names = list_models(args.pattern, task=args.task, source=args.source)
    specs = [get_spec(n) for n in names]
    if args.json:
        print(json.dumps([
            {"name": s.name, "task": s.task, "source": s.source, "architecture": s.architecture,
             "params": s.params, "flops": s.flops, "pretrained_weights": s.weights is not None}
            for s in specs
        ], indent=2))
        return 0
    rows = [
        (s.name, s.task, s.source, _fmt_count(s.params, "M"), _fmt_count(s.flops, "G"),
         s.weights.kind if s.weights else "-", s.description)
        for s in specs
    ]
    print_table(("name", "task", "source", "params", "GFLOPs", "weights", "description"), rows)
    return 0
