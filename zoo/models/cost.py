"""Measured cost of every registered model: parameters and FLOPs per sample -> zoo/models/cost.json.

    python -m zoo.models.cost              # every registered model (random init)
    python -m zoo.models.cost resnet50 'timm/*'   # only these; other entries are kept

Params: every parameter of the built model (``sum(p.numel())``), buffers excluded.
FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` over ``model(example_batch(1).inputs)`` in eval mode,
i.e. FLOPs = 2 x MACs for the ops torch counts (convolutions, matmuls, attention; ``flop_counter`` adds
attention's CPU kernel, which torch leaves out); element-wise ops,
pooling, normalization, NMS and RoI pooling are not counted. One sample, at the model's own example
input (for detectors with variable input size: zoo/data/images/bus.jpg after their resize).
The registry merges ``params`` and ``flops`` into each spec. The file is sorted and carries no dates,
so regenerating on another machine gives the same bytes for the same library versions.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import sys
from importlib.metadata import version
from pathlib import Path


from ..io import atomic_write_text
from ..registry import create_model, list_models
from . import COST_FILE


def _shape(x):
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # a tensor
        return list(x.shape)
    if isinstance(x, dict):
        return {k: _shape(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_shape(v) for v in x]
    return type(x).__name__


def flop_counter():
    """torch's ``FlopCounterMode`` (no display), with a formula for the ops it counts as 0 that do
    multiply-adds: ``scaled_dot_product_attention``'s CPU kernel (``_scaled_dot_product_flash_attention_for_cpu``,
    what BERT-style models run on a CPU) gets torch's own attention count (the two batched matmuls,
    ``sdpa_flop_count``), as its GPU kernels do. Without it BERT-base at 128 tokens counted 2.7 % fewer FLOPs
    than it does, and every attention model's "% of peak" read low."""
    import torch  # deferred: see count_flops
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return FlopCounterMode(display=False, custom_mapping={cpu_sdpa: sdpa} if cpu_sdpa is not None else None)


def count_flops(model, inputs) -> int:
    """FLOPs (2 x MACs) of one ``model(inputs)`` call, as ``flop_counter`` counts them."""
    import torch  # deferred: importing this module (derived specs, zoo list) must not load torch

    counter = flop_counter()
    with torch.inference_mode(), counter:
        model(inputs)
    return int(counter.get_total_flops())


def measure(name: str) -> dict:
    """{"params", "flops", "input"} for one model, built without weights."""
    import torch  # deferred: see count_flops

    torch.manual_seed(0)
    model = create_model(name, pretrained=False)
    batch = model.example_batch(1)
    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model, batch.inputs)
    return {"params": int(params), "flops": flops, "input": _shape(batch.inputs)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.models.cost", description=__doc__.split("\n")[0])
    p.add_argument("patterns", nargs="*", help="names or wildcards; default: every registered model")
    p.add_argument("--out", type=Path, default=COST_FILE)
    args = p.parse_args(argv)

    names = list_models()
    if args.patterns:
        names = [n for n in names if any(fnmatch.fnmatch(n, pat) for pat in args.patterns)]
        if not names:
            print(f"no registered model matches {args.patterns}", file=sys.stderr)
            return 2
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    meta = old.pop("_meta", {})
    failed = {k: v for k, v in meta.get("failed", {}).items() if k not in names and k in list_models()}
    costs = {k: v for k, v in old.items() if k in list_models()}  # drop models no longer registered
    for name in names:
        try:
            costs[name] = measure(name)
            failed.pop(name, None)
            print(f"{name:40s} params {costs[name]['params']:>13,}  FLOPs {costs[name]['flops']:>17,}", flush=True)
        except Exception as e:  # record and go on: one broken model must not block the table
            costs.pop(name, None)
            failed[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            print(f"{name:40s} FAILED {failed[name]}", file=sys.stderr, flush=True)
        gc.collect()
    out = dict(sorted(costs.items()))
    out["_meta"] = {
        "generated_by": "python -m zoo.models.cost",
        "flops": "FLOPs per sample = 2 x MACs, torch.utils.flop_counter.FlopCounterMode, eval mode, "
                 "example_batch(1); params = sum of parameter numel",
        "torch": version("torch").split("+")[0],
        "failed": dict(sorted(failed.items())),
    }
    atomic_write_text(args.out, json.dumps(out, indent=1, sort_keys=False) + "\n")  # a crash leaves the old file whole
    print(f"wrote {args.out} ({len(costs)} models, {len(failed)} failed)")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
