"""zoo fetch NAME... [--json]: download each model's weights into its cache and verify the sha256."""

from __future__ import annotations

import json
import sys

from ..errors import UserError


def register(sub) -> None:
    p = sub.add_parser("fetch", help="download pretrained weights into the local cache and verify them")
    p.add_argument("names", nargs="+", metavar="NAME", help="model names or wildcards ('efficientnet_lite*')")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def expand(names: list[str]) -> list[str]:
    """Names as given; a wildcard expands to the matching registered models that have weights."""
    from ..registry import get_spec, list_models

    out: list[str] = []
    for n in names:
        if any(c in n for c in "*?["):
            hits = [m for m in list_models(n) if get_spec(m).weights is not None]
            if not hits:
                raise UserError(f"no registered model with weights matches {n!r}")
            out += [m for m in hits if m not in out]
        elif n not in out:
            out.append(n)
    return out


def run(args) -> int:
    from ..weights import fetch, known_sha256

    results, failed = [], 0
    for name in expand(args.names):
        try:
            path = fetch(name)
        except UserError as e:
            failed += 1
            results.append({"name": name, "ok": False, "error": str(e)})
            if not args.json:
                print(f"zoo: error: {e}", file=sys.stderr)
            continue
        results.append({"name": name, "ok": True, "path": str(path), "sha256": known_sha256(path)})
        if not args.json:
            print(f"{name}: {path}  sha256 {results[-1]['sha256']}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 2 if failed else 0
