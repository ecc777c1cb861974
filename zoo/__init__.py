"""zoo: a vision and NLP model zoo with benchmarks.

    import zoo
    zoo.list_models("*resnet*")            # names
    spec = zoo.get_spec("resnet50")        # preprocessing, weights, reference metrics, cost
    model = zoo.create_model("resnet50")   # a ZooModel (nn.Module) with preprocess/postprocess
    model.predict("photo.jpg")             # -> Classification(name=..., score=..., topk=...)
    exported = zoo.load("exports/resnet50")  # a `zoo export` folder, run by its runtime alone (no torch)

``import zoo`` registers every model family (``zoo.models``) without importing torch; the harness entry
points (``zoo.bench``, ``zoo.evaluate``, ``zoo.train``) load on first use.
"""

from . import models  # noqa: F401  (registers every family; the registry itself imports none)
from .registry import create_model, get_spec, list_models, register_model

__version__ = "0.1.0"

__all__ = ["create_model", "get_spec", "list_models", "register_model", "__version__"]

_LAZY = {"bench": "zoo.harness.speed", "evaluate": "zoo.harness.evaluate", "train": "zoo.harness.train",
         "load": "zoo.prediction.runtime"}


def __getattr__(name):
    """``zoo.bench`` / ``zoo.evaluate`` / ``zoo.train``, imported on first use: the harness imports torch;
    ``zoo.load``: the export runtime (OpenVINO or ONNX Runtime, no torch)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
