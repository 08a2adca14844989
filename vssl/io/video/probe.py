"""Open a video file and probe its first video stream: codec, size, packets, GOPs, rotation, x264 settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from vssl.errors import VideoError

_X264_OPT = re.compile(rb"x264 - core \d+.*?options: ([^\x00]*)", re.S)


def _av():
    import av  # imported lazily: `vssl --help` must not pay for it

    av.logging.set_level(None)  # FFmpeg's own log lines would break our one-line errors
    return av


@dataclass
class Probe:
    """What the container and a packet scan say about the first video stream."""

    path: str
    codec: str
    width: int  # coded frame size before rotation
    height: int
    fps: float
    duration_s: float
    n_packets: int
    keyframe_packets: list[int] = field(default_factory=list)  # packet indices (decode order)
    max_gop: int = 0
    rotation: int = 0  # degrees to rotate the decoded frame counter-clockwise for display
    has_bframes: bool = False
    n_video_streams: int = 1
    pts: list[int] = field(default_factory=list)  # presentation timestamps, display order
    x264: dict = field(default_factory=dict)  # encoder settings found in the stream, if x264
    time_base: str = ""
    # (container, stream) left open by probe(keep_open=True) for decoding; close_handle() it
    handle: object = field(default=None, repr=False, compare=False)

    def close_handle(self) -> None:
        if self.handle is not None:
            self.handle[0].close()
            self.handle = None

    def as_dict(self) -> dict:
        return {
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 4),
            "duration_s": round(self.duration_s, 4),
            "rotation": self.rotation,
            "max_gop": self.max_gop,
        }


def open_video(path: str | Path):
    """Open a file and return (container, first video stream); VideoError on failure."""
    av = _av()
    path = str(path)
    p = Path(path)
    if not p.exists():
        raise VideoError("file not found (or a broken link)")
    if p.is_dir():
        raise VideoError("is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        container = av.open(path, metadata_errors="ignore")
    except PermissionError:
        raise VideoError("permission denied") from None
    except av.FFmpegError as e:
        raise VideoError(f"not a readable video container ({_ff_reason(e)})") from None
    except (OSError, UnicodeError) as e:
        raise VideoError(f"cannot open: {e}") from None
    if not container.streams.video:
        container.close()
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"no video stream (streams: {', '.join(kinds)})")
    return container, container.streams.video[0]


def _ff_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).split(":")[0].strip() or type(e).__name__


def _rot90(angle: int) -> int:
    """A display-matrix angle (degrees counter-clockwise, as ``VideoFrame.rotation``) to 0/90/180/270."""
    return int(round(angle / 90.0)) * 90 % 360


def _mov_boxes(f, start: int, end: int):
    """(type, payload start, box end) of the ISO-BMFF boxes in bytes [start, end) of ``f``."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return
        size, kind, hlen = int.from_bytes(head[:4], "big"), head[4:], 8
        if size == 1:  # 64-bit size follows
            ext = f.read(8)
            if len(ext) < 8:
                return
            size, hlen = int.from_bytes(ext, "big"), 16
        elif size == 0:  # runs to the end
            size = end - pos
        if size < hlen or pos + size > end:
            return
        yield kind, pos + hlen, pos + size
        pos += size


def _mov_rotation(path: str | Path, track_id: int) -> int | None:
    """``VideoFrame.rotation`` of the decoded frames of track ``track_id`` of an MP4/MOV file, without decoding.

    FFmpeg's mov demuxer makes the stream's display matrix (coded side data, which the decoder
    copies onto every frame) from the 'tkhd' matrix times the 'mvhd' one, and sets none when that
    product is the identity. PyAV 18 has no reader for a stream's side data, so this redoes that
    product and ``av_display_rotation_get`` from the two boxes. None when unsure (no moov, a
    compressed or odd header, no or several matching tracks, a degenerate matrix): decode then.
    """
    import math
    import struct

    def matrix(f, at: int) -> tuple[int, ...] | None:
        f.seek(at)
        b = f.read(36)
        return struct.unpack(">9i", b) if len(b) == 36 else None

    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            moov = next(((a, b) for k, a, b in _mov_boxes(f, 0, f.tell()) if k == b"moov"), None)
            if moov is None:
                return None
            movie, found = None, []
            for kind, a, b in _mov_boxes(f, *moov):
                if kind == b"mvhd":
                    f.seek(a)
                    ver = f.read(1)
                    if ver not in (b"\x00", b"\x01"):
                        return None
                    movie = matrix(f, a + (48 if ver == b"\x01" else 36))
                elif kind == b"trak":
                    tkhd = next(((ta, tb) for k, ta, tb in _mov_boxes(f, a, b) if k == b"tkhd"), None)
                    if tkhd is None:
                        continue
                    f.seek(tkhd[0])
                    ver = f.read(1)
                    if ver not in (b"\x00", b"\x01"):
                        return None
                    f.seek(tkhd[0] + (20 if ver == b"\x01" else 12))
                    if int.from_bytes(f.read(4), "big") == track_id:
                        found.append((matrix(f, tkhd[0] + (52 if ver == b"\x01" else 40)), movie))
    except OSError:
        return None
    if len(found) != 1 or found[0][0] is None or found[0][1] is None:
        return None
    tk, mv = found[0]
    m = []  # FFmpeg mov_read_tkhd: int32 fixed point, rows 16.16, 16.16, 2.30
    for i in range(3):
        for j in range(3):
            s = sum((tk[3 * i + e] * mv[3 * e + j]) >> (16, 16, 30)[e] for e in range(3))
            m.append((s + 2**31) % 2**32 - 2**31)
    if m == [1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30]:
        return 0  # identity: no display matrix at all
    fp = [v / 65536.0 for v in m]  # av_display_rotation_get
    s0, s1 = math.hypot(fp[0], fp[3]), math.hypot(fp[1], fp[4])
    if s0 == 0.0 or s1 == 0.0:
        return None
    return int(-(math.atan2(fp[1] / s1, fp[0] / s0) * 180 / math.pi))  # int(): as PyAV, toward zero


def probe(path: str | Path, keep_open: bool = False) -> Probe:
    """Scan packets (no decoding) for codec, size, fps, keyframes and GOP; VideoError if unusable.

    ``keep_open``: hand the open container to :func:`iter_frames_pyav` through
    ``Probe.handle`` (saves opening the file twice) when no frame was decoded here.
    """
    av = _av()
    container, stream = open_video(path)
    keep = False
    try:
        cc = stream.codec_context
        codec = cc.name if cc is not None else "unknown"
        try:
            av.codec.Codec(codec, "r")
        except Exception:
            raise VideoError(f"no decoder for codec '{codec}' in this FFmpeg build") from None
        width, height = int(stream.width or 0), int(stream.height or 0)
        if width <= 0 or height <= 0:
            raise VideoError(f"video stream has no frame size ({codec})")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        keys: list[int] = []
        pts: list[int] = []
        n = 0
        # rotation: from the MP4/MOV header; other containers (Matroska can carry a display matrix
        # too) or an unsure header: from the first decoded frame, as FFmpeg hands it over
        angle = _mov_rotation(path, stream.id) if "mov" in (container.format.name or "").split(",") else None
        decode = angle is None
        rot, x264, first = _rot90(angle or 0), {}, None
        if decode:
            stream.thread_count = 1  # only the first frame is decoded: a thread pool costs more
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0:
                    continue
                if pkt.is_keyframe:
                    keys.append(n)
                pts.append(pkt.pts if pkt.pts is not None else n)
                if n == 0:  # x264 writes its settings as an SEI (user data unregistered) in access unit 0
                    extra = getattr(cc, "extradata", None) or b""
                    x264 = parse_x264_options(bytes(pkt)) or parse_x264_options(extra)
                if decode and first is None and n < 64:  # rotation (display matrix) from frame 0
                    try:
                        for frame in pkt.decode():
                            first = frame
                            rot = _rot90(getattr(frame, "rotation", 0) or 0)
                            sei = frame.side_data.get("SEI_UNREGISTERED")
                            x264 = x264 or (parse_x264_options(bytes(sei)) if sei is not None else {})
                            break
                    except av.FFmpegError:
                        pass
                n += 1
        except av.FFmpegError:
            pass  # truncated: decoding tells how much is usable
        if n == 0:
            raise VideoError(f"no video packets ({codec})")
        bounds = keys + [n]
        gops = [b - a for a, b in zip(bounds[:-1], bounds[1:])] or [n]
        if keys and keys[0] != 0:
            gops.append(keys[0])
        dur = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
        has_b = bool(getattr(cc, "has_b_frames", 0))
        keep = keep_open and not decode  # a decoder opened here would ignore the export_mvs option
        return Probe(
            handle=(container, stream) if keep else None,
            path=str(path),
            codec=codec,
            width=width,
            height=height,
            fps=fps,
            duration_s=dur,
            n_packets=n,
            keyframe_packets=keys,
            max_gop=max(gops),
            rotation=rot,
            has_bframes=has_b,
            n_video_streams=len(container.streams.video),
            pts=sorted(pts),
            x264=x264,
            time_base=str(stream.time_base) if stream.time_base else "",
        )
    finally:
        if not keep:
            container.close()


def parse_x264_options(sei: bytes) -> dict[str, str]:
    """x264 writes its settings into an SEI message: 'ref=1 bframes=2 b_pyramid=0 ...'."""
    m = _X264_OPT.search(sei)
    if not m:
        return {}
    out = {}
    for tok in m.group(1).decode("ascii", "replace").split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out
