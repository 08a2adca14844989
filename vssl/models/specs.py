"""What each registered backbone is, without importing torch (so ``vssl --help`` stays fast).

One entry per backbone: :data:`vssl.models.BACKBONES` maps the same names to their builders
(``build_<name>`` in :mod:`vssl.models.backbones`), and the CLI help and README table list these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackboneSpec:
    """Facts of one backbone.

    Attributes:
        feat_dim: size of the pooled feature ``(B, feat_dim)``.
        input: the clip it is meant for, ``"TxS"`` (T frames, S x S crop), e.g. ``"16x112"``;
            ``"image"`` for the 2D keyframe encoder.
        source: the architecture, in a few words.
    """

    feat_dim: int
    input: str
    source: str

    @property
    def clips(self) -> bool:
        return self.input != "image"


BACKBONE_SPECS: dict[str, BackboneSpec] = {
    "r3d_18": BackboneSpec(512, "16x112", "3D ResNet-18 (Tran et al. 2018), torchvision"),
    "r2plus1d_18": BackboneSpec(512, "16x112", "R(2+1)D-18 (Tran et al. 2018), torchvision"),
    "mc3_18": BackboneSpec(512, "16x112", "MC3-18, mixed 3D/2D convolutions, torchvision"),
    "s3d": BackboneSpec(1024, "16x224", "S3D (Xie et al. 2018), torchvision"),
    "c3d": BackboneSpec(512, "16x112", "C3D (Tran et al. 2015) with BN and global pooling"),
    "swin3d_t": BackboneSpec(768, "16x112", "Video Swin-T (Liu et al. 2022), torchvision"),
    "mvit_v2_s": BackboneSpec(768, "16x224", "MViTv2-S (Li et al. 2022), torchvision"),
    "r3d_10": BackboneSpec(512, "16x112", "3D ResNet-10 (CMD's motion-vector encoder)"),
    "resnet10_2d": BackboneSpec(512, "image", "2D ResNet-10 on keyframes (CMD's keyframe encoder)"),
    "tiny": BackboneSpec(64, "8x56", "3 conv layers, for CPU tests and the demo"),
    "vit_tiny": BackboneSpec(64, "8x64", "video ViT, 2 blocks, 2x8x8 tubelets (vssl.models.vit), for CPU tests"),
    "vit_s": BackboneSpec(384, "16x224", "video ViT-S/16, 2x16x16 tubelets (VideoMAE's input)"),
    "vit_b": BackboneSpec(768, "16x224", "video ViT-B/16, 2x16x16 tubelets (VideoMAE's input)"),
}
"""Registry facts: backbone name (also the CLI value) -> :class:`BackboneSpec`."""


def clip_backbones() -> list[str]:
    """Names of the backbones that take clips (all but the 2D keyframe encoder)."""
    return [name for name, spec in BACKBONE_SPECS.items() if spec.clips]


def backbone_help() -> str:
    """``--backbone`` help: every clip backbone with its feature size and input."""
    return "; ".join(f"{n} ({s.feat_dim}-d, {s.input})" for n, s in BACKBONE_SPECS.items() if s.clips)
