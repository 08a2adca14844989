from __future__ import annotations

import math

import pytest
import torch
from helpers.methods import B, batch_for, build, train_losses

from vssl.errors import InputError
from vssl.methods.byol import target_tau


def test_cosine_tau_schedule():
    assert target_tau(0, 100, 0.996) == pytest.approx(0.996)
    assert target_tau(50, 100, 0.996) == pytest.approx(1 - 0.004 / 2)
    assert target_tau(100, 100, 0.996) == pytest.approx(1.0)
    assert target_tau(25, 100, 0.99) == pytest.approx(1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2)
    assert target_tau(50, None, 0.996) == 0.996 and target_tau(50, 100, 0.9, "constant") == 0.9


def test_heads_target_and_ema_step():
    from vssl.methods import BYOL
    from vssl.models import build_backbone

    bb = build_backbone("tiny")
    full = BYOL(bb, bb.feat_dim, BYOL.Config(crop=24))
    assert (full.projector.in_dim, full.projector.hidden, full.projector.out_dim) == (64, 4096, 256)
    assert (full.predictor.in_dim, full.predictor.hidden, full.predictor.out_dim) == (256, 4096, 256)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in full.predictor.modules())
    m = build("byol")
    assert not any(p.requires_grad for p in m.target_backbone.parameters())
    assert not any(p.requires_grad for p in m.target_projector.parameters())
    m.set_total_steps(10)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    before = [p.clone() for p in m.target_backbone.parameters()]
    out = m.training_step(batch_for(m))
    out.loss.backward()
    opt.step()
    m.after_step(5)  # tau = 1 - 0.004 * (cos(pi / 2) + 1) / 2 = 0.998
    online = list(m.backbone.parameters())[0]
    torch.testing.assert_close(list(m.target_backbone.parameters())[0], 0.998 * before[0] + 0.002 * online,
                               atol=1e-6, rtol=0)


def test_loss_is_normalized_mse_over_ordered_pairs_and_target_gets_no_gradient():
    m = build("byol", clips=3)
    batch = batch_for(m)
    assert batch["clips"].shape[1] == 3
    xs = [torch.randn(B, 3, 4, 24, 24) for _ in range(3)]
    m.augment.forward = lambda clips: xs
    out = m.training_step(batch)
    with torch.no_grad():
        q = [m.predictor(m.projector(m.backbone(x))) for x in xs]
        k = [m.target_projector(m.target_backbone(x)) for x in xs]
        cos = [torch.nn.functional.cosine_similarity(q[i], k[j]).mean() for i in range(3) for j in range(3) if i != j]
    torch.testing.assert_close(out.loss.detach(), 2 - 2 * sum(cos) / 6)
    out.loss.backward()
    assert all(p.grad is None for p in m.target_backbone.parameters())
    assert {"emb_std", "emb_rank", "rep_std", "rep_rank"} <= set(out.logs)


def test_recipe_and_engine_pass_total_steps():
    from vssl import dist as D
    from vssl.train.config import resolve_config
    from vssl.train.engine import build_engine, build_method
    from vssl.train.optim import LARS

    cfg = resolve_config("byol", overrides={"backbone": "tiny", "byol.crop": 24, "byol.hidden_dim": 32,
                                            "byol.pred_hidden_dim": 32, "byol.proj_dim": 16})
    o = cfg.optim
    assert (o.optimizer, o.lr, o.lr_scaling, o.base_batch, o.weight_decay, o.lars_eta, o.exclude_norm_bias) == (
        "lars", 0.6, "linear", 64, 1e-6, 0.001, True)
    m = build_method(cfg)
    eng = build_engine(cfg, m, torch.device("cpu"), D.DistInfo(), total_steps=40, warmup_steps=0)
    assert isinstance(eng.optimizer, LARS) and m.total_steps == 40
    nb = [g for g in eng.optimizer.param_groups if g["name"] == "norm_bias"][0]
    assert nb["weight_decay"] == 0.0 and nb["lars_exclude"]


def test_bad_settings_are_one_line_errors():
    from vssl.train.config import resolve_config

    for key, value, msg in [("tau_base", 1.5, "byol tau_base must be in"), ("clips", 1, "byol clips must be"),
                            ("tau_schedule", "linear", "'byol.tau_schedule' must be one of cosine, constant, got 'linear'")]:
        with pytest.raises(InputError, match=msg) as e:
            resolve_config("byol", overrides={f"byol.{key}": value})
        assert "\n" not in str(e.value)


def test_loss_falls():
    m = build("byol")
    m.set_total_steps(12)
    losses = train_losses(m, 12, lr=0.5, optimizer="lars", exclude_norm_bias=True)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
