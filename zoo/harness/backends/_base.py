"""What every speed backend shares: the configuration it runs, what it declares it can run, what it hands
back to be timed, and the tensor plumbing common to the PyTorch-based backends.

A backend turns a ZooModel into a ``Prepared``: ``to_inputs(cpu_inputs)`` puts raw tensors where and how
the backend wants them (device, dtype, memory format), ``run(inputs)`` is the network call that is timed,
and ``info`` says what was actually set up (recorded in the row). Callers run everything under
``torch.inference_mode()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn
from torch.utils import _pytree as pytree

from ...models.base import move_to

VISION_TASKS = ("image-classification", "object-detection")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}  # the floating dtypes zoo runs


@dataclass(frozen=True)
class BackendConfig:
    """One way to run a model. ``precision``: "cast" (weights and inputs in ``dtype``) or "autocast"."""

    backend: str = "eager"
    dtype: str = "fp32"
    channels_last: bool = False
    precision: str = "cast"
    compile_mode: str | None = None  # torch.compile mode (None = "default")
    freezing: bool = False  # inductor freezing (CPU inference)
    cuda_graphs: bool = False

    @property
    def label(self) -> str:
        """e.g. ``compile+bf16+autocast+channels_last+default+freezing`` (rows record it as backend_used)."""
        parts = [self.backend, self.dtype]
        if self.names_precision:
            parts.append(self.precision)
        if self.channels_last:
            parts.append("channels_last")
        if self.backend == "compile":
            parts.append(self.compile_mode or "default")
            if self.freezing:
                parts.append("freezing")
        if self.cuda_graphs:
            parts.append("cuda_graphs")
        return "+".join(parts)

    @property
    def numerics(self) -> str:
        """What decides the outputs' numbers (backend, dtype, precision), not layout or compile settings:
        an eval row of one configuration checks the accuracy of every configuration with the same numerics."""
        return "+".join([self.backend, self.dtype] + ([self.precision] if self.names_precision else []))

    @property
    def names_precision(self) -> bool:
        """Whether ``precision`` is part of the numbers: for bf16/fp16, and for int8 whose unquantized layers
        run in bf16 (an int8 graph is otherwise quantized: no cast / autocast to name)."""
        return self.dtype not in ("fp32", "int8") or (self.dtype == "int8" and self.precision == "bf16")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


@dataclass(frozen=True)
class Capabilities:
    """What a backend can run. ``devices``: device kinds ("cpu", "cuda"); ``tasks``: None = every task."""

    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[str, ...] = ("fp32",)
    tasks: tuple[str, ...] | None = None

    def refuses(self, device: str, dtype: str | None = None, task: str | None = None) -> str | None:
        """Why this device / dtype / task cannot run here, or None when it can."""
        kind = str(device).split(":")[0]
        if kind not in self.devices:
            return f"runs on {' or '.join(self.devices)} only; use --device {self.devices[0]}"
        if dtype is not None and dtype not in self.dtypes:
            return f"runs {', '.join(self.dtypes)} only; use --dtype {self.dtypes[0]}"
        if task is not None and self.tasks is not None and task not in self.tasks:
            return f"does not run {task} models (it runs {', '.join(self.tasks)})"
        return None


@dataclass
class Prepared:
    config: BackendConfig
    run: Callable[[Any], Any]
    to_inputs: Callable[[Any], Any]
    info: dict[str, Any] = field(default_factory=dict)
    module: nn.Module | None = None
    # per-layer times of the prepared network on inputs x, where its runtime reports them (OpenVINO's
    # PERF_COUNT: ``layer_profile``); None elsewhere
    profile: Callable[[Any], dict[str, Any]] | None = None


@dataclass(frozen=True)
class AutoContext:
    """What ``--backend auto`` knows when it asks each backend which configurations to try."""

    device: str
    task: str | None
    model: nn.Module
    low_dtype: str | None  # the reduced precision this device runs well (bf16, else fp16 on CUDA), if any

    @property
    def cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    @property
    def vision(self) -> bool:
        return self.task in VISION_TASKS


class Backend:
    """A speed backend. Subclass, set ``name`` and ``capabilities``, implement ``prepare``, and decorate
    the class with ``zoo.harness.backends.register_backend`` in a module of that package."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    priority: ClassVar[int] = 100  # --backend auto tries backends in ascending priority
    quantizes: ClassVar[bool] = False  # its fp32 configurations still run quantized weights (accuracy-checked)
    fork_safe: ClassVar[bool] = True  # a process holding a prepared model may fork (DataLoader workers)

    def prepare(self, model: nn.Module, config: BackendConfig, device: str, example_inputs: Any) -> Prepared:
        """Set ``model`` up per ``config`` (it may be modified: pass a copy to keep it). ``example_inputs``:
        CPU inputs of the batch size to be timed (export and graph capture use them). A backend whose
        ``needs_calibration(config)`` is true also gets ``calibration=`` (a ``zoo.harness.backends.calibration.Calibration``)."""
        raise NotImplementedError

    def needs_calibration(self, config: BackendConfig) -> bool:
        """Whether ``prepare`` takes calibration data for ``config`` (post-training static quantization)."""
        return False

    exports: ClassVar[bool] = False  # writes a graph file a runtime can load without torch (``zoo export``)

    def export(self, model: nn.Module, config: BackendConfig, example_inputs: Any, folder: Path,
               calibration: Any = None) -> dict[str, Any]:
        """Write ``model`` per ``config`` as a graph file into ``folder``; returns its record (``file``: the name
        the runtime opens, ``runtime``, and how it was made). Only backends with ``exports`` implement it."""
        raise NotImplementedError

    def auto_configs(self, ctx: AutoContext) -> list[BackendConfig]:
        """The configurations of this backend that ``--backend auto`` tries (none unless overridden)."""
        return []

    def setting_defaults(self, cpu: bool) -> dict[str, Any]:
        """Defaults of BenchConfig settings left unset (``precision``: "cast", ``freezing``: False unless
        given here). They are part of a row's key: changing one makes old rows count as other settings."""
        return {}


# --- plumbing shared by the PyTorch-based backends ------------------------------------------------------

def channels_last(x: Any) -> Any:
    return pytree.tree_map(
        lambda t: t.contiguous(memory_format=torch.channels_last) if isinstance(t, torch.Tensor) and t.dim() == 4 else t, x
    )


def make_to_inputs(device: str, dtype: torch.dtype | None, to_channels_last: bool) -> Callable[[Any], Any]:
    def to_inputs(x: Any) -> Any:
        x = move_to(x, device, dtype)
        return channels_last(x) if to_channels_last else x

    return to_inputs


def outputs_to_fp32(out: Any) -> Any:
    """Floating tensors back to fp32 on the CPU (for postprocessing and output-deviation checks)."""
    return pytree.tree_map(
        lambda t: t.detach().to("cpu", torch.float32) if isinstance(t, torch.Tensor) and t.is_floating_point()
        else (t.detach().cpu() if isinstance(t, torch.Tensor) else t),
        out,
    )


def bf16_supported(device: str) -> bool:
    if str(device).startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def place_module(model: nn.Module, cfg: BackendConfig, device: str) -> tuple[nn.Module, Callable[[Any], Any]]:
    """``model`` on ``device``, cast to ``cfg.dtype`` (precision "cast"), in channels_last when asked, in
    eval mode; and the matching ``to_inputs``."""
    cast = cfg.dtype != "fp32" and cfg.precision == "cast"
    model = model.to(torch.device(device))
    if cast:
        model = model.to(DTYPES[cfg.dtype])
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.eval()
    return model, make_to_inputs(device, DTYPES[cfg.dtype] if cast else None, cfg.channels_last)


def finish_forward(fn: Callable[[Any], Any], module: nn.Module, cfg: BackendConfig, device: str,
                   to_inputs: Callable[[Any], Any], example_inputs: Any, info: dict[str, Any]) -> Prepared:
    """Wrap a forward in autocast (precision "autocast") and in a CUDA graph (``cuda_graphs``)."""
    if cfg.dtype != "fp32" and cfg.precision == "autocast":
        inner, dev_type, tdtype = fn, torch.device(device).type, DTYPES[cfg.dtype]

        def fn(x, _inner=inner):  # noqa: E306
            with torch.autocast(dev_type, dtype=tdtype):
                return _inner(x)

    if cfg.cuda_graphs:
        fn = cuda_graph(fn, to_inputs(example_inputs))
        info["cuda_graphs"] = True
    return Prepared(cfg, fn, to_inputs, info, module=module)


def cuda_graph(fn: Callable[[Any], Any], static_inputs: Any) -> Callable[[Any], Any]:
    """Capture ``fn(static_inputs)`` in a CUDA graph; calls copy new inputs into the static buffers and replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up on a side stream, as CUDA graph capture requires
            fn(static_inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = fn(static_inputs)
    static_leaves = pytree.tree_leaves(static_inputs)

    def replay(x: Any) -> Any:
        if x is not static_inputs:
            for dst, src in zip(static_leaves, pytree.tree_leaves(x)):
                dst.copy_(src, non_blocking=True)
        graph.replay()
        return static_out

    return replay
