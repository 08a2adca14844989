"""Supervised contrastive finetuning (``vssl eval finetune --loss supcon|kcl|tsc``).

The MoCo-style setup of the KCL / TSC reference code (LTH14/targeted-supcon ``moco/builder.py``,
RECIPES.md "Long-tailed supervised contrastive"): the query encoder (the finetuned backbone + an
MLP projection ``feat -> feat -> 128``), its EMA copy (m 0.999) for the keys of a second augmented
view, a queue of keys *with their labels* (65 536; filled with random keys of label -1 at the
start, as the reference), temperature 0.07 and :func:`vssl.losses.supervised_contrastive.supervised_contrastive`:
SupCon (every same-class queue key a positive), KCL (``k`` = 6 of them) or TSC (KCL plus class
targets spread uniformly on the sphere, assigned to the classes every step by the Hungarian
algorithm on EMA class centroids of the queries, weight 0.2).

The reference's second stage (a linear classifier with cross-entropy on the frozen encoder) runs
here *alongside* the first: the finetune's linear head is trained with cross-entropy on the
backbone features detached from the graph, so the backbone learns from the contrastive loss only
and ``vssl eval finetune`` tests the head as usual (docs/fidelity.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.losses.supervised_contrastive import assign_targets, supervised_contrastive, uniform_targets
from vssl.models import copy_to_momentum, momentum_update

LOSSES = ("ce", "supcon", "kcl", "tsc")


class ContrastiveFinetune(nn.Module):
    """A finetune ``Classifier`` with the contrastive machinery around it; ``forward`` = the classifier's logits.

    Args:
        classifier: backbone -> dropout -> head (:class:`vssl.eval.finetune.Classifier`).
        num_classes: C.
        loss: ``supcon``, ``kcl`` or ``tsc``.
        queue_size, k_positives, target_weight, temperature, momentum, proj_dim: see the module docstring.
        seed: the random initial queue and centroids, TSC's targets.
        target_steps: Adam steps of the target generation (reference 10 000; fewer in tests).
    """

    def __init__(self, classifier: nn.Module, num_classes: int, *, loss: str, queue_size: int = 65536,
                 k_positives: int = 6, target_weight: float = 0.2, temperature: float = 0.07, momentum: float = 0.999,
                 proj_dim: int = 128, seed: int = 0, target_steps: int = 10_000):
        super().__init__()
        if loss not in LOSSES[1:]:
            raise ValueError(f"contrastive loss must be one of {', '.join(LOSSES[1:])}, got {loss!r}")
        self.classifier = classifier
        feat = classifier.backbone.feat_dim
        self.projector = nn.Sequential(nn.Linear(feat, feat), nn.ReLU(inplace=True), nn.Linear(feat, proj_dim))
        self.key_backbone = copy_to_momentum(classifier.backbone)
        self.key_projector = copy_to_momentum(self.projector)
        self.loss_name, self.k_positives = loss, (0 if loss == "supcon" else int(k_positives))
        self.target_weight, self.temperature, self.momentum = target_weight, temperature, momentum
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, proj_dim, generator=g), dim=1))
        self.register_buffer("queue_labels", torch.full((queue_size,), -1, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        if loss == "tsc":
            self.register_buffer("targets", uniform_targets(num_classes, proj_dim, steps=target_steps, seed=seed))
            self.register_buffer("centroids", F.normalize(torch.randn(num_classes, proj_dim, generator=g), dim=1))
        else:
            self.targets = self.centroids = None
        self._pending: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x)

    @torch.no_grad()
    def _update_centroids(self, q: Tensor, y: Tensor) -> None:
        """TSC: ``c <- normalise(0.9 c + 0.1 normalise(mean of the batch's queries of the class))``."""
        for c in torch.unique(y).tolist():
            mean = F.normalize(q[y == c].mean(0), dim=0)
            self.centroids[c] = F.normalize(0.9 * self.centroids[c] + 0.1 * mean, dim=0)

    def loss(self, x_q: Tensor, x_k: Tensor, y: Tensor, generator: torch.Generator | None = None
             ) -> tuple[Tensor, dict[str, float]]:
        """Contrastive loss of the queries ``x_q`` (keys from ``x_k``) plus the head's cross-entropy on
        detached features; the keys wait for :meth:`after_step` to enter the queue."""
        cls = self.classifier
        h = cls.backbone(x_q)
        q = F.normalize(self.projector(h).float(), dim=1)
        with torch.no_grad():
            k = F.normalize(self.key_projector(self.key_backbone(x_k)).float(), dim=1)
        assign = None
        if self.targets is not None:
            self._update_centroids(q.detach(), y)
            assign = assign_targets(self.centroids, self.targets)
        con, l_class, l_target = supervised_contrastive(
            q, k, self.queue.clone(), self.queue_labels.clone(), y, temperature=self.temperature,
            k_positives=self.k_positives, targets=self.targets, target_of_class=assign,
            target_weight=self.target_weight, generator=generator)
        ce = F.cross_entropy(cls.head(cls.dropout(h.detach())).float(), y)
        self._pending = (k.detach(), y.detach())
        logs = {"contrastive": con.item(), "class": l_class.item(), "target": float(l_target.detach()), "head_ce": ce.item()}
        return con + ce, logs

    @torch.no_grad()
    def after_step(self) -> None:
        """EMA step of the key encoder (the reference does it before the keys: the same sequence of
        states), then the last keys and their labels replace the oldest queue entries."""
        momentum_update(self.classifier.backbone, self.key_backbone, self.momentum, copy_buffers=False)
        momentum_update(self.projector, self.key_projector, self.momentum, copy_buffers=False)
        if self._pending is None:
            return
        k, y = self._pending
        n, size = k.shape[0], self.queue.shape[0]
        idx = (int(self.queue_ptr) + torch.arange(n, device=k.device)) % size
        self.queue[idx] = k.to(self.queue.dtype)
        self.queue_labels[idx] = y
        self.queue_ptr.fill_((int(self.queue_ptr) + n) % size)
        self._pending = None
