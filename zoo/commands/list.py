"""zoo list [pattern] [--all] [--task T] [--source S] [--json]

Plain ``zoo list`` shows the registered models. ``--all`` adds what the installed libraries offer under a
source prefix (``timm:convnext_tiny``, ``torchvision:regnet_y_400mf``, ``ultralytics:yolov8s.yaml``, the
image classifiers in the local HF cache as ``hf:<repo>``); ``--source timm`` shows that one library's. The
libraries' lists are read from a catalog file per library version (zoo.models.derived), not by importing them.
"""

from __future__ import annotations

import fnmatch
import json

from ..console import print_table
from ..registry import get_spec, list_models, model_sources, source_catalog
from ..spec import SOURCES, TASKS


def register(sub) -> None:
    p = sub.add_parser("list", help="list registered models (--all: every model the installed libraries offer)")
    p.add_argument("pattern", nargs="?", help="wildcard or substring, e.g. '*resnet*'")
    p.add_argument("--all", action="store_true", help="also every model the installed libraries offer, by prefixed "
                                                      "name (timm:, torchvision:, ultralytics:, hf:)")
    p.add_argument("--task", choices=TASKS, metavar="TASK", help=f"only this task: {', '.join(TASKS)}")
    choices = sorted(set(SOURCES) | set(model_sources()))
    p.add_argument("--source", choices=choices, metavar="SOURCE",
                   help=f"only this source library: {', '.join(choices)} (a library zoo derives specs from: "
                        "its whole list, as with --all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _fmt_count(n: int | None, unit: str) -> str:
    return "" if n is None else f"{n / 1e6:.1f}M" if unit == "M" else f"{n / 1e9:.2f}"


def _matches(name: str, pattern: str | None) -> bool:
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(name, pattern)
    return pattern.lower() in name.lower()


def library_rows(args) -> list[dict]:
    """The catalog entries of the sources asked for (every one with --all, else only --source's)."""
    prefixes = [p for p in model_sources() if args.all and args.source is None or p == args.source]
    if args.source == "transformers":  # hf: models are transformers models
        prefixes.append("hf")
    rows = []
    for prefix in prefixes:
        rows += [r for r in source_catalog(prefix) if _matches(r["name"], args.pattern)
                 and (args.task is None or r["task"] == args.task)]
    return rows


def run(args) -> int:
    registered = args.source is None or args.source in SOURCES  # hf: is a prefix only; no registered model has it
    names = list_models(args.pattern, task=args.task, source=args.source) if registered else []
    specs = [get_spec(n) for n in names]
    lib = library_rows(args) if (args.all or args.source in model_sources() or args.source == "transformers") else []
    if args.json:
        print(json.dumps([
            {"name": s.name, "task": s.task, "source": s.source, "architecture": s.architecture,
             "params": s.params, "flops": s.flops, "pretrained_weights": s.weights is not None}
            for s in specs
        ] + lib, indent=2))
        return 0
    rows = [
        (s.name, s.task, s.source, _fmt_count(s.params, "M"), _fmt_count(s.flops, "G"),
         s.weights.kind if s.weights else "-", s.description)
        for s in specs
    ]
    rows += [(r["name"], r["task"] or f"- ({r.get('library_task') or '?'}: not run by zoo)", r["source"], "", "", r["weights"] or "-",
              _describe(r)) for r in lib]
    print_table(("name", "task", "source", "params", "GFLOPs", "weights", "description"), rows)
    return 0


def _describe(r: dict) -> str:
    bits = [f"input {r['input']}" if r.get("input") else "", f"{r['classes']} classes" if r.get("classes") else "",
            f"{len(r['tags'])} weight tags" if r.get("tags") else "",
            f"scales {'/'.join(r['scales'])} (yolov8s.yaml)" if r.get("scales") else ""]
    return ", ".join(b for b in bits if b)
