"""A small synthetic H.264 dataset with known motion and a built-in scene bias.

``make_synth(OUT)`` writes a labelled, UCF101-style dataset of short clips.
Each class is a *motion pattern* of one or two textured objects over a static,
textured background:

=====================  ======================================================
class                  motion
=====================  ======================================================
TranslateHorizontal    one object, constant integer speed 2-4 px/frame along
                       x, bouncing off the image border
TranslateVertical      the same along y
Rotate                 one object rotating in place (2-4 px/frame at its rim)
Zoom                   one object scaling in and out around a fixed centre
Circle                 the object's centre moves on a circle (integer steps)
Bounce                 diagonal motion, bouncing off all four walls
TwoObjectsOpposite     two objects (top and bottom half) moving horizontally
                       in mirrored, opposite directions
Shake                  one object jittering by random integer steps
=====================  ======================================================

Every video draws its background from one *background family* (stripes,
checkerboard, smooth noise, ...; random parameters and colours within the
family). How the family relates to the class is the *bias regime* (``bias``):

* ``"class"`` (default): in the **train** split the family index equals the
  class index (with probability ``bias_strength``, 1 by default; otherwise a
  uniformly drawn other family), so the background alone predicts the label;
  in the **test** split each video gets another class's family, so it does
  not. A model that learned the scene rather than the motion does well on
  train and below chance on test. Measures debiasing.
* ``"none"``: the family is drawn uniformly from all families, independently
  of the class, in every split. The background carries no label information:
  measures motion learning without the shortcut.

The family draw and the background image use their own random streams
(``[seed, c, i, 1]`` and ``[seed, c, i, 2]``), so the two regimes give the same
objects and motion for the same video and differ only in the background.

``camera="pan"`` (another scene cue): the camera pans over a background larger than
the frame (a quarter of the short side beyond each edge; 1-2 px/frame along x, 0-1
along y, reflecting at the edges; stream ``[seed, c, i, 3]``), so the scene moves
too: frame differences and motion vectors then carry the background's texture, as
in hand-held or panning footage, and removing the scene takes more than subtracting
frames. The objects' tracks stay in frame coordinates (their class motion is the
same as with the default ``"static"`` camera).

Layout of ``OUT`` (readable by ``vssl extract OUT`` as a dataset root)::

    OUT/<Class>/v_<Class>_g<BB>_c<CC>.mp4     BB = background family + 1, CC = video + 1
    OUT/classInd.txt                          "1 TranslateHorizontal" (1-based)
    OUT/trainlist01.txt                       "<Class>/<file>.mp4 <label+1>"
    OUT/testlist01.txt                        "<Class>/<file>.mp4"
    OUT/_groundtruth/<Class>/<stem>.npz       exact per-frame ground truth
    OUT/synth.json                            parameters and one record per video

Ground truth (``.npz``; T frames, N objects, H x W pixels)::

    masks              bool    (T, H, W)     union of all objects' pixels per frame
    velocity           float32 (T, N, 2)     (dx, dy) of each object's centre, t-1 -> t; row 0 = 0
    translating        bool    (N,)          pure translation: every pixel moves by ``velocity``
    boxes              int32   (T, N, 4)     x0, y0, x1, y1 (x1, y1 exclusive) of each object's pixels
    centres            float32 (T, N, 2)     (x, y) centre; pixel (i, j) has its centre at (j, i)
    angle              float32 (T, N)        rotation in degrees (counter-clockwise on screen)
    scale              float32 (T, N)        scale factor (1 = drawn size)
    label              int64   ()            0-based class index
    background_family  int64   ()            0-based background family index
    scene_velocity     float32 (T, 2)        camera "pan" only: (dx, dy) of the background on screen, t-1 -> t

Translating objects are pasted at integer positions, so their motion is exact.
Objects never overlap each other and stay inside the frame (rotated/zoomed
ones may touch the border).

Encoding: libx264, yuv420p, mp4, constant frame rate, a fixed GOP (IDR every
``gop`` frames, no scene-cut keyframes), one reference frame, ``bframes``
B-frames between anchors placed every time (no adaptive B decision) and no
B-pyramid, an exhaustive motion search so that the stream's motion vectors follow
the ground truth (see :func:`x264_params`). The encoder runs single-threaded and
without mb-tree rate control: the same seed gives byte-identical files (mp4 and
npz) with the same FFmpeg/x264 build (the mp4 records the libavformat version).
"""


from __future__ import annotations

from vssl.synth.dataset import (
    BIAS_REGIMES,
    background_family,
    check_bias,
    make_synth,
    n_test_videos,
    video_stem,
)
from vssl.synth.encode import encode_h264, save_npz_deterministic, x264_params
from vssl.synth.motion import Track, _motion, camera_margin, camera_path  # noqa: F401  (_motion: the tests draw tracks)
from vssl.synth.render import render_video
from vssl.synth.spec import (
    BACKGROUND_FAMILIES,
    CAMERA_MOTIONS,
    CLASS_NAMES,
    DEFAULT_CRF,
    DEFAULT_PRESET,
    GROUNDTRUTH_DIR,
    MAX_CLASSES,
    META_FILE,
    MIN_SIDE,
    SYNTH_VERSION,
)
from vssl.synth.textures import SHAPES, TEXTURES, Sprite, make_background, make_sprite

__all__ = [
    "BACKGROUND_FAMILIES",
    "BIAS_REGIMES",
    "CAMERA_MOTIONS",
    "CLASS_NAMES",
    "DEFAULT_CRF",
    "DEFAULT_PRESET",
    "GROUNDTRUTH_DIR",
    "MAX_CLASSES",
    "META_FILE",
    "MIN_SIDE",
    "SHAPES",
    "SYNTH_VERSION",
    "Sprite",
    "TEXTURES",
    "Track",
    "background_family",
    "camera_margin",
    "camera_path",
    "check_bias",
    "encode_h264",
    "make_background",
    "make_sprite",
    "make_synth",
    "n_test_videos",
    "render_video",
    "save_npz_deterministic",
    "video_stem",
    "x264_params",
]
