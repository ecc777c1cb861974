"""zoo info NAME [--json]"""

from __future__ import annotations

import json

from ..registry import get_spec, source_catalog, split_source
from ._model_options import add_source_options, apply_source_options


def register(sub) -> None:
    p = sub.add_parser("info", help="show a model's spec: preprocessing, weights, reference metrics, cost")
    p.add_argument("name", help="a registered model name (zoo list shows them)")
    p.add_argument("--json", action="store_true", help="print the whole spec as JSON (default: a summary)")
    add_source_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    apply_source_options(args)
    spec = get_spec(args.name)
    d = spec.to_dict()
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    print(f"{spec.name}  ({spec.task}, {spec.source}: {spec.architecture})")
    print(f"  {spec.description}")
    print(f"  input size: {spec.input_size}   classes: {spec.num_classes}")
    if spec.params is not None:
        print(f"  params: {spec.params:,}   FLOPs/sample (2 x MACs): {spec.flops:,}" if spec.flops else f"  params: {spec.params:,}")
    pre = d["preprocess"]
    print("  preprocess: " + ", ".join(f"{k}={v}" for k, v in pre.items() if k not in ("type", "source")))
    if pre.get("source"):
        print(f"    (from {pre['source']})")
    w = spec.weights
    if w:
        print(f"  weights: {w.kind} {w.url} -> {w.file_name}")
        print(f"    sha256: {w.sha256} ({w.hash_source}); license: {w.license}")
    else:
        print("  weights: none registered (random init only)")
    for r in spec.references:
        note = f" — {r.note}" if r.note else ""
        print(f"  reference {r.metric} = {r.value} on {r.dataset} [{r.source}]{note}")
    if spec.notes:
        print(f"  notes: {spec.notes}")
    tags = other_weights(spec)
    if tags:
        print(f"  other weights: {', '.join(tags)}")
    return 0


def other_weights(spec) -> list[str]:
    """For a name derived from a library's list: the same architecture under its other weight tags."""
    found = split_source(spec.name)
    if found is None or found[0].catalog is None or spec.weights is None:
        return []
    prefix, arch = found[0].prefix, found[1].partition(".")[0]
    entry = next((r for r in source_catalog(prefix) if r["name"] == f"{prefix}:{arch}"), {})
    return [f"{prefix}:{arch}.{t}" for t in entry.get("tags", []) if t != spec.weights.tag]
