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
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from vssl.errors import InputError

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts",
)
LIST_EXTENSIONS: tuple[str, ...] = (".txt", ".lst", ".csv")
FORMATS = ("ucf101", "hmdb51", "kinetics", "folders", "flat", "list")

_UCF_TRAIN = re.compile(r"^trainlist(\d+)\.txt$", re.IGNORECASE)
_UCF_TEST = re.compile(r"^testlist(\d+)\.txt$", re.IGNORECASE)
_HMDB = re.compile(r"^(.+)_test_split(\d+)\.txt$", re.IGNORECASE)
_KINETICS = {"train.csv": "train", "validate.csv": "test", "val.csv": "test", "test.csv": None}
_MAX_EXAMPLES = 3  # missing videos named in a warning


@dataclass
class VideoEntry:
    """One input video.

    Attributes:
        path: absolute path of the video file.
        id: path relative to the dataset root, posix, with extension
            (e.g. ``"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"``); unique.
        label: 0-based class index, None if unknown.
        class_name: name of class ``label``, None if unknown.
        splits: split number -> ``"train"`` or ``"test"``, e.g. ``{"1": "train", "2": "test"}``;
            empty when no split file lists the video.
    """

    path: Path
    id: str
    label: int | None = None
    class_name: str | None = None
    splits: dict[str, str] = field(default_factory=dict)


@dataclass
class DiscoverResult:
    """What ``discover_inputs`` found.

    Attributes:
        entries: the videos, sorted by id.
        warnings: one-line messages (listed videos not found, ...), for the user.
        format: one of ``FORMATS``: the split-file format used, ``"folders"``
            (folder per class), ``"flat"`` (no labels) or ``"list"``.
        classes: class names by label index (empty when there are no labels, or
            for a list file with int labels).
        missing: videos listed in split or list files but not found on disk
            (as written there), sorted, without duplicates.
    """

    entries: list[VideoEntry]
    warnings: list[str] = field(default_factory=list)
    format: str = "flat"
    classes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


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


# --------------------------------------------------------------------------- helpers


def _norm_exts(extensions: Iterable[str]) -> frozenset[str]:
    out = set()
    for e in extensions:
        e = e.lower()
        out.add(e if e.startswith(".") else "." + e)
    if not out:
        raise InputError("no video extensions given")
    return frozenset(out)


def _abs(p: Path) -> Path:
    # Absolute and normalised, but symlinks kept: ids stay those of the tree the user sees.
    return Path(os.path.abspath(p))


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


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) for each line that is not blank or a ``#`` comment."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s and not s.startswith("#"):
            yield i, s


def _parse_int(tok: str, where: str, what: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise InputError(f"{where}: {what} must be an integer, got {tok!r}") from None


class _Index:
    """Finds a video on disk from a path written in a split file.

    Tried in order: the exact id; case-insensitive; the same path with another
    extension (videos re-encoded to .mp4); then, if unique, the file name and the
    file stem anywhere under the root (videos stored flat or one folder deeper).
    """

    def __init__(self, files: list[tuple[str, Path]]):
        self.by_id = dict(files)
        self._maps: list[dict[str, str | None]] = [{}, {}, {}, {}]
        for id_, _ in files:
            low = id_.lower()
            name = low.rsplit("/", 1)[-1]
            for m, key in zip(self._maps, (low, os.path.splitext(low)[0], name, os.path.splitext(name)[0])):
                m[key] = None if key in m and m[key] != id_ else id_  # None: ambiguous

    def find(self, rel: str) -> str | None:
        rel = rel.replace("\\", "/").lstrip("/")
        if rel.startswith("./"):
            rel = rel[2:]
        if rel in self.by_id:
            return rel
        low = rel.lower()
        name = low.rsplit("/", 1)[-1]
        for m, key in zip(self._maps, (low, os.path.splitext(low)[0], name, os.path.splitext(name)[0])):
            hit = m.get(key)
            if hit is not None:
                return hit
        return None


class _Assign:
    """Collects label and splits per video id, refusing contradictions."""

    def __init__(self) -> None:
        self.label: dict[str, int] = {}
        self.splits: dict[str, dict[str, str]] = {}
        self.where: dict[tuple[str, str], str] = {}  # (id, split) -> "file:line" that set it
        self.label_where: dict[str, str] = {}

    def set(self, id_: str, label: int | None, split: str | None, role: str | None, where: str,
            class_names: list[str]) -> None:
        if label is not None:
            old = self.label.get(id_)
            if old is not None and old != label:
                raise InputError(
                    f"{where}: {id_} has label {label} ({class_names[label]}) but "
                    f"{self.label_where[id_]} gives {old} ({class_names[old]})"
                )
            self.label[id_] = label
            self.label_where.setdefault(id_, where)
        if split is not None and role is not None:
            s = self.splits.setdefault(id_, {})
            old_role = s.get(split)
            if old_role is not None and old_role != role:
                raise InputError(
                    f"{where}: {id_} is {role} in split {split} but {self.where[(id_, split)]} makes it {old_role}"
                )
            s[split] = role
            self.where.setdefault((id_, split), where)


class _Missing:
    """Listed videos not found on disk, counted per split file."""

    def __init__(self) -> None:
        self.per_file: dict[Path, list[str]] = {}

    def add(self, file: Path, name: str) -> None:
        self.per_file.setdefault(file, []).append(name)

    def warnings(self) -> list[str]:
        out = []
        for file, names in self.per_file.items():
            ex = ", ".join(names[:_MAX_EXAMPLES]) + (", ..." if len(names) > _MAX_EXAMPLES else "")
            n = len(names)
            out.append(f"{file}: {n} listed video{'s' if n > 1 else ''} not found on disk ({ex})")
        return out

    def all(self) -> list[str]:
        return sorted({n for names in self.per_file.values() for n in names})


def _class_index(class_names: list[str]) -> dict[str, int]:
    """Class name -> label; also under a loose key (case, spaces, '_' and '-' ignored) if unique."""
    idx = {c: i for i, c in enumerate(class_names)}
    loose: dict[str, int | None] = {}
    for c, i in idx.items():
        k = _loose(c)
        loose[k] = None if k in loose else i
    for k, i in loose.items():
        if i is not None:
            idx.setdefault(k, i)
    return idx


def _loose(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.lower())


def _folder_label(id_: str, cidx: dict[str, int]) -> int | None:
    """Label of the class named by the folder holding the video, if any."""
    parts = id_.split("/")
    if len(parts) < 2:
        return None
    name = parts[-2]
    hit = cidx.get(name)
    return hit if hit is not None else cidx.get(_loose(name))


def _build_entries(files: list[tuple[str, Path]], assign: _Assign, class_names: list[str],
                   fallback_label: bool = True) -> list[VideoEntry]:
    cidx = _class_index(class_names)
    entries = []
    for id_, path in files:
        label = assign.label.get(id_)
        if label is None and fallback_label:
            label = _folder_label(id_, cidx)
        entries.append(VideoEntry(
            path=path, id=id_, label=label,
            class_name=None if label is None else class_names[label],
            splits=dict(sorted(assign.splits.get(id_, {}).items(), key=lambda kv: _split_key(kv[0]))),
        ))
    return entries


def _split_key(s: str) -> tuple[int, str]:
    return (int(s), "") if s.isdigit() else (1 << 30, s)


# --------------------------------------------------------------------------- directories


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


# --------------------------------------------------------------------------- list files

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
