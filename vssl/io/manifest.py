"""Cache manifests: one JSON file at the root of a cache (and of each precompute)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from vssl import __version__
from vssl.errors import CacheError
from vssl.io import schema
from vssl.utils.fs import atomic_write_bytes, atomic_write_json  # noqa: F401  (re-exported)


def new_manifest(kind: str, options: dict, records: list[dict], **extra: Any) -> dict:
    """A manifest dict: format, schema and vssl version, options, one record per input."""
    records = sorted(records, key=lambda r: r["id"])
    return {
        "format": schema.FORMAT,
        "kind": kind,
        "schema_version": schema.SCHEMA_VERSION,
        "vssl_version": __version__,
        "options": options,
        **extra,
        "videos": records,
    }


def write_manifest(root: Path, manifest: dict) -> None:
    atomic_write_json(Path(root) / schema.MANIFEST, manifest)


def entry_path(root: Path, rel: Any, where: str) -> Path:
    """``root / rel`` for a path read from a manifest or sidecar, refused (CacheError, one line
    naming the entry) unless it stays inside ``root``: relative, no ``..``. The check is on the
    text, so a directory the user symlinked into the root (``shards -> /big/disk``) still works."""
    from pathlib import PurePosixPath

    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise CacheError(f"{where}: bad path {rel!r}: a damaged or hostile entry")
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or os.path.isabs(rel) or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise CacheError(f"{where}: path '{rel}' leads outside {root} (absolute or '..'): a damaged or hostile "
                         "entry; re-extract, or fix the entry")
    return Path(root) / p


def check_entry_paths(root: Path, manifest: dict, source: Path) -> None:
    """Every shard path of ``manifest`` (read from ``source``) stays inside ``root``."""
    videos = manifest.get("videos")
    if not isinstance(videos, list):
        raise CacheError(f"{source} has no list of videos: a damaged manifest")
    for r in videos:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str):
            raise CacheError(f"{source}: an entry without an id ({str(r)[:60]}): a damaged manifest")
        if r.get("shard") is not None or r.get("status") == schema.OK:
            entry_path(root, r.get("shard"), f"{source}: video '{r['id']}'")


def manifest_path(root: Path, kind: str = "extract") -> Path:
    """The manifest file of a cache directory, without reading it; one-line CacheError when the
    directory or its manifest is missing."""
    root = Path(root)
    path = root / schema.MANIFEST
    if not root.exists():
        raise CacheError(f"cache not found: {root}")
    if not path.is_file():
        hint = "run `vssl extract` first" if kind == "extract" else f"run `vssl precompute {kind}` first"
        raise CacheError(f"no {schema.MANIFEST} in {root}: not a vssl cache or unfinished ({hint})")
    return path


def load_manifest(root: Path, kind: str = "extract") -> dict:
    """Load and check the manifest of a cache directory (raises CacheError with one line)."""
    root = Path(root)
    path = manifest_path(root, kind)
    try:
        m = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise CacheError(f"cannot read {path}: {e}") from None
    if not isinstance(m, dict) or m.get("format") != schema.FORMAT:
        raise CacheError(f"{path} is not a vssl cache manifest")
    if m.get("schema_version") != schema.SCHEMA_VERSION:
        raise CacheError(
            f"{path} has cache schema {m.get('schema_version')} (vssl {m.get('vssl_version')}); "
            f"this vssl {__version__} reads schema {schema.SCHEMA_VERSION}: re-run the command with --force"
        )
    if m.get("kind") != kind:
        raise CacheError(f"{path} is a '{m.get('kind')}' manifest, expected '{kind}'")
    check_entry_paths(root, m, path)
    return m


def manifest_checksum(root: Path) -> str:
    """blake2b of the manifest file: recorded by pretrain/eval runs to tie them to a cache."""
    return hashlib.blake2b((Path(root) / schema.MANIFEST).read_bytes(), digest_size=16).hexdigest()
