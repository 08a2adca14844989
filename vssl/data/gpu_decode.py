"""GPU JPEG decoding of a collated batch (``decode="gpu"``).

With ``decode="gpu"`` the :class:`~vssl.data.dataset.ClipDataset` workers return the JPEG
bytes of every frame and :func:`~vssl.data.dataset.collate` packs them into one uint8 blob
with offsets. The training step (:func:`vssl.train.engine.to_device`) decodes that blob here
in one batched ``torchvision.io.decode_jpeg(..., device="cuda")`` call (nvJPEG) and resizes
the frames to the load size, giving the same ``clips`` / ``neg`` layout as CPU decoding.
"""

from __future__ import annotations

from typing import Any

import torch


def split_jpegs(blob: torch.Tensor, offsets: torch.Tensor) -> list[torch.Tensor]:
    """The JPEGs of a collated ``*_jpeg`` blob as a list of 1-D uint8 views."""
    o = offsets.tolist()
    return [blob[o[i] : o[i + 1]] for i in range(len(o) - 1)]


def decode_jpeg_batch(
    jpegs: list[torch.Tensor], size: tuple[int, int], device: torch.device | str = "cuda"
) -> torch.Tensor:
    """Decode JPEG frames in one batched call and resize them to ``size``.

    Args:
        jpegs: uint8 1-D tensors (CPU), one JPEG each.
        size: output ``(H, W)``.
        device: ``"cuda"`` uses nvJPEG through ``torchvision.io.decode_jpeg``; ``"cpu"``
            works too (libjpeg-turbo), mostly for tests.

    Returns:
        uint8 ``(N, H, W, 3)`` RGB on ``device`` (a channels-last view).
    """
    import warnings

    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its image codecs in favour of torchcodec
        warnings.simplefilter("ignore", DeprecationWarning)
        imgs = decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=device)
    if isinstance(imgs, torch.Tensor):
        imgs = [imgs]
    h, w = size
    out = torch.empty((len(imgs), 3, h, w), dtype=torch.uint8, device=device)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(imgs):
        groups.setdefault(tuple(im.shape[-2:]), []).append(i)
    for (gh, gw), idx in groups.items():
        x = torch.stack([imgs[i] for i in idx])
        if (gh, gw) != (h, w):
            x = torch.nn.functional.interpolate(x.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
            x = x.round_().clamp_(0, 255).to(torch.uint8)
        out[torch.as_tensor(idx, device=device)] = x
    return out.permute(0, 2, 3, 1)


def decode_batch_on_device(batch: dict[str, Any], size: tuple[int, int], device: torch.device | str) -> dict[str, Any]:
    """Replace ``clips_jpeg`` / ``neg_jpeg`` of a collated batch by decoded uint8 tensors on ``device``.

    ``clips`` becomes ``(B, V, T, H, W, 3)`` and ``neg`` ``(B, T, H, W, 3)``, as
    with CPU decoding.
    """
    b = len(batch["index"])
    for key, name in (("clips_jpeg", "clips"), ("neg_jpeg", "neg")):
        if key not in batch:
            continue
        per = int(batch.pop(key + "_count"))
        blob, offsets = batch.pop(key).cpu(), batch.pop(key + "_offsets").cpu()
        frames = decode_jpeg_batch(split_jpegs(blob, offsets), size, device)
        if name == "clips":
            n_views = int(batch["t0"].shape[1])
            frames = frames.reshape(b, n_views, per // n_views, *frames.shape[1:])
        else:
            frames = frames.reshape(b, per, *frames.shape[1:])
        batch[name] = frames
    return batch
