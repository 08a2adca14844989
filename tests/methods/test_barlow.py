from __future__ import annotations

import pytest
import torch
from helpers.methods import B, batch_for, build, train_losses

from vssl.errors import InputError
from vssl.losses import cross_correlation_loss


def test_projector_follows_the_reference():
    from vssl.methods import BarlowTwins
    from vssl.models import build_backbone

    bb = build_backbone("tiny")
    m = BarlowTwins(bb, bb.feat_dim, BarlowTwins.Config(crop=24))
    lin = [x for x in m.projector if isinstance(x, torch.nn.Linear)]
    assert [(x.in_features, x.out_features, x.bias is not None) for x in lin] == [
        (64, 8192, False), (8192, 8192, False), (8192, 8192, False)]
    assert sum(isinstance(x, torch.nn.BatchNorm1d) for x in m.projector) == 2
    assert m.cfg.lambd == 0.0051 and m.cfg.augment == "byol"


def test_loss_is_the_mean_over_unordered_pairs_of_clips():
    m = build("barlow", clips=3)
    batch = batch_for(m)
    xs = [torch.randn(B, 3, 4, 24, 24) for _ in range(3)]
    m.augment.forward = lambda clips: xs
    out = m.training_step(batch)
    with torch.no_grad():
        z = [m.projector(m.backbone(x)) for x in xs]
        want = sum(cross_correlation_loss(z[i], z[j], lambd=0.0051) for i, j in ((0, 1), (0, 2), (1, 2))) / 3
    torch.testing.assert_close(out.loss.detach(), want)
    assert {"emb_std", "emb_rank", "rep_std", "rep_rank"} <= set(out.logs)


def test_recipe_separate_bias_lr():
    from vssl import dist as D
    from vssl.train.config import resolve_config
    from vssl.train.engine import build_engine, build_method

    cfg = resolve_config("barlow", overrides={"backbone": "tiny", "barlow.crop": 24, "barlow.proj_dim": 16,
                                              "barlow.hidden_dim": 16, "optim.batch_size": 512})
    o = cfg.optim
    assert (o.optimizer, o.lr, o.lr_scaling, o.weight_decay, o.min_lr_ratio, o.epochs) == (
        "lars", 0.2, "linear", 1e-6, 0.001, 1000)
    eng = build_engine(cfg, build_method(cfg), torch.device("cpu"), D.DistInfo(), total_steps=10, warmup_steps=0)
    lrs = {g["name"]: g["lr"] for g in eng.optimizer.param_groups}
    assert lrs["weights"] == pytest.approx(0.2 * 2) and lrs["norm_bias"] == pytest.approx(0.0048 * 2)


def test_bad_settings_are_one_line_errors():
    from vssl.train.config import resolve_config

    for key, value, msg in [("lambd", -1.0, "barlow lambd must be >= 0"), ("proj_dim", 0, "barlow proj_dim"),
                            ("clips", 1, "barlow clips must be")]:
        with pytest.raises(InputError, match=msg) as e:
            resolve_config("barlow", overrides={f"barlow.{key}": value})
        assert "\n" not in str(e.value)


def test_loss_falls():
    losses = train_losses(build("barlow"), 12, lr=0.5, optimizer="lars", exclude_norm_bias=True)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
