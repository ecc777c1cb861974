"""``openvino``: the model converted with ``openvino.convert_model`` and compiled for OpenVINO's CPU plugin,
``PERFORMANCE_HINT=LATENCY`` (one synchronous request per call: THROUGHPUT's parallel streams would need
concurrent requests), as many inference threads as torch uses.

dtypes: fp32 (``INFERENCE_PRECISION_HINT=f32``, so no CPU silently computes in bf16), bf16
(``INFERENCE_PRECISION_HINT=bf16``: OpenVINO's own mixed precision) and int8: NNCF post-training
quantization (``nncf.quantize`` on the converted model, ``nncf.Dataset`` of real items of the model's task
data, ``zoo.harness.backends.calibration``; transformer preset for text models; the modules a model names
in ``float_under_int8``, e.g. a detector's box decoding, left in float).

The graph is compiled for the example inputs' static shapes (what is timed); other shapes (the last batch
of an eval, another sentence length) run on a second, dynamic-shape compilation made on first need.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import re
from collections import Counter
from pathlib import Path
import time
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from ...errors import UserError
from . import isa, register_backend
from ._base import AutoContext, Backend, BackendConfig, Capabilities, Prepared, make_to_inputs
from .export import Flat, calibration_arrays, dynamic_dims, flatten_io, numpy_leaves

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: the layers left unquantized run f32
TEXT_TASKS = ("text-classification", "question-answering", "translation")
# the node types (after OpenVINO's fusions) that do the multiply-adds the FLOP count counts, and their variants
# by prefix (e.g. "FullyConnectedQuantizedLegacy": an int8 linear layer in OpenVINO 2025)
MAC_TYPES = ("Convolution", "GroupConvolution", "Deconvolution", "MatMul", "FullyConnected")


def _ov():
    try:
        import openvino as ov  # deferred: optional heavy dependency
    except ImportError:
        raise UserError("backend openvino needs the openvino package: pip install 'zoo[speed]'") from None
    return ov


def _quantize(ov_model: Any, calibration: Any, task: str | None,
              float_modules: tuple[str, ...] = ()) -> tuple[Any, dict[str, Any]]:
    """NNCF post-training quantization of the converted model on the calibration batches; the operations of
    ``float_modules`` (the model's ``float_under_int8``: module paths, their own operations only, not their
    children's) are left in float (an NNCF ignored scope on the converted graph's node names)."""
    try:
        import nncf  # deferred: optional heavy dependency
    except ImportError:
        raise UserError("backend openvino --dtype int8 needs the nncf package: pip install 'zoo[speed]'") from None
    nncf.set_log_level(logging.ERROR)  # its INFO lines are noise beside zoo's own
    t0 = time.perf_counter()
    arrays = [tuple(a) for a in calibration_arrays(calibration.batches())]
    t_data = time.perf_counter() - t0
    kw: dict[str, Any] = {}
    if task in TEXT_TASKS:
        kw["model_type"] = nncf.ModelType.TRANSFORMER
    elif task == "object-detection":  # asymmetric activations: box regressions are signed (as ultralytics' export)
        kw["preset"] = nncf.QuantizationPreset.MIXED
    if float_modules:
        kw["ignored_scope"] = nncf.IgnoredScope(patterns=[float_scope_pattern(m) for m in float_modules])
    t1 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws its progress bars on stdout whatever the log level
        quantized = nncf.quantize(ov_model, nncf.Dataset(arrays), subset_size=len(arrays), **kw)
    settings = ", ".join(f"{k}={getattr(v, 'name', v)}" for k, v in kw.items() if k != "ignored_scope") \
        or "default preset"
    record = {"method": f"nncf.quantize (post-training, {settings})",
              "nncf": nncf.__version__, "calibration_data_s": round(t_data, 2),
              "quantize_s": round(time.perf_counter() - t1, 2)}
    if float_modules:
        record["float_modules"] = list(float_modules)
    return quantized, record


def float_scope_pattern(module: str) -> str:
    """The node names OpenVINO gives the operations of ``module`` itself (a path from the zoo model, e.g.
    ``net.model.24``) when converting a traced module: ``__module.<path from the traced root>/aten::<op>/...``;
    the traced root wraps the zoo model, so the path may have a prefix. Its submodules' operations (named
    ``...<module>.<child>/aten::...``) do not match."""
    return rf".*\b{re.escape(module)}/aten::.*"


def _shapes(ov: Any, leaves: list[torch.Tensor], dynamic: bool) -> dict[int, Any]:
    return {i: ov.PartialShape([-1 if dynamic and d in dynamic_dims(t) else s for d, s in enumerate(t.shape)])
            for i, t in enumerate(leaves)}


def _traced(module: nn.Module, example: tuple) -> Any:
    """What ``ov.convert_model`` converts: OpenVINO's TorchScript decoder of ``module`` traced on ``example``, as
    convert_model makes it itself, but without torch.jit.trace's check_trace (a second trace and forward compared
    with the first: seconds for a detector at 640x640; the export is scored against PyTorch anyway). The same
    graph and weights. An OpenVINO whose decoder takes no trace_kwargs converts the module as given."""
    try:
        from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder
    except ImportError:
        return module
    if "trace_kwargs" not in inspect.signature(TorchScriptPythonDecoder).parameters:
        return module
    return TorchScriptPythonDecoder(module, example_input=example, trace_kwargs={"check_trace": False})


def _convert(ov: Any, model: nn.Module, config: BackendConfig, example_inputs: Any, calibration: Any):
    """(OpenVINO model with a dynamic batch (int8: quantized), input leaves, output spec, record)."""
    model = model.to("cpu").eval()
    leaves, in_spec, out_spec = flatten_io(model, example_inputs, "openvino")
    t0 = time.perf_counter()
    with torch.no_grad():
        example = tuple(t.clone() for t in leaves)
        ov_model = ov.convert_model(_traced(Flat(model, in_spec).eval(), example), example_input=example)
    ov_model.reshape(_shapes(ov, leaves, dynamic=True))
    info: dict[str, Any] = {"convert_s": round(time.perf_counter() - t0, 2)}
    if config.dtype == "int8":
        ov_model, info["quantized"] = _quantize(ov_model, calibration, getattr(model.spec, "task", None),
                                                tuple(getattr(model, "float_under_int8", ())))
    return ov_model, leaves, out_spec, info


@register_backend
class OpenVino(Backend):
    name = "openvino"
    capabilities = Capabilities(devices=("cpu",), dtypes=("fp32", "bf16", "int8"))
    needs = ("openvino",)  # packages of the zoo[speed] extra; read by catalog.check_installed, before torch loads
    priority = 45
    fork_safe = False  # a process holding compiled graphs crashed (SIGSEGV) when DataLoader workers forked

    def needs_calibration(self, config: BackendConfig) -> bool:
        return config.dtype == "int8"

    def setting_defaults(self, cpu: bool) -> dict[str, Any]:
        return {"precision": "hint"}  # bf16 is OpenVINO's INFERENCE_PRECISION_HINT, not a torch cast

    def prepare(self, model: nn.Module, config: BackendConfig, device: str, example_inputs: Any,
                calibration: Any = None) -> Prepared:
        ov = _ov()
        ov_model, leaves, out_spec, info = _convert(ov, model, config, example_inputs, calibration)
        props = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads(),
                 "INFERENCE_PRECISION_HINT": precision_hint(config)}
        core = ov.Core()
        static = ov_model.clone()
        static.reshape(_shapes(ov, leaves, dynamic=False))
        t1 = time.perf_counter()
        request = core.compile_model(static, "CPU", props).create_infer_request()
        compile_s = time.perf_counter() - t1
        static_shapes = [tuple(t.shape) for t in leaves]
        dynamic: list[Any] = []  # the dynamic-shape request, compiled on first need

        def run(x: Any) -> Any:
            arrays = numpy_leaves(x)
            req = request
            if [a.shape for a in arrays] != static_shapes:
                if not dynamic:
                    dynamic.append(core.compile_model(ov_model, "CPU", props).create_infer_request())
                req = dynamic[0]
            req.infer(arrays, share_inputs=True, share_outputs=True)  # no copies in, none out but ours
            # OpenVINO reuses its output buffers on the next call, so they are copied; by NumPy, in this thread:
            # a torch copy right after the call ran on torch's threads while OpenVINO's workers still held the
            # cores (YOLOv5n's 8.6 MB output: 4 ms instead of 0.8, a quarter of the int8 call)
            outs = [torch.from_numpy(t.data.copy()) for t in req.output_tensors]
            return pytree.tree_unflatten(outs, out_spec)

        def profile(x: Any, calls: int = 20) -> dict[str, Any]:  # a second compilation, counters on
            counted = core.compile_model(static, "CPU", {**props, "PERF_COUNT": True}).create_infer_request()
            return layer_profile(counted, numpy_leaves(x), calls)

        info["openvino"] = {"version": ov.get_version(), "convert_s": info.pop("convert_s"),
                            "compile_s": round(compile_s, 2), "static_shapes": static_shapes,
                            **{k.lower(): v for k, v in props.items()}}
        return Prepared(config, run, make_to_inputs("cpu", None, False), info, module=None, profile=profile)

    exports = True

    def export(self, model: nn.Module, config: BackendConfig, example_inputs: Any, folder: Path,
               calibration: Any = None) -> dict[str, Any]:
        """``folder/model.xml`` + ``model.bin``: the converted (int8: quantized) model with a dynamic batch,
        weights kept in fp32 (``compress_to_fp16=False``: the fp16 compression ov.save_model does by default
        would change the answers); the precision hint is recorded for the runtime to compile with."""
        ov = _ov()
        ov_model, _, _, info = _convert(ov, model, config, example_inputs, calibration)
        ov.save_model(ov_model, str(folder / "model.xml"), compress_to_fp16=False)
        return {"runtime": "openvino", "file": "model.xml", "files": ["model.xml", "model.bin"],
                "dtype": config.dtype, "precision_hint": precision_hint(config),
                "openvino": ov.get_version(), **info}

    def auto_configs(self, ctx: AutoContext) -> list[BackendConfig]:
        if not cpu_bf16():
            return [BackendConfig("openvino", "fp32"), BackendConfig("openvino", "int8")]
        # int8+bf16: the layers NNCF leaves in float (softmax, LayerNorm, GELU in transformers) run in bf16
        return [BackendConfig("openvino", "fp32"), BackendConfig("openvino", "bf16", precision="hint"),
                BackendConfig("openvino", "int8"), BackendConfig("openvino", "int8", precision="bf16")]


def layer_profile(request: Any, arrays: list, calls: int = 20, warmup: int = 3) -> dict[str, Any]:
    """Where the time of one call goes, by node type, as OpenVINO's CPU plugin reports it for a request
    compiled with ``PERF_COUNT``: ms per call (mean of ``calls``), share of the summed layer time, node count
    and the kernels it ran (``exec_type``, e.g. ``brgconv_avx512_core_vnni_I8``: the ISA and precision of the
    kernel). ``mac_layers_ms``: the layers that do the counted multiply-adds (``MAC_TYPES``); the rest (pooling,
    element-wise, reorders, softmax, normalization) costs time and adds no FLOPs."""
    ms: Counter = Counter()
    nodes: dict[str, set] = {}
    kernels: dict[str, Counter] = {}
    for _ in range(warmup):  # a new compilation's first calls create kernels and caches: not counted
        request.infer(arrays)
    for _ in range(calls):
        request.infer(arrays)
        for p in request.profiling_info:
            if p.status != p.Status.EXECUTED:
                continue
            ms[p.node_type] += p.real_time.total_seconds() * 1e3 / calls
            nodes.setdefault(p.node_type, set()).add(p.node_name)
            kernels.setdefault(p.node_type, Counter())[p.exec_type] += 1
    total = sum(ms.values())
    by_type = [{"type": t, "ms": round(v, 4), "share": round(v / total, 4) if total else None,
                "nodes": len(nodes[t]), "kernels": [k for k, _ in kernels[t].most_common(3)]}
               for t, v in ms.most_common()]
    return {"calls": calls, "warmup": warmup, "layers_ms": round(total, 4),
            "mac_layers_ms": round(sum(v for t, v in ms.items() if t.startswith(MAC_TYPES)), 4), "by_type": by_type}


def precision_hint(config: BackendConfig) -> str:
    """OpenVINO's INFERENCE_PRECISION_HINT for ``config``: its dtype's, except int8 with precision bf16."""
    return "bf16" if config.dtype == "int8" and config.precision == "bf16" else PRECISION_HINTS[config.dtype]


def cpu_bf16() -> bool:
    """Whether the CPU has native bf16 (avx512_bf16 or AMX), where OpenVINO's CPU plugin lists BF16 among its
    OPTIMIZATION_CAPABILITIES; read from the CPU's flags (backends.isa) rather than by loading OpenVINO."""
    return bool(isa.native_bf16())
