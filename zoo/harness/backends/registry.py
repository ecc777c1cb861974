"""The backend registry: register_backend, list_backends, get_backend, prepare, auto_candidates (imports torch;
the package re-exports it, loading it on first use: see zoo/harness/backends/__init__.py)."""


from __future__ import annotations

import difflib
import importlib
import pkgutil
from pathlib import Path
from typing import Any

NOT_BACKENDS = ("registry", "catalog")  # modules of this package that register no backend

from torch import nn

from ...errors import UserError
from ._base import AutoContext, Backend, BackendConfig, Prepared, bf16_supported
from .calibration import Calibration
from . import isa
from .catalog import AUTO



_BACKENDS: dict[str, Backend] = {}
_loaded = False


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``. A second, different class
    under a name already taken is refused (re-importing the same module is not)."""
    name = getattr(cls, "name", "")
    if not name or name == AUTO or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"backend class {cls.__qualname__} needs a plain name (not {name!r})")
    old = _BACKENDS.get(name)
    if old is not None and (type(old).__module__, type(old).__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"backend {name!r} is already registered by {type(old).__module__}")
    _BACKENDS[name] = cls()
    return cls


def _ensure_loaded() -> None:
    """Import every public module of this package once (each registers its backend)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not mod.name.startswith("_") and mod.name not in NOT_BACKENDS:
            importlib.import_module(f"{__package__}.{mod.name}")


def list_backends() -> list[str]:
    """Registered backend names, in the order ``--backend auto`` tries them."""
    _ensure_loaded()
    return [b.name for b in sorted(_BACKENDS.values(), key=lambda b: (b.priority, b.name))]


def backend_dtypes() -> list[str]:
    """Every dtype some registered backend runs (fp32 first)."""
    _ensure_loaded()
    seen = {d for b in _BACKENDS.values() for d in b.capabilities.dtypes}
    return sorted(seen, key=lambda d: (d != "fp32", d))


def get_backend(name: str) -> Backend:
    """The registered backend ``name``, or a one-line UserError naming the closest names."""
    _ensure_loaded()
    try:
        return _BACKENDS[name]
    except (KeyError, TypeError):
        names = list_backends() + [AUTO]
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"unknown backend {name!r}{hint} (one of: {', '.join(names)})") from None


def check_backend(config: BackendConfig, device: str, task: str | None = None) -> Backend:
    """The backend of ``config`` if its capabilities cover this device, dtype and task; else a UserError."""
    backend = get_backend(config.backend)
    why = backend.capabilities.refuses(device, config.dtype, task)
    if why:
        raise UserError(f"backend {backend.name} {why}")
    if config.cuda_graphs and not str(device).startswith("cuda"):
        raise UserError("CUDA graphs need --device cuda")
    return backend


def prepare(model: nn.Module, config: BackendConfig, device: str, example_inputs: Any,
            calibration: Calibration | None = None) -> Prepared:
    """Set ``model`` up per ``config`` with its backend (``model`` may be modified: pass a copy to keep it).

    A backend that calibrates (``needs_calibration``) gets ``calibration``, by default ``Calibration(model)``
    (real items of the model's task data, zoo.harness.backends.calibration); pass one to share it between candidates.
    Its record lands in ``Prepared.info["calibration"]``; the other backends are called as before."""
    task = getattr(getattr(model, "spec", None), "task", None)
    backend = check_backend(config, device, task)
    if getattr(model, "eager_only", None) and (config.backend != "eager" or config.dtype != "fp32"):
        raise UserError(f"{model.spec.name}: {model.eager_only}")
    if not backend.needs_calibration(config):
        return backend.prepare(model, config, device, example_inputs)
    calibration = calibration if calibration is not None else Calibration(model)
    prep = backend.prepare(model, config, device, example_inputs, calibration=calibration)
    prep.info.setdefault("calibration", dict(calibration.info))
    return prep


def accuracy_checked(config: BackendConfig) -> bool:
    """Whether ``config`` computes with less than fp32 (bf16, fp16, int8, or quantized weights): such a
    configuration changes the model's answers, so ``--backend auto`` picks it only within an accuracy budget."""
    return config.dtype != "fp32" or get_backend(config.backend).quantizes


def auto_candidates(device: str, task: str | None, model: nn.Module, dtype: str | None = None) -> list[BackendConfig]:
    """The configurations ``--backend auto`` tries; the first is always plain fp32 eager (the baseline).

    Each backend whose capabilities match the device and task proposes its configurations; those its
    capabilities do not cover are dropped. A dtype other than fp32 asked for restricts the candidates to
    that dtype (plus the baseline).
    """
    cuda = str(device).startswith("cuda")
    low = "bf16" if bf16_supported(device) else ("fp16" if cuda else None)
    if low == "bf16" and not cuda and isa.native_bf16() is False:  # emulated bf16 is slower than fp32: not a candidate
        low = None
    ctx = AutoContext(device=str(device), task=task, model=model, low_dtype=low)
    baseline = BackendConfig("eager", "fp32")
    cands = [baseline]
    if getattr(model, "eager_only", None):  # a network that is not a torch graph (an ONNX file in onnxruntime)
        return cands
    for name in list_backends():
        backend = _BACKENDS[name]
        if backend.capabilities.refuses(device, None, task):
            continue
        for cfg in backend.auto_configs(ctx):
            if cfg not in cands and not backend.capabilities.refuses(device, cfg.dtype, task):
                cands.append(cfg)
    if dtype and dtype != "fp32":
        cands = [baseline] + [c for c in cands[1:] if c.dtype == dtype]
    return cands


BASELINE = BackendConfig("eager", "fp32")  # plain fp32 eager: what every other configuration is compared with


def explicit_config(backend: str, dtype: str | None = None, precision: str | None = None, *, cpu: bool = True,
                    channels_last: bool = False, compile_mode: str | None = None, freezing: bool | None = None,
                    cuda_graphs: bool = False) -> BackendConfig:
    """The one configuration ``--backend NAME`` runs, settings left unset taking the backend's defaults
    (compile on CPU: inductor freezing, bf16 by autocast; openvino: its precision hint). ``zoo bench`` and
    ``zoo eval`` both resolve an explicit backend here, so an eval row checks the numerics bench times."""
    defaults = get_backend(backend).setting_defaults(cpu)
    return BackendConfig(backend, dtype or "fp32", channels_last,
                         precision if precision is not None else defaults.get("precision", "cast"), compile_mode,
                         freezing if freezing is not None else defaults.get("freezing", False), cuda_graphs)
