"""vssl.utils.fs: the atomic writers (tmp + fsync + rename) and the free-space check."""

from __future__ import annotations

import json
import os

import pytest
import torch

from vssl.errors import DiskFullError
from vssl.utils import fs


def test_atomic_writers_fsync_then_rename_and_leave_no_temp_file(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    fs.atomic_write_json(tmp_path / "a.json", {"b": [1, 2], "a": 1})
    fs.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    fs.atomic_torch_save(tmp_path / "sub" / "c.pt", {"w": torch.arange(3)})
    assert len(synced) == 3
    assert (tmp_path / "a.json").read_text() == json.dumps({"b": [1, 2], "a": 1}, indent=1)  # keys in their order
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert torch.load(tmp_path / "sub" / "c.pt", weights_only=True)["w"].tolist() == [0, 1, 2]
    assert not list(tmp_path.rglob("*.tmp*"))


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.json"
    fs.atomic_write_json(path, {"v": 1})

    def broken(f):
        f.write(b"{half")
        raise ValueError("writer failed")

    with pytest.raises(ValueError, match="writer failed"):
        fs.atomic_write(path, broken)
    assert json.loads(path.read_text()) == {"v": 1} and not list(tmp_path.glob("*.tmp*"))


def test_torch_save_checks_the_tensor_bytes_first(tmp_path, monkeypatch):
    state = {"a": torch.zeros(1000), "b": [torch.zeros(10, dtype=torch.float64)], "n": 3}
    assert fs.tensor_bytes(state) == 4000 + 80
    monkeypatch.setattr(fs, "free_bytes", lambda p: fs.MB + 4000)  # 80 bytes short
    with pytest.raises(DiskFullError, match="not enough space .*a checkpoint.*nothing was written"):
        fs.atomic_torch_save(tmp_path / "c.pt", state)
    assert not (tmp_path / "c.pt").exists()


def test_io_space_and_manifest_reexport_the_one_writer():
    from vssl.io import manifest, space

    assert space.atomic_write is fs.atomic_write and space.ensure_free is fs.ensure_free
    assert manifest.atomic_write_json is fs.atomic_write_json and manifest.atomic_write_bytes is fs.atomic_write_bytes


def test_fsync_path_syncs_a_file_written_elsewhere(tmp_path, monkeypatch):
    p = tmp_path / "shard.h5"
    p.write_bytes(b"x")
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    fs.fsync_path(p)
    assert len(synced) == 1
    with pytest.raises(FileNotFoundError):
        fs.fsync_path(tmp_path / "missing")
