"""``compile``: ``torch.compile`` (inductor, static shapes); on CPU with inductor freezing, which folds the
weights and their casts into constants. bf16 on CPU runs under autocast; CUDA graphs optional on a GPU."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import register_backend
from ._base import AutoContext, Backend, BackendConfig, Capabilities, Prepared, finish_forward, place_module


def _configure_dynamo() -> None:
    import torch._dynamo as dynamo  # deferred: importing dynamo is slow and only compile needs it

    cfg = dynamo.config
    for name, value in (("recompile_limit", 64), ("cache_size_limit", 64), ("accumulated_recompile_limit", 512),
                        ("accumulated_cache_size_limit", 512), ("allow_rnn", True),
                        ("fail_on_recompile_limit_hit", True)):
        if hasattr(cfg, name):  # names moved between torch releases
            setattr(cfg, name, value)


@register_backend
class Compile(Backend):
    name = "compile"
    capabilities = Capabilities(devices=("cpu", "cuda"), dtypes=("fp32", "bf16", "fp16"))
    priority = 20

    def prepare(self, model: nn.Module, config: BackendConfig, device: str, example_inputs: Any) -> Prepared:
        import torch._inductor.config as inductor_config  # deferred: heavy, compile only

        module, to_inputs = place_module(model, config, device)
        _configure_dynamo()
        inductor_config.freezing = bool(config.freezing)
        fn = torch.compile(module, mode=config.compile_mode, dynamic=False)
        info = {"compile": {"mode": config.compile_mode or "default", "freezing": config.freezing, "dynamic": False}}
        return finish_forward(fn, module, config, device, to_inputs, example_inputs, info)

    def setting_defaults(self, cpu: bool) -> dict[str, Any]:
        # on CPU, freezing folds weights (and their bf16 casts) into constants; autocast keeps fp32 weights
        return {"freezing": True, "precision": "autocast"} if cpu else {}

    def auto_configs(self, ctx: AutoContext) -> list[BackendConfig]:
        low, vision = ctx.low_dtype, ctx.vision
        if ctx.cuda:
            return [BackendConfig("compile", low, channels_last=vision, compile_mode="max-autotune")] if low else []
        cands = [BackendConfig("compile", "fp32", channels_last=vision, freezing=True)]
        if low:
            cands.append(BackendConfig("compile", low, precision="autocast", channels_last=vision, freezing=True))
        return cands
