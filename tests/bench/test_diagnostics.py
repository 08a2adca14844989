from __future__ import annotations

import pytest

from vssl.bench.diagnostics import coverage_line, groundtruth_masks, object_coverage


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from vssl.preprocess.extract import ExtractOptions, extract
    from vssl.synth import make_synth

    root = tmp_path_factory.mktemp("diag")
    make_synth(root / "src", classes=2, videos_per_class=3, size=(64, 48), frames=16, bias="none", progress=False)
    extract(root / "src", root / "cache", ExtractOptions(size=48, workers=0), quiet=True)
    return root


def test_groundtruth_masks_are_read_when_present(tiny):
    vid = "TranslateHorizontal/" + next((tiny / "src" / "TranslateHorizontal").glob("*.mp4")).name
    m = groundtruth_masks(tiny / "src", vid)
    assert m.dtype == bool and m.shape == (16, 48, 64) and 0 < m.mean() < 0.5
    assert groundtruth_masks(tiny / "src", "TranslateHorizontal/nothing.mp4") is None


def test_object_coverage_bounds_and_limits(tiny):
    kw = dict(load_hw=(32, 42), crop=24, clip_len=4)
    d = object_coverage(tiny / "cache", tiny / "src", **kw)
    assert d["videos"] == 4  # the train videos (2 per class)
    for k in ("object_area", "crop_kept", "crop_lost", "fame_recall", "fame_precision", "merged_scene"):
        assert 0.0 <= d[k] <= 1.0, k
    assert abs(d["merged_scene"] - 0.5 * (1 - d["fame_precision"])) < 1e-12
    # beta 1 marks every pixel: all of the object is kept, the mask is object only in proportion to its area
    full = object_coverage(tiny / "cache", tiny / "src", beta=1.0, **kw)
    assert full["fame_recall"] == pytest.approx(1.0)
    assert full["fame_precision"] < 0.5 and full["merged_scene"] > 0.5
    # crops of the whole frame keep (nearly) all of the object; crops of a fifth of it less
    whole = object_coverage(tiny / "cache", tiny / "src", min_scale=1.0, **kw)
    assert whole["crop_kept"] > 0.9 and whole["crop_lost"] == 0.0
    small = object_coverage(tiny / "cache", tiny / "src", min_scale=0.05, **{**kw, "crop": 8})
    assert small["crop_kept"] < whole["crop_kept"]
    assert "of the frame" in coverage_line(d)


def test_no_groundtruth_no_figures(tiny, tmp_path):
    assert object_coverage(tiny / "cache", tmp_path, load_hw=(32, 42), crop=24, clip_len=4) is None
