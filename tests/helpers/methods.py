"""Helpers of the method tests: tiny method configs and synthetic batches (no cache, CPU)."""

from __future__ import annotations

from dataclasses import replace

import torch

# Tiny settings: each method's ``Config.tiny()`` (its file), the backbone of the ``demo`` preset (``tiny``, or
# ``vit_tiny`` for the masked-modelling methods).
EXTRA = {"supervised": {"num_classes": 3}}  # the synthetic batches have 3 classes


def tiny_backbone(name: str) -> str:
    from vssl.train.presets import pretrain_overrides

    return pretrain_overrides("demo", name).get("backbone", "tiny")


B, T, SIZE = 4, 4, (32, 40)


def build(name: str, seed: int = 0, **params):
    from vssl.methods import METHODS
    from vssl.models import build_backbone

    torch.manual_seed(seed)
    cls = METHODS[name]
    backbone = build_backbone(tiny_backbone(name))
    return cls(backbone, backbone.feat_dim, replace(cls.Config.tiny(), **{**EXTRA.get(name, {}), **params}))


def batch_for(method, seed: int = 0, batch_size: int = B) -> dict:
    from vssl.data.synthetic import synthetic_batch

    return synthetic_batch(method.requires, batch_size, T, SIZE, seed=seed)


def train_losses(method, steps: int, lr: float, *, optimizer: str = "sgd", batch_size: int = 8, batch: dict | None = None,
                 **kw) -> list[float]:
    """Losses of ``steps`` optimiser steps of ``method`` on one fixed synthetic batch (the
    augmentation seeded per step), through the optimiser registry."""
    from vssl.train.optim import build_optimizer, param_groups

    opt = build_optimizer(optimizer, param_groups(method, weight_decay=0.0, fixed_lr=getattr(method, "fixed_lr", None),
                                                  **kw), lr=lr)
    batch = batch_for(method, seed=0, batch_size=batch_size) if batch is None else batch
    out = []
    for step in range(steps):
        torch.manual_seed(step)
        loss = method.training_step(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if hasattr(method, "after_step"):
            method.after_step(step)
        out.append(float(loss.detach()))
    return out
