"""Processes under ``torchrun``: one place joins the process group (``init``) for training and evaluation.

Training (zoo.harness.train): ``data_parallel`` wraps the step in DistributedDataParallel; ``reduce_floats``
sums the loss over processes and shares the slowest process's clock.

Sharded evaluation (zoo.harness.eval.runner): ``eval_sampler`` is torch's DistributedSampler in data order;
each process predicts its share and ``gather`` (``gather_object``) brings every (index, prediction) to rank 0,
which drops the repeats DistributedSampler pads the last round with (by index), scores and alone prints
and writes files.

    torchrun --nproc_per_node 2 -m zoo eval resnet50 --data /imagenet/val

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; ``init()`` joins the process group (gloo on CPU, nccl when the
device is CUDA).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> DistInfo:
    """The torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK), or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return DistInfo(rank, world, int(os.environ.get("LOCAL_RANK", "0")))


def init(device: str = "cpu") -> DistInfo:
    """Join the process group when launched by torchrun (gloo for CPU, nccl for CUDA); no-op otherwise."""
    info = from_env()
    if not info.enabled:
        return info
    import torch.distributed as dist

    backend = "nccl" if str(device).startswith("cuda") else "gloo"
    if not dist.is_initialized():
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return DistInfo(info.rank, info.world_size, info.local_rank, backend)


def local_device(device: str, info: DistInfo) -> str:
    """``cuda`` under torchrun means this process's GPU (cuda:LOCAL_RANK)."""
    if info.enabled and device == "cuda":
        return f"cuda:{info.local_rank}"
    return device


def eval_sampler(dataset, info: DistInfo):
    """This process's share of ``dataset`` for evaluation (None for one process): torch's DistributedSampler,
    unshuffled, so process r takes items r, r + W, ... It pads the last round with repeated items so every
    process runs the same number of batches; the evaluation drops them by index after ``gather``."""
    if not info.enabled:
        return None
    from torch.utils.data import DistributedSampler

    return DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=False, drop_last=False)


def max_value(x: float, info: DistInfo) -> float:
    """The largest ``x`` over all processes (wall time of the slowest shard)."""
    if not info.enabled:
        return x
    out = gather(x, info)
    return max(out) if out is not None else x


def gather(obj: Any, info: DistInfo) -> list[Any] | None:
    """Every process's ``obj`` on rank 0 (in rank order); None on the other ranks."""
    if not info.enabled:
        return [obj]
    import torch.distributed as dist

    out = [None] * info.world_size if info.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not info.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def reduce_floats(values: Sequence[float], info: DistInfo, op: str = "sum") -> list[float]:
    """Elementwise sum (or ``op="max"``) of float64 ``values`` over all processes, on every process."""
    if not info.enabled:
        return [float(v) for v in values]
    import torch.distributed as dist

    device = f"cuda:{info.local_rank}" if info.backend == "nccl" else "cpu"
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t.cpu().tolist()


def data_parallel(module: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """``module`` under DistributedDataParallel when running under torchrun (itself otherwise): rank 0's
    parameters and buffers are broadcast now, and gradients are averaged over the processes during backward.
    ``static_graph``: every step uses the same parameters, and DDP finds once those a model leaves out of
    its graph (a QA model's pooler), without ``find_unused_parameters``' search at every step."""
    if not info.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, static_graph=True)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
