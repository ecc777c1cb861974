"""zoo fetch NAME... [--json]: download each model's weights into its cache and verify the sha256.

zoo fetch NAME --from FILE: import a weight file obtained elsewhere (another machine, a mirror) into
NAME's cache, after checking it against the pinned sha256; a file that does not match is refused and
nothing is copied. Nothing touches the network.
"""

from __future__ import annotations

import json
import sys

from ..errors import UserError
from ..registry import get_spec, list_models
from ..weights import fetch, fetch_from, known_sha256


def register(sub) -> None:
    p = sub.add_parser("fetch", help="download pretrained weights into the local cache and verify them")
    p.add_argument("names", nargs="+", metavar="NAME", help="model names or wildcards ('efficientnet_lite*')")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--from", dest="from_file", metavar="FILE",
                   help="import this local copy of NAME's weight file (checked against the pinned sha256)")
    p.set_defaults(func=run)


def expand(names: list[str]) -> list[str]:
    """Names as given; a wildcard expands to the matching registered models that have weights."""
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
    names = expand(args.names)
    if args.from_file and len(names) != 1:
        raise UserError(f"--from FILE imports one model's weights; got {len(names)} names ({', '.join(names[:4])})")
    results, failed = [], 0
    for name in names:
        try:
            path = fetch_from(name, args.from_file) if args.from_file else fetch(name)
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
