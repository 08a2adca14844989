"""Data-parallel helpers: process group set-up from torchrun's environment, gathers.

Launch with ``torchrun --nproc-per-node N -m vssl.cli.main pretrain ...`` (or
``torchrun $(which vssl) pretrain ...``): torchrun sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. Backend nccl on CUDA, gloo
on CPU. Without those variables everything here is a no-op for one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world_size``, GPU ``local_rank``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """Rank and world size from torchrun's environment variables (one process without them)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    local = int(os.environ.get("LOCAL_RANK", str(rank)) or 0)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group described by the environment (nccl on CUDA, gloo on CPU)."""
    info = env_dist_info()
    if info.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


@torch.no_grad()
def gather_nograd(x: Tensor) -> Tensor:
    """Concatenate ``x`` ``(B, ...)`` of every rank along dim 0, rank order; no gradient.

    All ranks must pass the same shape. One process: ``x`` itself.
    """
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward all-reduces (sums) the incoming gradients and keeps this
    rank's slice: with DDP's gradient averaging that gives the exact gradient of a
    loss every rank computes over the whole gathered batch."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ws = dist.get_world_size()
        parts = [torch.empty_like(x) for _ in range(ws)]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` of every rank along dim 0, differentiable (see :class:`_GatherWithGrad`).

    One process: ``x`` itself. Used by SimCLR so negatives span the global batch.
    """
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of a tensor over ranks (a copy); one process: ``x``."""
    if not is_distributed():
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / dist.get_world_size()


def barrier() -> None:
    if is_distributed():
        dist.barrier()
