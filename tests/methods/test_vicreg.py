from __future__ import annotations

import pytest
import torch
from helpers.methods import B, batch_for, build, train_losses

from vssl.errors import InputError
from vssl.losses import variance_invariance_covariance


def test_expander_follows_the_reference():
    from vssl.methods import VICReg
    from vssl.models import build_backbone

    bb = build_backbone("tiny")
    m = VICReg(bb, bb.feat_dim, VICReg.Config(crop=24))
    lin = [x for x in m.projector if isinstance(x, torch.nn.Linear)]
    assert [(x.in_features, x.out_features, x.bias is not None) for x in lin] == [
        (64, 8192, True), (8192, 8192, True), (8192, 8192, False)]
    assert (m.cfg.inv_weight, m.cfg.var_weight, m.cfg.cov_weight) == (25.0, 25.0, 1.0)


def test_two_clips_give_the_vicreg_loss_and_three_the_pair_mean():
    m = build("vicreg")
    xs = [torch.randn(B, 3, 4, 24, 24) for _ in range(3)]
    m.augment.forward = lambda clips: xs[:2]
    out = m.training_step(batch_for(m))
    with torch.no_grad():
        z = [m.projector(m.backbone(x)) for x in xs]
    torch.testing.assert_close(out.loss.detach(), variance_invariance_covariance(z[0], z[1]))
    assert {"inv", "var", "cov", "emb_std", "emb_rank"} <= set(out.logs)
    m3 = build("vicreg", clips=3)
    m3.load_state_dict(m.state_dict())
    m3.augment.forward = lambda clips: xs
    out3 = m3.training_step(batch_for(m3))
    want = sum(variance_invariance_covariance(z[i], z[j]) for i, j in ((0, 1), (0, 2), (1, 2))) / 3
    torch.testing.assert_close(out3.loss.detach(), want)


def test_recipe():
    from vssl.train.config import resolve_config

    o = resolve_config("vicreg").optim
    assert (o.optimizer, o.lr, o.lr_scaling, o.weight_decay, o.exclude_norm_bias, o.warmup_epochs, o.min_lr_ratio) == (
        "lars", 0.2, "linear", 1e-6, True, 10.0, 0.001)


def test_bad_settings_are_one_line_errors():
    from vssl.train.config import resolve_config

    for key, value, msg in [("var_weight", -1.0, "vicreg var_weight must be >= 0"),
                            ("hidden_dim", 0, "vicreg hidden_dim"), ("augment", "x", "'vicreg.augment' must be one of mocov2, byol")]:
        with pytest.raises(InputError, match=msg) as e:
            resolve_config("vicreg", overrides={f"vicreg.{key}": value})
        assert "\n" not in str(e.value)


def test_loss_falls():
    losses = train_losses(build("vicreg"), 12, lr=0.5, optimizer="lars", exclude_norm_bias=True)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
