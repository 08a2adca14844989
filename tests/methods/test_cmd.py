from __future__ import annotations

import time

import pytest
import torch
from helpers.methods import B, batch_for, build

LEGACY = dict(motion_target="pooled", mv_sampling="legacy", mv_gap=0, neg_crop="shared", keyframe_pick="nearest",
              context_loss="symmetric", normalize="kinetics", jitter_p=0.8, mv_units="load", head_bn=False,
              predictor_heads=4)


def test_variants_run_and_inputs_are_clamped():
    m = build("cmd")
    assert m.requires.mv and m.requires.keyframe and m.requires.mv_negatives == 2
    out = m.training_step(batch_for(m))
    assert {"loss_context", "loss_motion", "acc_context", "acc_motion"} <= set(out.logs)
    torch.testing.assert_close(out.loss, out.logs["loss_context"] + out.logs["loss_motion"])
    assert m._mv_in(torch.tensor([-50.0, 5.0, 50.0])).tolist() == [-1.0, 0.5, 1.0]
    corrected = build("cmd", mv_faithful=False, mv_negatives=0)
    assert "mv_neg" not in batch_for(corrected)
    assert corrected.requires.mv_units == "load"  # the corrected transform works in load-size pixels
    assert torch.isfinite(corrected.training_step(batch_for(corrected)).loss)
    old = build("cmd", **LEGACY)
    out = old.training_step(batch_for(old))
    assert torch.isfinite(out.loss) and float(out.logs["chance_motion"]) == pytest.approx(torch.tensor(B + 2.0).log())


def test_reference_defaults():
    from vssl.methods.cmd import Config

    c = Config()
    assert (c.motion_target, c.mv_sampling, c.neg_crop, c.keyframe_pick, c.context_loss, c.normalize) == (
        "dense", "reference", "own", "window", "oneway", "imagenet")
    assert (c.mv_len, c.mv_gap, c.mv_negatives, c.keyframe_margin, c.jitter_p, c.temperature) == (8, 2, 3, 5, 0.5, 0.1)
    assert (c.mv_units, c.mv_faithful, c.mv_size, c.predictor_layers, c.predictor_decoder_layers) == (
        "source", True, 0, 2, 4)


def test_dense_motion_contrast_covers_every_location_of_every_window():
    """Reference: one prediction per motion-feature location, contrasted with every location of every
    positive and negative window of the batch (the old pooled loss had B + N candidates per clip)."""
    m = build("cmd", mv_size=0)
    batch = batch_for(m)
    seen = {}
    orig = m.mv_encoder.forward

    def spy(x):
        out = orig(x)
        seen["n"] = x.shape[0]
        return out

    m.mv_encoder.forward = spy
    out = m.training_step(batch)
    b, n = batch["mv_neg"].shape[:2]
    assert seen["n"] == b * (1 + n)
    # tiny mv encoder on 4 frames of 24 x 24 (mv_size 0 = crop): 1 x 3 x 3 locations
    chance = torch.tensor(float(b * (1 + n) * 9)).log()
    torch.testing.assert_close(out.logs["chance_motion"], chance)
    assert abs(float(out.logs["loss_motion"]) - float(chance)) < 1.0  # near chance at init


def test_dense_motion_logits():
    from vssl.losses.dense_motion import dense_motion_logits

    torch.manual_seed(0)
    target = torch.randn(6, 5, 16)  # 2 positive windows + 4 negatives, 5 locations each
    logits, labels = dense_motion_logits(target[:2] * 3.0, target, temperature=0.1)
    assert logits.shape == (10, 30) and labels.tolist() == list(range(10))
    assert (logits.argmax(1) == labels).all()
    with pytest.raises(ValueError, match="does not match"):
        dense_motion_logits(target[:2], target[:, :4], temperature=0.1)


def test_negatives_get_their_own_crop():
    m = build("cmd")
    shared = build("cmd", neg_crop="shared")
    batch = batch_for(m)
    batch["mv_neg"] = batch["mv"][:, None].repeat(1, 2, 1, 1, 1, 1)  # negatives = the positive field
    for meth in (m, shared):
        torch.manual_seed(1)
        x, ex, params = meth.augment(batch["clips"][:, 0].permute(0, 4, 1, 2, 3).float() / 255,
                                     {"mv": batch["mv"].float()})
        neg = meth._neg_fields(batch["mv_neg"], params).view(B, 2, *ex["mv"].shape[1:])
        same = torch.isclose(neg, meth._mv_in(ex["mv"])[:, None]).flatten(2).all(2)
        if meth is shared:
            assert same.all()
        else:
            assert not same.all()


def test_predictor_is_small_for_tiny_backbones_and_follows_feat_dim():
    from vssl.methods.cmd import CMD, Config
    from vssl.models import build_backbone

    bb = build_backbone("tiny")
    m = CMD(bb, bb.feat_dim, Config(crop=24, mv_encoder="tiny", mv_len=4))
    assert m.predictor.dim == 64 and len(m.predictor.encoder) == 2 and len(m.predictor.decoder) == 4
    assert sum(p.numel() for p in m.predictor.parameters()) < 300_000
    t = time.perf_counter()
    m.training_step(batch_for(m))
    assert time.perf_counter() - t < 10


def test_context_loss_one_way_by_default():
    torch.manual_seed(0)
    one, sym = build("cmd"), build("cmd", context_loss="symmetric")
    sym.load_state_dict(one.state_dict())
    batch = batch_for(one)
    one.eval(), sym.eval()
    torch.manual_seed(3)
    a = one.training_step(batch).logs["loss_context"]
    torch.manual_seed(3)
    b = sym.training_step(batch).logs["loss_context"]
    assert not torch.isclose(a, b)


@pytest.mark.parametrize("kw, msg", [
    ({"motion_target": "mean"}, "motion_target must be one of dense, pooled"),
    ({"mv_sampling": "old"}, "mv_sampling must be one of reference, legacy"),
    ({"neg_crop": "same"}, "neg_crop"),
    ({"mv_gap": -1}, "mv_gap"),
    ({"predictor_dim": 30, "predictor_heads": 8}, "divisible"),
])
def test_config_errors_are_one_line(kw, msg):
    from vssl.methods.cmd import Config

    with pytest.raises(ValueError, match=msg) as e:
        Config(**kw)
    assert "\n" not in str(e.value)


def test_cmd_recipe():
    from vssl.methods.cmd import CMD
    from vssl.train.config import resolve_config
    from vssl.train.engine import effective_lr

    cfg = resolve_config("cmd", overrides={"optim.batch_size": 64})
    assert cfg.data.stride == 4 and cfg.data.clip_len == 16
    assert effective_lr(cfg) == 5e-4 * 64  # lr 5e-4 x total batch
    assert cfg.optim.grad_clip == 15.0  # cfg.clip_gradient
    assert build("cmd").requires.modalities == ("rgb", "keyframe", "mv")
