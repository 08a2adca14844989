"""A random batch with the layout of a collated :class:`~vssl.data.dataset.ClipDataset` batch,
for tests and for ``vssl bench pretrain`` (a method timed without any data loading)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from vssl.data.requires import Requires


def synthetic_batch(
    requires: Requires | Mapping[str, Any] | None,
    batch_size: int,
    clip_len: int,
    size: tuple[int, int] = (128, 171),
    *,
    device: torch.device | str = "cpu",
    mv_grid: tuple[int, int] | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """A random batch with the layout of a collated :class:`ClipDataset` batch (CPU decode),
    for tests and for benchmarking a method without any data loading.

    Pixels are uniform random uint8, motion vectors standard normal (load-size pixels).
    """
    req = Requires.of(requires)
    g = torch.Generator().manual_seed(seed)
    h, w = size
    gh, gw = mv_grid or (max(1, h // 4), max(1, w // 4))
    b, t, v = batch_size, clip_len * req.clip_factor, req.views

    def u8(*shape):
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)

    out: dict[str, torch.Tensor] = {
        "index": torch.arange(b), "label": torch.zeros(b, dtype=torch.long),
        "t0": torch.zeros(b, v, dtype=torch.long), "clips": u8(b, v, t, h, w, 3),
    }
    if req.speed_sampling:
        sp = torch.as_tensor(req.speeds)
        out["speed"] = sp[torch.randint(0, len(sp), (b, v), generator=g)]
    if req.neg_clip:
        out["neg"] = u8(b, t, h, w, 3)
        out["neg_t0"] = torch.zeros(b, dtype=torch.long)
    if req.keyframe:
        out["keyframe"] = u8(b, h, w, 3)
    if req.mv:
        n_mv = t if req.mv_window == "clip" else req.mv_len
        out["mv"] = torch.randn(b, 2, n_mv, gh, gw, generator=g).half()
        if req.mv_window == "clip":
            out["mv_valid"] = torch.ones(b)
        if req.mv_negatives > 0:
            out["mv_neg"] = torch.randn(b, req.mv_negatives, 2, n_mv, gh, gw, generator=g).half()
    return {k: x.to(device) for k, x in out.items()}
