from __future__ import annotations

import torch
from method_helpers import B, SIZE, batch_for, build


def test_online_and_cached_static_frames_and_variants():
    m = build("be")
    assert m.requires == {"views": 2, "neg_clip": True, "static": True}
    batch = batch_for(m)
    assert torch.isfinite(m.training_step(batch).loss)
    batch["static"] = torch.randint(0, 256, (B, *SIZE, 3), dtype=torch.uint8)  # --static-frames cache
    assert torch.isfinite(m.training_step(batch).loss)
    same = build("be", key_view="same_clip")
    assert same.requires["views"] == 1
    assert torch.isfinite(same.training_step(batch_for(same)).loss)
    tri = build("be", loss="triplet")
    assert torch.isfinite(tri.training_step(batch_for(tri)).loss)


def test_distracted_clip_is_the_be_mix_of_the_augmented_clip():
    """With lambda_max = 0 the distracted query is just the augmented clip (static frame unused)."""
    m = build("be", lambda_max=0.0)
    x = torch.rand(2, 3, 4, *SIZE)
    torch.manual_seed(5)
    a = m._distracted(x, None)
    assert a.shape == (2, 3, 4, 24, 24) and a.min() >= 0 and a.max() <= 1
