"""3DRotNet: the label matches the rotation of the clip the network sees, all-rotations mode, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers.methods import build, train_losses

from vssl.methods.pretext import rotate_clips, rotation_views
from vssl.methods.rotnet3d import Config


def test_rotate_clips_by_hand():
    frame = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 1, 2, 2).repeat(4, 1, 1, 1, 1)
    out = rotate_clips(frame, torch.tensor([0, 1, 2, 3]))[:, 0, 0]
    assert out[0].tolist() == [[1, 2], [3, 4]]
    assert out[1].tolist() == [[2, 4], [1, 3]]  # 90 degrees counter-clockwise: the right column goes on top
    assert out[2].tolist() == [[4, 3], [2, 1]]
    assert out[3].tolist() == [[3, 1], [4, 2]]
    with pytest.raises(ValueError, match="square frames"):
        rotate_clips(torch.zeros(1, 1, 1, 2, 3), torch.tensor([1]))


def _seen_inputs(m, batch, monkeypatch):
    """Run a step with the crop replaced by a fixed centre crop; return (augmented, network input, logits, loss)."""
    seen = {}

    def fixed_crop(x):
        seen["aug"] = x[..., :16, :16].clone()
        return seen["aug"], {}, None

    monkeypatch.setattr(m.augment, "forward", fixed_crop)
    m.backbone.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))  # None: output kept
    m.classifier.register_forward_hook(lambda mod, inp, out: seen.update(logits=out))
    loss = m.training_step(batch).loss
    return seen["aug"], seen["x"], seen["logits"], loss


@pytest.mark.parametrize("rotations", ["random", "all"])
def test_label_matches_the_rotated_clip(monkeypatch, rotations):
    m = build("rotnet3d", rotations=rotations, normalize="none")
    g = torch.Generator().manual_seed(0)
    batch = {"clips": torch.randint(0, 256, (6, 1, 2, 20, 20, 3), dtype=torch.uint8, generator=g)}
    torch.manual_seed(2)
    aug, x, logits, loss = _seen_inputs(m, batch, monkeypatch)
    reps = 4 if rotations == "all" else 1
    assert x.shape[0] == 6 * reps
    label = []
    for i in range(x.shape[0]):  # which rotation of the clip is the network's input
        src = aug[i // reps]
        hits = [k for k in range(4) if torch.equal(torch.rot90(src, k, dims=(-2, -1)), x[i])]
        assert len(hits) == 1
        label.append(hits[0])
    if rotations == "all":
        assert label == [0, 1, 2, 3] * 6
    else:
        assert len(set(label)) > 1
    torch.testing.assert_close(loss, F.cross_entropy(logits.float(), torch.tensor(label)))


def test_defaults_and_bad_values():
    d = Config()
    assert (d.rotations, d.crop, d.normalize) == ("random", 112, "kinetics")
    assert build("rotnet3d").classifier.out_features == 4
    with pytest.raises(ValueError, match="rotations must be one of"):
        Config(rotations="some")
    with pytest.raises(ValueError, match="normalize must be one of"):
        Config(normalize="imagenet")


def test_rotation_prediction_learns():
    """Frames with a bright top row: its place after the rotation tells the angle."""
    m = build("rotnet3d", crop=16, flip=False, rotations="all")
    clips = torch.randint(30, 60, (4, 1, 2, 18, 18, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    clips[..., :4, :, :] += 160
    losses = train_losses(m, 8, 0.1, batch={"clips": clips})
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_rotation_views_labels_are_the_rotations():
    """The rotation task rotnet3d and cubic_puzzle share: each output is its label's rotation of its clip."""
    x = torch.randn(3, 2, 2, 5, 5)
    out, label = rotation_views(x, "all")
    assert out.shape == (12, 2, 2, 5, 5) and label.tolist() == [0, 1, 2, 3] * 3
    for i in range(12):
        assert torch.equal(out[i], torch.rot90(x[i // 4], i % 4, dims=(-2, -1)))
    torch.manual_seed(0)
    out, label = rotation_views(x)
    assert out.shape == x.shape and label.shape == (3,)
    for i in range(3):
        assert torch.equal(out[i], torch.rot90(x[i], int(label[i]), dims=(-2, -1)))
