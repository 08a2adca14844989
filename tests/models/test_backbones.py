from __future__ import annotations

import pytest
import torch
from torchvision.models.video import r2plus1d_18, r3d_18, s3d

from vssl.errors import InputError
from vssl.models import BACKBONES, backbone_state_dict, build_backbone, to_channels_last_3d

FEAT_DIMS = {
    "r3d_18": 512,
    "r2plus1d_18": 512,
    "mc3_18": 512,
    "s3d": 1024,
    "c3d": 512,
    "r3d_10": 512,
    "resnet10_2d": 512,
    "tiny": 64,
    "vit_tiny": 64,
    "vit_s": 384,
    "vit_b": 768,
}
VITS = ("vit_tiny", "vit_s", "vit_b")  # their own tests: tests/models/test_vit.py
TAKES_IN_CHANNELS = sorted(set(BACKBONES) - {"s3d", *VITS})


def _input(name: str, channels: int = 3, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if name == "resnet10_2d":
        return torch.randn(batch, channels, 32, 32, generator=g)
    return torch.randn(batch, channels, 8, 32, 32, generator=g)  # smallest clip S3D takes


def test_registry_names():
    assert set(BACKBONES) == set(FEAT_DIMS)


@pytest.mark.parametrize("name", sorted(set(FEAT_DIMS) - set(VITS)))
def test_forward_shape_and_feat_dim(name):
    torch.manual_seed(0)
    model = build_backbone(name).eval()
    assert model.feat_dim == FEAT_DIMS[name]
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules()), "no classifier"
    with torch.no_grad():
        out = model(_input(name))
    assert out.shape == (2, FEAT_DIMS[name])
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", TAKES_IN_CHANNELS)
def test_in_channels(name):
    model = build_backbone(name, in_channels=2).eval()
    with torch.no_grad():
        out = model(_input(name, channels=2, batch=1))
    assert out.shape == (1, FEAT_DIMS[name])


@pytest.mark.parametrize("name", ["tiny", "c3d", "r3d_10"])
def test_any_clip_size_and_gradients(name):
    model = build_backbone(name).train()
    for shape in [(2, 3, 1, 8, 8), (2, 3, 5, 17, 23)]:
        out = model(torch.randn(*shape))
        assert out.shape == (2, model.feat_dim)
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_unknown_name_lists_valid_names():
    with pytest.raises(InputError, match="r3d_18") as info:
        build_backbone("resnet9000")
    assert "tiny" in str(info.value) and "resnet9000" in str(info.value)


def test_unknown_argument_is_input_error():
    with pytest.raises(InputError, match="in_channels"):
        build_backbone("s3d", in_channels=2)
    with pytest.raises(InputError, match="depth"):
        build_backbone("tiny", depth=3)


@pytest.mark.parametrize("name,factory", [("r3d_18", r3d_18), ("r2plus1d_18", r2plus1d_18)])
def test_state_dict_loads_into_torchvision(name, factory):
    backbone = build_backbone(name)
    with torch.no_grad():
        for p in backbone.parameters():
            p.add_(0.01)  # "trained" weights differ from a fresh init
    tv_model = factory(weights=None)
    result = tv_model.load_state_dict(backbone_state_dict(backbone), strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"]
    assert result.unexpected_keys == []
    tv_model.fc = torch.nn.Identity()
    backbone.eval(), tv_model.eval()
    x = torch.randn(1, 3, 4, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(tv_model(x), backbone(x))


def test_s3d_state_dict_loads_into_torchvision():
    result = s3d(weights=None).load_state_dict(backbone_state_dict(build_backbone("s3d")), strict=False)
    assert sorted(result.missing_keys) == ["classifier.1.bias", "classifier.1.weight"]
    assert result.unexpected_keys == []


def test_backbone_state_dict_strips_wrapper_prefixes():
    class Wrapper(torch.nn.Module):  # stands in for DDP (``module.``) and torch.compile (``_orig_mod.``)
        def __init__(self, inner, attr):
            super().__init__()
            setattr(self, attr, inner)

    model = build_backbone("tiny")
    wrapped = Wrapper(Wrapper(model, "_orig_mod"), "module")
    assert list(backbone_state_dict(wrapped)) == list(model.state_dict())


def test_channels_last_3d_keeps_outputs():
    torch.manual_seed(0)
    model = build_backbone("tiny").eval()
    x = torch.randn(2, 3, 4, 16, 16)
    with torch.no_grad():
        want = model(x)
        assert to_channels_last_3d(model) is model
        conv = model.features[0].weight
        assert conv.is_contiguous(memory_format=torch.channels_last_3d) and not conv.is_contiguous()
        got = model(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    model_2d = to_channels_last_3d(build_backbone("resnet10_2d"))  # 4-D weights: channels_last
    assert model_2d.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_bf16_autocast_forward():
    model = build_backbone("tiny")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 4, 16, 16))
    assert out.shape == (2, 64) and torch.isfinite(out.float()).all()
