"""zoo: a vision and NLP model zoo with benchmarks.

    import zoo
    zoo.list_models("*resnet*")            # names
    spec = zoo.get_spec("resnet50")        # preprocessing, weights, reference metrics, cost
    model = zoo.create_model("resnet50")   # a ZooModel (nn.Module) with preprocess/postprocess
    model, loaded = zoo.load_model("bilstm", weights="auto")   # the one loader every command uses

``import zoo`` registers every model family (``zoo.models``) without importing torch; the harness entry
points (``zoo.bench``, ``zoo.evaluate``, ``zoo.train``, ``zoo.load_model``) load on first use. Each takes a
model name.
"""

from . import models  # noqa: F401  (registers every family; the registry itself imports none)
from .registry import create_model, get_spec, list_models, register_model

__version__ = "0.1.0"

__all__ = ["create_model", "get_spec", "list_models", "register_model", "__version__"]

_LAZY = {"bench": ("zoo.harness.speed", "bench"), "evaluate": ("zoo.harness.eval", "evaluate"),
         "train": ("zoo.harness.train", "train_model"), "load_model": ("zoo.harness.loading", "load_model")}


def __getattr__(name):
    """``zoo.bench`` / ``zoo.evaluate`` / ``zoo.train`` / ``zoo.load_model``, imported on first use: the harness
    imports torch."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
