"""python -m zoo.models.derived: write the library catalogs zoo ships (zoo/models/derived/catalogs/).

One file per library and installed version (``timm-1.0.31.json``), so ``zoo list --all`` on a fresh install
of those versions reads a file instead of importing the libraries. Other versions build their own catalog
once, under $ZOO_CACHE/catalog/. Files of versions no longer installed are left for a person to remove.
"""

from __future__ import annotations

import json
import sys

from ...io import atomic_write_text
from . import timm, torchvision, ultralytics
from ._common import SHIPPED, catalog_file


def main() -> int:
    for dist, module in (("timm", timm), ("torchvision", torchvision), ("ultralytics", ultralytics)):
        models = module._build_catalog()
        path = atomic_write_text(catalog_file(dist, SHIPPED),
                                 json.dumps({"dist": dist, "models": models}, indent=0, sort_keys=True) + "\n")
        print(f"wrote {path} ({len(models)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
