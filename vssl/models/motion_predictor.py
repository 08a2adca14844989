"""CMD's dense motion predictor: a transformer encoder-decoder from the clip's feature map
to one predicted motion feature per location of the motion-vector encoder's feature map.

Structure of the CMD reference (``pretrain.py`` ``Net`` and ``models/transformer.py`` of
the public copy TonyAlbertWan/CPaR), re-implemented here:

* the backbone's last feature map ``(B, C, T, H, W)`` is flattened to ``T * H * W``
  tokens and projected to ``dim`` by a bias-free linear layer (the encoder memory);
* encoder: post-norm layers of self-attention and a feed-forward block of width
  ``dim`` (ReLU), learned position embeddings added to queries and keys of
  every attention;
* decoder: one query per target location, starting from zeros, with learned
  target position embeddings; self-attention, cross-attention to the memory,
  feed-forward, post-norm;
* dropout 0.1, Xavier-uniform initialisation of the attention and feed-forward
  weights, position embeddings uniform in [0, 1).

Departure (named in docs/fidelity.md): the reference learns one embedding per
flattened location of a fixed grid (``nn.Embedding(T * H * W, dim)``); here the
embedding of location ``(t, y, x)`` is the sum of learned per-axis embeddings, so
the grid sizes need not be known when the model is built (they follow from the
clip length and crop, which the method config does not fix).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AxisPositions(nn.Module):
    """Learned position embedding of a ``(T, H, W)`` grid: ``E_t[t] + E_y[y] + E_x[x]`` ``(T*H*W, dim)``."""

    def __init__(self, dim: int, max_len: int = 64) -> None:
        super().__init__()
        self.max_len = max_len
        self.t, self.y, self.x = (nn.Parameter(torch.empty(max_len, dim)) for _ in range(3))
        for p in (self.t, self.y, self.x):
            nn.init.uniform_(p)

    def forward(self, shape: tuple[int, int, int]) -> Tensor:
        t, h, w = shape
        if max(shape) > self.max_len:
            raise ValueError(f"feature grid {tuple(shape)} exceeds {self.max_len} positions per axis")
        pos = self.t[:t, None, None] + self.y[None, :h, None] + self.x[None, None, :w]
        return pos.reshape(t * h * w, -1)


class _EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        q = x + pos
        x = self.norm1(x + self.drop1(self.attn(q, q, x, need_weights=False)[0]))
        return self.norm2(x + self.drop2(self.ff(x)))


class _DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.drop1, self.drop2, self.drop3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: Tensor, memory: Tensor, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        q = x + q_pos
        x = self.norm1(x + self.drop1(self.self_attn(q, q, x, need_weights=False)[0]))
        x = self.norm2(x + self.drop2(self.cross_attn(x + q_pos, memory + k_pos, memory, need_weights=False)[0]))
        return self.norm3(x + self.drop3(self.ff(x)))


class DenseMotionPredictor(nn.Module):
    """Clip feature map ``(B, C, T, H, W)`` -> predicted motion features ``(B, t*h*w, dim)``
    for a target grid ``(t, h, w)``.

    Args:
        in_dim: channels ``C`` of the clip feature map.
        dim: transformer width (the reference: 512, its ``hidden_dim``).
        heads: attention heads (reference 8); must divide ``dim``.
        encoder_layers, decoder_layers: reference 2 and 4.
        dropout: reference 0.1.
        max_len: largest grid side per axis of the position embeddings.
    """

    def __init__(self, in_dim: int, dim: int, heads: int = 8, encoder_layers: int = 2, decoder_layers: int = 4,
                 dropout: float = 0.1, max_len: int = 64) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"predictor dim {dim} is not divisible by {heads} heads")
        self.dim = dim
        self.inp = nn.Linear(in_dim, dim, bias=False)
        self.src_pos = AxisPositions(dim, max_len)
        self.tgt_pos = AxisPositions(dim, max_len)
        self.encoder = nn.ModuleList(_EncoderLayer(dim, heads, dropout) for _ in range(encoder_layers))
        self.decoder = nn.ModuleList(_DecoderLayer(dim, heads, dropout) for _ in range(decoder_layers))
        for mod in (self.encoder, self.decoder):
            for p in mod.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        nn.init.normal_(self.inp.weight, std=0.01)  # the reference's init of its linear layers

    def forward(self, fmap: Tensor, target_shape: tuple[int, int, int]) -> Tensor:
        b, _, t, h, w = fmap.shape
        memory = self.inp(fmap.flatten(2).transpose(1, 2))  # (B, T*H*W, dim)
        k_pos = self.src_pos((t, h, w)).to(memory.dtype)
        for layer in self.encoder:
            memory = layer(memory, k_pos)
        q_pos = self.tgt_pos(tuple(int(s) for s in target_shape)).to(memory.dtype)
        x = torch.zeros(b, q_pos.shape[0], self.dim, device=memory.device, dtype=memory.dtype)
        for layer in self.decoder:
            x = layer(x, memory, q_pos, k_pos)
        return x
