"""The small synthetic cache the benchmarks use when they are given none."""

from __future__ import annotations

from pathlib import Path


def synth_cache(root: Path, *, videos: int, frames: int, size: tuple[int, int], classes: int = 4,
                workers: int = 1, min_frames: int = 16) -> Path:
    """``vssl synth`` (``classes`` x ``videos / classes`` videos, at least one each) extracted into
    ``root/cache``; an existing complete cache there is reused."""
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = Path(root)
    if not (root / "cache" / "manifest.json").exists():
        make_synth(root / "src", classes=classes, videos_per_class=max(1, videos // classes), size=size,
                   frames=frames, seed=0, progress=False)
        extract(root / "src", root / "cache", ExtractOptions(workers=workers, min_frames=min_frames), quiet=True)
    return root / "cache"
