"""The pieces of multi-process training (`torchrun`) that the loop needs.

torchrun starts one process per GPU (or per CPU slot) and sets WORLD_SIZE, RANK and LOCAL_RANK in
each. `fit` wraps the model in DistributedDataParallel when a process group exists: every rank
trains on its own shard of the data and gradients are averaged after each backward pass.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["dist_backend", "dist_info", "replica_difference", "sum_over_ranks", "wrap_ddp"]


def dist_backend(device: torch.device | str) -> str:
    """The torch.distributed backend for `device`: NCCL between CUDA GPUs, gloo on CPUs."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def dist_info() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sum_over_ranks(values: list[float], device: torch.device) -> list[float]:
    """Sum `values` over all ranks (identity on one process)."""
    if dist_info()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def check_same_steps(steps: int, device: torch.device) -> None:
    """Every rank must take the same number of steps per epoch, or DDP waits forever."""
    if dist_info()[1] == 1:
        return
    lo_hi = torch.tensor([-steps, steps], device=device)
    dist.all_reduce(lo_hi, op=dist.ReduceOp.MAX)
    if -lo_hi[0] != lo_hi[1]:
        raise ValueError(
            f"the ranks' training loaders have from {-int(lo_hi[0])} to {int(lo_hi[1])} "
            "batches per epoch; every rank needs the same number (shard the data evenly)"
        )


def wrap_ddp(model: nn.Module, device: torch.device, sync_bn: bool) -> nn.Module:
    """`model` wrapped in DistributedDataParallel (the caller keeps the plain module).

    sync_bn=True replaces every BatchNorm layer of `model` (in place) by SyncBatchNorm, which
    computes the batch statistics over the global batch (all ranks) instead of each rank's own
    slice: it matters when the per-GPU batch is small (say under 32 images), where per-rank
    statistics are noisy, and it costs one all-reduce per BN layer per step. SyncBatchNorm runs
    on CUDA only. With sync_bn=False each rank normalises with its own batch's statistics and
    keeps its own running averages; the saved model is rank 0's (the weights are identical on
    every rank, the BN running statistics are rank 0's), which is what the BN-Inception paper's
    multi-GPU training did as well.
    """
    if sync_bn:
        if device.type != "cuda":
            raise ValueError(
                f"sync_bn=True needs CUDA GPUs (SyncBatchNorm is CUDA-only); this run is on "
                f"{device.type}: use sync_bn=False (per-rank batch statistics)"
            )
        nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def replica_difference(model: nn.Module, device: torch.device) -> float:
    """Largest difference of any parameter between ranks (0.0 when DDP kept them in sync)."""
    flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()]).to(device)
    hi, lo = flat.clone(), flat.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    return float((hi - lo).max())
