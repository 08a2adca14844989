"""Names and constants of the synthetic dataset (classes, background families, format)."""

from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "TranslateHorizontal",
    "TranslateVertical",
    "Rotate",
    "Zoom",
    "Circle",
    "Bounce",
    "TwoObjectsOpposite",
    "Shake",
)
BACKGROUND_FAMILIES: tuple[str, ...] = (
    "stripes",
    "checker",
    "smooth_noise",
    "dots",
    "gradient_grid",
    "rings",
    "plaid",
    "speckle",
)
MAX_CLASSES = len(CLASS_NAMES)
MIN_SIDE = 32
SYNTH_VERSION = 2  # 2: background family and image drawn from their own streams (bias regimes)
GROUNDTRUTH_DIR = "_groundtruth"
META_FILE = "synth.json"
DEFAULT_CRF = 18
DEFAULT_PRESET = "fast"

CAMERA_MOTIONS: tuple[str, ...] = ("static", "pan")
_PAN_MARGIN = 0.25  # a panning camera's background extends this share of the short side beyond every edge
_PAN_SPEEDS = ((1, 2), (0, 1))  # integer px/frame of a pan along x and along y

_OBJ_FRAC = (0.20, 0.35)  # object side as a fraction of the image's short side
_SPEEDS = (2, 3, 4)  # integer px/frame of the translation classes
