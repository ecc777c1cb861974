"""zoo: a vision and NLP model zoo with benchmarks.

    import zoo
    zoo.list_models("*resnet*")            # names
    spec = zoo.get_spec("resnet50")        # preprocessing, weights, reference metrics, cost
    model = zoo.create_model("resnet50")   # a ZooModel (nn.Module) with preprocess/postprocess
    model, loaded = zoo.load_model("bilstm", weights="auto")   # the one loader every command uses
    model.predict("photo.jpg")             # -> Classification(name=..., score=..., topk=...)
    exported = zoo.load("exports/resnet50")  # a `zoo export` folder, run by its runtime alone (no torch)

``import zoo`` registers every model family (``zoo.models``) without importing torch; the harness entry
points (``zoo.bench``, ``zoo.evaluate``, ``zoo.train``, ``zoo.load_model``) load on first use. Each takes a
model name.
"""

import os as _os
import sys as _sys


def _run_as_the_zoo_command() -> bool:
    """``zoo ...`` or ``python -m zoo ...`` (not a program that imports zoo)."""
    argv = getattr(_sys, "orig_argv", [])
    return _os.path.basename(_sys.argv[0] if _sys.argv else "") == "zoo" or (
        "-m" in argv[:-1] and argv[argv.index("-m") + 1] == "zoo")


try:
    from . import models  # noqa: F401  (registers every family; the registry itself imports none)
    from . import registry
    from .registry import get_spec, list_models, register_model
except KeyboardInterrupt:  # Ctrl-C in a command's first second, while zoo itself is imported: no traceback
    if not _run_as_the_zoo_command():
        raise
    print("zoo: interrupted", file=_sys.stderr)
    raise SystemExit(130) from None

__version__ = "0.1.0"

__all__ = ["create_model", "get_spec", "list_models", "register_model", "__version__"]



def create_model(name: str, pretrained: bool = False, checkpoint=None, **overrides):
    """A registered model (``zoo.registry.create_model``: random init, or ``pretrained=True``), or with
    ``checkpoint=PATH`` the model that checkpoint holds: a state-dict file, safetensors, or a ``zoo train``
    folder (``zoo.load_model``, which detects the kind and checks the tensors fit)."""
    if checkpoint is None:
        return registry.create_model(name, pretrained=pretrained, **overrides)
    if pretrained:
        raise ValueError("give pretrained=True or checkpoint=PATH, not both")
    model, _ = __getattr__("load_model")(name, weights=str(checkpoint), overrides=overrides)
    return model


_LAZY = {"bench": ("zoo.harness.speed", "bench"), "evaluate": ("zoo.harness.eval", "evaluate"),
         "train": ("zoo.harness.train", "train_model"), "load_model": ("zoo.harness.loading", "load_model"),
         "load": ("zoo.prediction.runtime", "load")}


def __getattr__(name):
    """``zoo.bench`` / ``zoo.evaluate`` / ``zoo.train`` / ``zoo.load_model``, imported on first use: the harness
    imports torch; ``zoo.load``: an export folder's predictor (its runtime alone, no torch)."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
