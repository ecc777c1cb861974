"""The model registry: one name -> one spec -> one model, whatever library is underneath.

Family modules (``zoo/models/<family>.py``) register a spec function per model name::

    @register_model("resnet50", task="image-classification", source="torchvision")
    def resnet50() -> ModelSpec: ...

A leaf: this module imports no family. The package (``zoo/__init__``) imports ``zoo.models``, which
registers every family, as timm's ``models/__init__`` does.

The spec function runs lazily, on first ``get_spec(name)``. Specs whose values are read from a source
library (torchvision's weight enums, timm's pretrained cfgs) are served from precomputed data
(``zoo/models/specs.json``, registered with ``add_precomputed_specs``), so ``list_models()`` and
``get_spec()`` never import torch. Measured cost (params, FLOPs) lives in ``zoo/models/cost.json``
(written by ``python -m zoo.models.cost``, registered with ``add_cost_file``) and is merged in here.

Names with a source prefix (``timm:convnext_tiny``, ``torchvision:regnet_y_400mf``, ``onnx:model.onnx``) are
not registered one by one: a module under ``zoo/models/derived/`` registers a ``ModelSource`` per prefix
(``register_source``), whose resolver derives the spec from the library's own metadata on first
``get_spec``. The registry names the resolver as ``"module:function"`` and imports it then, so it stays a
leaf below ``models``.
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

from .errors import UnknownModelError
from .spec import SOURCES, BuilderRef, ModelSpec, known_tasks



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

    @property
    def spec_fn_id(self) -> str:
        return f"{self.spec_fn.__module__}:{self.spec_fn.__qualname__}"


_REGISTRY: dict[str, _Entry] = {}
_PRECOMPUTED: dict[str, dict] = {}  # name -> {"spec_fn": "module:qualname", "spec": to_dict(), "builder": ...}
_COST_FILES: list[Path] = []  # measured params/FLOPs per name (zoo/models/cost.json), read on first use


@dataclass(frozen=True)
class ModelSource:
    """A source prefix (``timm`` in ``timm:convnext_tiny``) and the functions behind it, as ``"module:function"``.

    resolve(rest) -> ModelSpec for the name after the prefix (named ``prefix:rest``); bad input is a UserError.
    catalog() -> [{"name", "task", ...}]: what the installed library offers (``zoo list --all``); may be None
    for sources that are files (onnx:, ultralytics:) rather than a library's list.
    """

    prefix: str
    resolve: str
    catalog: str | None = None
    usage: str = ""  # what follows the prefix, e.g. "<arch>[.<tag>]"


_SOURCES: dict[str, ModelSource] = {}


def register_model(name: str, *, task: str, source: str):
    """Decorator: register ``spec_fn`` under ``name``. A duplicate name is an error, never an overwrite."""
    if task not in known_tasks():
        raise ValueError(f"{name}: unknown task {task!r}; expected one of {known_tasks()}")
    if source not in SOURCES:
        raise ValueError(f"{name}: unknown source {source!r}; expected one of {SOURCES}")

    def wrap(spec_fn: Callable[[], ModelSpec]) -> Callable[[], ModelSpec]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = _Entry(name, task, source, spec_fn)
        return spec_fn

    return wrap


def register_source(prefix: str, *, resolve: str, catalog: str | None = None, usage: str = "") -> None:
    """Resolve ``prefix:<rest>`` names with the function ``resolve`` names. A duplicate prefix is an error."""
    if prefix in _SOURCES:
        raise ValueError(f"model source {prefix!r} is registered twice")
    if not prefix.isidentifier():
        raise ValueError(f"model source prefix must be a plain word, got {prefix!r}")
    _SOURCES[prefix] = ModelSource(prefix, resolve, catalog, usage)


def model_sources() -> dict[str, ModelSource]:
    """The registered source prefixes, in registration order."""
    return dict(_SOURCES)


def split_source(name: str) -> tuple[ModelSource, str] | None:
    """(source, rest) for a name with a registered prefix (``timm:convnext_tiny``), else None. An unknown
    prefix on a name that is not registered either is a one-line UnknownModelError naming the known ones."""
    prefix, sep, rest = name.partition(":")
    if not sep or name in _REGISTRY:
        return None
    if prefix not in _SOURCES:
        raise UnknownModelError(f"unknown model source {prefix!r} in {name!r}; known prefixes: "
                                f"{', '.join(p + ':' for p in _SOURCES)} (zoo list --all shows what they offer)")
    if not rest:
        raise UnknownModelError(f"{name!r} names no model: expected {prefix}:{_SOURCES[prefix].usage or '<name>'}")
    return _SOURCES[prefix], rest


def source_catalog(prefix: str) -> list[dict]:
    """What the installed library behind ``prefix`` offers: ``[{"name": "prefix:...", "task": ...}, ...]``."""
    src = _SOURCES[prefix]
    return BuilderRef(src.catalog)() if src.catalog else []


def _derived_spec(name: str) -> ModelSpec | None:
    found = split_source(name)
    if found is None:
        return None
    src, rest = found
    spec = BuilderRef(src.resolve)(rest)
    if spec.name != name or spec.task not in known_tasks():
        raise ValueError(f"resolver for {src.prefix}: returned a spec named {spec.name!r} ({spec.task}) for {name!r}")
    return spec


def add_cost_file(path: Path) -> None:
    """Merge measured params/FLOPs from ``path`` (``{name: {"params", "flops", ...}}``) into specs that lack them."""
    _COST_FILES.append(Path(path))
    costs.cache_clear()
    get_spec.cache_clear()


def add_precomputed_specs(path: Path) -> None:
    """Serve the specs in ``path`` (written by ``python -m zoo.models.precomputed``) without calling their
    spec functions. An entry applies only while the name is registered by the same spec function."""
    _PRECOMPUTED.update(json.loads(Path(path).read_text())["specs"])
    get_spec.cache_clear()


def spec_entry(name: str) -> _Entry:
    """The registration behind ``name`` (task, source, spec function); UnknownModelError if none."""
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
    return sorted(n for n, e in _REGISTRY.items() if e.builtin)


def model_task(name: str) -> str:
    return get_spec(name).task if split_source(name) else spec_entry(name).task


def model_source(name: str) -> str:
    return get_spec(name).source if split_source(name) else spec_entry(name).source


@functools.cache
def costs() -> dict[str, dict]:
    """Measured cost per model name, from every file given to ``add_cost_file``."""
    out: dict[str, dict] = {}
    for path in _COST_FILES:
        if path.exists():
            out.update(json.loads(path.read_text()))
    return out


def spec_from_source(name: str) -> ModelSpec:
    """The spec as its spec function computes it (reading its source library if it does): no precomputed
    data, no cost.json. What ``python -m zoo.models.precomputed`` writes and the tests compare against."""
    entry = spec_entry(name)
    spec = entry.spec_fn()
    if spec.name != name or spec.task != entry.task or spec.source != entry.source:
        raise ValueError(f"spec function for {name!r} returned a spec for {spec.name!r}/{spec.task}/{spec.source}")
    return spec


def _precomputed(entry: _Entry) -> ModelSpec | None:
    data = _PRECOMPUTED.get(entry.name)
    if data is None or data["spec_fn"] != entry.spec_fn_id:
        return None
    return dataclasses.replace(ModelSpec.from_dict(data["spec"]), builder=BuilderRef(data["builder"]))


@functools.cache
def get_spec(name: str) -> ModelSpec:
    """The model's spec (precomputed where registered so), with measured params/FLOPs merged in from
    cost.json when present; for a prefixed name (``timm:convnext_tiny``), the spec its source derives."""
    derived = _derived_spec(name)
    if derived is not None:
        return derived
    spec = _precomputed(spec_entry(name)) or spec_from_source(name)
    cost = costs().get(name)
    if cost and (spec.params is None or spec.flops is None):
        spec = dataclasses.replace(spec, params=cost["params"], flops=cost["flops"])
    return spec


def create_model(name: str, pretrained: bool = False, **overrides):
    """Build a registered model (or a prefixed one, ``timm:convnext_tiny``) as a ``zoo.models.base.ZooModel``
    (an ``nn.Module``) in eval mode.

    pretrained=True loads the spec's weights from the local cache (``zoo fetch NAME`` puts them there);
    offline with a missing file this raises ``zoo.weights.WeightsUnavailable`` with a one-line fix.
    ``overrides`` go to the family builder (e.g. ``num_classes=10``, ``activation="gelu"``).
    """
    return build(get_spec(name), pretrained, **overrides)


def build(spec, pretrained: bool = False, **overrides):
    """``create_model`` for a spec already in hand (the loader resolves the name once)."""
    if spec.builder is None:
        raise ValueError(f"spec {spec.name!r} has no builder")
    model = spec.builder(spec, pretrained=pretrained, **overrides)
    return model.eval()
