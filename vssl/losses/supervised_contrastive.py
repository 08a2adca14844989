"""Supervised contrastive losses with a queue of labelled keys: SupCon, KCL (k positives) and TSC
(targeted: KCL plus class targets spread uniformly on the sphere).

One formula covers the three, as in the reference code of TSC (Li et al., CVPR 2022,
LTH14/targeted-supcon ``moco/builder.py`` ``KCL``; KCL: Kang et al., ICLR 2021): each query ``q_i``
is scored against its augmentation key ``k_i``, every queue key and (TSC) every target, all at
temperature ``tau``; ``log p_ij`` is the log-softmax over that row. Its positives are ``k_i``, the
queue keys of its class (all of them: SupCon; ``k`` of them drawn without replacement: KCL, fewer
when the queue holds fewer) and (TSC) the target assigned to its class. With ``P_i`` the number of
positives,

    L_class = -1/B sum_i (log p_i,aug + sum_{queue positives j} log p_ij) / P_i
    L_target = -1/B sum_i log p_i,target(y_i) / P_i          (TSC only, times ``target_weight``)

(the reference's ``--sep_t``: targets are positives of their class only, and the target term is
weighted by ``--tw``). Queue entries with label -1 (not filled yet) are negatives only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_positives(mask: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """``k`` entries per row of a boolean ``mask`` ``(B, K)``, uniformly without replacement (all of
    them where a row has ``k`` or fewer; every one when ``k == 0``). Returns a boolean ``(B, K)``."""
    if k <= 0:
        return mask.clone()
    r = torch.rand(mask.shape, generator=generator, device=generator.device if generator else "cpu").to(mask.device)
    r = r.masked_fill(~mask, float("inf"))
    kth = r.topk(min(k, mask.shape[1]), dim=1, largest=False).values[:, -1:]
    return mask & (r <= kth)


def supervised_contrastive(
    q: Tensor,
    k: Tensor,
    queue: Tensor,
    queue_labels: Tensor,
    labels: Tensor,
    *,
    temperature: float,
    k_positives: int = 0,
    targets: Tensor | None = None,
    target_of_class: Tensor | None = None,
    target_weight: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """SupCon / KCL / TSC loss of a batch (see the module docstring).

    Args:
        q: queries ``(B, D)``, L2-normalised, with gradient.
        k: augmentation keys ``(B, D)``, L2-normalised (no gradient needed).
        queue: keys ``(K, D)``, L2-normalised; ``queue_labels`` ``(K,)`` int64, -1 = no label.
        labels: ``(B,)`` int64 classes of the queries.
        temperature: tau > 0 (reference 0.07).
        k_positives: 0 = every same-class queue key is a positive (SupCon); k > 0 = KCL's k.
        targets: TSC's class targets ``(C, D)`` (L2-normalised), extra keys of every row; None = no targets.
        target_of_class: ``(C,)`` int64: the row of ``targets`` assigned to each class.
        target_weight: lambda of the target term (reference README: 0.2).
        generator: draws KCL's positives.

    Returns:
        ``(loss, loss_class, loss_target)`` scalars (``loss_target`` 0 without targets).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T] + ([q @ targets.T] if targets is not None else []),
                       dim=1) / temperature
    log_p = F.log_softmax(logits.float(), dim=1)
    n_q = queue.shape[0]
    pos = sample_positives(labels.view(-1, 1) == queue_labels.view(1, -1), k_positives, generator)
    n_pos = 1 + pos.sum(1).float()
    class_sum = log_p[:, 0] + (log_p[:, 1:1 + n_q] * pos).sum(1)
    loss_target = log_p.new_zeros(())
    if targets is not None:
        if target_of_class is None:
            raise ValueError("targets need target_of_class (the assignment of targets to classes)")
        n_pos = n_pos + 1
        t_col = 1 + n_q + target_of_class[labels]
        loss_target = -(log_p.gather(1, t_col.view(-1, 1)).squeeze(1) / n_pos).mean() * target_weight
    loss_class = -(class_sum / n_pos).mean()
    return loss_class + loss_target, loss_class, loss_target


def uniform_targets(n: int, dim: int, *, steps: int = 10_000, lr: float = 1e-3, temperature: float = 0.07,
                    seed: int = 0) -> Tensor:
    """TSC's class targets: ``n`` points on the unit sphere of ``R^dim`` spread by minimising the
    uniformity loss ``1/n sum_i log sum_j exp(t_i . t_j / tau)`` with Adam (reference
    ``target_generation.py``: tau 0.07, lr 1e-3, 10 000 steps, the best iterate kept).
    Returns ``(n, dim)`` L2-normalised float32 (CPU)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g).requires_grad_()
    opt = torch.optim.Adam([x], lr=lr)
    best, best_loss = F.normalize(x.detach(), dim=1), float("inf")
    for _ in range(steps):
        t = F.normalize(x, dim=1)
        loss = (t @ t.T / temperature).exp().sum(1).log().mean()
        if loss.item() < best_loss:
            best_loss, best = loss.item(), t.detach().clone()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return best


def assign_targets(centroids: Tensor, targets: Tensor) -> Tensor:
    """The target of each class: the assignment maximising the summed cosine between class
    centroids ``(C, D)`` and targets ``(C, D)`` (Hungarian algorithm, scipy's
    ``linear_sum_assignment`` as the reference). Returns ``(C,)`` int64 target rows."""
    from scipy.optimize import linear_sum_assignment

    sim = (centroids.float() @ targets.float().T).detach().cpu().numpy()
    rows, cols = linear_sum_assignment(-sim)
    out = torch.empty(len(rows), dtype=torch.long)
    out[torch.as_tensor(rows)] = torch.as_tensor(cols)
    return out.to(centroids.device)
