"""Frames with motion vectors, decoded by mvextractor (an optional dependency)."""

from __future__ import annotations

from vssl.errors import VideoError
from vssl.io.video.frames import DecodedFrame, DecodeStats, _code_of, resize_bgr


def iter_frames_mvextractor(path: str, stats: DecodeStats, want_image=None):
    """Frames with motion vectors decoded by mvextractor (its C++ loop has less
    per-frame overhead than PyAV's). Images are converted only for frames where
    ``want_image(t, code)`` is true. Raises VideoError if it cannot open the file."""
    from mvextractor.videocap import VideoCap

    cap = VideoCap()
    if not cap.open(str(path)):
        raise VideoError("mvextractor cannot open the file")
    stats.decoder = "mvextractor"
    try:
        cap.set_decode_frames(False)
        t = 0
        while cap.grab():
            ok, img, mvs, ftype = cap.retrieve()[:4]
            if not ok:
                stats.decode_errors += 1
                break
            code = _code_of(ftype if ftype in ("I", "P", "B") else None)
            if want_image is not None and want_image(t, code):
                cap.set_decode_frames(True)
                ok, img = cap.retrieve()[:2]
                cap.set_decode_frames(False)
            image = None
            if img is not None:
                image = (lambda w, h, im=img: resize_bgr(im, w, h))
            yield DecodedFrame(code=code, mvs=mvs if mvs is not None and len(mvs) else None, image=image)
            t += 1
    finally:
        cap.release()
