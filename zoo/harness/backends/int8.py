"""``int8``: dynamic int8 quantization of ``nn.Linear`` layers (``torch.ao.quantization.quantize_dynamic``),
CPU only, fp32 activations. ``--backend auto`` tries it for models whose weights are mostly in Linear
layers (transformers, MLPs), where it pays."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import register_backend
from ._base import AutoContext, Backend, BackendConfig, Capabilities, Prepared, finish_forward, place_module

LINEAR_SHARE_MIN = 0.5  # auto tries int8 when more than this share of the parameters sit in nn.Linear weights


@register_backend
class Int8(Backend):
    name = "int8"
    capabilities = Capabilities(devices=("cpu",), dtypes=("fp32",))
    priority = 40
    quantizes = True

    def prepare(self, model: nn.Module, config: BackendConfig, device: str, example_inputs: Any) -> Prepared:
        model = torch.ao.quantization.quantize_dynamic(model.to(device), {nn.Linear}, dtype=torch.qint8)
        module, to_inputs = place_module(model, config, device)
        info = {"quantized": "dynamic int8 nn.Linear (torch.ao.quantization.quantize_dynamic)"}
        return finish_forward(module, module, config, device, to_inputs, example_inputs, info)

    def auto_configs(self, ctx: AutoContext) -> list[BackendConfig]:
        linear = sum(m.weight.numel() for m in ctx.model.modules() if isinstance(m, nn.Linear))
        total = sum(p.numel() for p in ctx.model.parameters())
        return [BackendConfig("int8", "fp32")] if linear > LINEAR_SHARE_MIN * total else []
