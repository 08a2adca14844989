from __future__ import annotations

import pytest
import torch
from helpers.methods import batch_for, build


def test_infonce_logs_and_triplet_variant():
    m = build("dsm")
    out = m.training_step(batch_for(m))
    assert 0.0 <= float(out.logs["neg_wins"]) <= 1.0 and 0.0 <= float(out.logs["acc"]) <= 1.0
    t = build("dsm", loss="triplet")
    out = t.training_step(batch_for(t))
    assert torch.isfinite(out.loss) and float(out.loss.detach()) >= 0
    assert t.enc.queue is None
    with pytest.raises(ValueError, match="infonce"):
        build("dsm", loss="hinge")


def test_intra_video_negative_gets_gradient_through_the_online_encoder():
    """DSM and BE reference: ``feat_n, _ = model(negative)`` (online encoder, with gradient)."""
    from vssl.methods.common import intra_video_contrast

    m = build("dsm")
    q, k, n = (torch.randn(4, 3, 4, 24, 24) for _ in range(3))
    n.requires_grad_(True)
    out = intra_video_contrast(m.enc, q, k, n, m.cfg)
    out.loss.backward()
    assert n.grad is not None and n.grad.abs().sum() > 0
    # the alternative: the momentum encoder, no gradient
    mom = build("dsm", neg_encoder="momentum")
    n2 = n.detach().clone().requires_grad_(True)
    intra_video_contrast(mom.enc, q, k, n2, mom.cfg).loss.backward()
    assert n2.grad is None


def test_warp_goes_on_the_query_and_the_augmentation_is_the_reference_one(monkeypatch):
    import vssl.methods.dsm as dsm_mod

    seen = {}
    monkeypatch.setattr(dsm_mod, "local_disturbance", lambda x, **kw: torch.full_like(x, 0.5))
    monkeypatch.setattr(dsm_mod, "intra_video_contrast", lambda enc, q, k, n, cfg: seen.update(q=q, k=k, n=n))
    m = build("dsm")
    m.training_step(batch_for(m))
    flat = lambda v: v.transpose(0, 1).reshape(3, -1)  # noqa: E731
    assert torch.allclose(flat(seen["q"]).std(1), torch.zeros(3), atol=1e-6)  # the query is the warped view
    assert flat(seen["k"]).std(1).min() > 0.01
    aug = m.augment
    assert (aug.crop_mode, aug.rotation, aug.flip_p, aug.gray_p, aug.blur_p) == ("fixed", 10.0, 0.0, 0.0, 0.0)
    assert aug.jitter_one_of and aug.jitter == (0.5, 0.5, 0.25, 0.5)
    seen.clear()
    m2 = build("dsm", warp_view="key", augment="mocov2")
    m2.training_step(batch_for(m2))
    assert torch.allclose(flat(seen["k"]).std(1), torch.zeros(3), atol=1e-6)
    assert m2.augment.crop_mode == "resized" and m2.augment.gray_p == 0.2


def test_temporal_shuffle_negative_needs_no_other_segment():
    m = build("dsm", negative="shuffle")
    assert m.requires.neg_clip is False
    batch = batch_for(m)
    assert "neg" not in batch
    out = m.training_step(batch)
    assert torch.isfinite(out.loss) and 0.0 <= float(out.logs["neg_wins"]) <= 1.0


def test_triplet_is_normalised_and_has_the_inter_video_term():
    """DSM's ``train_dsm_triplet``: embeddings end in Normalize(2); loss = intra + inter (negatives reversed)."""
    from types import SimpleNamespace

    from vssl.losses import triplet_margin
    from vssl.methods.common import intra_video_contrast

    cfg = build("dsm", loss="triplet").cfg
    g = torch.Generator().manual_seed(0)
    q, k, n = (torch.randn(5, 8, generator=g) for _ in range(3))
    for scale in (1.0, 100.0):
        enc = SimpleNamespace(query=lambda x, s=scale: s * x)
        loss = intra_video_contrast(enc, q, k, n, cfg).loss
        unit = [torch.nn.functional.normalize(v, dim=1) for v in (q, k, n)]
        want = triplet_margin(*unit, margin=0.5, distance="euclidean") + triplet_margin(
            unit[0], unit[1], unit[2].flip(0), margin=0.5, distance="euclidean"
        )
        torch.testing.assert_close(loss, want)  # the same at any scale: norms cannot meet the margin
    old = SimpleNamespace(**{**vars(cfg), "triplet_normalize": False, "triplet_inter": False})
    big = SimpleNamespace(query=lambda x: 100.0 * x)
    assert float(intra_video_contrast(big, q, k, n, old).loss) != pytest.approx(float(loss))


def test_config_errors_are_one_line():
    for bad in ({"augment": "simclr"}, {"warp_view": "both"}, {"negative": "other"}, {"neg_encoder": "x"},
                {"bn_splits": 0}, {"triplet_distance": "l1"}):
        with pytest.raises(ValueError) as e:
            build("dsm", **bad)
        assert "\n" not in str(e.value) and "dsm" in str(e.value)
