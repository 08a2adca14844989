"""Kinetics split files: ``train.csv``, ``validate.csv`` or ``val.csv``, ``test.csv``
with columns label, youtube_id, time_start, time_end (split); a row's video is found
by its file stem (see :mod:`vssl.io.inputs`)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from vssl.errors import InputError
from vssl.io.inputs._common import (
    DiscoverResult,
    _Assign,
    _build_entries,
    _class_index,
    _folder_label,
    _Missing,
    _read_lines,
)

_KINETICS = {"train.csv": "train", "validate.csv": "test", "val.csv": "test", "test.csv": None}


def _kinetics(files: list[tuple[str, Path]], paths: list[Path]) -> DiscoverResult:
    rows: list[tuple[str, int, str, str | None, int, int, str | None]] = []  # file, line, ytid, label, start, end, role
    for cp in paths:
        role = _KINETICS[cp.name.lower()]
        rows += [(str(cp), *r, role) for r in _read_kinetics_csv(cp)]
    classes = sorted({r[3] for r in rows if r[3]})
    cidx = _class_index(classes)
    # One index of files by stem prefix (not a glob per row): prefix length -> prefix -> ids.
    lengths = {len(r[2]) for r in rows}
    by_prefix: dict[int, dict[str, list[str]]] = {L: {} for L in lengths}
    by_stem: dict[str, list[str]] = {}
    for id_, _ in files:
        stem = os.path.splitext(id_.rsplit("/", 1)[-1])[0]
        by_stem.setdefault(stem, []).append(id_)
        for L, m in by_prefix.items():
            if len(stem) == L or (len(stem) > L and stem[L] == "_"):
                m.setdefault(stem[:L], []).append(id_)
    assign = _Assign()
    missing = _Missing()
    claimed: dict[str, str] = {}  # id -> ytid of the row that took it by prefix
    for file, ln, ytid, label_name, start, end, role in rows:
        where = f"{file}:{ln}"
        full = f"{ytid}_{start:06d}_{end:06d}"
        cands = by_stem.get(full) or [c for c in by_prefix[len(ytid)].get(ytid, [])
                                       if claimed.get(c, ytid) == ytid]
        if not cands:
            missing.add(Path(file), full)
            continue
        if len(cands) > 1 and label_name:
            # Prefer the one inside the folder of its class (<root>[/<split>]/<label>/...).
            in_class = [c for c in cands if _folder_label(c, cidx) == cidx[label_name]]
            cands = in_class or cands
        id_ = sorted(cands)[0]
        claimed.setdefault(id_, ytid)
        label = cidx[label_name] if label_name else None
        assign.set(id_, label, "1" if role else None, role, where, classes)
    return DiscoverResult(_build_entries(files, assign, classes), missing.warnings(), "kinetics", classes,
                          missing.all())


def _read_kinetics_csv(path: Path) -> list[tuple[int, str, str | None, int, int]]:
    """(line, youtube_id, label or None, start, end) for each row of a Kinetics CSV."""
    lines = list(_read_lines(path))
    if not lines:
        return []
    try:
        header = next(csv.reader([lines[0][1]]))
    except csv.Error as e:
        raise InputError(f"{path}:{lines[0][0]}: bad CSV header: {e}") from None
    header = [h.strip().lower() for h in header]
    col = {h: i for i, h in enumerate(header)}
    need = ("youtube_id", "time_start", "time_end")
    absent = [h for h in need if h not in col]
    if absent:
        raise InputError(
            f"{path}:{lines[0][0]}: header lacks column(s) {', '.join(absent)} "
            "(expected label,youtube_id,time_start,time_end,split)"
        )
    out = []
    for ln, s in lines[1:]:
        where = f"{path}:{ln}"
        try:
            row = next(csv.reader(io.StringIO(s)))
        except (csv.Error, StopIteration) as e:
            raise InputError(f"{where}: bad CSV line: {e}") from None
        if len(row) < len(header):
            raise InputError(f"{where}: {len(row)} field(s), the header has {len(header)}")
        ytid = row[col["youtube_id"]].strip()
        if not ytid:
            raise InputError(f"{where}: empty youtube_id")
        label = row[col["label"]].strip() if "label" in col else ""
        t = []
        for h in ("time_start", "time_end"):
            v = row[col[h]].strip()
            try:
                f = float(v)
            except ValueError:
                raise InputError(f"{where}: {h} must be a number, got {v!r}") from None
            if f != f or f < 0 or f > 1e9:
                raise InputError(f"{where}: {h} out of range: {v!r}")
            t.append(int(f))
        out.append((ln, ytid, label or None, t[0], t[1]))
    return out
