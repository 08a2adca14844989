from __future__ import annotations

import pytest
import torch
from torchvision.models.video import mvit_v2_s, r2plus1d_18, r3d_18, s3d, swin3d_t

from vssl.errors import InputError
from vssl.models import BACKBONES, backbone_state_dict, build_backbone, to_channels_last_3d
from vssl.models.specs import BACKBONE_SPECS, backbone_help

FEAT_DIMS = {
    "r3d_18": 512,
    "r2plus1d_18": 512,
    "mc3_18": 512,
    "s3d": 1024,
    "c3d": 512,
    "swin3d_t": 768,
    "mvit_v2_s": 768,
    "r3d_10": 512,
    "resnet10_2d": 512,
    "tiny": 64,
    "vit_tiny": 64,
    "vit_s": 384,
    "vit_b": 768,
}
TRANSFORMERS = ("swin3d_t", "mvit_v2_s")  # seconds to build and run on a CPU: built on the meta device here
VITS = ("vit_tiny", "vit_s", "vit_b")  # their own tests: tests/models/test_vit.py
TAKES_IN_CHANNELS = sorted(set(BACKBONES) - {"s3d", *TRANSFORMERS, *VITS})


def _input(name: str, channels: int = 3, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if name == "resnet10_2d":
        return torch.randn(batch, channels, 32, 32, generator=g)
    return torch.randn(batch, channels, 8, 32, 32, generator=g)  # smallest clip S3D takes


def test_registry_names():
    assert set(BACKBONES) == set(FEAT_DIMS) == set(BACKBONE_SPECS)
    assert {n: s.feat_dim for n, s in BACKBONE_SPECS.items()} == FEAT_DIMS
    assert all(BACKBONES[n].__name__ == f"build_{n}" for n in BACKBONES)


def test_help_lists_every_clip_backbone_with_its_size():
    text = backbone_help()
    assert "swin3d_t (768-d, 16x112)" in text and "mvit_v2_s (768-d, 16x224)" in text and "tiny (64-d, 8x56)" in text
    assert "resnet10_2d" not in text  # the keyframe encoder takes images


def test_cli_help_comes_from_the_registry():
    from typer.testing import CliRunner

    from vssl.cli.main import app

    for cmd in (["pretrain", "--help"], ["eval", "knn", "--help"]):
        r = CliRunner().invoke(app, cmd, env={"COLUMNS": "400"})
        assert r.exit_code == 0, r.output
        text = " ".join(r.output.replace("│", " ").split())
        assert "swin3d_t (768-d, 16x112)" in text and "mvit_v2_s (768-d, 16x224)" in text, (cmd, text)


@pytest.mark.parametrize("name", sorted(set(FEAT_DIMS) - set(TRANSFORMERS) - set(VITS)))
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


def test_channels_last_3d_puts_every_convolution_input_in_the_layout():
    model = to_channels_last_3d(to_channels_last_3d(build_backbone("tiny").eval()))  # twice: one hook per conv
    first = model.features[0]
    seen = []
    first.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = torch.randn(2, 3, 4, 16, 16)  # a plain (contiguous) clip, as the methods feed it
    with torch.no_grad():
        model(x)
    assert len(first._forward_pre_hooks) == 2  # the layout hook once, and the probe above
    assert seen[0].is_contiguous(memory_format=torch.channels_last_3d) and not seen[0].is_contiguous()


def test_bf16_autocast_forward():
    model = build_backbone("tiny")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 4, 16, 16))
    assert out.shape == (2, 64) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name,factory,head", [("swin3d_t", swin3d_t, ["head.bias", "head.weight"]),
                                               ("mvit_v2_s", mvit_v2_s, ["head.1.bias", "head.1.weight"])])
def test_transformers_build_with_torchvision_names(name, factory, head):
    with torch.device("meta"):  # no weight init: a fraction of a second
        model = build_backbone(name)
        tv_model = factory(weights=None)
        two = build_backbone(name, in_channels=2)
    assert model.feat_dim == FEAT_DIMS[name]
    assert not any(isinstance(m, torch.nn.Linear) and m.out_features == 400 for m in model.modules()), "no classifier"
    result = tv_model.load_state_dict(backbone_state_dict(model), strict=False, assign=True)
    assert sorted(result.missing_keys) == head and result.unexpected_keys == []
    first = two.patch_embed.proj if name == "swin3d_t" else two.conv_proj
    assert first.in_channels == 2


def _small_mvit(t: int, hw: int):
    """A two-stage MViTv2 with mvit_v2_s's flags (relative positions, residual pooling), at a small size."""
    from torchvision.models.video.mvit import MSBlockConfig, MViT

    blocks = [MSBlockConfig(1, 8, 8, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2]),
              MSBlockConfig(2, 8, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1])]
    return MViT(spatial_size=(hw, hw), temporal_size=t, block_setting=blocks, residual_pool=True,
                residual_with_cls_embed=False, rel_pos_embed=True, proj_after_attn=True, num_classes=3)


def test_mvit_features_equal_torchvision_at_the_built_size_and_run_at_others():
    from vssl.models.backbones import _MViTFeatures

    torch.manual_seed(0)
    tv_model = _small_mvit(4, 32).eval()
    ours = _MViTFeatures(tv_model).eval()
    assert ours.feat_dim == 16
    tv_model.head = torch.nn.Identity()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv_model(x))
        with pytest.raises(RuntimeError):
            tv_model(torch.randn(1, 3, 8, 48, 48))  # torchvision's forward: only the built size
        out = ours(torch.randn(1, 3, 8, 48, 48))
    assert out.shape == (1, 16) and torch.isfinite(out).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_transformers_forward_and_backward(name):
    torch.manual_seed(0)
    model = build_backbone(name).train()
    out = model(torch.randn(1, 3, 4, 32, 32))
    assert out.shape == (1, FEAT_DIMS[name]) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_readme_table_is_the_registry():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    table = text.split("### Backbones (`--backbone`)", 1)[1].split("\n\n", 2)[1]
    rows = {m[0]: (int(m[1]), m[2]) for m in re.findall(r"^\| `(\w+)` \| (\d+) \| ([\w]+) \|", table, flags=re.M)}
    assert rows == {n: (s.feat_dim, s.input) for n, s in BACKBONE_SPECS.items()}
