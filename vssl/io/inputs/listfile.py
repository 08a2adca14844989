"""A list file (``.txt``, ``.lst``, ``.csv``): one video path per line, relative to the
list file's folder, with an optional label (an int, the 0-based class index, or a class
name); blank lines and ``#`` comments skipped, a ``.csv`` header row allowed."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from vssl.errors import InputError
from vssl.io.inputs._common import (
    DiscoverResult,
    VideoEntry,
    _abs,
    _Missing,
    _read_lines,
)

_HEADER_WORDS = {"path", "video", "file", "filename", "video_path", "id", "name"}


def _discover_list(lp: Path, exts: frozenset[str]) -> DiscoverResult:
    base = _abs(lp).parent
    is_csv = lp.suffix.lower() == ".csv"
    items: list[tuple[str, int, Path, str, str | None]] = []  # where, line, path, as written, label token
    first = True
    for ln, s in _read_lines(lp):
        where = f"{lp}:{ln}"
        if is_csv:
            try:
                row = [c.strip() for c in next(csv.reader(io.StringIO(s)))]
            except (csv.Error, StopIteration) as e:
                raise InputError(f"{where}: bad CSV line: {e}") from None
            if first and row[0].lower() in _HEADER_WORDS:
                first = False
                continue
            if len(row) > 2 or not row[0]:
                raise InputError(f"{where}: expected 'PATH[,LABEL]', got {s!r}")
            written, tok = row[0], (row[1] if len(row) == 2 and row[1] else None)
        else:
            written, tok = _split_path_label(s, base)
        first = False
        p = Path(written).expanduser()
        p = _abs(p if p.is_absolute() else base / p)
        items.append((where, ln, p, written, tok))
    if not items:
        raise InputError(f"{lp}: no video paths in the list")

    # Labels: all ints (0-based indices) or all class names.
    toks = [(w, t) for w, _, _, _, t in items if t is not None]
    kinds = {t.lstrip("-").isdigit() for _, t in toks}
    classes: list[str] = []
    if len(kinds) > 1:
        first_kind = toks[0][1].lstrip("-").isdigit()
        w = next(w for w, t in toks if t.lstrip("-").isdigit() != first_kind)
        raise InputError(f"{w}: label mixes integers and class names in one list")
    int_labels = kinds == {True}
    if not int_labels and toks:
        classes = sorted({t for _, t in toks})
    cidx = {c: i for i, c in enumerate(classes)}

    missing = _Missing()
    not_video: list[str] = []
    kept: dict[Path, tuple[str, int | None]] = {}  # path -> (where, label)
    for where, _, p, written, tok in items:
        label = None
        if tok is not None:
            label = int(tok) if int_labels else cidx[tok]
            if label < 0:
                raise InputError(f"{where}: label must be >= 0, got {label}")
        if p in kept:
            w0, l0 = kept[p]
            if l0 != label:
                raise InputError(f"{where}: {written} listed again with label {label} (was {l0} at {w0})")
            continue
        if not p.is_file():
            missing.add(lp, written)
            continue
        if p.suffix.lower() not in exts:
            not_video.append(written)
            continue
        kept[p] = (where, label)
    warnings = missing.warnings()
    if not_video:
        warnings.append(
            f"{lp}: {len(not_video)} listed file(s) without a video extension skipped ({not_video[0]}, ...)"
        )
    if not kept:
        raise InputError(f"{lp}: none of the {len(items)} listed videos exists")

    paths = list(kept)
    if all(_is_under(p, base) for p in paths):
        root = base
    else:
        root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    entries = []
    for p, (_, label) in kept.items():
        cname = None if label is None or int_labels else classes[label]
        entries.append(VideoEntry(path=p, id=p.relative_to(root).as_posix(), label=label, class_name=cname))
    entries.sort(key=lambda e: e.id)
    return DiscoverResult(entries, warnings, "list", classes, missing.all())


def _split_path_label(s: str, base: Path) -> tuple[str, str | None]:
    """Split a list line into path and optional label; a path may contain spaces."""
    toks = s.rsplit(None, 1)
    if len(toks) == 1:
        return s, None
    whole = Path(s).expanduser()
    if (whole if whole.is_absolute() else base / whole).is_file():
        return s, None  # the whole line names a file: no label
    return toks[0], toks[1]


def _is_under(p: Path, root: Path) -> bool:
    try:
        p.relative_to(root)
        return True
    except ValueError:
        return False
