"""Heads and MoCo machinery: projection MLP, momentum (EMA) encoder, queue of negatives."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLPHead(nn.Module):
    """Projection head ``Linear -> [BatchNorm1d] -> ReLU -> Linear``, ``(B, in_dim) -> (B, out_dim)``.

    MoCo v2 (Chen et al. 2020, https://arxiv.org/abs/2003.04297) uses no batch
    norm: ``MLPHead(feat_dim, feat_dim, 128)``. SimCLR adds it
    (``batch_norm=True``).
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, *, batch_norm: bool = False) -> None:
        super().__init__()
        if min(in_dim, hidden, out_dim) < 1:
            raise ValueError(f"dimensions must be >= 1, got {in_dim}, {hidden}, {out_dim}")
        self.in_dim, self.hidden, self.out_dim = in_dim, hidden, out_dim
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers += [nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def copy_to_momentum(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with every parameter frozen (``requires_grad=False``).

    The copy keeps the original's train / eval mode: MoCo runs its key
    encoder in train mode (batch-norm statistics of the key batch).
    """
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, m: float, *, copy_buffers: bool = True) -> None:
    """EMA step ``target <- m * target + (1 - m) * online`` for every parameter, in place.

    Args:
        online: the trained (query) encoder.
        target: the momentum (key) encoder, same architecture (parameters are
            matched in order, so a DDP / compile wrapper around one is fine).
        m: momentum in [0, 1]; 0 copies ``online``, 1 leaves ``target`` as is
            (MoCo: 0.999).
        copy_buffers: also copy buffers (batch-norm running statistics) from
            ``online``. MoCo's reference code leaves the key encoder's own
            buffers alone (``copy_buffers=False``); in train mode batch norm
            uses batch statistics, so only eval-mode use of ``target`` differs.

    Raises:
        ValueError: ``m`` outside [0, 1] or the two modules differ in shape.
    """
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {m}")
    pairs = [(list(online.parameters()), list(target.parameters()))]
    if copy_buffers:
        pairs.append((list(online.buffers()), list(target.buffers())))
    for i, (src, dst) in enumerate(pairs):
        if len(src) != len(dst) or any(s.shape != d.shape for s, d in zip(src, dst)):
            kind = "parameters" if i == 0 else "buffers"
            raise ValueError(f"online and target {kind} differ in number or shape")
    for p_online, p_target in zip(*pairs[0]):
        p_target.lerp_(p_online.detach().to(p_target.dtype), 1.0 - m)  # m*t + (1-m)*o
    if copy_buffers:
        for b_online, b_target in zip(*pairs[1]):
            b_target.copy_(b_online)


class Queue(nn.Module):
    """FIFO of the last ``size`` L2-normalised keys, the MoCo dictionary of negatives.

    State lives in buffers, so it is saved in and restored from a state dict:
    ``queue`` ``(size, dim)`` float32 (starts as random unit vectors, as in
    MoCo) and ``num_enqueued`` (int64 scalar, keys seen so far). Key number
    ``n`` of the stream sits in row ``n % size``. No all-gather is done here:
    gather keys across processes before :meth:`enqueue`.

    Args:
        size: number of keys K (RECIPES: 65 536 for Kinetics-400, 2 048 for UCF101).
        dim: key dimension D (128 in MoCo v2, BE, DSM, FAME).
    """

    queue: Tensor
    num_enqueued: Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"size and dim must be >= 1, got {size}, {dim}")
        self.size, self.dim = size, dim
        self.register_buffer("queue", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("num_enqueued", torch.zeros((), dtype=torch.long))

    @property
    def ptr(self) -> int:
        """Row the next key goes to (syncs with the device; for logging and tests)."""
        return int(self.num_enqueued) % self.size

    @property
    def negatives(self) -> Tensor:
        """A detached copy of the queue, ``(size, dim)``.

        A copy, so that a later :meth:`enqueue` does not change a tensor that
        autograd saved for the backward pass.
        """
        return self.queue.detach().clone()

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Add ``keys`` ``(B, dim)`` (detached, L2-normalised here), dropping the oldest.

        Wraps around the end of the buffer; with ``B > size`` only the last
        ``size`` keys are kept. No host-device synchronisation.
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must be (B, {self.dim}), got {tuple(keys.shape)}")
        batch = keys.shape[0]
        if batch == 0:
            return
        kept = keys[-self.size :].detach()
        first = self.num_enqueued + (batch - kept.shape[0])  # stream index of kept[0]
        rows = (first + torch.arange(kept.shape[0], device=self.queue.device)) % self.size
        self.queue.index_copy_(0, rows, F.normalize(kept.to(self.queue), dim=1))
        self.num_enqueued += batch
