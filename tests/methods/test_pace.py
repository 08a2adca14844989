"""Pace prediction: the label is the sample rate of the clip's frames, per-frame jitter, the
optional contrastive term, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers.methods import build, train_losses

from vssl.data.requires import Requires
from vssl.data.synthetic import synthetic_batch
from vssl.methods.pace import Config


def _ramp_batch(speeds, t=4, hw=(18, 24)):
    """Clips whose frame k has grey level 30 * k * rate: how fast it brightens tells the rate."""
    speed = torch.tensor(speeds).view(-1, 1)
    b = speed.shape[0]
    level = (30 * torch.arange(t).view(1, 1, t) * speed.view(b, 1, 1)).clamp(max=235)
    noise = torch.randint(0, 20, (b, 1, t, *hw, 3), generator=torch.Generator().manual_seed(0))  # texture: no flat BN
    clips = (level.view(b, 1, t, 1, 1, 1) + noise).to(torch.uint8)
    return {"clips": clips, "speed": speed, "index": torch.arange(b), "label": torch.zeros(b)}


def test_label_is_the_rate_minus_one(monkeypatch):
    m = build("pace", jitter="none")
    assert m.requires == Requires(views=1, speeds=(1, 2, 3, 4), wrap=True)
    seen = {}
    m.classifier.register_forward_hook(lambda mod, inp, out: seen.update(logits=out))
    batch = _ramp_batch([1, 2, 3, 4, 2, 1])
    loss = m.training_step(batch).loss
    torch.testing.assert_close(loss, F.cross_entropy(seen["logits"].float(), torch.tensor([0, 1, 2, 3, 1, 0])))
    assert m.classifier.out_features == 4


def test_frame_jitter_differs_between_frames_of_a_clip():
    grey = {"clips": torch.full((4, 1, 6, 18, 24, 3), 128, dtype=torch.uint8), "speed": torch.ones(4, 1, dtype=torch.long)}
    for jitter, per_frame in (("frame", True), ("clip", False)):
        m = build("pace", jitter=jitter, crop=16)
        torch.manual_seed(0)
        x = m._inputs(grey["clips"][:, 0])  # (4, 3, 6, 16, 16)
        frame_means = x.mean(dim=(1, 3, 4))  # (4, 6)
        spread = (frame_means.max(1).values - frame_means.min(1).values).max()
        assert (spread > 1e-3) == per_frame, (jitter, spread)


def test_contrastive_term_is_optional():
    m = build("pace", contrastive="context")
    assert m.requires.views == 2 and m.projector is not None
    out = m.training_step(synthetic_batch(m.requires, 4, 4, (32, 40)))
    logs = out.logs
    torch.testing.assert_close(out.loss.detach(), logs["pace_loss"] + 0.1 * logs["contrastive_loss"])
    assert build("pace").projector is None  # the public code: the classification only


def test_defaults_and_bad_values():
    d = Config()
    assert (d.max_sr, d.wrap, d.jitter, d.normalize, d.contrastive) == (4, True, "frame", "none", "none")
    for kw, msg in (({"max_sr": 1}, "max_sr must be"), ({"jitter": "x"}, "jitter must be one of"),
                    ({"contrastive": "pace"}, "contrastive must be one of"), ({"temperature": 0.0}, "temperature > 0")):
        with pytest.raises(ValueError, match=msg):
            Config(**kw)


def test_pace_prediction_learns():
    m = build("pace", jitter="none", crop=16, flip=False)
    batch = _ramp_batch([1, 2, 3, 4] * 2)
    losses = train_losses(m, 12, 0.1, batch=batch)
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
