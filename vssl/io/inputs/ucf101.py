"""UCF101 split files: ``classInd.txt`` ("1 ApplyEyeMakeup", 1-based),
``trainlist0N.txt`` ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1") and
``testlist0N.txt`` (path only; the label comes from the class folder through
``classInd.txt``)."""

from __future__ import annotations

import re
from pathlib import Path

from vssl.errors import InputError
from vssl.io.inputs._common import (
    DiscoverResult,
    _Assign,
    _build_entries,
    _class_index,
    _folder_label,
    _Index,
    _Missing,
    _parse_int,
    _read_lines,
)

_UCF_TRAIN = re.compile(r"^trainlist(\d+)\.txt$", re.IGNORECASE)
_UCF_TEST = re.compile(r"^testlist(\d+)\.txt$", re.IGNORECASE)


def _ucf101(files: list[tuple[str, Path]], sf: dict[str, list[Path]]) -> DiscoverResult:
    if not sf["classInd"]:
        some = (sf["train"] + sf["test"])[0]
        raise InputError(f"{some.parent}: UCF101 split lists found but no classInd.txt")
    cpath = sf["classInd"][0]
    by_index: dict[int, str] = {}
    for ln, s in _read_lines(cpath):
        where = f"{cpath}:{ln}"
        toks = s.split()
        if len(toks) != 2:
            raise InputError(f"{where}: expected 'INDEX CLASSNAME', got {s!r}")
        k = _parse_int(toks[0], where, "class index")
        if k in by_index:
            raise InputError(f"{where}: class index {k} appears twice")
        if toks[1] in by_index.values():
            raise InputError(f"{where}: class {toks[1]} appears twice")
        by_index[k] = toks[1]
    n = len(by_index)
    if n == 0:
        raise InputError(f"{cpath}: no classes")
    if sorted(by_index) != list(range(1, n + 1)):
        raise InputError(f"{cpath}: class indices must be 1..{n}, got {min(by_index)}..{max(by_index)}")
    classes = [by_index[k] for k in range(1, n + 1)]
    cidx = _class_index(classes)
    index = _Index(files)
    assign = _Assign()
    missing = _Missing()
    warnings: list[str] = []
    mismatched = 0
    for role, paths, rx in (("train", sf["train"], _UCF_TRAIN), ("test", sf["test"], _UCF_TEST)):
        for lp in paths:
            split = str(int(rx.match(lp.name).group(1)))
            for ln, s in _read_lines(lp):
                where = f"{lp}:{ln}"
                toks = s.split()
                if len(toks) > 2:
                    raise InputError(f"{where}: expected 'CLASS/VIDEO [LABEL]', got {s!r}")
                rel = toks[0].replace("\\", "/")
                folder_label = _folder_label(rel, cidx)
                if len(toks) == 2:
                    k = _parse_int(toks[1], where, "label")
                    if not 1 <= k <= n:
                        raise InputError(f"{where}: label {k} outside 1..{n} of {cpath.name}")
                    label = k - 1
                    if folder_label is not None and folder_label != label:
                        mismatched += 1
                else:
                    if folder_label is None:
                        raise InputError(f"{where}: folder of {rel!r} is no class of {cpath.name}")
                    label = folder_label
                id_ = index.find(rel)
                if id_ is None:
                    missing.add(lp, rel)
                    continue
                assign.set(id_, label, split, role, where, classes)
    if mismatched:
        warnings.append(f"{mismatched} line(s) of the train lists give a label other than their class folder's; "
                        "the listed label is used")
    warnings += missing.warnings()
    return DiscoverResult(_build_entries(files, assign, classes), warnings, "ucf101", classes, missing.all())
