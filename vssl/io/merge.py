"""`vssl merge`: join the parts of a multi-machine extraction into one cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from vssl.errors import CacheError, InputError
from vssl.io import schema
from vssl.io.manifest import check_entry_paths, entry_path, new_manifest, write_manifest


def _manifests(cache: Path) -> list[dict]:
    """The extract manifests of one cache directory: manifest.json or its parts."""
    out = []
    full = cache / schema.MANIFEST
    parts = sorted(cache.glob("manifest.part*.json"))
    paths = parts or ([full] if full.exists() else [])
    if not paths:
        raise CacheError(f"no manifest in {cache}: not a vssl cache, or its extraction never finished")
    for p in paths:
        try:
            m = json.loads(p.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise CacheError(f"cannot read {p}: {e}") from None
        if not isinstance(m, dict) or m.get("kind") != "extract" or m.get("schema_version") != schema.SCHEMA_VERSION:
            raise CacheError(f"{p} is not an extract manifest of cache schema {schema.SCHEMA_VERSION}")
        check_entry_paths(cache, m, p)
        out.append(m)
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def merge_caches(caches: list[Path], out: Path | None = None) -> tuple[Path, int, list[str]]:
    """Merge caches (or the parts inside one cache) into ``out``; returns (out, videos, warnings).

    With one input and no ``out``, the part manifests of that directory (written by
    ``--num-shards K``) are joined into its ``manifest.json``. Otherwise shards are
    hard-linked (or copied) into ``out/shards`` and one manifest lists every video.
    """
    caches = [Path(c) for c in caches]
    for c in caches:
        if not c.is_dir():
            raise InputError(f"not a directory: {c}")
    if out is None:
        if len(caches) != 1:
            raise InputError("merging several caches needs --out DIR")
        out = caches[0]
    out = Path(out)
    import contextlib

    from vssl.io.lock import dir_lock

    with contextlib.ExitStack() as locks:
        locks.enter_context(dir_lock(out, "vssl merge"))  # no extract or other merge writes out meanwhile
        for c in caches:
            if c.resolve() != out.resolve():
                locks.enter_context(dir_lock(c, "vssl merge", shared=True))
        return _merge_locked(caches, out)


def _merge_locked(caches: list[Path], out: Path) -> tuple[Path, int, list[str]]:
    warnings: list[str] = []
    records: dict[str, dict] = {}
    options = None
    classes: list[str] = []
    parts_seen: set = set()
    num_parts = None
    (out / schema.SHARD_DIR).mkdir(parents=True, exist_ok=True)
    for c in caches:
        for m in _manifests(c):
            opts = {k: v for k, v in m["options"].items() if k not in ("num_shards", "shard_index")}
            if options is None:
                options = opts
            elif opts != options:
                diff = sorted(k for k in set(opts) | set(options) if opts.get(k) != options.get(k))
                raise CacheError(f"cannot merge {c}: extracted with other options ({', '.join(diff)})")
            if m.get("part"):
                parts_seen.add(tuple(m["part"]))
                num_parts = m["part"][1]
            classes = classes or list(m.get("classes") or [])
            for r in m["videos"]:
                if r["id"] in records:
                    if records[r["id"]].get("checksum") != r.get("checksum"):
                        warnings.append(f"{r['id']}: in several inputs with different content; kept the first")
                    continue
                if c.resolve() != out.resolve() and r.get("shard"):
                    where = f"{c}: video '{r.get('id')}'"
                    src = entry_path(c, r["shard"], where)  # inside the input cache, or one line naming it
                    dst = entry_path(out, r["shard"], where)
                    if not dst.exists():
                        if not src.exists():
                            raise CacheError(f"shard missing: {src}")
                        _link_or_copy(src, dst)
                        side = src.with_suffix(".json")
                        if side.exists():
                            _link_or_copy(side, dst.with_suffix(".json"))
                records[r["id"]] = r
    if num_parts:
        missing = sorted(set(range(num_parts)) - {p[0] for p in parts_seen})
        if missing:
            warnings.append(f"parts missing: {', '.join(map(str, missing))} of {num_parts}: those videos are absent")
    manifest = new_manifest("extract", {**options, "num_shards": 1, "shard_index": 0}, list(records.values()),
                            classes=classes, merged_from=[str(c) for c in caches])
    write_manifest(out, manifest)
    return out, len(records), warnings
