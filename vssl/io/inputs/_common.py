"""What every input format shares: the result types (:class:`VideoEntry`,
:class:`DiscoverResult`), the accepted extensions, reading split and list files line
by line, finding a listed video on disk and collecting labels and splits per video."""

from __future__ import annotations

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
