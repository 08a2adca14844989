from __future__ import annotations

import pytest
import torch
from helpers.methods import B, batch_for, build, train_losses

from vssl.data.requires import Requires
from vssl.errors import InputError


def test_heads_follow_the_reference_sizes():
    from vssl.methods import SimSiam
    from vssl.models import build_backbone

    bb = build_backbone("tiny")
    m = SimSiam(bb, bb.feat_dim, SimSiam.Config(crop=24))
    lin = [x for x in m.projector if isinstance(x, torch.nn.Linear)]
    assert [(x.in_features, x.out_features, x.bias is not None) for x in lin] == [
        (64, 64, False), (64, 64, False), (64, 2048, False)]
    assert not m.projector[-1].affine  # BN without affine parameters after the last layer
    lin = [x for x in m.predictor if isinstance(x, torch.nn.Linear)]
    assert [(x.in_features, x.out_features) for x in lin] == [(2048, 512), (512, 2048)]


def test_loss_is_the_mean_negative_cosine_over_ordered_pairs_of_clips():
    m = build("simsiam", clips=3)
    assert m.requires == Requires(views=3)
    batch = batch_for(m)
    assert batch["clips"].shape[1] == 3
    torch.manual_seed(0)
    out = m.training_step(batch)
    assert -1.0 <= float(out.loss.detach()) <= 1.0
    assert {"emb_std", "emb_rank", "rep_std", "rep_rank"} <= set(out.logs)
    assert 1.0 <= float(out.logs["emb_rank"]) <= B - 1 + 1e-4
    xs = [torch.randn(B, 3, 4, 24, 24) for _ in range(3)]
    m.augment.forward = lambda clips: xs
    got = m.training_step(batch).loss.detach()
    with torch.no_grad():
        z = [m.projector(m.backbone(x)) for x in xs]
        p = [m.predictor(v) for v in z]
        cos = [torch.nn.functional.cosine_similarity(p[i], z[j]).mean() for i in range(3) for j in range(3) if i != j]
    torch.testing.assert_close(got, -sum(cos) / 6)


def test_fixed_predictor_lr_and_recipe():
    from vssl.train.config import resolve_config

    m = build("simsiam")
    assert m.fixed_lr("predictor.0.weight") and not m.fixed_lr("projector.0.weight")
    assert not build("simsiam", fix_pred_lr=False).fixed_lr("predictor.0.weight")
    cfg = resolve_config("simsiam")
    o = cfg.optim
    assert (o.optimizer, o.lr, o.lr_scaling, o.base_batch, o.weight_decay, o.epochs) == ("sgd", 0.05, "linear", 256,
                                                                                          1e-4, 100)


def test_bad_settings_are_one_line_errors():
    from vssl.train.config import resolve_config

    for key, value, msg in [("clips", 1, "simsiam clips must be an integer >= 2"),
                            ("augment", "x", "'simsiam.augment' must be one of mocov2, byol, got 'x'"),
                            ("pred_dim", 0, "simsiam pred_dim must be an integer >= 1")]:
        with pytest.raises(InputError, match=msg) as e:
            resolve_config("simsiam", overrides={f"simsiam.{key}": value})
        assert "\n" not in str(e.value)


def test_loss_falls():
    losses = train_losses(build("simsiam"), 12, lr=0.1)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
