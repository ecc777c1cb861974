"""``onnxruntime``: the model exported with ``torch.onnx.export`` (TorchScript exporter, else the dynamo
exporter) and run by ONNX Runtime's CPUExecutionProvider, all graph optimizations on, as many intra-op
threads as torch uses. fp32, or ``--dtype int8``: static INT8 after post-training quantization (QDQ,
per-channel weights) calibrated on real items of the model's task data (``ort_int8``)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from ...errors import UserError
from . import register_backend
from ._base import AutoContext, Backend, BackendConfig, Capabilities, Prepared, make_to_inputs
from .export import OPSET, export_onnx
from .ort_int8 import quantize_onnx


def _ort():
    try:
        import onnxruntime as ort  # deferred: optional heavy dependency
    except ImportError:
        raise UserError("backend onnxruntime needs the onnxruntime package: pip install 'zoo[speed]'") from None
    return ort


@register_backend
class OnnxRuntime(Backend):
    name = "onnxruntime"
    capabilities = Capabilities(devices=("cpu",), dtypes=("fp32", "int8"))
    needs = ("onnxruntime",)  # packages of the zoo[speed] extra; read by catalog.check_installed, before torch loads
    priority = 30
    fork_safe = False  # a test process forking DataLoader workers after an int8 session crashed (SIGSEGV)

    def needs_calibration(self, config: BackendConfig) -> bool:
        return config.dtype == "int8"

    def prepare(self, model: nn.Module, config: BackendConfig, device: str, example_inputs: Any,
                calibration: Any = None) -> Prepared:
        ort = _ort()
        model = model.to("cpu").eval()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        info: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="zoo-onnx-") as tmp:  # the session holds the model once built
            path = Path(tmp) / "model.onnx"
            t0 = time.perf_counter()
            exporter, out_spec = export_onnx(model, example_inputs, path)
            export_s = time.perf_counter() - t0
            if config.dtype == "int8":
                path, info["quantized"] = quantize_onnx(path, calibration)
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        bound_names = [i.name for i in sess.get_inputs()]

        def run(x: Any) -> Any:
            feed = {n: t.numpy() for n, t in zip(bound_names, pytree.tree_leaves(x))}
            return pytree.tree_unflatten([torch.from_numpy(o) for o in sess.run(None, feed)], out_spec)

        info["onnx"] = {"exporter": exporter, "opset": OPSET if exporter == "torchscript" else None,
                        "export_s": round(export_s, 2), "ort": ort.__version__, "threads": opts.intra_op_num_threads,
                        "graph_optimization": "ORT_ENABLE_ALL"}
        return Prepared(config, run, make_to_inputs("cpu", None, False), info, module=None)

    exports = True

    def export(self, model: nn.Module, config: BackendConfig, example_inputs: Any, folder: Path,
               calibration: Any = None) -> dict[str, Any]:
        """``folder/model.onnx``: the exported graph (int8: quantized, QDQ), dynamic batch; the quantizer's
        intermediate files are removed."""
        ort = _ort()
        model = model.to("cpu").eval()
        path = folder / "model.onnx"
        t0 = time.perf_counter()
        exporter, _ = export_onnx(model, example_inputs, path)
        info: dict[str, Any] = {"exporter": exporter, "opset": OPSET if exporter == "torchscript" else None,
                                "export_s": round(time.perf_counter() - t0, 2)}
        if config.dtype == "int8":
            quantized, info["quantized"] = quantize_onnx(path, calibration)
            quantized.replace(path)
            folder.joinpath("model.pre.onnx").unlink(missing_ok=True)
        return {"runtime": "onnxruntime", "file": "model.onnx", "files": ["model.onnx"], "dtype": config.dtype,
                "onnxruntime": ort.__version__, **info}

    def auto_configs(self, ctx: AutoContext) -> list[BackendConfig]:
        return [BackendConfig("onnxruntime", "fp32"), BackendConfig("onnxruntime", "int8")]
