"""Moved: :mod:`vssl.io.inputs` (one dataset format per file, issue 12, step 3).

Only re-exports, kept until ``vssl/preprocess/extract.py`` and ``vssl/bench/extract.py``
import :func:`vssl.io.inputs.discover_inputs` themselves; then delete this file.
"""

from vssl.io.inputs import (  # noqa: F401
    FORMATS,
    LIST_EXTENSIONS,
    VIDEO_EXTENSIONS,
    DiscoverResult,
    VideoEntry,
    discover_inputs,
)
