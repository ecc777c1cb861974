"""The model registry: one name -> one spec -> one model, whatever library is underneath.

Family modules (``zoo/models/<family>.py``) register a spec function per model name::

    @register_model("resnet50", task="image-classification", source="torchvision")
    def resnet50() -> ModelSpec: ...

The spec function runs lazily, on first ``get_spec(name)``, so ``list_models()`` never imports
torchvision, timm, transformers or ultralytics. Measured cost (params, FLOPs) lives in
``zoo/models/cost.json`` (written by ``python -m zoo.models.cost``) and is merged in here.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .spec import SOURCES, TASKS, ModelSpec

COST_FILE = Path(__file__).parent / "models" / "cost.json"


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class _Entry:
    name: str
    task: str
    source: str
    spec_fn: Callable[[], ModelSpec]

    @property
    def builtin(self) -> bool:
        """Registered by zoo's own family modules (not by a user's or a test's code)."""
        return self.spec_fn.__module__.startswith(__package__ + ".")


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, *, task: str, source: str):
    """Decorator: register ``spec_fn`` under ``name``. A duplicate name is an error, never an overwrite."""
    if task not in TASKS:
        raise ValueError(f"{name}: unknown task {task!r}; expected one of {TASKS}")
    if source not in SOURCES:
        raise ValueError(f"{name}: unknown source {source!r}; expected one of {SOURCES}")

    def wrap(spec_fn: Callable[[], ModelSpec]) -> Callable[[], ModelSpec]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = _Entry(name, task, source, spec_fn)
        return spec_fn

    return wrap


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  (importing the package registers every family)


def _entry(name: str) -> _Entry:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        if not close:  # substring match catches e.g. "resnet" -> resnet50, timm/resnet50
            close = [n for n in sorted(_REGISTRY) if name.lower() in n.lower()][:3]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint} (zoo list shows all)") from None


def list_models(pattern: str | None = None, task: str | None = None, source: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` is a shell-style wildcard (``"*resnet*"``)."""
    _ensure_loaded()
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern) or (not any(c in pattern for c in "*?[") and pattern in n)]
    if task:
        names = [n for n in names if _REGISTRY[n].task == task]
    if source:
        names = [n for n in names if _REGISTRY[n].source == source]
    return names


def builtin_models() -> list[str]:
    """The names zoo itself registers (zoo/models/*), sorted: what the suite-wide model tests cover."""
    _ensure_loaded()
    return sorted(n for n, e in _REGISTRY.items() if e.builtin)


def model_task(name: str) -> str:
    return _entry(name).task


def model_source(name: str) -> str:
    return _entry(name).source


@functools.cache
def _costs() -> dict[str, dict]:
    if COST_FILE.exists():
        return json.loads(COST_FILE.read_text())
    return {}


@functools.cache
def get_spec(name: str) -> ModelSpec:
    """The model's spec, with measured params/FLOPs merged in from cost.json when present."""
    entry = _entry(name)
    spec = entry.spec_fn()
    if spec.name != name or spec.task != entry.task or spec.source != entry.source:
        raise ValueError(f"spec function for {name!r} returned a spec for {spec.name!r}/{spec.task}/{spec.source}")
    cost = _costs().get(name)
    if cost and (spec.params is None or spec.flops is None):
        spec = dataclasses.replace(spec, params=cost["params"], flops=cost["flops"])
    return spec


def create_model(name: str, pretrained: bool = False, **overrides):
    """Build a registered model as a ``zoo.models.base.ZooModel`` (an ``nn.Module``) in eval mode.

    pretrained=True loads the spec's weights from the local cache (``zoo fetch NAME`` puts them there);
    offline with a missing file this raises ``zoo.weights.WeightsUnavailable`` with a one-line fix.
    ``overrides`` go to the family builder (e.g. ``num_classes=10``, ``activation="gelu"``).
    """
    spec = get_spec(name)
    if spec.builder is None:
        raise ValueError(f"spec {name!r} has no builder")
    model = spec.builder(spec, pretrained=pretrained, **overrides)
    return model.eval()
