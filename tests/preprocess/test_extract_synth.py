"""Motion vectors of `vssl extract` against the ground truth of `vssl synth` (P- and B-frames)."""

from __future__ import annotations

import numpy as np
import pytest

from vssl.io import schema
from vssl.io.cache import Cache
from vssl.preprocess.extract import ExtractOptions, extract
from vssl.synth import make_synth


def object_cells(masks: np.ndarray, t: int) -> np.ndarray:
    """4x4 cells whose 8x8 block lies inside the object for frames t-3..t+3 (the
    references of a B-frame are up to 3 frames away; H.264 exports 8x8 and larger)."""
    H, W = masks.shape[1:]
    win = masks[max(t - 3, 0) : t + 4].all(0)
    hh, ww = H // 8 * 8, W // 8 * 8
    inside = win[:hh, :ww].reshape(H // 8, 8, W // 8, 8).all(axis=(1, 3))
    cells = np.zeros((-(-H // 4), -(-W // 4)), bool)
    cells[: hh // 4, : ww // 4] = np.repeat(np.repeat(inside, 2, 0), 2, 1)
    return cells


@pytest.fixture(scope="module")
def synth_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("mvsynth")
    make_synth(root / "data", classes=2, videos_per_class=3, size=(192, 144), frames=40, seed=3, bframes=2,
               progress=False)
    extract(root / "data", root / "cache", ExtractOptions(workers=1, frames=False, size=64), quiet=True)
    return root


def test_mean_vector_over_object_matches_velocity(synth_cache):
    errors = {0: [], 1: [], 2: []}  # by frame type
    with Cache(synth_cache / "cache") as c:
        assert len(c) == 6
        for v in c.videos:
            gt = np.load(synth_cache / "data" / "_groundtruth" / v.id.replace(".mp4", ".npz"))
            assert gt["translating"].all()
            masks, vel = gt["masks"], gt["velocity"][:, 0]
            mv, valid = c.read_mv(v.id, 0, v.n_frames)
            ft = c.frame_types(v.id)
            assert v.record["mv_exact"], "synth streams use one reference frame"
            for t in range(1, v.n_frames - 3):
                if not valid[t]:
                    continue
                # the object moved at constant speed over the references' span (no bounce)
                if not np.all(vel[max(t - 3, 1) : t + 4] == vel[t]):
                    continue
                cells = object_cells(masks, t)
                if cells.sum() < 4:
                    continue
                est = mv[t][cells].astype(np.float64).mean(0) / schema.MV_SCALE
                errors[int(ft[t])].append(float(np.abs(est - vel[t]).max()))
    assert len(errors[1]) >= 20 and len(errors[2]) >= 20, {k: len(e) for k, e in errors.items()}
    for kind in (1, 2):  # P and B frames
        e = np.asarray(errors[kind])
        # issue: within 0.5 px. Measured: 0.0 mean error on P and B frames here; averaging
        # B-frames' zero filler vectors in (the old behaviour) gave 0.11 on B-frames.
        assert np.mean(e < 0.5) >= 0.95, (schema.FRAME_TYPE_NAMES[kind], np.round(e, 2))
        assert np.mean(e) < 0.05, (schema.FRAME_TYPE_NAMES[kind], np.round(e, 2))


def reencoded_errors(root, out, preset: str) -> np.ndarray:
    """Per-frame max-axis error (source px) of the mean re-encoded vector inside the object."""
    import cv2

    extract(root / "data", out, ExtractOptions(workers=1, frames=False, size=64, reencode="always",
                                               reencode_preset=preset), quiet=True)
    errors = []
    with Cache(out) as c:
        assert c.options["reencode_preset"] == preset
        for v in c.videos:
            mh, mw = schema.mv_hw(v.record)
            assert (mw, mh) == (84, 64) and (v.width, v.height) == (192, 144) and v.record["reencoded"]
            gt = np.load(root / "data" / "_groundtruth" / v.id.replace(".mp4", ".npz"))
            masks, vel = gt["masks"], gt["velocity"][:, 0]
            mv, valid = c.read_mv(v.id, 0, v.n_frames)
            assert mv.shape[1:3] == (16, 21)
            for t in range(1, v.n_frames - 1):
                if not valid[t] or not np.all(vel[t - 1 : t + 2] == vel[t]):
                    continue
                win = cv2.resize(masks[t - 1 : t + 1].all(0).astype(np.uint8), (mw, mh), interpolation=cv2.INTER_AREA)
                cells = object_cells(np.repeat(win[None].astype(bool), 1, 0), 0)
                if cells.sum() < 2:
                    continue
                est = mv[t][cells].astype(np.float64).mean(0) / schema.MV_SCALE * (v.width / mw, v.height / mh)
                errors.append(float(np.abs(est - vel[t]).max()))
    return np.asarray(errors)


def test_reencoded_vectors_at_the_stored_resolution_match_velocity(synth_cache, tmp_path):
    """--reencode always with the default --mv-short-side (= --size 64): the 192x144 stream is
    re-encoded at 84x64 and its vectors, in quarter-pel of that size, still give the object's
    velocity in source pixels, with the default --reencode-preset fast (diamond search, subme 1,
    CAVLC) as with x264's veryfast (hexagon, subme 2, CABAC). Measured on 16 synth videos
    (/tmp-made, 660-667 object frames): fast 0.184 px mean at 320x240 -> 170x128 (veryfast
    0.181) and 0.203 px at 640x360 -> 228x128 (veryfast 0.261, its source deblocked); earlier,
    at veryfast, me=umh/subme=7 gave 0.153 and me=esa/subme=9 0.148, not worth their cost."""
    errs = {p: reencoded_errors(synth_cache, tmp_path / p, p) for p in ("fast", "veryfast")}
    for p, e in errs.items():
        assert len(e) >= 50, p
        assert np.mean(e < 0.5) >= 0.95 and np.mean(e) < 0.25, (p, np.round(e, 2))
    # the faster default loses no accuracy to x264's own preset (beyond 0.05 px)
    assert np.mean(errs["fast"]) <= np.mean(errs["veryfast"]) + 0.05, {p: float(np.mean(e)) for p, e in errs.items()}
