"""Helpers of the method tests: tiny method configs and synthetic batches (no cache, CPU)."""

from __future__ import annotations

import torch

TINY_PARAMS = {
    "moco": {"crop": 24, "queue_size": 16},
    "simclr": {"crop": 24},
    "dsm": {"crop": 24, "queue_size": 16},
    "be": {"crop": 24, "queue_size": 16},
    "fame": {"crop": 24, "queue_size": 16},
    "supervised": {"crop": 24, "num_classes": 3},
    "cmd": {"crop": 24, "mv_encoder": "tiny", "mv_len": 4, "mv_size": 8, "predictor_dim": 32, "mv_negatives": 2},
    "simsiam": {"crop": 24, "proj_dim": 32, "pred_dim": 8},
    "byol": {"crop": 24, "proj_dim": 16, "hidden_dim": 32, "pred_hidden_dim": 32},
    "barlow": {"crop": 24, "proj_dim": 32, "hidden_dim": 32},
    "vicreg": {"crop": 24, "proj_dim": 32, "hidden_dim": 32},
    "directclr": {"crop": 24, "dim": 16},
    "videomae": {"crop": 32},
    "mgm": {"crop": 32},
    "vcop": {"crop": 24, "gap": 1, "hidden_dim": 16},
    "pace": {"crop": 24, "proj_dim": 16},
    "rotnet3d": {"crop": 24},
    "cubic_puzzle": {"crop": 24, "jitter": 2, "hidden_dim": 16},
    "ascnet": {"crop": 24, "proj_dim": 16, "hidden_dim": 32, "pred_hidden_dim": 16, "bank_size": 16},
    "corp": {"crop": 24, "proj_dim": 16, "heads": 2, "head_dim": 4, "mlp_hidden": 8},
    "tec": {"crop": 24, "trans_dim": 16, "hidden_dim": 32},
    "lsfd": {"crop": 24, "dim": 8},
    "mcn": {"crop": 24, "proj_dim": 16, "bin_hidden": 8, "meta_params": "heads"},
}
TINY_BACKBONE = {"videomae": "vit_tiny", "mgm": "vit_tiny"}  # masked modelling runs on a ViT; the others on "tiny"
B, T, SIZE = 4, 4, (32, 40)


def build(name: str, seed: int = 0, **params):
    from vssl.methods import METHODS
    from vssl.models import build_backbone

    torch.manual_seed(seed)
    cls = METHODS[name]
    backbone = build_backbone(TINY_BACKBONE.get(name, "tiny"))
    return cls(backbone, backbone.feat_dim, cls.Config(**{**TINY_PARAMS[name], **params}))


def batch_for(method, seed: int = 0, batch_size: int = B) -> dict:
    from vssl.data.dataset import synthetic_batch

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
