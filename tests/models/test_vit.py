"""The video ViT: shapes, feature size, gradients, the visible-token path, position embedding."""

from __future__ import annotations

import time

import pytest
import torch

from vssl.errors import InputError
from vssl.models import build_backbone
from vssl.models.vit import VIT_SIZES, VideoViT, build_vit_tiny, sincos_1d, sincos_3d


def _clip(b=2, t=8, s=32, seed=0):
    return torch.randn(b, 3, t, s, s, generator=torch.Generator().manual_seed(seed))


def test_tiny_forward_shape_and_speed():
    torch.manual_seed(0)
    m = build_vit_tiny().eval()
    x = _clip()
    with torch.no_grad():
        m(x)  # warm-up
        t = time.perf_counter()
        y = m(x)
        dt = time.perf_counter() - t
    assert y.shape == (2, m.feat_dim) == (2, 64)
    assert m.tokens(x).shape == (2, 4 * 4 * 4, 64)  # 8/2 x 32/8 x 32/8 tokens
    assert dt < 0.5, dt


@pytest.mark.parametrize("name", ["vit_tiny", "vit_s", "vit_b"])
def test_registered_sizes(name):
    m = build_backbone(name)
    spec = VIT_SIZES[name]
    assert m.feat_dim == spec["dim"] and len(m.blocks) == spec["depth"] and m.patch == spec["patch"]
    assert m.blocks[0].attn.heads == spec["heads"]
    n = sum(p.numel() for p in m.parameters())
    if name == "vit_b":  # ViT-B: about 86 M parameters (85 M blocks + the 2x16x16x3 tubelet embedding)
        assert 85e6 < n < 88e6, n
    if name == "vit_s":
        assert 21e6 < n < 23e6, n


def test_vit_s_forward_on_a_16x16_multiple():
    m = build_backbone("vit_s").eval()
    with torch.no_grad():
        y = m(_clip(b=1, t=4, s=32))
    assert y.shape == (1, 384) and torch.isfinite(y).all()


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    m = build_vit_tiny()
    m(_clip()).pow(2).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_visible_token_path_equals_full_path_when_nothing_is_masked():
    torch.manual_seed(0)
    m = build_vit_tiny().eval()
    x = _clip()
    full = m.tokens(x)
    keep = torch.arange(full.shape[1]).expand(2, -1)
    torch.testing.assert_close(m.tokens(x, keep), full)
    torch.testing.assert_close(m(x), full.mean(1))


def test_visible_tokens_are_the_subset_attending_among_themselves():
    """With a subset, token i's output is the output of the clip made of those tokens only: no
    information from dropped tokens (checked against a one-block manual forward)."""
    torch.manual_seed(0)
    m = build_vit_tiny().eval()
    x = _clip(b=1)
    keep = torch.tensor([[3, 10, 17, 40, 63]])
    out = m.tokens(x, keep)
    tok = m.embed(x)[:, keep[0]]
    for blk in m.blocks:
        tok = blk(tok)
    torch.testing.assert_close(out, m.norm(tok))
    # and changing a dropped token's pixels changes nothing
    x2 = x.clone()
    x2[:, :, 0:2, 0:8, 0:8] += 5.0  # token 0, not kept
    torch.testing.assert_close(m.tokens(x2, keep), out)
    assert not torch.allclose(m.tokens(x2), m.tokens(x))


def test_bad_clip_size_is_one_line():
    m = build_vit_tiny()
    with pytest.raises(InputError, match="multiple of the ViT tubelet 2x8x8"):
        m(_clip(s=30))
    with pytest.raises(InputError, match="clips"):
        m(torch.randn(2, 3, 32, 32))


def test_sincos_tables():
    pe = sincos_1d(torch.tensor([0, 1]), 4)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 0.0, 1.0, 1.0]))
    torch.testing.assert_close(pe[1], torch.tensor([1.0, 0.01, 1.0, 1.0]).sin().where(
        torch.tensor([True, True, False, False]), torch.tensor([1.0, 0.01, 1.0, 0.01]).cos()))
    p3 = sincos_3d((2, 3, 4), 64)
    assert p3.shape == (24, 64)
    assert torch.unique(p3, dim=0).shape[0] == 24  # every token its own position


def test_drop_path_only_in_training():
    torch.manual_seed(0)
    m = VideoViT(32, 3, 2, patch=(2, 8, 8), drop_path=0.5)
    assert [b.drop_path.p for b in m.blocks] == [0.0, 0.25, 0.5]  # linear over the blocks
    with pytest.raises(InputError, match="drop path must be in"):
        m.set_drop_path(1.0)
    x = _clip(b=4)
    m.eval()
    torch.testing.assert_close(m(x), m(x))
    m.train()
    torch.manual_seed(1)
    a = m(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, m(x))


def test_in_channels():
    m = build_backbone("vit_tiny", in_channels=2)
    assert m(torch.randn(1, 2, 4, 16, 16)).shape == (1, 64)


def test_layer_ids_and_layer_decay_groups():
    from torch import nn

    from vssl.train.optim import build_optimizer, layer_decay_groups, param_groups

    vit = build_vit_tiny()  # 2 blocks: layers 0 (embedding), 1, 2 (blocks), 3 (final norm)
    assert vit.num_layers == 4
    assert (vit.layer_id("patch_embed.weight"), vit.layer_id("blocks.1.mlp.0.weight"), vit.layer_id("norm.bias")) == (0, 2, 3)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.head = vit, nn.Linear(64, 3)

    m = Model()
    groups = layer_decay_groups(m, param_groups(m, weight_decay=0.05, exclude_norm_bias=True), 0.5)
    opt = build_optimizer("sgd", groups, lr=1.0)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lr_of[id(vit.patch_embed.weight)] == 0.125  # 0.5 ** (3 - 0)
    assert lr_of[id(vit.blocks[0].attn.qkv.weight)] == 0.25 and lr_of[id(vit.blocks[1].norm1.bias)] == 0.5
    assert lr_of[id(vit.norm.weight)] == 1.0 and lr_of[id(m.head.weight)] == 1.0
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(m.parameters()))
    wd_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert wd_of[id(vit.blocks[0].attn.qkv.bias)] == 0.0 and wd_of[id(vit.blocks[0].attn.qkv.weight)] == 0.05
    same = param_groups(m, weight_decay=0.05)
    assert layer_decay_groups(m, same, 1.0) is same  # off
