"""Model families, one module per source library (torchvision.py, timm.py, ultralytics.py, text.py, ...).

Importing this package imports every family module, which registers its models. Family modules keep
heavy imports (torchvision, timm, transformers, ultralytics) inside their builders, so listing models
stays fast. Families never import each other; shared code lives in base.py.
"""

import importlib
import pkgutil

_NOT_FAMILIES = {"base", "cost"}

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _m.name.startswith("_") and _m.name not in _NOT_FAMILIES:
        importlib.import_module(f"{__name__}.{_m.name}")
