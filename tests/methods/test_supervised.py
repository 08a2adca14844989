"""The supervised control: labels through cross-entropy; frame-difference input sees motion only."""

from __future__ import annotations

import pytest
import torch
from helpers.methods import B, batch_for, build

from vssl.methods.supervised import Config, frame_differences


def test_frame_differences_hand_worked():
    x = torch.arange(4.0).view(1, 1, 4, 1, 1).repeat(1, 3, 1, 2, 2) ** 2  # frames 0, 1, 4, 9
    d = frame_differences(x)
    assert d.shape == (1, 3, 3, 2, 2)
    assert d[0, 0, :, 0, 0].tolist() == [1.0, 3.0, 5.0]


def test_diff_input_ignores_a_static_scene():
    """A static clip gives the same logits whatever its picture: the diff control cannot see the scene."""
    torch.manual_seed(0)
    m = build("supervised", input="diff").eval()
    seen = []
    for seed in (0, 1):
        batch = batch_for(m, seed=seed)
        batch["clips"] = batch["clips"][:, :, :1].expand_as(batch["clips"]).contiguous()  # freeze the frames
        torch.manual_seed(5)
        seen.append(m.training_step(batch).loss)
    torch.testing.assert_close(seen[0], seen[1], rtol=0, atol=1e-6, msg="static clips: the loss cannot differ")
    rgb = build("supervised", input="rgb").eval()
    losses = []
    for seed in (0, 1):
        batch = batch_for(rgb, seed=seed)
        batch["clips"] = batch["clips"][:, :, :1].expand_as(batch["clips"]).contiguous()
        torch.manual_seed(5)
        losses.append(rgb.training_step(batch).loss)
    assert not torch.allclose(losses[0], losses[1]), "the rgb control does see the picture"


def test_loss_falls_on_learnable_labels():
    torch.manual_seed(0)
    m = build("supervised").train()
    batch = batch_for(m)
    batch["label"] = torch.arange(B) % 3
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    first = None
    for _ in range(15):
        torch.manual_seed(1)
        loss = m.training_step(batch).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_unlabelled_batch_is_refused():
    m = build("supervised")
    batch = batch_for(m)
    batch["label"] = torch.full((B,), -1)
    with pytest.raises(ValueError, match="labels"):
        m.training_step(batch)


@pytest.mark.parametrize("kw", [dict(input="flow"), dict(num_classes=-1), dict(min_scale=0.0)])
def test_bad_config(kw):
    with pytest.raises(ValueError, match="supervised"):
        Config(**kw)


def test_eval_reads_the_input_from_the_run_config():
    from vssl.eval.features import input_of_config, to_model_input

    assert input_of_config({"method": "supervised", "supervised": {"input": "diff"}}) == "diff"
    assert input_of_config({"method": "moco", "moco": {"crop": 112}}) == "rgb"
    u8 = torch.zeros(2, 5, 8, 8, 3, dtype=torch.uint8)
    assert to_model_input(u8, None, torch.device("cpu"), "diff").shape == (2, 3, 4, 8, 8)
