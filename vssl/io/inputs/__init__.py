"""Find the input videos of a dataset, with labels and train/test splits.

``discover_inputs`` takes what the user passes as ``--input``:

* a directory, scanned recursively for video files. Labels and splits come from
  the split files of the dataset when they are found (in ``splits_dir``, else in
  the directory itself or one of its direct subfolders):

  - UCF101: ``classInd.txt`` ("1 ApplyEyeMakeup", 1-based), ``trainlist0N.txt``
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"), ``testlist0N.txt``
    (path only; the label comes from the class folder through ``classInd.txt``).
  - HMDB51: ``<class>_test_split<N>.txt`` with lines "video.avi k", k = 1 train,
    2 test, 0 unused; videos in ``<root>/<class>/video.avi``; classes are the
    sorted class names.
  - Kinetics: ``train.csv``, ``validate.csv`` or ``val.csv``, ``test.csv`` with
    columns label, youtube_id, time_start, time_end (split). The video of a row
    is the file whose stem is ``<youtube_id>_<start:06d>_<end:06d>``, else the
    one file whose stem is ``<youtube_id>`` or starts with ``<youtube_id>_``.
    Classes are the sorted labels. Split "1": train.csv -> "train",
    val -> "test"; rows of test.csv keep their label but no split (its labels
    are often withheld, and "test" of split "1" is the validation set).

  Without split files, a folder per class gives the labels (class = first path
  component under the root, classes sorted) and videos lying flat get none.

* a list file (``.txt``, ``.lst``, ``.csv``): one video path per line, relative
  to the list file's folder, with an optional label (an int, taken as the
  0-based class index, or a class name; classes are then the sorted names).
  Blank lines and ``#`` comments are skipped; in a ``.csv`` the fields are
  comma-separated and a header row ("path,label") is allowed.

* one video file.

Videos listed in split files but absent on disk are skipped and reported in
``DiscoverResult.warnings`` (one line per split file) and ``.missing``; videos on
disk that no split file lists are kept with ``splits == {}`` (and the label of
their class folder when it names a known class).

The parts: :mod:`._common` (the result types and the helpers every format shares),
:mod:`.scan` (a directory: the video scan and which split files it holds),
:mod:`.ucf101`, :mod:`.hmdb51`, :mod:`.kinetics` (one split-file format each) and
:mod:`.listfile` (a list file of video paths).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from vssl.errors import InputError
from vssl.io.inputs._common import (
    FORMATS,
    LIST_EXTENSIONS,
    VIDEO_EXTENSIONS,
    DiscoverResult,
    VideoEntry,
    _abs,
    _norm_exts,
)
from vssl.io.inputs.listfile import _discover_list
from vssl.io.inputs.scan import _discover_dir

__all__ = ["FORMATS", "LIST_EXTENSIONS", "VIDEO_EXTENSIONS", "DiscoverResult", "VideoEntry", "discover_inputs"]


def discover_inputs(
    input: Path,
    *,
    splits_dir: Path | None = None,
    extensions: Iterable[str] = VIDEO_EXTENSIONS,
) -> DiscoverResult:
    """Find the videos of ``input`` (a directory, a list file or one video).

    Args:
        input: dataset root directory, list file, or video file.
        splits_dir: folder holding the split files (UCF101, HMDB51 or Kinetics);
            by default they are looked for in ``input`` and its direct subfolders.
            Only used when ``input`` is a directory.
        extensions: video file extensions, case-insensitive, with the dot.

    Returns:
        A ``DiscoverResult``; entries sorted by id.

    Raises:
        InputError: ``input`` or ``splits_dir`` missing, no video found, or a
            malformed line in a split or list file (the message names file and line).
    """
    exts = _norm_exts(extensions)
    input = Path(input)
    if not input.exists():
        raise InputError(f"input not found: {input}")
    if input.is_dir():
        return _discover_dir(input, splits_dir, exts)
    if splits_dir is not None:
        raise InputError(f"--splits-dir {splits_dir} only applies when the input is a directory, not {input}")
    suffix = input.suffix.lower()
    if suffix in exts:
        path = _abs(input)
        return DiscoverResult([VideoEntry(path=path, id=path.name)], format="flat")
    if suffix in LIST_EXTENSIONS:
        return _discover_list(input, exts)
    raise InputError(
        f"{input}: neither a directory, a video ({', '.join(sorted(exts))}) nor a list file (.txt, .lst, .csv)"
    )
