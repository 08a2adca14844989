from __future__ import annotations

import torch
from helpers.methods import SIZE, B, batch_for, build


def test_online_and_cached_masks_keep_beta_of_the_pixels():
    m = build("fame", beta=0.5)
    batch = batch_for(m)
    out = m.training_step(batch)
    assert torch.isfinite(out.loss) and float(out.logs["fg_fraction"]) == 0.5
    batch["fame_score"] = torch.randint(0, 256, (B, 2, *SIZE), dtype=torch.uint8)  # --fame-masks cache
    out = m.training_step(batch)
    assert torch.isfinite(out.loss) and float(out.logs["fg_fraction"]) == 0.5
    m3 = build("fame", beta=0.25, symmetric=False)
    out = m3.training_step(batch_for(m3))
    assert float(out.logs["fg_fraction"]) == 0.25
    m3.after_step(0)
    assert int(m3.enc.queue.num_enqueued) == B


def test_mask_on_the_cropped_clip_one_colour_for_the_merge_and_merged_clip_as_second_key(monkeypatch):
    """FAME code: ``aug_gpu(FA(video[0]))`` (mask and merge before colour), then
    ``forward_once(q, k)`` and ``forward_once(k, q)`` (the merged clip is the second key)."""
    import vssl.methods.fame as fame_mod

    m = build("fame")
    log, pairs = [], []
    colour = m.augment.colour
    mask = m._mask

    def rec_colour(x, generator=None):
        log.append(("colour", x.clone()))
        return colour(x, generator)

    def rec_mask(x, score):
        log.append(("mask", x.clone()))
        return mask(x, score)

    def rec_contrast(enc, q, k, temperature):
        pairs.append((q, k))
        return torch.zeros(()), torch.zeros(())

    monkeypatch.setattr(m.augment, "colour", rec_colour)
    monkeypatch.setattr(m, "_mask", rec_mask)
    monkeypatch.setattr(fame_mod, "momentum_contrast", rec_contrast)
    m.training_step(batch_for(m))
    assert [e for e, _ in log] == ["mask", "colour", "colour"]  # mask first, one colour per clip
    assert not any(torch.equal(log[0][1], x) for e, x in log[1:])  # the merged clip is coloured, not clip 1
    (q1, k2), (q2, k1) = pairs
    assert torch.equal(q2, k2) and torch.equal(k1, q1)  # second direction: query clip 2, key the merged clip
    # the earlier vssl order stays available
    log.clear(), pairs.clear()
    old = build("fame", mask_before_colour=False, swap_directions=False)
    monkeypatch.setattr(old.augment, "colour", rec_colour)
    old.training_step(batch_for(old))
    assert [e for e, _ in log][:2] == ["colour", "colour"]
    (q1, k2), (q2, k1) = pairs
    assert not torch.equal(k1, q1)
