"""CMD: context and motion decoupling with keyframes and motion vectors of the compressed stream.

Huang et al., "Self-Supervised Video Representation Learning by Context and
Motion Decoupling", CVPR 2021 (https://arxiv.org/abs/2104.00862). RECIPES.md, CMD:

* keyframes (I-frames) carry context, motion vectors carry motion;
* clip of 16 frames at temporal stride 4; motion target = the motion-vector
  frames right after the clip (near future); 3 negative motion-vector clips per
  sample (here: near-future vectors of other segments of the same video);
* vectors as dense fields, clamped to +-10 px and divided by 10. The reference
  crops RGB and vectors with the same box but neither rescales the values on
  resize nor negates dx on a horizontal flip: ``mv_faithful=True`` (default)
  does the same, ``False`` corrects both (:func:`vssl.data.transforms.transform_motion_vectors`);
* networks: the video backbone, a 2D ResNet-10 keyframe encoder, a 3D
  ResNet-10 motion-vector encoder (``in_channels=2``), a transformer motion
  predictor; context matching = contrastive loss between clip and keyframe
  features, motion prediction = contrastive loss between predicted and true
  motion features, tau 0.1; separate MLP heads on the shared backbone;
* SGD Nesterov, weight decay 1e-3, lr 5e-4 x total batch, 5 warm-up epochs,
  cosine, 200 epochs.

Simplification (documented, not the paper's exact predictor): the paper's
encoder-decoder works on the backbone's feature map; here the pooled clip
feature is expanded into ``predictor_tokens`` tokens (a linear layer plus
position embeddings) that a small transformer encoder mixes before pooling,
so any registered backbone (which returns pooled features) works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.data.transforms import CropParams, transform_motion_vectors
from vssl.losses import info_nce_logits
from vssl.methods.common import StepOut, float_clips, float_images, make_augment, no_autocast, norm, prep, top1
from vssl.models import MLPHead, build_backbone


@dataclass(frozen=True)
class Config:
    """CMD hyperparameters (RECIPES.md)."""

    temperature: float = 0.1
    proj_dim: int = 128
    crop: int = 112
    min_scale: float = 0.2
    mv_len: int = 16  # near-future motion-vector frames
    mv_negatives: int = 3
    mv_clamp: float = 10.0  # px; then divided by this
    mv_faithful: bool = True
    mv_size: int = 28  # grid side of the cropped vector field (crop / 4: the 4x4 blocks)
    mv_encoder: str = "r3d_10"
    keyframe_encoder: str = "resnet10_2d"
    keyframe_size: int = 0  # 0 = crop
    predictor_dim: int = 256
    predictor_tokens: int = 4
    predictor_layers: int = 2
    predictor_heads: int = 4
    context_weight: float = 1.0
    motion_weight: float = 1.0

    def __post_init__(self):
        if self.mv_len < 1 or self.mv_negatives < 0:
            raise ValueError(f"cmd mv_len must be >= 1 and mv_negatives >= 0, got {self.mv_len}, {self.mv_negatives}")
        if self.predictor_dim % self.predictor_heads:
            raise ValueError("cmd predictor_dim must be divisible by predictor_heads")


class MotionPredictor(nn.Module):
    """Pooled clip feature ``(B, in_dim)`` -> predicted motion projection ``(B, out_dim)``."""

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
    """Logits ``(B, B [+ N])``: prediction i against every true motion feature of the batch
    (positive on the diagonal) and its own N negatives ``(B, N, D)``. Inputs normalised here."""
    p, z = F.normalize(p, dim=1), F.normalize(z, dim=1)
    logits = p @ z.t()
    if z_neg is not None:
        logits = torch.cat([logits, torch.einsum("bd,bnd->bn", p, F.normalize(z_neg, dim=2))], dim=1)
    return logits / temperature


class CMD(nn.Module):
    """CMD: context matching (clip vs keyframe) + motion prediction (clip -> near-future vectors)."""

    Config = Config
    RECIPE = {
        "data": {"clip_len": 16, "stride": 4},
        # lr 5e-4 x total batch = 0.128 at the base batch 256, scaled linearly
        "optim": {"lr": 0.128, "lr_scaling": "linear", "base_batch": 256, "weight_decay": 1e-3,
                  "nesterov": True, "warmup_epochs": 5.0, "epochs": 200},
    }
    views = ("rgb", "keyframe", "mv")

    def __init__(self, backbone: nn.Module, feat_dim: int, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.kf_2d = cfg.keyframe_encoder == "resnet10_2d"
        self.kf_encoder = build_backbone(cfg.keyframe_encoder)
        self.mv_encoder = build_backbone(cfg.mv_encoder, in_channels=2)
        d = cfg.proj_dim
        self.ctx_head = MLPHead(feat_dim, feat_dim, d)
        self.kf_head = MLPHead(self.kf_encoder.feat_dim, self.kf_encoder.feat_dim, d)
        self.predictor = MotionPredictor(feat_dim, cfg.predictor_dim, cfg.predictor_tokens, cfg.predictor_layers,
                                         cfg.predictor_heads, d)
        self.mv_head = MLPHead(self.mv_encoder.feat_dim, self.mv_encoder.feat_dim, d)
        self.augment = make_augment(cfg.crop, cfg.min_scale, mv_keys=("mv",), mv_faithful=cfg.mv_faithful,
                                    extra_sizes={"mv": cfg.mv_size})
        self.kf_augment = make_augment(cfg.keyframe_size or cfg.crop, cfg.min_scale)
        self.channels_last = False

    @property
    def requires(self) -> dict:
        return {"views": 1, "keyframe": True, "mv": True, "mv_len": self.cfg.mv_len,
                "mv_negatives": self.cfg.mv_negatives}

    def _mv_in(self, mv: Tensor) -> Tensor:
        c = self.cfg.mv_clamp
        return mv.clamp(-c, c) / c

    def _encode_mv(self, mv: Tensor) -> Tensor:
        return self.mv_head(self.mv_encoder(prep(mv, self.channels_last)))

    def training_step(self, batch: dict) -> StepOut:
        clips = batch["clips"]
        dev = clips.device
        mv_neg = batch.get("mv_neg")
        with no_autocast(dev):
            x, ex, params = self.augment(float_clips(clips[:, 0]), {"mv": batch["mv"].float()})
            mv = self._mv_in(ex["mv"])
            kf, _, _ = self.kf_augment(float_images(batch["keyframe"]))
            x, kf = norm(x), norm(kf)
            if mv_neg is not None:
                b, n = mv_neg.shape[:2]
                rep = CropParams(params.crop.boxes.repeat_interleave(n, 0), params.crop.flip.repeat_interleave(n, 0),
                                 params.crop.in_hw)
                neg = transform_motion_vectors(mv_neg.flatten(0, 1).float(), rep, self.cfg.mv_size,
                                               faithful=self.cfg.mv_faithful, value_hw=self.augment.size)
                neg = self._mv_in(neg)
        b = x.shape[0]
        h = self.backbone(prep(x, self.channels_last))
        # context matching: clip <-> its keyframe, symmetric, in-batch negatives
        z_clip = self.ctx_head(h).float()
        z_kf = self.kf_head(self.kf_encoder(prep(kf if self.kf_2d else kf[:, :, None], self.channels_last))).float()
        lc, labels = info_nce_logits(z_clip, z_kf, temperature=self.cfg.temperature)
        loss_ctx = (F.cross_entropy(lc, labels) + F.cross_entropy(lc.t(), labels)) / 2
        # motion prediction: predicted vs true near-future motion features
        p = self.predictor(h).float()
        if mv_neg is not None:
            z_all = self._encode_mv(torch.cat([mv, neg])).float()
            z_mv, z_neg = z_all[:b], z_all[b:].view(b, -1, z_all.shape[1])
        else:
            z_mv, z_neg = self._encode_mv(mv).float(), None
        lm = _motion_logits(p, z_mv, z_neg, self.cfg.temperature)
        loss_mot = F.cross_entropy(lm, labels)
        loss = self.cfg.context_weight * loss_ctx + self.cfg.motion_weight * loss_mot
        logs = {"loss_context": loss_ctx.detach(), "loss_motion": loss_mot.detach(),
                "acc_context": top1(lc, labels), "acc_motion": top1(lm, labels)}
        return StepOut(loss, logs)

    forward = training_step
