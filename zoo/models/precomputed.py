"""Write zoo/models/specs.json: the specs whose values are read from a source library, computed once.

torchvision's weight enums and timm's pretrained cfgs are the sources of these specs (urls, hashes,
preprocessing, published metrics); reading them imports torch. ``get_spec`` serves the precomputed copy
instead, so read-only commands stay fast. tests/test_specs.py recomputes every entry from the installed
libraries and fails when one differs: then run

    python -m zoo.models.precomputed
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

from .. import registry
from ..io import atomic_write_text
from . import PRECOMPUTED_SPECS

# Family modules whose spec functions read their source library.
FAMILIES = ("zoo.models.torchvision", "zoo.models.timm", "zoo.models.efficientnet_lite")


def precomputed_names() -> list[str]:
    return [n for n in registry.builtin_models() if registry.spec_entry(n).spec_fn.__module__ in FAMILIES]


def entry_for(name: str) -> dict:
    """What specs.json holds for ``name``: the spec as its function computes it, plus its builder's name."""
    spec = registry.spec_from_source(name)
    return {"spec_fn": registry.spec_entry(name).spec_fn_id, "builder": spec.builder.target,
            "spec": json.loads(json.dumps(spec.to_dict(), default=str))}


def main() -> int:
    specs = {name: entry_for(name) for name in precomputed_names()}
    meta = {"generated_by": "python -m zoo.models.precomputed",
            "read_with": {lib: version(lib) for lib in ("torch", "torchvision", "timm")}}
    atomic_write_text(PRECOMPUTED_SPECS, json.dumps({"_meta": meta, "specs": specs}, indent=1) + "\n")
    print(f"wrote {PRECOMPUTED_SPECS} ({len(specs)} specs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
