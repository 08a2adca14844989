"""Video backbones: clip ``(B, C, T, H, W)`` float -> features ``(B, feat_dim)``.

Every builder returns an ``nn.Module`` with an int attribute ``feat_dim`` and
no classifier. Builders never download weights (torchvision ``weights=None``).

The torchvision models keep torchvision's module names (only ``fc`` is an
``nn.Identity``), so a trained backbone's state dict loads into the plain
torchvision model with ``strict=False``, only ``fc.weight`` / ``fc.bias``
missing: see :func:`backbone_state_dict`.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from torchvision.models.video.mvit import MViT
    from torchvision.models.video.resnet import VideoResNet

# torchvision is imported inside the builders that use it: importing it costs seconds of CPU
# (torchvision.ops pulls in torch._dynamo), which every process that only needs ``tiny`` or a
# ViT (tests, the demo, DataLoader workers) would pay.

from vssl.errors import InputError
from vssl.models.specs import BACKBONE_SPECS
from vssl.models.vit import build_vit_b, build_vit_s, build_vit_tiny  # noqa: F401 (registered by name)


def _replace_first_conv(conv: nn.Module, in_channels: int) -> nn.Module:
    """A fresh copy of ``conv`` (Conv2d / Conv3d) taking ``in_channels`` inputs."""
    if in_channels == conv.in_channels:
        return conv
    if in_channels < 1:
        raise InputError(f"in_channels must be >= 1, got {in_channels}")
    cls = type(conv)
    return cls(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    )


def _video_resnet(model: VideoResNet, in_channels: int) -> VideoResNet:
    model.stem[0] = _replace_first_conv(model.stem[0], in_channels)
    model.fc = nn.Identity()
    model.feat_dim = 512
    return model


def build_r3d_18(*, in_channels: int = 3) -> nn.Module:
    """3D ResNet-18 (Tran et al. 2018), torchvision names; feat_dim 512."""
    from torchvision.models.video import r3d_18

    return _video_resnet(r3d_18(weights=None), in_channels)


def build_r2plus1d_18(*, in_channels: int = 3) -> nn.Module:
    """R(2+1)D-18 (Tran et al. 2018), torchvision names; feat_dim 512."""
    from torchvision.models.video import r2plus1d_18

    return _video_resnet(r2plus1d_18(weights=None), in_channels)


def build_mc3_18(*, in_channels: int = 3) -> nn.Module:
    """MC3-18 (mixed 3D/2D convolutions), torchvision names; feat_dim 512."""
    from torchvision.models.video import mc3_18

    return _video_resnet(mc3_18(weights=None), in_channels)


def build_r3d_10(*, in_channels: int = 3) -> nn.Module:
    """3D ResNet-10: torchvision's VideoResNet with BasicBlock and layers [1, 1, 1, 1].

    CMD's motion-vector encoder (``in_channels=2`` for (dx, dy) fields).
    feat_dim 512.
    """
    from torchvision.models.video.resnet import (
        BasicBlock,
        BasicStem,
        Conv3DSimple,
        VideoResNet,
    )

    model = VideoResNet(
        block=BasicBlock,
        conv_makers=[Conv3DSimple] * 4,
        layers=[1, 1, 1, 1],
        stem=BasicStem,
    )
    return _video_resnet(model, in_channels)


class _S3DFeatures(nn.Module):
    """torchvision S3D without its classifier, pooled globally so any clip size works."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.video import s3d

        model = s3d(weights=None)
        self.features = model.features  # same name as in torchvision's S3D
        # torchvision uses AvgPool3d((2, 7, 7), stride 1) then a mean: equal to a
        # global mean at 16x224x224 (features 2x7x7), and it needs at least that size.
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feat_dim = 1024

    def forward(self, x: Tensor) -> Tensor:
        return self.avgpool(self.features(x)).flatten(1)


def build_s3d() -> nn.Module:
    """S3D (Xie et al. 2018), torchvision names under ``features``; feat_dim 1024.

    Smallest clip that runs: ``(B, 3, 8, 32, 32)`` (S3D downsamples T by 8
    and H, W by 32 with max pools that need an input of at least 2).
    """
    return _S3DFeatures()


def build_swin3d_t(*, in_channels: int = 3) -> nn.Module:
    """Video Swin Transformer, tiny (Liu et al. 2022, https://arxiv.org/abs/2106.13230); torchvision
    names, ``head`` an identity; feat_dim 768 (layer norm, then the mean over all tokens).

    Any clip size runs (windows of 8x7x7 tokens after 2x4x4 patches, padded where the clip is
    smaller); ``16x112`` is vssl's default clip. torchvision's stochastic depth 0.1 is kept.
    """
    from torchvision.models.video import swin3d_t

    model = swin3d_t(weights=None)
    model.patch_embed.proj = _replace_first_conv(model.patch_embed.proj, in_channels)
    model.head = nn.Identity()
    model.feat_dim = 768
    return model


class _MViTFeatures(nn.Module):
    """torchvision's MViT without its head: the class token's features after the last norm.

    torchvision's forward takes the token grid from the size the model was built for; here it comes
    from the input, so clips of other sizes run too (MViTv2's relative position tables are
    interpolated to the grid, as torchvision does between stages). Same module names as
    torchvision's ``MViT``, so the state dict loads into it with only ``head.1.*`` missing.
    """

    def __init__(self, model: MViT) -> None:
        super().__init__()
        if model.pos_encoding.spatial_pos is not None:
            raise ValueError("absolute position embeddings tie MViT to its built size: use rel_pos_embed")
        self.conv_proj = model.conv_proj
        self.pos_encoding = model.pos_encoding
        self.blocks = model.blocks
        self.norm = model.norm
        self.feat_dim = int(model.norm.normalized_shape[0])

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_proj(x)  # (B, D, T', H', W'): 2x4x4 patches
        thw = (int(x.shape[2]), int(x.shape[3]), int(x.shape[4]))
        x = self.pos_encoding(x.flatten(2).transpose(1, 2))  # class token in front: (B, 1 + T'H'W', D)
        for block in self.blocks:
            x, thw = block(x, thw)
        return self.norm(x)[:, 0]  # (B, feat_dim)


def build_mvit_v2_s(*, in_channels: int = 3) -> nn.Module:
    """Multiscale Vision Transformer v2, small (Li et al. 2022, https://arxiv.org/abs/2112.01526);
    torchvision names; feat_dim 768 (the class token). Built for ``16x224`` clips (torchvision's
    size); other sizes run with interpolated relative positions. Stochastic depth 0.2 as torchvision.
    """
    from torchvision.models.video import mvit_v2_s

    model = mvit_v2_s(weights=None)
    model.conv_proj = _replace_first_conv(model.conv_proj, in_channels)
    return _MViTFeatures(model)


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


class C3D(nn.Module):
    """C3D (Tran et al. 2015, https://arxiv.org/abs/1412.0767) with batch norm.

    The classic 8 conv layers (64, 128, 256, 256, 512, 512, 512, 512 channels,
    3x3x3 kernels) and 4 max pools (the first only spatial). In place of
    pool5 and the fc6 / fc7 layers: global average pooling, so any clip size
    works; the pools use ``ceil_mode`` so even a one-frame clip passes.
    feat_dim 512. DSM reports its C3D retrieval results with this kind of
    network (BN, no fc layers).
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1a = _conv_bn_relu(in_channels, 64)
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2), ceil_mode=True)
        self.conv2a = _conv_bn_relu(64, 128)
        self.pool2 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
        self.conv3a = _conv_bn_relu(128, 256)
        self.conv3b = _conv_bn_relu(256, 256)
        self.pool3 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
        self.conv4a = _conv_bn_relu(256, 512)
        self.conv4b = _conv_bn_relu(512, 512)
        self.pool4 = nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)
        self.conv5a = _conv_bn_relu(512, 512)
        self.conv5b = _conv_bn_relu(512, 512)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feat_dim = 512
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.conv1a(x))
        x = self.pool2(self.conv2a(x))
        x = self.pool3(self.conv3b(self.conv3a(x)))
        x = self.pool4(self.conv4b(self.conv4a(x)))
        x = self.conv5b(self.conv5a(x))
        return self.avgpool(x).flatten(1)  # (B, 512)


def build_c3d(*, in_channels: int = 3) -> nn.Module:
    """C3D with BN and global pooling; feat_dim 512."""
    return C3D(in_channels)


def build_resnet10_2d(*, in_channels: int = 3) -> nn.Module:
    """2D ResNet-10 (BasicBlock, layers [1, 1, 1, 1]) on images ``(B, C, H, W)``; feat_dim 512.

    CMD's keyframe (I-frame) encoder. torchvision ResNet names, ``fc`` an identity.
    """
    from torchvision.models import resnet as tv_resnet

    model = tv_resnet.ResNet(tv_resnet.BasicBlock, [1, 1, 1, 1])
    model.conv1 = _replace_first_conv(model.conv1, in_channels)
    model.fc = nn.Identity()
    model.feat_dim = 512
    return model


class TinyNet(nn.Module):
    """A very small 3D conv net for CPU tests and demos: 3 conv layers, feat_dim 64.

    Conv 3x3x3 with 16, 32, 64 channels, each with BN and ReLU; the first
    stride (1, 2, 2), the next two stride 2; then global average pooling.
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        if in_channels < 1:
            raise InputError(f"in_channels must be >= 1, got {in_channels}")
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out, stride in ((16, (1, 2, 2)), (32, 2), (64, 2)):
            layers += [
                nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feat_dim = 64

    def forward(self, x: Tensor) -> Tensor:
        return self.avgpool(self.features(x)).flatten(1)  # (B, 64)


def build_tiny(*, in_channels: int = 3) -> nn.Module:
    """:class:`TinyNet`; feat_dim 64."""
    return TinyNet(in_channels)


BACKBONES: dict[str, Callable[..., nn.Module]] = {name: globals()[f"build_{name}"] for name in BACKBONE_SPECS}
"""Registry: backbone name (also the CLI value) -> its builder ``build_<name>``; the names, feature
sizes and inputs are in :data:`vssl.models.specs.BACKBONE_SPECS`. All but ``resnet10_2d`` take clips."""


def build_backbone(name: str, **kwargs) -> nn.Module:
    """Build the backbone registered as ``name`` with randomly initialised weights.

    Args:
        name: a key of :data:`BACKBONES`.
        **kwargs: passed to the builder, e.g. ``in_channels=2`` (every
            builder but ``s3d`` takes it).

    Returns:
        An ``nn.Module`` mapping ``(B, C, T, H, W)`` (``resnet10_2d``:
        ``(B, C, H, W)``) to ``(B, model.feat_dim)``.

    Raises:
        InputError: unknown name, or an argument the builder does not take.
    """
    try:
        builder = BACKBONES[name]
    except KeyError:
        raise InputError(
            f"unknown backbone {name!r}; choose one of: {', '.join(sorted(BACKBONES))}"
        ) from None
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise InputError(
            f"backbone {name!r} takes no argument {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) or 'none'}"
        )
    return builder(**kwargs)


_WRAPPER_PREFIXES = ("_orig_mod.", "module.")  # torch.compile, DistributedDataParallel


def backbone_state_dict(model: nn.Module) -> OrderedDict[str, Tensor]:
    """The backbone's state dict in the backbone's own (torchvision) names.

    Strips the prefixes that ``torch.compile`` (``_orig_mod.``) and DDP
    (``module.``) add, so that, e.g., a trained ``r3d_18`` backbone loads into
    ``torchvision.models.video.r3d_18()`` with ``load_state_dict(sd,
    strict=False)`` reporting only ``fc.weight`` and ``fc.bias`` missing
    (``s3d``: only ``classifier.1.*``). Tensors are shared, not copied.
    """
    out: OrderedDict[str, Tensor] = OrderedDict()
    for key, value in model.state_dict().items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key = key[len(prefix):]
                    stripped = True
        out[key] = value
    return out


def to_channels_last_3d(model: nn.Module) -> nn.Module:
    """Put 5-D parameters and buffers in ``torch.channels_last_3d`` (4-D ones in ``channels_last``), in place.

    With bf16 autocast this is the fast layout for 3D convolutions on recent
    GPUs (R3D-18 on an H100: 568 -> 979 clips/s, see RECIPES.md). The inputs
    follow: every convolution gets a forward pre-hook that puts its input in the
    same layout (a no-op when it already is, as after the first layer), so the
    layout is applied here once for every network of a method and callers feed
    plain tensors. Unlike ``model.to(memory_format=torch.channels_last_3d)`` this
    also accepts models holding 4-D weights (2D convs).

    Returns:
        ``model`` itself.
    """
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.dim() == 5:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last_3d)
            elif tensor.dim() == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    for m in model.modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d)) and not getattr(m, "_vssl_channels_last", False):
            m.register_forward_pre_hook(_channels_last_input)
            m._vssl_channels_last = True
    return model


def _channels_last_input(module: nn.Module, args: tuple) -> tuple:
    x = args[0]
    if x.dim() == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    elif x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *args[1:])
