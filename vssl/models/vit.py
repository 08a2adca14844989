"""A plain video ViT with tubelet embedding, for masked video modelling (VideoMAE, MGM).

Dosovitskiy et al. 2021 (https://arxiv.org/abs/2010.11929) with the video input of VideoMAE
(Tong et al. 2022, https://arxiv.org/abs/2203.12602): the clip ``(B, C, T, H, W)`` is cut into
non-overlapping tubelets of ``2 x 16 x 16`` pixels (a 3D convolution with that kernel and
stride), each a token; fixed sine-cosine position embeddings; pre-norm transformer blocks with
joint space-time attention (:func:`torch.nn.functional.scaled_dot_product_attention`); no class
token. ``forward`` returns the mean of the final tokens after a layer norm ``(B, feat_dim)``, as
every vssl backbone; :meth:`VideoViT.tokens` runs the encoder on a subset of the tokens only
(the visible ones of a masked clip, the speed point of VideoMAE).

The position embedding is factorised over the three axes: the ``D`` channels are split
into three parts for the (t, h, w) token coordinates, each the usual 1D sine-cosine table, so a
clip of any size (a multiple of the tubelet) runs with no table to interpolate.

Sizes (ViT papers): ``vit_s`` 384 wide, 12 blocks, 6 heads; ``vit_b`` 768, 12, 12;
``vit_tiny`` 64 wide, 2 blocks, 4 heads and 2 x 8 x 8 tubelets, for CPU tests and the demo.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vssl.errors import InputError


def sincos_1d(positions: Tensor, dim: int) -> Tensor:
    """``(N,)`` positions -> ``(N, dim)`` sine-cosine features (``dim`` even): half sines, half
    cosines of ``pos / 10000^(2i/dim)`` (Vaswani et al. 2017)."""
    if dim % 2:
        raise ValueError(f"sincos_1d needs an even dim, got {dim}")
    omega = 1.0 / (10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2)))
    angles = positions.double()[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_3d(grid: tuple[int, int, int], dim: int) -> Tensor:
    """Fixed position embedding ``(T' H' W', dim)`` of a token grid, token order t-major then h, w.

    The channels are split into three even parts (t gets what is left over), one 1D table each.
    """
    d_hw = 2 * (dim // 6)
    d_t = dim - 2 * d_hw
    if d_t % 2:
        raise ValueError(f"sincos_3d needs an even dim, got {dim}")
    t, h, w = grid
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.cat([sincos_1d(tt.flatten(), d_t), sincos_1d(hh.flatten(), d_hw), sincos_1d(ww.flatten(), d_hw)], 1)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop the residual branch per sample with probability ``p``."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):
    """Multi-head self-attention over ``(B, N, D)`` tokens with ``scaled_dot_product_attention``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} must be divisible by the number of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (B, h, N, d/h)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))`` (GELU, ratio 4)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def init_transformer(module: nn.Module) -> None:
    """Xavier-uniform linear weights, zero biases, unit layer norms (the MAE / ViT practice)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class VideoViT(nn.Module):
    """Video ViT: tubelet embedding, fixed 3D sine-cosine positions, ``depth`` blocks, final norm.

    Args:
        dim: token width (also ``feat_dim``).
        depth: number of blocks.
        heads: attention heads.
        patch: tubelet ``(t, h, w)`` in frames and pixels.
        in_channels: input channels (3 for RGB).
        mlp_ratio: MLP hidden width / ``dim``.
        drop_path: stochastic depth of the last block (linearly from 0 over the blocks).

    Attributes:
        feat_dim: ``dim``.
        patch: the tubelet.
    """

    def __init__(self, dim: int, depth: int, heads: int, *, patch: tuple[int, int, int] = (2, 16, 16),
                 in_channels: int = 3, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        if in_channels < 1:
            raise InputError(f"in_channels must be >= 1, got {in_channels}")
        if not 0.0 <= drop_path < 1.0:
            raise InputError(f"drop_path must be in [0, 1), got {drop_path}")
        self.feat_dim, self.patch, self.in_channels = int(dim), tuple(int(p) for p in patch), int(in_channels)
        self.patch_embed = nn.Conv3d(in_channels, dim, kernel_size=self.patch, stride=self.patch)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.set_drop_path(drop_path)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        init_transformer(self)
        w = self.patch_embed.weight  # as a linear layer over the flattened tubelet (MAE)
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        self._pos: dict[tuple, Tensor] = {}

    def grid(self, x: Tensor) -> tuple[int, int, int]:
        """Token grid ``(T', H', W')`` of a clip ``(B, C, T, H, W)``; one-line InputError when the
        clip is not a multiple of the tubelet."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise InputError(f"ViT takes clips (B, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        size = tuple(int(s) for s in x.shape[2:])
        if any(s % p for s, p in zip(size, self.patch)):
            raise InputError(f"clip T x H x W {size[0]}x{size[1]}x{size[2]} must be a multiple of the ViT tubelet "
                             f"{self.patch[0]}x{self.patch[1]}x{self.patch[2]} (choose clip length and crop to fit)")
        return tuple(s // p for s, p in zip(size, self.patch))

    def pos_embed(self, grid: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> Tensor:
        """``(N, D)`` fixed position embedding of ``grid`` (cached per grid and device)."""
        key = (grid, str(device))
        if key not in self._pos:
            self._pos[key] = sincos_3d(grid, self.feat_dim).to(device)
        return self._pos[key].to(dtype)

    def embed(self, x: Tensor) -> Tensor:
        """Clip ``(B, C, T, H, W)`` -> ``(B, N, D)`` tokens with positions, ``N = T' H' W'`` (t-major)."""
        grid = self.grid(x)
        tok = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, N, D)
        return tok + self.pos_embed(grid, tok.device, tok.dtype)

    def tokens(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """Encoder output ``(B, N_keep, D)`` (after the final norm) of the tokens ``keep``.

        Args:
            x: clip ``(B, C, T, H, W)``.
            keep: int64 ``(B, N_keep)`` token indices (into the t-major grid) that go through
                the blocks, the same number per clip; None = all ``N`` tokens in order.
        """
        tok = self.embed(x)
        if keep is not None:
            tok = torch.gather(tok, 1, keep[..., None].expand(-1, -1, tok.shape[-1]))
        for blk in self.blocks:
            tok = blk(tok)
        return self.norm(tok)

    def forward(self, x: Tensor) -> Tensor:
        return self.tokens(x).mean(1)  # (B, D)

    def set_drop_path(self, rate: float) -> None:
        """Stochastic depth ``rate`` at the last block, linearly from 0 at the first (ViT / VideoMAE
        finetuning practice); 0 = off. Only active in training mode."""
        if not 0.0 <= rate < 1.0:
            raise InputError(f"drop path must be in [0, 1), got {rate}")
        n = len(self.blocks)
        for i, blk in enumerate(self.blocks):
            blk.drop_path.p = rate * i / max(1, n - 1)

    @property
    def num_layers(self) -> int:
        """Layers for layer-wise lr decay: the embedding (0), each block (1 .. depth), the final norm."""
        return len(self.blocks) + 2

    def layer_id(self, name: str) -> int:
        """Layer of a parameter named ``name`` (relative to this module): ``patch_embed.*`` 0,
        ``blocks.i.*`` i + 1, anything after the blocks (``norm``) ``depth + 1``."""
        if name.startswith("patch_embed."):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return len(self.blocks) + 1


VIT_SIZES: dict[str, dict] = {
    "vit_tiny": {"dim": 64, "depth": 2, "heads": 4, "patch": (2, 8, 8)},
    "vit_s": {"dim": 384, "depth": 12, "heads": 6, "patch": (2, 16, 16)},
    "vit_b": {"dim": 768, "depth": 12, "heads": 12, "patch": (2, 16, 16)},
}
"""Name -> width, depth, heads and tubelet of the registered ViTs."""


def build_vit_tiny(*, in_channels: int = 3, drop_path: float = 0.0) -> nn.Module:
    """Tiny video ViT for CPU tests and the demo: 64 wide, 2 blocks, 4 heads, 2x8x8 tubelets; feat_dim 64."""
    return VideoViT(**VIT_SIZES["vit_tiny"], in_channels=in_channels, drop_path=drop_path)


def build_vit_s(*, in_channels: int = 3, drop_path: float = 0.0) -> nn.Module:
    """ViT-S/16 on 2x16x16 tubelets: 384 wide, 12 blocks, 6 heads; feat_dim 384."""
    return VideoViT(**VIT_SIZES["vit_s"], in_channels=in_channels, drop_path=drop_path)


def build_vit_b(*, in_channels: int = 3, drop_path: float = 0.0) -> nn.Module:
    """ViT-B/16 on 2x16x16 tubelets: 768 wide, 12 blocks, 12 heads; feat_dim 768."""
    return VideoViT(**VIT_SIZES["vit_b"], in_channels=in_channels, drop_path=drop_path)


VIT_BACKBONES = {"vit_tiny": build_vit_tiny, "vit_s": build_vit_s, "vit_b": build_vit_b}


def token_count(clip_len: int, crop: int, patch: tuple[int, int, int]) -> int:
    """Tokens of a ``clip_len x crop x crop`` clip."""
    return math.prod(s // p for s, p in zip((clip_len, crop, crop), patch))
