from __future__ import annotations

import pytest

from vssl.errors import InputError


def test_compression_choice_and_a_bad_one_is_refused_before_any_video(tmp_path, monkeypatch):
    from vssl.io.h5 import compressed, compression
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    monkeypatch.delenv("VSSL_H5_COMPRESSION", raising=False)
    assert compression() == "lz4" and compressed()["compression"] == 32004  # hdf5plugin's LZ4 id
    monkeypatch.setenv("VSSL_H5_COMPRESSION", "lzf")
    assert compressed() == {"compression": "lzf"}
    monkeypatch.setenv("VSSL_H5_COMPRESSION", "zstd")
    make_synth(tmp_path / "s", classes=2, videos_per_class=2, size=(64, 48), frames=16, progress=False)
    with pytest.raises(InputError, match="VSSL_H5_COMPRESSION must be one of lz4, lzf"):
        extract(tmp_path / "s", tmp_path / "c", ExtractOptions(workers=1, min_frames=8), quiet=True)
    assert not list((tmp_path / "c").glob("shards/*.h5"))
