"""probe() reads rotation and x264 settings without decoding a frame (MP4/MOV), and agrees with the decoder."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from helpers.videos import (
    X264_BFRAMES,
    X264_CANONICAL,
    moving_square_frames,
    write_video,
)

from vssl.io.video import probe as vprobe


def write_rotated(path: Path, degrees: int, options: dict, n: int = 12, hflip: bool = False) -> Path:
    """An x264 video whose container carries a display matrix."""
    frames, _ = moving_square_frames(n=n)
    return write_video(path, frames, options=dict(options), rotate=degrees, hflip=hflip)


def decoded_rotation(path: Path) -> int:
    """What the decoder attaches to the first frame, turned to 0/90/180/270 as probe() does."""
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        return int(round(frame.rotation / 90.0)) * 90 % 360


@pytest.mark.parametrize("degrees,expected", [(90, 90), (180, 180), (270, 270), (-90, 270), (0, 0)])
@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_rotation_from_header_matches_decoder(tmp_path, degrees, expected, suffix):
    p = write_rotated(tmp_path / f"rot{degrees}{suffix}", degrees, X264_CANONICAL)
    with av.open(str(p)) as c:
        track = c.streams.video[0].id
    assert vprobe._mov_rotation(p, track) is not None  # read from the header: no decode needed
    pr = vprobe.probe(p)
    assert pr.rotation == expected == decoded_rotation(p)
    assert (pr.x264["ref"], pr.x264["bframes"]) == ("1", "0")


def test_flipped_matrix_matches_decoder(tmp_path):
    p = write_rotated(tmp_path / "flip.mp4", 90, X264_CANONICAL, hflip=True)
    assert vprobe.probe(p).rotation == decoded_rotation(p)


@pytest.mark.parametrize("opts,ref,bframes", [(X264_CANONICAL, "1", "0"), (X264_BFRAMES, "1", "2"),
                                              ({"preset": "ultrafast", "crf": "30"}, "1", "0"),
                                              ({"x264-params": "ref=3:bframes=3", "preset": "fast"}, "3", "3")])
def test_x264_options_from_first_packet(tmp_path, opts, ref, bframes):
    frames, _ = moving_square_frames(n=12)
    p = write_video(tmp_path / "x.mp4", frames, options=dict(opts))
    pr = vprobe.probe(p)
    assert (pr.x264.get("ref"), pr.x264.get("bframes")) == (ref, bframes)
    assert pr.rotation == 0 and pr.n_packets == 12


def test_x264_options_and_rotation_with_bframes(tmp_path):
    p = write_rotated(tmp_path / "b.mp4", 270, X264_BFRAMES)
    pr = vprobe.probe(p)
    assert pr.rotation == 270 and pr.has_bframes
    assert (pr.x264["ref"], pr.x264["bframes"]) == ("1", "2")


def test_non_mp4_falls_back_to_decoding(tmp_path):
    """Matroska carries a display matrix too (no header reader here): probe() decodes frame 0 for it."""
    p = write_rotated(tmp_path / "rot.mkv", 90, X264_BFRAMES)
    pr = vprobe.probe(p)
    assert pr.rotation == 90 == decoded_rotation(p)
    assert (pr.x264["ref"], pr.x264["bframes"]) == ("1", "2")


def test_not_x264_has_no_options(tmp_path):
    frames, _ = moving_square_frames(n=12)
    pr = vprobe.probe(write_video(tmp_path / "m.mp4", frames, codec="mpeg4"))
    assert pr.codec == "mpeg4" and pr.x264 == {} and pr.rotation == 0


def test_mov_rotation_unsure_cases(tmp_path):
    frames, _ = moving_square_frames(n=6)
    p = write_video(tmp_path / "a.mp4", frames, options=dict(X264_CANONICAL))
    assert vprobe._mov_rotation(p, 1) == 0  # identity matrix
    assert vprobe._mov_rotation(p, 99) is None  # no such track
    (tmp_path / "junk.mp4").write_bytes(np.arange(300, dtype=np.uint8).tobytes())
    assert vprobe._mov_rotation(tmp_path / "junk.mp4", 1) is None
    assert vprobe._mov_rotation(tmp_path / "missing.mp4", 1) is None


def test_real_rotated_phone_clips(shared_clips):
    assert vprobe.probe(shared_clips / "decord_video_90.mov").rotation == 270
    assert vprobe.probe(shared_clips / "moviepy_fire2.mp4").rotation == 180
