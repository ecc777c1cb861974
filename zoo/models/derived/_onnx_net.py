"""The network behind ``onnx:`` specs: an onnxruntime session as a torch module (imports torch, onnxruntime)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ... import weights as zw
from ...errors import UserError
from ...spec import ModelSpec
from ..image import ImageClassifier


class OnnxNet(nn.Module):
    """``forward(x)`` runs the graph in onnxruntime on CPU: float32 (N, 3, H, W) in, the first output out.

    Its weights live in the graph, not in torch parameters; one empty parameter is kept so that code asking
    a model for its device (``next(model.parameters())``) gets the CPU it runs on.
    """

    def __init__(self, path: str, input_name: str, threads: int | None = None):
        super().__init__()
        import onnxruntime as ort  # deferred: only onnx: models need it

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.path, self.input_name, self.threads = path, input_name, threads
        self.device_anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def __deepcopy__(self, memo):  # backends copy the model before converting it; a session is not copyable
        return OnnxNet(self.path, self.input_name, self.threads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:  # the graph runs outside autograd: a gradient would silently be zero
            raise UserError("an ONNX graph runs in onnxruntime, which computes no gradients")
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
            # a tracer would record onnxruntime's output as a constant: a converted model that ignores its input
            raise UserError("an ONNX graph runs in onnxruntime as it is; only the eager backend runs it "
                            "(a converting backend would trace it into a constant)")
        feed = {self.input_name: x.detach().to("cpu", torch.float32).contiguous().numpy()}
        out = self.session.run(None, feed)[0]
        return torch.from_numpy(np.ascontiguousarray(out))


def build(spec: ModelSpec, pretrained: bool = False, **overrides) -> ImageClassifier:
    """The file's graph, checked against the sha256 the spec pinned. ``pretrained`` changes nothing: an ONNX
    file has only its own weights, and the model records their hash either way."""
    if overrides:
        raise UserError(f"{spec.name}: an ONNX graph takes no overrides (got {sorted(overrides)})")
    path = zw.ensure_weights(spec)  # the file as resolved: a changed file is a hash mismatch, not a silent swap
    net = OnnxNet(str(path), spec.extra["onnx_input"])
    model = ImageClassifier(spec, net.eval(), zw.known_sha256(path))
    # read by the speed backends: no backend but fp32 eager converts or casts a graph torch does not hold
    model.eager_only = "an ONNX graph runs in onnxruntime as it is; only --backend eager (fp32) runs it"
    return model
