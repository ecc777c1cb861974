"""``eager``: the PyTorch forward as is; bf16/fp16 by casting weights or by autocast; optional
channels_last and, on a GPU, CUDA graphs. fp32 eager is the baseline every other configuration is
compared with."""

from __future__ import annotations

from typing import Any

from torch import nn

from . import register_backend
from ._base import AutoContext, Backend, BackendConfig, Capabilities, Prepared, finish_forward, place_module


@register_backend
class Eager(Backend):
    name = "eager"
    capabilities = Capabilities(devices=("cpu", "cuda"), dtypes=("fp32", "bf16", "fp16"))
    priority = 10

    def prepare(self, model: nn.Module, config: BackendConfig, device: str, example_inputs: Any) -> Prepared:
        module, to_inputs = place_module(model, config, device)
        return finish_forward(module, module, config, device, to_inputs, example_inputs, {})

    def auto_configs(self, ctx: AutoContext) -> list[BackendConfig]:
        if ctx.cuda:
            if not ctx.low_dtype:
                return []
            return [BackendConfig("eager", ctx.low_dtype, channels_last=ctx.vision),
                    BackendConfig("eager", ctx.low_dtype, channels_last=ctx.vision, cuda_graphs=True)]
        return [BackendConfig("eager", "fp32", channels_last=True)] if ctx.vision else []
