"""The backends' names and dtypes, read from their modules' source without importing them (no torch), so
``zoo bench`` and ``zoo eval`` can build their options and refuse a mistyped ``--backend`` before torch loads.

Each backend module declares its class with literal ``name = "..."``, ``priority = N`` and ``capabilities =
Capabilities(..., dtypes=(...))`` (and ``needs = (packages,)`` when it needs an optional one); tests/test_cli_refusals.py checks that this reading equals the registry's
(``list_backends``). A backend registered from elsewhere at run time (a plugin module) is not in the catalog:
names the catalog does not know are left to the registry to accept or refuse.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import sys
from pathlib import Path

from ...errors import UserError

# How a lower precision is applied (BackendConfig.precision): torch cast / autocast; "bf16" is OpenVINO int8 with
# the layers NNCF leaves in float run in bf16 (its INFERENCE_PRECISION_HINT). OpenVINO bf16 itself is "hint".
PRECISIONS = ("cast", "autocast", "bf16")
AUTO = "auto"  # not a backend: measure every matching candidate side by side and keep the fastest
HERE = Path(__file__).parent
EXTRA = "speed"  # the optional extra that installs every backend's ``needs``


def _declared(cls: ast.ClassDef) -> dict | None:
    out: dict = {}
    for node in cls.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            key = node.targets[0].id
            if key in ("name", "priority", "needs"):
                out[key] = ast.literal_eval(node.value)
            elif key == "capabilities" and isinstance(node.value, ast.Call):
                kw = {k.arg: k.value for k in node.value.keywords}
                out["dtypes"] = tuple(ast.literal_eval(kw["dtypes"])) if "dtypes" in kw else ("fp32",)
    return out if "name" in out else None


@functools.cache
def declared_backends() -> tuple[dict, ...]:
    """{name, priority, dtypes} of every backend class in this package's public modules, in ``list_backends``
    order (ascending priority, then name)."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name.startswith("_") or path.stem in ("registry", "catalog"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "Backend" for b in node.bases):
                d = _declared(node)
                if d is not None:
                    found.append({"priority": 100, **d})
    return tuple(sorted(found, key=lambda d: (d["priority"], d["name"])))


def backend_names() -> list[str]:
    return [d["name"] for d in declared_backends()]


def declared_dtypes() -> list[str]:
    """Every dtype some declared backend runs (fp32 first), as ``backend_dtypes``."""
    seen = {t for d in declared_backends() for t in d["dtypes"]}
    return sorted(seen, key=lambda t: (t != "fp32", t))


def known(name: str) -> bool:
    """Whether ``name`` is ``auto`` or a declared backend (False: ask the registry, which may know a plugin)."""
    return name == AUTO or name in backend_names()


def listed() -> tuple[list[str], list[str]]:
    """(backend names, dtypes) for option help: the registry's once it is loaded (so a backend registered from
    outside is listed too), else the catalog's, without torch."""
    registry = sys.modules.get(f"{__package__}.registry")
    if registry is not None:
        return registry.list_backends(), registry.backend_dtypes()
    return backend_names(), declared_dtypes()


def check_installed(name: str) -> None:
    """A one-line UserError when backend ``name`` needs a package (its ``needs``) that is not installed."""
    for d in declared_backends():
        missing = [p for p in d.get("needs", ()) if d["name"] == name and importlib.util.find_spec(p) is None]
        if missing:
            raise UserError(f"backend {name} needs the {', '.join(missing)} package: pip install 'zoo[{EXTRA}]'")


def registry_loaded() -> bool:
    """Whether the registry is loaded. Until it is, no backend can have been registered from outside this
    package (registering imports it), so the catalog is the whole list and may refuse a name by itself."""
    return f"{__package__}.registry" in sys.modules


def check_backend_name(name: str) -> bool:
    """True when the catalog vouches for ``name``; a one-line UserError (closest names, as the registry's) when
    it cannot be a backend; False when only the loaded registry can tell (a backend registered from outside)."""
    if known(name):
        return True
    if registry_loaded():
        return False
    names = backend_names() + [AUTO]
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UserError(f"unknown backend {name!r}{hint} (one of: {', '.join(names)})")


def check_dtype(dtype: str | None) -> bool:
    """As ``check_backend_name``, for a dtype (``None``: the default, fine)."""
    if dtype is None or dtype in declared_dtypes():
        return True
    if registry_loaded():
        return False
    raise UserError(f"unknown dtype {dtype!r}; expected one of {', '.join(declared_dtypes())}")
