"""What the graph-exporting backends (onnxruntime, openvino) share: a model's inputs and outputs as flat
tuples of tensors (what ONNX and OpenVINO graphs express), the pytree specs to rebuild them, the ONNX export,
and the calibration inputs as flat lists of NumPy arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn
from torch.utils import _pytree as pytree

from ...errors import UserError

OPSET = 17


class Flat(nn.Module):
    """Wraps a model so its inputs and outputs are flat tuples of tensors."""

    def __init__(self, model: nn.Module, in_spec):
        super().__init__()
        self.model, self.in_spec = model, in_spec

    def forward(self, *leaves):
        return tuple(pytree.tree_leaves(self.model(pytree.tree_unflatten(list(leaves), self.in_spec))))


def flatten_io(model: nn.Module, example_inputs: Any, who: str) -> tuple[list[torch.Tensor], Any, Any]:
    """(input leaves, input spec, output spec) of one call; a UserError when either side holds a non-tensor."""
    leaves, in_spec = pytree.tree_flatten(example_inputs)
    if not all(isinstance(t, torch.Tensor) for t in leaves):
        raise UserError(f"backend {who}: the model's inputs are not all tensors")
    with torch.inference_mode():
        out_leaves, out_spec = pytree.tree_flatten(model(example_inputs))
    if not all(isinstance(t, torch.Tensor) for t in out_leaves):
        raise UserError(f"backend {who}: the model's outputs are not all tensors")
    return leaves, in_spec, out_spec


def dynamic_dims(t: torch.Tensor) -> dict[int, str]:
    """The dimensions left dynamic: batch, and the sequence of 2-D integer inputs (token ids, masks)."""
    return {0: "batch", 1: "seq"} if t.dim() == 2 and not t.is_floating_point() else {0: "batch"}


def export_onnx(model: nn.Module, example_inputs: Any, path: Path) -> tuple[str, Any]:
    """Export to ``path`` with the TorchScript exporter, else the dynamo one; returns (exporter, output spec)."""
    leaves, in_spec, out_spec = flatten_io(model, example_inputs, "onnxruntime")
    in_names = [f"in{i}" for i in range(len(leaves))]
    out_names = [f"out{i}" for i in range(out_spec.num_leaves)]
    axes = {n: dynamic_dims(t) for n, t in zip(in_names, leaves)}
    flat = Flat(model, in_spec).eval()
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


def numpy_leaves(inputs: Any) -> list[Any]:
    """An input pytree as the flat list of NumPy arrays a graph runtime takes."""
    return [t.detach().cpu().numpy() for t in pytree.tree_leaves(inputs)]


def calibration_arrays(batches: Iterable[Any]) -> list[list[Any]]:
    """Calibration input pytrees -> one flat list of NumPy arrays per batch."""
    return [numpy_leaves(b) for b in batches]
