"""`vssl verify` and `vssl info`: re-read a cache and describe it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vssl.errors import CacheError
from vssl.io import schema
from vssl.io.manifest import load_manifest
from vssl.utils.progress import Progress

READ_BLOCK = 256


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    subcaches: list[str] = field(default_factory=list)


def _hash_dataset(ds, hasher, rows=READ_BLOCK):
    n = ds.shape[0]
    step = rows if ds.ndim > 1 else (1 << 24)
    for i in range(0, n, step):
        hasher.update(np.ascontiguousarray(ds[i : i + step]).tobytes())


def _check_jpegs(g, data: str, offs: str, expect_hw: tuple[int, int] | None, where: str, problems: list[str]) -> int:
    import cv2

    if data not in g or offs not in g:
        problems.append(f"{where}: missing {data}/{offs}")
        return 0
    o = g[offs][:]
    blob = g[data][:]
    if len(o) == 0 or o[0] != 0 or o[-1] != blob.shape[0] or np.any(np.diff(o) <= 0):
        problems.append(f"{where}: {offs} do not match {data} ({len(o) - 1} entries, {blob.shape[0]} bytes)")
        return 0
    for i in range(len(o) - 1):
        img = cv2.imdecode(blob[o[i] : o[i + 1]], cv2.IMREAD_COLOR)
        if img is None:
            problems.append(f"{where}: {data}[{i}] does not decode")
            return i
        if expect_hw and img.shape[:2] != expect_hw:
            problems.append(f"{where}: {data}[{i}] is {img.shape[1]}x{img.shape[0]}, expected {expect_hw[1]}x{expect_hw[0]}")
            return i
    return len(o) - 1


def verify_extract_video(g, rec: dict, where: str) -> list[str]:
    """Problems found in one extracted video group (empty list = fine)."""
    from vssl.io.checksum import combine_checksums, new_hasher

    problems: list[str] = []
    T = int(rec["n_frames"])
    for name in ("frame_types", "pts", "keyframes", "mv", "mv_valid", "keyframe_jpeg", "keyframe_offsets"):
        if name not in g:
            problems.append(f"{where}: dataset '{name}' missing")
    if problems:
        return problems
    if g["frame_types"].shape != (T,) or g["mv"].shape[0] != T or g["mv_valid"].shape != (T,):
        problems.append(f"{where}: array lengths disagree with n_frames={T} (mv {g['mv'].shape}, types {g['frame_types'].shape})")
    gh, gw = int(g.attrs.get("grid_height", -1)), int(g.attrs.get("grid_width", -1))
    if g["mv"].shape[1:] != (gh, gw, 2) or g["mv"].dtype != np.int16:
        problems.append(f"{where}: mv has shape {g['mv'].shape} {g['mv'].dtype}, expected (T, {gh}, {gw}, 2) int16")
    kf = g["keyframes"][:]
    ft = g["frame_types"][:]
    if len(kf) != len(g["keyframe_offsets"]) - 1:
        problems.append(f"{where}: {len(kf)} keyframes but {len(g['keyframe_offsets']) - 1} keyframe JPEGs")
    elif len(kf) and (kf.max() >= T or np.any(ft[kf] != 0)):
        problems.append(f"{where}: keyframe indices do not point at I-frames")
    hw = (int(rec.get("stored_height", 0)), int(rec.get("stored_width", 0)))
    _check_jpegs(g, "keyframe_jpeg", "keyframe_offsets", hw, where, problems)
    if "frame_jpeg" in g:
        n = _check_jpegs(g, "frame_jpeg", "frame_offsets", hw, where, problems)
        if "frame_index" not in g or g["frame_index"].shape[0] != n:
            problems.append(f"{where}: frame_index does not match the stored frames")
    sums = {}
    for name, dsname in (("mv", "mv"), ("mv_valid", "mv_valid"), ("keyframe_jpeg", "keyframe_jpeg"),
                         ("frame_jpeg", "frame_jpeg"), ("frame_types", "frame_types")):
        h = new_hasher(rec.get("checksums", {}).get(name))
        if dsname in g:
            _hash_dataset(g[dsname], h)
        sums[name] = h.hexdigest()
    if combine_checksums(sums) != rec.get("checksum"):
        bad = [k for k, v in sums.items() if rec.get("checksums", {}).get(k) != v]
        problems.append(f"{where}: checksum mismatch ({', '.join(bad) or 'combined'}): data changed since extraction")
    return problems


def subcache_checkers() -> dict:
    """Checkers of the precompute sub-caches: kind -> fn(group, record, where) -> problems.

    A static table (verify imports the formats' checkers; they do not import verify)."""
    from vssl.io.precomputed import check_be_video, check_fame_video

    return {"fame": check_fame_video, "be": check_be_video}


def _verify_tree(root: Path, kind: str, check, report: VerifyReport, quiet: bool) -> None:
    m = load_manifest(root, kind)
    recs = [r for r in m["videos"] if r.get("status") == schema.OK]
    with Progress(f"verify {kind}", len(recs), enabled=not quiet) as progress:
        _verify_shards(root, recs, check, report, progress)
    _stray_shard_problems(root, m, report)


def _verify_shards(root: Path, recs: list[dict], check, report: VerifyReport, progress: Progress) -> None:
    from vssl.io.h5 import load_h5py

    h5py = load_h5py()
    by_shard: dict[str, list[dict]] = {}
    for r in recs:
        by_shard.setdefault(r["shard"], []).append(r)
    for shard, rs in sorted(by_shard.items()):
        path = root / shard
        if not path.is_file():
            report.problems.append(f"{path}: shard missing ({len(rs)} videos)")
            progress.advance(len(rs))
            continue
        if not path.with_suffix(".json").is_file():
            report.problems.append(f"{path}: shard has no sidecar (.json): not committed")
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            report.problems.append(f"{path}: cannot open HDF5 ({str(e).splitlines()[0]})")
            progress.advance(len(rs))
            continue
        with f:
            for r in rs:
                where = f"{path.name}:{r['id']}"
                try:
                    if r["group"] not in f:
                        report.problems.append(f"{where}: group {r['group']} missing")
                    else:
                        report.problems.extend(check(f[r["group"]], r, where))
                except (OSError, KeyError, ValueError) as e:
                    report.problems.append(f"{where}: unreadable ({str(e).splitlines()[0]})")
                report.checked += 1
                progress.advance()


def _stray_shard_problems(root: Path, m: dict, report: VerifyReport) -> None:
    for p, dup, new in unlisted_shards(root, m):
        if new:
            report.problems.append(f"{p}: committed shard not listed in the manifest, holding {len(new)} videos the "
                                   "manifest lacks (e.g. '{0}'): `vssl verify --repair` lists them".format(new[0]["id"]))
        elif dup:
            report.problems.append(f"{p}: committed shard not listed in the manifest, a duplicate of {len(dup)} videos "
                                   "kept in other shards (left by two runs at once): `vssl verify --repair` deletes it")
    shard_dir = root / schema.SHARD_DIR
    for p in sorted(shard_dir.glob("*")) if shard_dir.is_dir() else []:
        if p.name.endswith(schema.PARTIAL_SUFFIX):
            report.problems.append(f"{p}: unfinished shard left by a killed run (rerun the same command to resume)")


def unlisted_shards(root: Path, manifest: dict) -> list[tuple[Path, list[dict], list[dict]]]:
    """Committed shards of ``root`` with ok videos that no manifest record points at:
    ``(path, duplicates, new)``, ``duplicates`` the ok records whose video the manifest lists
    in another shard, ``new`` those of videos it does not list at all."""
    listed_ids = {r["id"] for r in manifest["videos"] if r.get("status") == schema.OK}
    listed = {Path(r["shard"]).name for r in manifest["videos"] if r.get("status") == schema.OK and r.get("shard")}
    shard_dir = root / schema.SHARD_DIR
    out = []
    for p in sorted(shard_dir.glob("*.h5")) if shard_dir.is_dir() else []:
        side = p.with_suffix(".json")
        if p.name in listed or not side.is_file():
            continue
        try:
            vids = [v for v in json.loads(side.read_text("utf-8")).get("videos", []) if v.get("status") == schema.OK]
        except (OSError, ValueError):
            continue
        if vids:
            out.append((p, [v for v in vids if v["id"] in listed_ids], [v for v in vids if v["id"] not in listed_ids]))
    return out


def repair_cache(root: Path, *, quiet: bool = True) -> list[str]:
    """Make the manifests of ``root`` (and its precomputes) agree with the committed shards.

    A committed shard the manifest does not list is deleted when every video in it is kept in
    another listed shard (a duplicate), and otherwise listed: the records of its videos that
    verify are added to the manifest (written atomically). Nothing committed is lost.

    Returns:
        One line per action.

    Raises:
        CacheError: no manifest, or another process writes the cache (named; exit 3).
    """
    from vssl.io.h5 import load_h5py
    from vssl.io.lock import dir_lock
    from vssl.utils.fs import atomic_write_json

    h5py = load_h5py()
    root = Path(root)
    actions: list[str] = []
    trees = [(root, "extract", verify_extract_video)]
    trees += [(root / k, k, c) for k, c in subcache_checkers().items() if (root / k / schema.MANIFEST).exists()]
    with dir_lock(root, "vssl verify --repair", create=False):
        load_manifest(root, "extract")
        for tree, kind, check in trees:
            with dir_lock(tree, "vssl verify --repair", create=False):
                m = load_manifest(tree, kind)
                added = []
                for p, dup, new in unlisted_shards(tree, m):
                    if not new:
                        p.with_suffix(".json").unlink()  # uncommit first: a crash here leaves it for cleaning
                        p.unlink(missing_ok=True)
                        actions.append(f"deleted {p}: its {len(dup)} videos are kept in other shards")
                        continue
                    good = []
                    with h5py.File(p, "r") as f:
                        for r in new:
                            where = f"{p.name}:{r['id']}"
                            if r.get("group") in f and not check(f[r["group"]], r, where):
                                good.append(r)
                    added += good
                    actions.append(f"listed {len(good)} of {len(new)} videos of {p} in {tree / schema.MANIFEST}"
                                   + (" (the rest do not verify)" if len(good) < len(new) else ""))
                if added:
                    ids = {r["id"] for r in added}
                    m["videos"] = sorted([r for r in m["videos"] if r["id"] not in ids] + added, key=lambda r: r["id"])
                    atomic_write_json(tree / schema.MANIFEST, m)
    return actions


def verify_cache(root: Path, *, quiet: bool = False) -> VerifyReport:
    """Re-read every shard of a cache and its precomputes: checksums, JPEGs, shapes."""
    from vssl.io.lock import dir_lock

    root = Path(root)
    report = VerifyReport()
    with dir_lock(root, "vssl verify", shared=True, create=False):
        _verify_tree(root, "extract", verify_extract_video, report, quiet)
        for kind, check in subcache_checkers().items():
            sub = root / kind
            if (sub / schema.MANIFEST).exists():
                report.subcaches.append(kind)
                _verify_tree(sub, kind, check, report, quiet)
    return report


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def cache_info(root: Path) -> dict:
    """Summary numbers of a cache for `vssl info`."""
    root = Path(root)
    m = load_manifest(root, "extract")
    recs = m["videos"]
    ok = [r for r in recs if r.get("status") == schema.OK]
    failed = [r for r in recs if r.get("status") != schema.OK]
    classes = m.get("classes") or []
    per_class: dict[str, int] = {}
    per_split: dict[str, int] = {}
    for r in ok:
        name = r.get("class_name") or (classes[r["label"]] if r.get("label") is not None and r["label"] < len(classes) else "-")
        per_class[name] = per_class.get(name, 0) + 1
        for s, sub in (r.get("splits") or {}).items():
            per_split[f"split {s} {sub}"] = per_split.get(f"split {s} {sub}", 0) + 1
    gops = np.asarray([r["gop_max"] for r in ok]) if ok else np.zeros(0)
    info = {
        "root": str(root),
        "vssl_version": m.get("vssl_version"),
        "options": m.get("options"),
        "videos_ok": len(ok),
        "videos_failed": len(failed),
        "frames": int(sum(r["n_frames"] for r in ok)),
        "keyframes": int(sum(r["n_keyframes"] for r in ok)),
        "stored_frames": int(sum(r.get("n_stored_frames", 0) for r in ok)),
        "reencoded": int(sum(bool(r.get("reencoded")) for r in ok)),
        "mv_exact": int(sum(bool(r.get("mv_exact")) for r in ok)),
        "gop_mean": float(np.mean([r["gop_mean"] for r in ok])) if ok else 0.0,
        "gop_max": int(gops.max()) if len(gops) else 0,
        "per_class": dict(sorted(per_class.items())),
        "per_split": dict(sorted(per_split.items())),
        "failures": [(r["id"], r.get("reason", "")) for r in failed],
        "bytes": dir_size(root),
        "subcaches": {},
    }
    for kind in ("fame", "be"):
        sub = root / kind
        if (sub / schema.MANIFEST).exists():
            try:
                sm = load_manifest(sub, kind)
                info["subcaches"][kind] = {
                    "videos_ok": sum(r.get("status") == schema.OK for r in sm["videos"]),
                    "videos_failed": sum(r.get("status") != schema.OK for r in sm["videos"]),
                    "bytes": dir_size(sub),
                    "options": sm.get("options"),
                }
            except CacheError as e:
                info["subcaches"][kind] = {"error": str(e)}
    return info
