"""What the source modules share: the catalog cache, cost measured on the meta device, one-line errors."""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from ...errors import UnknownModelError, UserError
from ...io import atomic_write_text
from ...offline import zoo_cache_dir
from ..cost import count_flops

# The tasks a derived spec may have: the ones zoo's wrappers (ImageClassifier, the detectors) handle.
HANDLED = ("image-classification", "object-detection")


def library_version(dist: str) -> str:
    """The installed version of distribution ``dist`` (read from its metadata, without importing it)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        raise UserError(f"{dist} is not installed here (pip install {dist})") from None


SHIPPED = Path(__file__).parent / "catalogs"  # written by `python -m zoo.models.derived` for the pinned versions


def catalog_file(dist: str, folder: Path) -> Path:
    return folder / f"{dist}-{library_version(dist)}.json"


def cached_catalog(dist: str, build: Callable[[], list[dict]]) -> list[dict]:
    """``build()`` (which imports the library: seconds), kept per installed version of ``dist``: the file
    shipped with zoo for that version, else one built once under $ZOO_CACHE/catalog/, so ``zoo list --all``
    reads a file instead of importing the library. Another version builds its own."""
    for folder in (SHIPPED, zoo_cache_dir() / "catalog"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            return json.loads(catalog_file(dist, folder).read_text())["models"]
    models = build()
    with contextlib.suppress(OSError):  # a read-only cache only costs the next call the build again
        atomic_write_text(catalog_file(dist, zoo_cache_dir() / "catalog"), json.dumps({"dist": dist, "models": models}))
    return models


def unknown(prefix: str, word: str, candidates: Iterable[str], what: str = "architecture") -> UnknownModelError:
    """The one-line error for a name the library does not know, with its closest names."""
    pool = list(candidates)
    close = difflib.get_close_matches(word, pool, n=5, cutoff=0.6)
    if not close:  # a fragment ("convnext") matches by substring
        close = [c for c in pool if word.lower() in c.lower()][:5]
    hint = f"; close matches: {', '.join(f'{prefix}:{c}' for c in close)}" if close else ""
    return UnknownModelError(f"{prefix} has no {what} {word!r}{hint} (zoo list --source {prefix} shows them)")


def not_handled(name: str, task: str, why: str = "") -> UserError:
    article = "an" if task[:1].lower() in "aeiou" else "a"
    return UserError(f"{name} is {article} {task} model{why}; zoo runs {' and '.join(HANDLED)} models from this source")


# In-place ops that only write values (no shape, dtype or autograd change): weight initialization. On a meta
# tensor they compute nothing, but each still runs its meta kernel (many in Python: seconds per large network).
_VALUE_WRITES = frozenset({
    "uniform_", "normal_", "trunc_normal_", "zero_", "fill_", "fill_diagonal_", "copy_", "clamp_", "clamp_min_",
    "clamp_max_", "clip_", "mul_", "div_", "add_", "sub_", "erfinv_", "exponential_", "bernoulli_", "random_",
    "log_normal_", "cauchy_", "geometric_"})


def _skip_meta_init():
    """A TorchFunctionMode under which weight initialization of a meta tensor (``torch.nn.init``'s in-place
    functions, and the value-writing tensor methods libraries' own initializers call, e.g. timm's trunc_normal_)
    returns the tensor untouched; everything else, and everything on a real device, runs as usual."""
    import torch
    from torch.overrides import TorchFunctionMode

    class SkipMetaInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            target = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes it by keyword
            if isinstance(target, torch.Tensor) and target.is_meta and (
                    getattr(func, "__name__", None) in _VALUE_WRITES
                    or (getattr(func, "__module__", None) == "torch.nn.init" and func.__name__.endswith("_"))):
                return target
            return func(*args, **kwargs)

    return SkipMetaInit()


@contextlib.contextmanager
def weights_on_meta():
    """Every parameter and buffer a module registers inside this block moves to the meta device (shapes only),
    while the constructor's own arithmetic (regnet's widths, drop-path rates: ``.tolist()``, ``.item()``)
    runs on the CPU, which ``with torch.device("meta")`` does not allow. Each tensor is allocated once,
    empty, and dropped when it moves; nothing is initialized (``_skip_meta_init``: initializers called on the
    moved tensors return at once). Not thread-safe (it patches nn.Module)."""
    from torch import nn

    reg_param, reg_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def register_parameter(self, name, param):
        if param is not None:
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        reg_param(self, name, param)

    def register_buffer(self, name, tensor, persistent=True):
        reg_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer
    try:
        with _skip_meta_init():
            yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = reg_param, reg_buffer


def measure_cost(make_net: Callable[[], Any], input_size: tuple[int, ...]) -> tuple[int | None, int | None]:
    """(params, FLOPs per sample) the way zoo.models.cost counts them (FlopCounterMode, 2 x MACs, one sample
    at ``input_size``), with the weights on the meta device (``weights_on_meta``): no weight is allocated or
    initialized, so even a billion-parameter network costs a second. A network that cannot be built or run
    that way is built on the CPU; one that fails there too gives (None, None): no figure rather than a guess."""
    import torch  # deferred: specs are data; cost is measured only when a derived spec is resolved

    for device in ("meta", "cpu"):
        try:
            with weights_on_meta() if device == "meta" else contextlib.nullcontext():
                # no parameter requiring grad: FlopCounterMode's module tracker hooks autograd on any tensor that
                # does, and fails on a parameter a block takes as input (CaiT's class token)
                net = make_net().eval().requires_grad_(False)
            params = sum(p.numel() for p in net.parameters())
            flops = count_flops(net, torch.zeros((1, *input_size), device=device))
            return int(params), int(flops)
        except Exception:  # noqa: BLE001, S112  (any failure: try the next way, then report "not measured")
            continue
    return None, None


def measure_model_cost(spec) -> tuple[int | None, int | None]:
    """(params, FLOPs) exactly as ``python -m zoo.models.cost`` measures a registered model: the ZooModel built
    on the CPU with random weights, counted over its own example batch of one (a detector's input size is what
    its transform makes of the sample photo). For models whose forward cannot run on the meta device."""
    import torch  # deferred: as in measure_cost

    try:
        torch.manual_seed(0)
        model = spec.builder(spec, pretrained=False).eval().requires_grad_(False)
        return sum(p.numel() for p in model.parameters()), count_flops(model, model.example_batch(1).inputs)
    except Exception:  # noqa: BLE001  (no figure rather than a guess)
        return None, None
