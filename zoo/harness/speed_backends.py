"""Execution backends for timing: the same ZooModel forward, run different ways.

``prepare(model, config, example_inputs)`` returns a ``Prepared``: ``to_inputs(cpu_inputs)`` puts raw
tensors where and how the backend wants them (device, dtype, memory format), ``run(inputs)`` is the
network call that is timed, and ``info`` says what was actually set up (recorded in the row).

Backends: ``eager`` (PyTorch as is; dtype by casting weights, or bf16 autocast), ``compile``
(``torch.compile``; on CPU with inductor freezing, which folds weights and their casts into constants),
``onnxruntime`` (exported with ``torch.onnx.export``, fp32), ``int8`` (dynamic int8 quantization of
``nn.Linear``, CPU). CUDA graphs wrap eager or compiled forwards on a GPU (static input buffers).
Callers run everything under ``torch.inference_mode()``.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils import _pytree as pytree

from ..errors import UserError
from .speed_cost import DTYPES

BACKENDS = ("eager", "compile", "onnxruntime", "int8", "auto")


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
        parts = [self.backend, self.dtype]
        if self.dtype != "fp32":
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

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


@dataclass
class Prepared:
    config: BackendConfig
    run: Callable[[Any], Any]
    to_inputs: Callable[[Any], Any]
    info: dict[str, Any] = field(default_factory=dict)
    module: nn.Module | None = None


def _channels_last(x: Any) -> Any:
    return pytree.tree_map(
        lambda t: t.contiguous(memory_format=torch.channels_last) if isinstance(t, torch.Tensor) and t.dim() == 4 else t, x
    )


def _make_to_inputs(device: str, dtype: torch.dtype | None, channels_last: bool) -> Callable[[Any], Any]:
    from ..models.base import move_to

    def to_inputs(x: Any) -> Any:
        x = move_to(x, device, dtype)
        return _channels_last(x) if channels_last else x

    return to_inputs


def outputs_to_fp32(out: Any) -> Any:
    """Floating tensors back to fp32 on the CPU (for postprocessing and error measurement)."""
    return pytree.tree_map(
        lambda t: t.detach().to("cpu", torch.float32) if isinstance(t, torch.Tensor) and t.is_floating_point()
        else (t.detach().cpu() if isinstance(t, torch.Tensor) else t),
        out,
    )


def _configure_dynamo() -> None:
    import torch._dynamo as dynamo

    cfg = dynamo.config
    for name, value in (("recompile_limit", 64), ("cache_size_limit", 64), ("accumulated_recompile_limit", 512),
                        ("accumulated_cache_size_limit", 512), ("allow_rnn", True),
                        ("fail_on_recompile_limit_hit", True)):
        if hasattr(cfg, name):  # names moved between torch releases
            setattr(cfg, name, value)


def bf16_supported(device: str) -> bool:
    if str(device).startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def prepare(model: nn.Module, config: BackendConfig, device: str, example_inputs: Any) -> Prepared:
    """Set ``model`` up per ``config``. ``model`` may be modified (cast, converted): pass a copy to keep it.

    ``example_inputs``: CPU inputs of the batch size to be timed (export and CUDA graph capture use them).
    """
    cfg = config
    dev = torch.device(device)
    if cfg.backend not in BACKENDS or cfg.backend == "auto":
        raise UserError(f"unknown backend {cfg.backend!r}; expected one of {', '.join(b for b in BACKENDS if b != 'auto')} (or auto)")
    if cfg.dtype not in DTYPES:
        raise UserError(f"unknown dtype {cfg.dtype!r}; expected one of {', '.join(DTYPES)}")
    if cfg.cuda_graphs and dev.type != "cuda":
        raise UserError("CUDA graphs need --device cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device here")
    tdtype = DTYPES[cfg.dtype]
    info: dict[str, Any] = {}
    cast = cfg.dtype != "fp32" and cfg.precision == "cast"
    autocast = cfg.dtype != "fp32" and cfg.precision == "autocast"

    if cfg.backend in ("onnxruntime", "int8"):
        if cfg.dtype != "fp32":
            raise UserError(f"backend {cfg.backend} runs fp32 activations; use --dtype fp32")
        if dev.type != "cpu" and cfg.backend == "int8":
            raise UserError("backend int8 (dynamic quantization) runs on CPU only")
    if cfg.backend == "onnxruntime":
        if dev.type != "cpu":
            raise UserError("backend onnxruntime is set up for CPU here (CPUExecutionProvider); use --device cpu")
        return _prepare_onnxruntime(model, cfg, device, example_inputs)

    model = model.to(dev)
    if cfg.backend == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        info["quantized"] = "dynamic int8 nn.Linear (torch.ao.quantization.quantize_dynamic)"
    if cast:
        model = model.to(tdtype)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.eval()
    to_inputs = _make_to_inputs(device, tdtype if cast else None, cfg.channels_last)

    fn: Callable[[Any], Any] = model
    if cfg.backend == "compile":
        import torch._inductor.config as inductor_config

        _configure_dynamo()
        inductor_config.freezing = bool(cfg.freezing)
        fn = torch.compile(model, mode=cfg.compile_mode, dynamic=False)
        info["compile"] = {"mode": cfg.compile_mode or "default", "freezing": cfg.freezing, "dynamic": False}

    if autocast:
        inner = fn
        dev_type = dev.type

        def fn(x, _inner=inner):  # noqa: E306
            with torch.autocast(dev_type, dtype=tdtype):
                return _inner(x)

    if cfg.cuda_graphs:
        fn = _cuda_graph(fn, to_inputs(example_inputs))
        info["cuda_graphs"] = True
    return Prepared(cfg, fn, to_inputs, info, module=model)


def _cuda_graph(fn: Callable[[Any], Any], static_inputs: Any) -> Callable[[Any], Any]:
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


# --- ONNX Runtime --------------------------------------------------------------------------------------

class _Flat(nn.Module):
    """Wraps a model so its inputs and outputs are flat tuples of tensors (what ONNX can express)."""

    def __init__(self, model: nn.Module, in_spec):
        super().__init__()
        self.model, self.in_spec = model, in_spec

    def forward(self, *leaves):
        return tuple(pytree.tree_leaves(self.model(pytree.tree_unflatten(list(leaves), self.in_spec))))


def _prepare_onnxruntime(model: nn.Module, cfg: BackendConfig, device: str, example_inputs: Any) -> Prepared:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("backend onnxruntime needs the onnxruntime package: pip install 'zoo[speed]'") from None
    model = model.to("cpu").eval()
    leaves, in_spec = pytree.tree_flatten(example_inputs)
    if not all(isinstance(t, torch.Tensor) for t in leaves):
        raise UserError("backend onnxruntime: the model's inputs are not all tensors")
    with torch.inference_mode():
        ref_out = model(example_inputs)
    out_leaves, out_spec = pytree.tree_flatten(ref_out)
    if not all(isinstance(t, torch.Tensor) for t in out_leaves):
        raise UserError("backend onnxruntime: the model's outputs are not all tensors")
    in_names = [f"in{i}" for i in range(len(leaves))]
    out_names = [f"out{i}" for i in range(len(out_leaves))]
    # batch (and sequence, for 2-D integer inputs) dimensions stay dynamic
    axes = {n: ({0: "batch", 1: "seq"} if t.dim() == 2 and not t.is_floating_point() else {0: "batch"})
            for n, t in zip(in_names, leaves)}
    tmp = Path(tempfile.mkdtemp(prefix="zoo-onnx-"))
    path = tmp / "model.onnx"
    t0 = time.perf_counter()
    flat = _Flat(model, in_spec).eval()
    exporter = "torchscript"
    try:
        with torch.no_grad():
            torch.onnx.export(flat, tuple(t.clone() for t in leaves), str(path), input_names=in_names,
                              output_names=out_names, dynamic_axes=axes, opset_version=17, dynamo=False)
    except Exception:  # the TorchScript exporter cannot trace some models; try the dynamo exporter
        exporter = "dynamo"
        with torch.no_grad():
            torch.onnx.export(flat, tuple(t.clone() for t in leaves), str(path), input_names=in_names,
                              output_names=out_names, dynamo=True)
    export_s = time.perf_counter() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    bound_names = [i.name for i in sess.get_inputs()]

    def run(x: Any) -> Any:
        feed = {n: t.numpy() for n, t in zip(bound_names, pytree.tree_leaves(x))}
        outs = sess.run(None, feed)
        return pytree.tree_unflatten([torch.from_numpy(o) for o in outs], out_spec)

    to_inputs = _make_to_inputs("cpu", None, False)
    info = {"onnx": {"exporter": exporter, "opset": 17 if exporter == "torchscript" else None,
                     "export_s": round(export_s, 2), "ort": ort.__version__, "threads": opts.intra_op_num_threads,
                     "graph_optimization": "ORT_ENABLE_ALL"}}
    return Prepared(cfg, run, to_inputs, info, module=None)


# --- auto ----------------------------------------------------------------------------------------------

def auto_candidates(device: str, task: str, model: nn.Module, base: BackendConfig) -> list[BackendConfig]:
    """The configurations ``--backend auto`` tries; the first is always plain fp32 eager (the baseline).

    A dtype other than fp32 asked for explicitly restricts the candidates to that dtype (plus the baseline).
    """
    vision = task in ("image-classification", "object-detection")
    cuda = str(device).startswith("cuda")
    eager = BackendConfig("eager", "fp32")
    cands = [eager]
    low = "bf16" if bf16_supported(device) else ("fp16" if cuda else None)
    if cuda:
        if low:
            cands.append(BackendConfig("eager", low, channels_last=vision))
            cands.append(BackendConfig("eager", low, channels_last=vision, cuda_graphs=True))
            cands.append(BackendConfig("compile", low, channels_last=vision, compile_mode="max-autotune"))
    else:
        if vision:
            cands.append(BackendConfig("eager", "fp32", channels_last=True))
        cands.append(BackendConfig("compile", "fp32", channels_last=vision, freezing=True))
        if low:
            cands.append(BackendConfig("compile", low, precision="autocast", channels_last=vision, freezing=True))
        cands.append(BackendConfig("onnxruntime", "fp32"))
        linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
        if linear > 0.5 * sum(p.numel() for p in model.parameters()):
            cands.append(BackendConfig("int8", "fp32"))
    if base.dtype != "fp32":
        cands = [eager] + [c for c in cands[1:] if c.dtype == base.dtype]
    return cands
