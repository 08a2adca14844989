"""Frames with motion vectors, decoded by PyAV with FFmpeg's ``export_mvs``."""

from __future__ import annotations

from vssl.errors import VideoError
from vssl.io.video.frames import DecodeStats, _decoded, _rewound
from vssl.io.video.probe import _av, _ff_reason


def iter_frames_pyav(path: str, stats: DecodeStats, want_image=None, threads: int = 1, handle=None):
    """Frames of the first video stream with motion vectors, decoded by PyAV.

    Packets that fail to decode are counted in ``stats.decode_errors`` and skipped.
    ``handle``: (container, stream) from ``probe(keep_open=True)``, rewound and used
    (and closed) instead of opening ``path`` again.
    """
    av = _av()
    container, stream = _rewound(path, handle)
    stats.decoder = "pyav"
    try:
        stream.codec_context.options = {"flags2": "+export_mvs"}
        stream.thread_count = threads
        t = 0
        for pkt in container.demux(stream):
            try:
                out = pkt.decode()
            except av.FFmpegError:
                stats.decode_errors += 1
                continue
            for frame in out:
                yield _decoded(frame, t)
                t += 1
    except av.FFmpegError as e:
        raise VideoError(f"decoding failed after {t} frames ({_ff_reason(e)})") from None
    finally:
        container.close()
