"""A dataset directory: scan it for videos, find its split files (in ``splits_dir``, the
root or one of its direct subfolders) and hand them to their format's reader; without
split files, a folder per class gives the labels, else the videos get none."""

from __future__ import annotations

import os
from pathlib import Path

from vssl.errors import InputError
from vssl.io.inputs._common import DiscoverResult, VideoEntry, _abs
from vssl.io.inputs.hmdb51 import _HMDB, _hmdb51
from vssl.io.inputs.kinetics import _KINETICS, _kinetics
from vssl.io.inputs.ucf101 import _UCF_TEST, _UCF_TRAIN, _ucf101


def _scan(root: Path, exts: frozenset[str]) -> list[tuple[str, Path]]:
    """(id, absolute path) of every video under ``root``; hidden and ``_``-folders skipped."""
    root = _abs(root)
    found: list[tuple[str, Path]] = []
    seen_dirs: set[str] = set()
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        d, rel = stack.pop()
        real = os.path.realpath(d)
        if real in seen_dirs:  # a symlink loop, or the same folder linked twice
            continue
        seen_dirs.add(real)
        try:
            it = list(os.scandir(d))
        except OSError as e:
            raise InputError(f"cannot list {d}: {e.strerror or e}") from None
        for de in it:
            name = de.name
            if name.startswith("."):
                continue
            try:
                is_dir = de.is_dir()
            except OSError:
                continue
            if is_dir:
                if not name.startswith("_"):
                    stack.append((de.path, f"{rel}{name}/"))
            elif os.path.splitext(name)[1].lower() in exts:
                found.append((rel + name, Path(de.path)))
    found.sort(key=lambda t: t[0])
    return found


def _find_split_files(d: Path) -> tuple[str, dict[str, list[Path]]] | None:
    """(format, files by kind) for the split files directly in ``d``, or None."""
    try:
        names = sorted(d.iterdir())
    except OSError:
        return None
    ucf: dict[str, list[Path]] = {"classInd": [], "train": [], "test": []}
    hmdb: list[Path] = []
    kin: list[Path] = []
    for p in names:
        n = p.name
        if not (n.lower().endswith((".txt", ".csv")) and p.is_file()):
            continue
        if n.lower() == "classind.txt":
            ucf["classInd"].append(p)
        elif _UCF_TRAIN.match(n):
            ucf["train"].append(p)
        elif _UCF_TEST.match(n):
            ucf["test"].append(p)
        elif _HMDB.match(n):
            hmdb.append(p)
        elif n.lower() in _KINETICS:
            kin.append(p)
    if any(ucf.values()):
        return "ucf101", ucf
    if hmdb:
        return "hmdb51", {"files": hmdb}
    if kin:
        return "kinetics", {"files": kin}
    return None


def _discover_dir(root: Path, splits_dir: Path | None, exts: frozenset[str]) -> DiscoverResult:
    files = _scan(root, exts)
    if not files:
        raise InputError(f"no video files ({', '.join(sorted(exts))}) under {root}")
    if splits_dir is not None:
        splits_dir = Path(splits_dir)
        if not splits_dir.is_dir():
            raise InputError(f"splits dir not found: {splits_dir}")
        found = _find_split_files(splits_dir)
        if found is None:
            raise InputError(
                f"no split files in {splits_dir} (expected classInd.txt/trainlist01.txt, "
                "<class>_test_split1.txt, or train.csv/validate.csv)"
            )
    else:
        found = _find_split_files(root)
        if found is None:
            # Also one level down (e.g. UCF101's ucfTrainTestlist/), skipping the folders holding videos.
            with_videos = {id_.split("/", 1)[0] for id_, _ in files if id_.count("/") == 1}
            subs = sorted(p for p in root.iterdir()
                          if not p.name.startswith((".", "_")) and p.name not in with_videos and p.is_dir())
            for sub in subs:
                found = _find_split_files(sub)
                if found is not None:
                    break
    if found is not None:
        fmt, split_files = found
        if fmt == "ucf101":
            return _ucf101(files, split_files)
        if fmt == "hmdb51":
            return _hmdb51(files, split_files["files"])
        return _kinetics(files, split_files["files"])
    # No split files: folder per class, or flat.
    classes = sorted({id_.split("/", 1)[0] for id_, _ in files if "/" in id_})
    if not classes:
        return DiscoverResult([VideoEntry(path=p, id=i) for i, p in files], format="flat")
    cidx = {c: i for i, c in enumerate(classes)}
    entries = []
    for id_, p in files:
        c = id_.split("/", 1)[0] if "/" in id_ else None
        entries.append(VideoEntry(path=p, id=id_, label=None if c is None else cidx[c], class_name=c))
    warnings = []
    n_flat = sum(1 for id_, _ in files if "/" not in id_)
    if n_flat:
        warnings.append(f"{root}: {n_flat} video(s) directly in the root have no class folder, so no label")
    return DiscoverResult(entries, warnings, "folders", classes)
