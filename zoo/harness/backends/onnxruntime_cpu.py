"""``onnxruntime``: the model exported with ``torch.onnx.export`` (TorchScript exporter, else the dynamo
exporter) and run by ONNX Runtime's CPUExecutionProvider, fp32, all graph optimizations on, as many
intra-op threads as torch uses."""

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

OPSET = 17


class _Flat(nn.Module):
    """Wraps a model so its inputs and outputs are flat tuples of tensors (what ONNX can express)."""

    def __init__(self, model: nn.Module, in_spec):
        super().__init__()
        self.model, self.in_spec = model, in_spec

    def forward(self, *leaves):
        return tuple(pytree.tree_leaves(self.model(pytree.tree_unflatten(list(leaves), self.in_spec))))


def _export(model: nn.Module, example_inputs: Any, path: Path) -> tuple[str, Any]:
    """Export to ``path``; returns (exporter used, the output pytree spec)."""
    leaves, in_spec = pytree.tree_flatten(example_inputs)
    if not all(isinstance(t, torch.Tensor) for t in leaves):
        raise UserError("backend onnxruntime: the model's inputs are not all tensors")
    with torch.inference_mode():
        out_leaves, out_spec = pytree.tree_flatten(model(example_inputs))
    if not all(isinstance(t, torch.Tensor) for t in out_leaves):
        raise UserError("backend onnxruntime: the model's outputs are not all tensors")
    in_names = [f"in{i}" for i in range(len(leaves))]
    out_names = [f"out{i}" for i in range(len(out_leaves))]
    # batch (and sequence, for 2-D integer inputs) dimensions stay dynamic
    axes = {n: ({0: "batch", 1: "seq"} if t.dim() == 2 and not t.is_floating_point() else {0: "batch"})
            for n, t in zip(in_names, leaves)}
    flat = _Flat(model, in_spec).eval()
    args = tuple(t.clone() for t in leaves)
    try:
        with torch.no_grad():
            torch.onnx.export(flat, args, str(path), input_names=in_names, output_names=out_names,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        return "torchscript", out_spec
    except Exception:  # the TorchScript exporter cannot trace some models; try the dynamo exporter
        with torch.no_grad():
            torch.onnx.export(flat, args, str(path), input_names=in_names, output_names=out_names, dynamo=True)
        return "dynamo", out_spec


@register_backend
class OnnxRuntime(Backend):
    name = "onnxruntime"
    capabilities = Capabilities(devices=("cpu",), dtypes=("fp32",))
    priority = 30

    def prepare(self, model: nn.Module, config: BackendConfig, device: str, example_inputs: Any) -> Prepared:
        try:
            import onnxruntime as ort  # deferred: optional heavy dependency
        except ImportError:
            raise UserError("backend onnxruntime needs the onnxruntime package: pip install 'zoo[speed]'") from None
        model = model.to("cpu").eval()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        with tempfile.TemporaryDirectory(prefix="zoo-onnx-") as tmp:  # the session holds the model once built
            path = Path(tmp) / "model.onnx"
            t0 = time.perf_counter()
            exporter, out_spec = _export(model, example_inputs, path)
            export_s = time.perf_counter() - t0
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        bound_names = [i.name for i in sess.get_inputs()]

        def run(x: Any) -> Any:
            feed = {n: t.numpy() for n, t in zip(bound_names, pytree.tree_leaves(x))}
            return pytree.tree_unflatten([torch.from_numpy(o) for o in sess.run(None, feed)], out_spec)

        info = {"onnx": {"exporter": exporter, "opset": OPSET if exporter == "torchscript" else None,
                         "export_s": round(export_s, 2), "ort": ort.__version__, "threads": opts.intra_op_num_threads,
                         "graph_optimization": "ORT_ENABLE_ALL"}}
        return Prepared(config, run, make_to_inputs("cpu", None, False), info, module=None)

    def auto_configs(self, ctx: AutoContext) -> list[BackendConfig]:
        return [BackendConfig("onnxruntime", "fp32")]
