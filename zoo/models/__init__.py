"""Model families, one module per source library (torchvision.py, timm.py, ultralytics.py, text/, ...).

Importing this package imports every family module, which registers its models. A family module is data:
spec functions and registrations, no torch. Each spec names its builder (``BuilderRef``), which lives in a
private module that imports torch and the source library (``_torchvision_nets.py``, ``text/_build.py``,
...) and is imported on the first ``create_model``. Specs read from a source library (torchvision's weight
enums, timm's cfgs) are precomputed into ``specs.json`` (``python -m zoo.models.precomputed``), so
``zoo list`` and ``zoo info`` never import torch. Families never import each other's specs; shared code
lives in base.py (the model interface), vision.py (image data) and image.py (image wrappers). Those and the
builder modules other packages use (``yolov5_nets``, ``yolov5_arch``, ``ultralytics_nets``) are public
modules that import torch: they are not families, and only ``create_model`` or a harness imports them.
"""

import importlib
import pkgutil
from pathlib import Path

from ..registry import add_cost_file, add_precomputed_specs

# Not families: the interface, cost data, and the shared wrappers/builders, which import torch (``import zoo``
# must not: ``zoo list`` and an export folder's runtime run without it).
_NOT_FAMILIES = {"base", "cost", "precomputed", "image", "vision", "yolov5_arch", "yolov5_nets", "ultralytics_nets", "ultralytics_env",
                 "yolov5_loss", "yolov5_train"}
PRECOMPUTED_SPECS = Path(__file__).parent / "specs.json"
COST_FILE = Path(__file__).parent / "cost.json"  # written by python -m zoo.models.cost

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _m.name.startswith("_") and _m.name not in _NOT_FAMILIES:
        importlib.import_module(f"{__name__}.{_m.name}")

add_cost_file(COST_FILE)
if PRECOMPUTED_SPECS.exists():
    add_precomputed_specs(PRECOMPUTED_SPECS)
