"""HMDB51 split files: ``<class>_test_split<N>.txt`` with lines "video.avi k", k = 1
train, 2 test, 0 unused; videos in ``<root>/<class>/video.avi``; classes are the
sorted class names."""

from __future__ import annotations

import re
from pathlib import Path

from vssl.errors import InputError
from vssl.io.inputs._common import (
    DiscoverResult,
    _Assign,
    _build_entries,
    _Index,
    _Missing,
    _parse_int,
    _read_lines,
)

_HMDB = re.compile(r"^(.+)_test_split(\d+)\.txt$", re.IGNORECASE)


def _hmdb51(files: list[tuple[str, Path]], paths: list[Path]) -> DiscoverResult:
    parsed = [(p, *_HMDB.match(p.name).groups()) for p in paths]
    classes = sorted({c for _, c, _ in parsed})
    cidx = {c: i for i, c in enumerate(classes)}
    index = _Index(files)
    assign = _Assign()
    missing = _Missing()
    roles = {1: "train", 2: "test"}
    for lp, cname, num in parsed:
        split = str(int(num))
        label = cidx[cname]
        for ln, s in _read_lines(lp):
            where = f"{lp}:{ln}"
            toks = s.split()
            if len(toks) != 2:
                raise InputError(f"{where}: expected 'VIDEO K' (K = 0 unused, 1 train, 2 test), got {s!r}")
            k = _parse_int(toks[1], where, "split code")
            if k not in (0, 1, 2):
                raise InputError(f"{where}: split code must be 0, 1 or 2, got {k}")
            rel = f"{cname}/{toks[0]}"
            id_ = index.find(rel)
            if id_ is None:
                if k:  # a missing unused video does not matter
                    missing.add(lp, rel)
                continue
            assign.set(id_, label, split, roles.get(k), where, classes)
    return DiscoverResult(_build_entries(files, assign, classes), missing.warnings(), "hmdb51", classes,
                          missing.all())
