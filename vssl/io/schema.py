"""The on-disk format of a vssl cache: names, dtypes, layouts and units.

A cache is a directory::

    CACHE/
      manifest.json            # every input video: id, label, splits, shard, counts, status
      shards/*.h5              # HDF5 shards, many videos each, one group per video
      shards/*.json            # sidecar of a *complete* shard (written last: the commit mark)
      fame/manifest.json, fame/shards/...   # `vssl precompute fame` (same layout)
      be/manifest.json,   be/shards/...     # `vssl precompute be`

A shard ``X.h5`` is complete if and only if ``X.json`` exists beside it. Writers
write ``X.h5.partial``, close it, rename it to ``X.h5``, then write ``X.json``
atomically (tmp + rename). Anything else found on resume is unfinished work and
is deleted; the videos in it are redone.

Per video group ``/v/<key>`` of an extract shard (``key`` = :func:`video_key`):

=================  =============================  =========================================
dataset            dtype / shape                  meaning
=================  =============================  =========================================
frame_types        uint8 (T,)                     0 = I, 1 = P, 2 = B, 3 = other (S, SI, SP)
pts                int64 (T,)                     presentation timestamps, attr ``time_base``
keyframes          int32 (K,)                     indices t of the I-frames (display order)
keyframe_jpeg      uint8 (bytes,) + offsets       JPEG of each keyframe, short side ``size``
keyframe_offsets   int64 (K+1,)                   byte offsets into keyframe_jpeg
frame_jpeg         uint8 (bytes,) + offsets       JPEG of frames ``frame_index`` (``--frames``)
frame_offsets      int64 (F+1,)
frame_index        int32 (F,)                     which t each stored frame is (every k-th)
mv                 int16 (T, Hg, Wg, 2)           forward motion per frame, (dx, dy)
mv_valid           uint8 (T,)                     1 = vectors present (P/B), 0 = none (I)
=================  =============================  =========================================

Motion vectors: ``Hg = ceil(H / 4)``, ``Wg = ceil(W / 4)`` for the resolution
``H x W`` of the stream the vectors were decoded from (attrs and record fields
``mv_height``, ``mv_width``; display orientation): the source (attrs ``height``,
``width``) for a video kept as it is, the re-encoded stream's (``--mv-short-side``,
by default the stored frames' short side) for a re-encoded one. A cache written
before these fields existed has them equal to the source: :func:`mv_hw` reads
both. Each cell is a 4x4-pixel block of that resolution. Values are in quarter-pel
units of that resolution (``MV_SCALE = 4`` units per pixel) and mean the forward motion of the content
from frame t-1 to frame t: a point at ``p`` in frame t-1 is at ``p + mv/4`` in
frame t. Vectors that refer to a future reference are turned round and every
vector is divided by the display-order distance to its reference anchor; attr
``mv_exact`` says whether that distance is known to be right (a stream with one
reference frame, as ``vssl extract`` re-encodes) or estimated. Frames without
vectors have ``mv_valid = 0`` and zeros.

Frames are stored as JPEG of the resized frame with short side ``size``
(attr; aspect kept, both sides even) in RGB order once decoded.
"""

from __future__ import annotations

import hashlib

SCHEMA_VERSION = 1
FORMAT = "vssl-cache"

MV_SCALE = 4  # quarter-pel
MV_BLOCK = 4  # pixels per grid cell
FRAME_TYPE_CODES = {"I": 0, "P": 1, "B": 2}
FRAME_TYPE_OTHER = 3
FRAME_TYPE_NAMES = {0: "I", 1: "P", 2: "B", 3: "?"}


def mv_hw(record: dict) -> tuple[int, int]:
    """(height, width) of the resolution a video's motion vectors are in (see the module
    docstring): ``mv_height``/``mv_width`` of its record, the source size when absent."""
    return int(record.get("mv_height") or record["height"]), int(record.get("mv_width") or record["width"])

VIDEO_GROUP = "v"
MANIFEST = "manifest.json"
SHARD_DIR = "shards"
PARTIAL_SUFFIX = ".partial"

# Status values of a manifest record.
OK = "ok"
FAILED = "failed"


def video_key(video_id: str) -> str:
    """HDF5 group name of a video: a stable hash of its id (ids may contain '/')."""
    return hashlib.blake2b(video_id.encode("utf-8"), digest_size=10).hexdigest()


def shard_of(video_id: str, num_shards: int) -> int:
    """Deterministic machine split: which of ``num_shards`` parts processes ``video_id``."""
    h = hashlib.blake2b(video_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little") % num_shards
