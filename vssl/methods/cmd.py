"""CMD: context and motion decoupling with keyframes and motion vectors of the compressed stream.

Huang et al., "Self-Supervised Video Representation Learning by Context and
Motion Decoupling", CVPR 2021 (https://arxiv.org/abs/2104.00862). RECIPES.md, CMD,
and the reference code (public copy TonyAlbertWan/CPaR: ``pretrain.py``,
``dataset/dataset.py``, ``dataset/transforms.py``, ``cfg/ucf_config.py``,
``models/transformer.py``). Every behaviour, its reference source, the vssl
default and the option that keeps the alternative: docs/fidelity.md, "CMD".

* keyframes (I-frames) carry context, motion vectors carry motion;
* clip of 16 frames at temporal stride 4; motion target: the ``mv_len`` (8)
  motion-vector frames starting ``mv_gap`` (2) frames after the clip's last
  frame; ``mv_negatives`` (3) negative windows of the same video that do not
  overlap it (sampling in :class:`vssl.data.dataset.ClipDataset`), each with
  its own random crop and flip (``neg_crop="own"``);
* vectors as dense fields at the crop size (``mv_size=0``), in source-video
  pixels (``mv_units="source"``), cropped with the clip's box but neither
  rescaled nor negated on a flip (``mv_faithful=True``), clamped to +-10 and
  divided by 10;
* networks: the video backbone, a 2D ResNet-10 keyframe encoder, a 3D
  ResNet-10 motion-vector encoder (``in_channels=2``), and a transformer
  encoder-decoder (:class:`vssl.models.motion_predictor.DenseMotionPredictor`)
  from the backbone's feature map to one predicted motion feature per location
  of the motion encoder's feature map (``motion_target="dense"``);
* context matching: the pooled clip feature predicts its keyframe's feature,
  contrasted with the other keyframes of the batch (one way,
  ``context_loss="oneway"``); motion prediction: each predicted location
  against the true motion feature at every location of every positive and
  negative window of the batch (:func:`vssl.losses.dense_motion.dense_motion_logits`);
  tau 0.1;
* clip augmentation: crop (0.2, 1), flip, blur p=0.5, colour jitter p=0.5, grey
  p=0.2; the keyframe its own crop, flip and colours; ImageNet statistics;
* SGD Nesterov, weight decay 1e-3, lr 5e-4 x total batch, 5 warm-up epochs,
  cosine, 200 epochs, gradient norm clipped at 15.

``motion_target="pooled"`` keeps the earlier vssl predictor: the pooled clip
feature expanded into ``predictor_tokens`` tokens, mixed by a small transformer
encoder and pooled again, contrasted per clip against the batch and its own
negatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.dataset import IMAGENET_MEAN, IMAGENET_STD, KINETICS_MEAN, KINETICS_STD
from vssl.data.requires import KeyframePick, MvSampling, MvUnits, Requires
from vssl.data.transforms import (
    CropParams,
    normalize,
    sample_crop_params,
    transform_motion_vectors,
)
from vssl.losses import info_nce_logits
from vssl.losses.dense_motion import dense_motion_logits
from vssl.methods.common import (
    StepOut,
    float_clips,
    float_images,
    make_augment,
    no_autocast,
    top1,
)
from vssl.models import MLPHead, build_backbone
from vssl.models.motion_predictor import DenseMotionPredictor
from vssl.utils.typed import check_choices


@dataclass(frozen=True)
class Config:
    """CMD hyperparameters; defaults follow the reference code (docs/fidelity.md, CMD)."""

    temperature: float = 0.1
    proj_dim: int = 128
    crop: int = 112
    min_scale: float = 0.2
    jitter_p: float = 0.5  # reference ColorJitter(p=0.5); 0.8 = the MoCo v2 value vssl used before
    normalize: Literal["imagenet", "kinetics"] = "imagenet"  # reference cfg.mean/std; kinetics: torchvision video statistics
    mv_len: int = 8  # frames of the future window
    mv_gap: int = 2  # frames between the clip's last frame and the future window
    mv_negatives: int = 3
    mv_sampling: MvSampling = "reference"  # "legacy": clip-anywhere, future clipped to the video, old negatives
    mv_clamp: float = 10.0  # px; then divided by this
    mv_faithful: bool = True
    mv_units: MvUnits = "source"  # faithful values in source-video pixels; "load" = load-size pixels
    mv_size: int = 0  # grid side of the cropped vector field; 0 = crop (the reference's per-pixel field)
    neg_crop: Literal["own", "shared"] = "own"  # negatives: their own crop and flip; "shared" = the positive's box
    mv_encoder: str = "r3d_10"
    keyframe_encoder: str = "resnet10_2d"
    keyframe_size: int = 0  # 0 = crop
    keyframe_pick: KeyframePick = "window"  # I-frame drawn within keyframe_margin of the clip; "nearest" to its centre
    keyframe_margin: int = 5
    context_loss: Literal["oneway", "symmetric"] = "oneway"  # clip -> keyframe; "symmetric" adds keyframe -> clip
    motion_target: Literal["dense", "pooled"] = "dense"  # per-location prediction and contrast; pooled: one vector per clip
    predictor_dim: int = 0  # 0 = the backbone's feat_dim (512 for the ResNets, as the reference)
    predictor_heads: int = 8
    predictor_layers: int = 2  # encoder layers
    predictor_decoder_layers: int = 4  # dense only
    predictor_dropout: float = 0.1  # dense only
    predictor_tokens: int = 4  # pooled only
    head_bn: bool = True  # batch norm in the projection heads (the reference's heads have it)
    context_weight: float = 1.0
    motion_weight: float = 1.0

    @classmethod
    def tiny(cls) -> Config:
        """The CPU tests' settings (tiny backbone, small crops, heads and queues)."""
        return cls(crop=24, mv_encoder='tiny', mv_len=4, mv_size=8, predictor_dim=32, mv_negatives=2)

    def __post_init__(self):
        check_choices(self, "cmd")
        if self.mv_len < 1 or self.mv_negatives < 0 or self.mv_gap < 0:
            raise ValueError(f"cmd mv_len must be >= 1, mv_negatives and mv_gap >= 0, got "
                             f"{self.mv_len}, {self.mv_negatives}, {self.mv_gap}")
        if self.mv_size < 0 or self.keyframe_margin < 0:
            raise ValueError(f"cmd mv_size and keyframe_margin must be >= 0, got {self.mv_size}, {self.keyframe_margin}")
        if not 0.0 <= self.jitter_p <= 1.0 or not 0.0 <= self.predictor_dropout < 1.0:
            raise ValueError(f"cmd jitter_p must be in [0, 1] and predictor_dropout in [0, 1), got "
                             f"{self.jitter_p}, {self.predictor_dropout}")
        if self.predictor_dim < 0 or (self.predictor_dim and self.predictor_dim % self.predictor_heads):
            raise ValueError(f"cmd predictor_dim {self.predictor_dim} must be divisible by predictor_heads "
                             f"{self.predictor_heads}")


class MotionPredictor(nn.Module):
    """``motion_target="pooled"``: pooled clip feature ``(B, in_dim)`` -> predicted motion projection ``(B, out_dim)``."""

    def __init__(self, in_dim: int, dim: int, tokens: int, layers: int, heads: int, out_dim: int):
        super().__init__()
        self.tokens, self.dim = tokens, dim
        self.inp = nn.Linear(in_dim, dim * tokens)
        self.pos = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = MLPHead(dim, dim, out_dim)

    def forward(self, h: Tensor) -> Tensor:
        t = self.inp(h).view(h.shape[0], self.tokens, self.dim) + self.pos  # (B, L, d)
        return self.out(self.transformer(t).mean(1))


def _motion_logits(p: Tensor, z: Tensor, z_neg: Tensor | None, temperature: float) -> Tensor:
    """Pooled logits ``(B, B [+ N])``: prediction i against every true motion feature of the batch
    (positive on the diagonal) and its own N negatives ``(B, N, D)``. Inputs normalised here."""
    p, z = F.normalize(p, dim=1), F.normalize(z, dim=1)
    logits = p @ z.t()
    if z_neg is not None:
        logits = torch.cat([logits, torch.einsum("bd,bnd->bn", p, F.normalize(z_neg, dim=2))], dim=1)
    return logits / temperature


def forward_with_map(net: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(pooled features, last feature map (B, C, T, H, W))`` of a registered backbone: the map is the
    input of its global ``avgpool``, caught by a forward pre-hook (the builders keep no other handle)."""
    store: list[Tensor] = []
    handle = net.avgpool.register_forward_pre_hook(lambda _m, args: store.append(args[0]))
    try:
        out = net(x)
    finally:
        handle.remove()
    return out, store[0]


def _tokens(fmap: Tensor) -> Tensor:
    """``(B, C, T, H, W)`` -> ``(B, T*H*W, C)``."""
    return fmap.flatten(2).transpose(1, 2)


class CMD(nn.Module):
    """CMD: context matching (clip -> keyframe) + motion prediction (clip -> near-future vectors)."""

    Config = Config
    RECIPE = {
        "data": {"clip_len": 16, "stride": 4},
        # lr 5e-4 x total batch = 0.128 at the base batch 256, scaled linearly; cfg.clip_gradient = 15
        "optim": {"lr": 0.128, "lr_scaling": "linear", "base_batch": 256, "weight_decay": 1e-3,
                  "nesterov": True, "warmup_epochs": 5.0, "epochs": 200, "grad_clip": 15.0},
    }
    # demo preset (vssl.train.presets): no linear lr scaling (the recipe scales 5e-4 by batch / 256, which turns
    # any --lr into 1/16 of itself at batch 16), a flat 0.05 and no warm-up epochs (the demo warms up 20 steps),
    # a 14 x 14 motion-vector field instead of one per crop pixel (16x cheaper motion encoder)
    # one DataLoader worker (the demo's others have none): CMD's samples carry the motion vectors of the clip,
    # its future window and negatives and a keyframe, ~25 ms a step that a worker overlaps with the step (the
    # same samples; whole command on the 2-core VM: 110 s with one worker, 129 s with none, 128 s with four)
    PRESETS: dict = {"demo": {"crop": 56, "mv_encoder": "tiny", "mv_size": 14, "_optim.lr": 0.05,
                              "_optim.lr_scaling": "none", "_optim.warmup_epochs": 0.0, "_data.workers": 1}}

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.dense = cfg.motion_target == "dense"
        self.kf_2d = cfg.keyframe_encoder == "resnet10_2d"
        self.kf_encoder = build_backbone(cfg.keyframe_encoder)
        self.mv_encoder = build_backbone(cfg.mv_encoder, in_channels=2)
        if self.dense:
            for what, net in (("backbone", backbone), ("mv_encoder", self.mv_encoder)):
                if not isinstance(getattr(net, "avgpool", None), nn.Module):
                    raise ValueError(f"cmd motion_target=dense needs a {what} with a global 'avgpool' layer "
                                     "(every registered 3D backbone has one); use motion_target=pooled")
        d, bn = cfg.proj_dim, cfg.head_bn
        pdim = cfg.predictor_dim or feat_dim
        if pdim % cfg.predictor_heads:
            raise ValueError(f"cmd predictor_dim {pdim} (0 = feat_dim) must be divisible by predictor_heads "
                             f"{cfg.predictor_heads}")
        self.ctx_head = MLPHead(feat_dim, feat_dim, d, batch_norm=bn)
        self.kf_head = MLPHead(self.kf_encoder.feat_dim, self.kf_encoder.feat_dim, d, batch_norm=bn)
        if self.dense:
            self.predictor = DenseMotionPredictor(feat_dim, pdim, cfg.predictor_heads, cfg.predictor_layers,
                                                  cfg.predictor_decoder_layers, cfg.predictor_dropout)
            self.pred_head = MLPHead(pdim, pdim, d, batch_norm=bn)
        else:
            self.predictor = MotionPredictor(feat_dim, pdim, cfg.predictor_tokens, cfg.predictor_layers,
                                             cfg.predictor_heads, d)
        self.mv_head = MLPHead(self.mv_encoder.feat_dim, self.mv_encoder.feat_dim, d, batch_norm=bn)
        self.mv_size = cfg.mv_size or cfg.crop
        self.augment = make_augment(cfg.crop, cfg.min_scale, mv_keys=("mv",), mv_faithful=cfg.mv_faithful,
                                    extra_sizes={"mv": self.mv_size}, jitter_p=cfg.jitter_p)
        self.kf_augment = make_augment(cfg.keyframe_size or cfg.crop, cfg.min_scale, jitter_p=cfg.jitter_p)
        self.mean_std = (IMAGENET_MEAN, IMAGENET_STD) if cfg.normalize == "imagenet" else (KINETICS_MEAN, KINETICS_STD)

    @property
    def requires(self) -> Requires:
        c = self.cfg
        return Requires(views=1, keyframe=True, keyframe_pick=c.keyframe_pick, keyframe_margin=c.keyframe_margin,
                        mv=True, mv_len=c.mv_len, mv_gap=c.mv_gap, mv_negatives=c.mv_negatives,
                        mv_sampling=c.mv_sampling,
                        # the corrected transform converts load-size pixels: only faithful vectors stay in source pixels
                        mv_units=c.mv_units if c.mv_faithful else "load")

    def _mv_in(self, mv: Tensor) -> Tensor:
        c = self.cfg.mv_clamp
        return mv.clamp(-c, c) / c

    def _norm(self, x: Tensor) -> Tensor:
        return normalize(x, *self.mean_std)

    def _neg_fields(self, mv_neg: Tensor, params: CropParams) -> Tensor:
        """Negative windows ``(B, N, 2, T, h, w)`` -> cropped fields ``(B*N, 2, T, s, s)``: their own random
        crop and flip (the reference's ``MRandomCrop`` / ``MRandomHFlip``), or the positive's (``shared``)."""
        b, n = mv_neg.shape[:2]
        if self.cfg.neg_crop == "own":
            rep = sample_crop_params(b * n, params.crop.in_hw, scale=(self.cfg.min_scale, 1.0), device=mv_neg.device)
        else:
            rep = CropParams(params.crop.boxes.repeat_interleave(n, 0), params.crop.flip.repeat_interleave(n, 0),
                             params.crop.in_hw)
        neg = transform_motion_vectors(mv_neg.flatten(0, 1).float(), rep, self.mv_size,
                                       faithful=self.cfg.mv_faithful, value_hw=self.augment.size)
        return self._mv_in(neg)

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"]
        dev = clips.device
        mv_neg = batch.get("mv_neg")
        with no_autocast(dev):
            x, ex, params = self.augment(float_clips(clips[:, 0]), {"mv": batch["mv"].float()})
            mv = self._mv_in(ex["mv"])
            kf, _, _ = self.kf_augment(float_images(batch["keyframe"]))
            x, kf = self._norm(x), self._norm(kf)
            neg = self._neg_fields(mv_neg, params) if mv_neg is not None else None
        b = x.shape[0]
        if self.dense:
            h, fmap = forward_with_map(self.backbone, x)
        else:
            h, fmap = self.backbone(x), None
        # context matching: the pooled clip feature against its keyframe, in-batch negatives
        z_clip = self.ctx_head(h).float()
        z_kf = self.kf_head(self.kf_encoder(kf if self.kf_2d else kf[:, :, None])).float()
        lc, labels = info_nce_logits(z_clip, z_kf, temperature=self.cfg.temperature)
        loss_ctx = F.cross_entropy(lc, labels)
        if self.cfg.context_loss == "symmetric":
            loss_ctx = (loss_ctx + F.cross_entropy(lc.t(), labels)) / 2
        mv_all = mv if neg is None else torch.cat([mv, neg])  # positives first
        if self.dense:
            # motion prediction: one predicted feature per location vs every location of every window
            _, mmap = forward_with_map(self.mv_encoder, mv_all)
            z_all = self.mv_head(_tokens(mmap).flatten(0, 1)).float().view(mmap.shape[0], -1, self.cfg.proj_dim)
            p = self.predictor(fmap, tuple(mmap.shape[2:]))
            p = self.pred_head(p.flatten(0, 1)).float().view(b, -1, self.cfg.proj_dim)
            lm, lm_labels = dense_motion_logits(p, z_all, temperature=self.cfg.temperature)
        else:
            p = self.predictor(h).float()
            z_all = self.mv_head(self.mv_encoder(mv_all)).float()
            z_mv, z_neg = z_all[:b], (z_all[b:].view(b, -1, z_all.shape[1]) if neg is not None else None)
            lm, lm_labels = _motion_logits(p, z_mv, z_neg, self.cfg.temperature), labels
        loss_mot = F.cross_entropy(lm, lm_labels)
        loss = self.cfg.context_weight * loss_ctx + self.cfg.motion_weight * loss_mot
        logs = {"loss_context": loss_ctx.detach(), "loss_motion": loss_mot.detach(),
                "acc_context": top1(lc, labels), "acc_motion": top1(lm, lm_labels),
                "chance_motion": torch.tensor(float(lm.shape[1]), device=lm.device).log()}
        return StepOut(loss, logs)

    forward = training_step
