"""Video encoding: the one writer of frames to a file, and the canonical H.264 re-encode.

:func:`write_frames` encodes RGB frames (``vssl synth``'s videos, the tests' videos).
The re-encode (GOP ``--max-gop``, one reference, no B-frames, at the cache's size):
:func:`iter_frames_reencode` is the default one streaming pass (decode -> scale -> encode ->
decode the new packets in memory); :func:`reencode_h264` writes the same stream to a file
(``--reencode-pass file``). Both take their settings from :func:`x264_reencode_options` and
:func:`reencode_source_options` (``--reencode-preset``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vssl.errors import VideoError
from vssl.io.video.frames import DecodeStats, _decoded, _rewound, stored_size
from vssl.io.video.probe import _av, _ff_reason, open_video


def write_frames(path: str | Path, frames, *, codec: str = "libx264", fps: int = 25, options: dict | None = None,
                 pix_fmt: str = "yuv420p", container_format: str | None = None, rotate: int | None = None,
                 hflip: bool = False, atomic: bool = False) -> Path:
    """Encode uint8 RGB frames ``(T, H, W, 3)`` to ``path`` with PyAV, one encoder thread (x264's
    frame threads would make the bitstream depend on scheduling), frame ``t`` at pts ``t`` in
    a time base of ``1/fps``.

    ``options``: the encoder's options (``{"crf": ..., "preset": ..., "x264-params": ...}``);
    ``rotate``: a display matrix turning the picture ``rotate`` degrees counter-clockwise;
    ``atomic``: write ``path.partial`` and rename it when complete (needs ``container_format``,
    which FFmpeg cannot guess from that name), removed on any failure.
    """
    import numpy as np

    av = _av()
    path = Path(path)
    if atomic and not container_format:
        raise ValueError("write_frames(atomic=True) needs container_format")
    target = path.with_name(path.name + ".partial") if atomic else path
    out = av.open(str(target), "w", format=container_format)
    try:
        st = out.add_stream(codec, rate=fps)
        st.height, st.width = frames.shape[1:3]
        st.pix_fmt = pix_fmt
        st.thread_count = 1
        if options:
            st.options = options
        if rotate is not None or hflip:
            st.set_display_rotation(rotate or 0, hflip=hflip)
        tb = Fraction(1, int(fps))
        for t, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts, vf.time_base = t, tb
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    except BaseException:
        out.close()
        if atomic:
            target.unlink(missing_ok=True)
        raise
    out.close()
    if atomic:
        target.replace(path)
    return path


def reencode_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(w, h) of a re-encoded stream: the source scaled to ``short_side`` (None or 0: the source
    size; never upscaled), both sides even (yuv420p); the rule of :func:`stored_size`."""
    return stored_size(width, height, short_side or 0)


# --reencode-preset: "fast" (the default) is x264's veryfast with a diamond motion search, one
# sub-pel refinement step and CAVLC, and the source decoded without its deblocking filter when the
# re-encode scales it down by 2 or more; "veryfast" is x264's preset as it is (hexagon search,
# subme 2, CABAC) from a fully decoded source. Measured on vssl synth ground truth (16 videos,
# 320x240 -> 170x128, 660 object frames): mean error 0.184 px fast, 0.181 px veryfast; about
# 1.25-1.37x the frames/s of veryfast on 640x360 H.264 clips (README, "Benchmarks").
REENCODE_PRESETS = ("fast", "veryfast")


_FAST_X264 = ":me=dia:subme=1:cabac=0"


def x264_reencode_options(gop: int, threads: int = 1, preset: str = "fast", crf: int = 18) -> dict[str, str]:
    """Encoder options of the canonical re-encode: GOP ``gop``, one reference, no B-frames, no
    mb-tree, no scene-cut keyframes, so every motion vector is the one-frame displacement;
    ``preset``: one of :data:`REENCODE_PRESETS`."""
    if preset not in REENCODE_PRESETS:
        raise ValueError(f"re-encode preset must be one of {', '.join(REENCODE_PRESETS)}, not {preset!r}")
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:ref=1:bframes=0:mbtree=0:threads={threads}"
    return {
        "preset": "veryfast",
        "crf": str(crf),
        "x264-params": params + (_FAST_X264 if preset == "fast" else ""),
    }


def reencode_source_options(preset: str, source_wh: tuple[int, int], size: tuple[int, int]) -> dict[str, str]:
    """Decoder options of the source of a re-encode: with the ``fast`` preset and a downscale by 2
    or more, skip the deblocking filter (the area filter of the downscale averages its block edges
    away; measured 10-15 % less decoding time on 640x360 H.264 clips); otherwise none."""
    if preset == "fast" and min(source_wh) >= 2 * min(size):
        return {"skip_loop_filter": "all"}
    return {}


def iter_frames_reencode(path: str, stats: DecodeStats, *, gop: int, size: tuple[int, int], threads: int = 1,
                         handle=None, fps: float | None = None, preset: str = "fast"):
    """Frames of a canonical H.264 re-encode of ``path``, in one streaming pass.

    Decode the source -> scale to ``size`` (w, h) -> encode with
    :func:`x264_reencode_options` (``preset``) -> decode the new packets in memory with
    motion-vector export: no temporary file, no second open. The frames (and their vectors, in
    quarter-pel of ``size``) are those of the re-encoded stream, as the two-pass path
    (encode to a file, decode it) gives; display order equals decode order (no B-frames).
    ``handle``: (container, stream) from ``probe(keep_open=True)``, rewound and used.
    """
    from av.video.reformatter import VideoReformatter

    av = _av()
    container, stream = _rewound(path, handle)
    stats.decoder = "pyav-reencode"
    w, h = size
    scaler = VideoReformatter()
    t = 0
    try:
        stream.thread_count = threads
        src_opts = reencode_source_options(preset, (stream.width, stream.height), size)
        if src_opts:
            stream.codec_context.options = src_opts
        rate = Fraction(stream.average_rate or stream.guessed_rate or fps or 25).limit_denominator(100000)
        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
        enc.time_base, enc.framerate = 1 / rate, rate
        enc.thread_count = threads
        enc.options = x264_reencode_options(gop, threads, preset)
        dec = av.CodecContext.create("h264", "r")
        dec.options = {"flags2": "+export_mvs"}

        def frames_of(packets):
            nonlocal t
            for pkt in packets:
                for frame in dec.decode(pkt):
                    yield _decoded(frame, t)
                    t += 1

        n_in = 0
        demux = container.demux(stream)
        while True:
            try:
                pkt = next(demux)
            except StopIteration:
                break
            except av.FFmpegError:
                stats.decode_errors += 1
                break
            try:
                decoded = pkt.decode()
            except av.FFmpegError:
                stats.decode_errors += 1
                continue
            for frame in decoded:
                f2 = scaler.reformat(frame, width=w, height=h, format="yuv420p", interpolation="AREA")
                f2.pts, f2.time_base = n_in, enc.time_base
                n_in += 1
                yield from frames_of(enc.encode(f2))
        if n_in == 0:
            raise VideoError("cannot decode any frame for re-encoding")
        yield from frames_of(enc.encode(None))
        yield from frames_of([None])
    except av.FFmpegError as e:
        raise VideoError(f"re-encoding failed after {t} frames ({_ff_reason(e)})") from None
    finally:
        container.close()


def reencode_h264(src: str, dst: str, gop: int, threads: int = 1, short_side: int | None = None,
                  preset: str = "fast") -> None:
    """Re-encode ``src`` to a canonical H.264 file: GOP ``gop``, one reference, no B-frames,
    scaled to ``short_side`` (None: the source size), x264 settings ``preset``. ``--reencode-pass file``; the default
    streaming pass (:func:`vssl.io.iter_frames_reencode`) gives the same frames.

    With one reference frame and no B-frames every motion vector is exactly the
    one-frame displacement (RECIPES, "Motion vectors in H.264").
    """
    av = _av()
    container, stream = open_video(src)
    out = av.open(dst, "w", format="mp4")
    try:
        stream.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate or 25
        w, h = reencode_size(stream.width, stream.height, short_side)
        src_opts = reencode_source_options(preset, (stream.width, stream.height), (w, h))
        if src_opts:
            stream.codec_context.options = src_opts
        ost = out.add_stream("libx264", rate=rate)
        tb = Fraction(1) / Fraction(rate).limit_denominator(100000)
        ost.width, ost.height, ost.pix_fmt = w, h, "yuv420p"
        ost.thread_count = threads
        ost.options = x264_reencode_options(gop, threads, preset)
        from av.video.reformatter import VideoReformatter

        scaler = VideoReformatter()
        n = 0
        try:
            for frame in container.decode(stream):
                f2 = scaler.reformat(frame, width=w, height=h, format="yuv420p", interpolation="AREA")
                f2.pts = n
                f2.time_base = tb
                for pkt in ost.encode(f2):
                    out.mux(pkt)
                n += 1
        except av.FFmpegError:
            if n == 0:
                raise VideoError("cannot decode any frame for re-encoding") from None
        for pkt in ost.encode(None):
            out.mux(pkt)
        if n == 0:
            raise VideoError("no decodable frames")
    except av.FFmpegError as e:
        raise VideoError(f"re-encoding failed ({_ff_reason(e)})") from None
    finally:
        out.close()
        container.close()
