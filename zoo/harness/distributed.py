"""Sharded evaluation under ``torchrun``: every sample is seen by exactly one process, counts are summed.

    torchrun --nproc_per_node 2 -m zoo eval resnet50 --data /imagenet/val

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; ``init()`` joins the process group (gloo on CPU, nccl when the
device is CUDA). Sharding is strided (``indices[rank::world]``) with no padding: torch's DistributedSampler
pads the last shard with repeated samples, which would count some images twice. Integer counts are summed
with ``all_reduce`` (int64, exact); per-sample outputs (predictions, detections) are gathered to rank 0, which
alone prints and writes files.
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


def shard(items: Sequence[Any], info: DistInfo) -> list[Any]:
    """This process's share: every ``world_size``-th item starting at ``rank``; shares are disjoint and
    cover ``items`` exactly (sizes differ by at most one)."""
    return list(items[info.rank :: info.world_size])


def sum_counts(counts: dict[str, int], info: DistInfo) -> dict[str, int]:
    """Sum integer counts over all processes (exact: int64 all_reduce)."""
    if not info.enabled:
        return dict(counts)
    import torch.distributed as dist

    keys = sorted(counts)
    device = f"cuda:{info.local_rank}" if info.backend == "nccl" else "cpu"
    t = torch.tensor([int(counts[k]) for k in keys], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return dict(zip(keys, t.cpu().tolist()))


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


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
