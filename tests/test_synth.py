"""Tests of vssl.synth: the synthetic scene-bias H.264 dataset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest

from vssl import synth

W, H, T, GOP, BF = 96, 64, 24, 8, 2
SMALL = dict(classes=3, videos_per_class=3, size=(W, H), frames=T, gop=GOP, bframes=BF, progress=False)


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "ds"
    summary = synth.make_synth(out, seed=0, **SMALL)
    return out, summary


def _decode(path: Path) -> dict:
    """Codec facts and per-frame types/keyframes of an mp4, in display order."""
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        info = {
            "codec": st.codec_context.name,
            "width": st.width,
            "height": st.height,
            "fps": float(st.average_rate),
            "pix_fmt": st.codec_context.pix_fmt,
        }
        types, keys = [], []
        for t, f in enumerate(c.decode(st)):
            types.append({1: "I", 2: "P", 3: "B"}.get(int(f.pict_type), "?"))
            if f.key_frame:
                keys.append(t)
            assert (f.width, f.height) == (W, H)
    info["types"] = "".join(types)
    info["keys"] = keys
    return info


def _x264_options(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    m = re.search(rb"x264 - core \d+.*?options: ([^\x00]*)", data, re.S)
    assert m, "no x264 SEI in the stream"
    return dict(tok.split("=", 1) for tok in m.group(1).decode().split() if "=" in tok)


def test_layout_and_split_files(ds):
    out, summary = ds
    names = synth.CLASS_NAMES[:3]
    assert summary["classes"] == list(names)
    assert (summary["n_videos"], summary["n_train"], summary["n_test"]) == (9, 6, 3)
    assert (out / "classInd.txt").read_text().splitlines() == [f"{i + 1} {n}" for i, n in enumerate(names)]

    train = (out / "trainlist01.txt").read_text().splitlines()
    test = (out / "testlist01.txt").read_text().splitlines()
    assert len(train) == 6 and len(test) == 3
    pat = re.compile(r"^(\w+)/v_(\w+)_g(\d\d)_c(\d\d)\.mp4$")
    for line in train:
        rel, lab = line.split(" ")
        m = pat.match(rel)
        assert m and m.group(1) == m.group(2), line
        assert int(lab) == names.index(m.group(1)) + 1
        assert int(m.group(3)) == int(lab), "train: background family == class"
    for line in test:
        m = pat.match(line)  # path only, no label
        assert m, line
        assert int(m.group(3)) != names.index(m.group(1)) + 1, "test: background family != class"
    listed = sorted(l.split(" ")[0] for l in train) + sorted(test)
    on_disk = sorted(str(p.relative_to(out)) for p in out.glob("*/*.mp4"))
    assert sorted(listed) == on_disk
    assert not list(out.rglob("*.partial"))

    meta = json.loads((out / "synth.json").read_text())
    assert meta["class_names"] == list(names)
    assert len(meta["background_families"]) == 3
    assert meta["params"]["size"] == [W, H] and meta["params"]["gop"] == GOP
    assert len(meta["videos"]) == 9
    for r in meta["videos"]:
        assert (out / r["path"]).is_file() and (out / r["groundtruth"]).is_file()
        assert r["label"] == names.index(r["class"])
        assert (r["background_family"] == r["label"]) == (r["split"] == "train")
        assert f"_g{r['background_family'] + 1:02d}_" in r["path"]


def test_streams(ds):
    out, _ = ds
    for mp4 in sorted(out.glob("*/*.mp4")):
        info = _decode(mp4)
        assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
        assert (info["width"], info["height"]) == (W, H)
        assert info["fps"] == 25.0
        assert len(info["types"]) == T
        assert info["keys"] == list(range(0, T, GOP)), info["types"]
        assert set(info["types"]) == {"I", "P", "B"}, info["types"]
        assert all(info["types"][k] == "I" for k in info["keys"])
        opts = _x264_options(mp4)
        assert opts["ref"] == "1" and opts["bframes"] == str(BF) and opts["b_pyramid"] == "0"
        assert opts["keyint"] == str(GOP) and opts["scenecut"] == "0"


def test_groundtruth(ds):
    out, _ = ds
    meta = json.loads((out / "synth.json").read_text())
    for r in meta["videos"]:
        gt = np.load(out / r["groundtruth"])
        masks, vel, boxes = gt["masks"], gt["velocity"], gt["boxes"]
        n = r["n_objects"]
        assert masks.dtype == bool and masks.shape == (T, H, W)
        assert masks.reshape(T, -1).any(1).all(), "every frame shows the object"
        assert vel.dtype == np.float32 and vel.shape == (T, n, 2)
        assert not vel[0].any()
        assert boxes.dtype == np.int32 and boxes.shape == (T, n, 4)
        assert (boxes[..., 0] < boxes[..., 2]).all() and (boxes[..., 1] < boxes[..., 3]).all()
        assert (boxes[..., [0, 2]] >= 0).all() and (boxes[..., [0, 2]] <= W).all()
        assert (boxes[..., [1, 3]] >= 0).all() and (boxes[..., [1, 3]] <= H).all()
        assert gt["translating"].dtype == bool and gt["translating"].shape == (n,)
        assert int(gt["label"]) == r["label"]
        assert int(gt["background_family"]) == r["background_family"]
        if r["class"] in ("TranslateHorizontal", "TranslateVertical"):
            assert gt["translating"].all()
            speed = np.abs(vel[1:, 0]).max(1)
            assert set(np.unique(speed)) <= {0, 1, 2, 3, 4}  # a bounce may shorten one step
            moving = vel[1:, 0, 0 if r["class"] == "TranslateHorizontal" else 1]
            assert np.abs(moving).max() in (2, 3, 4)
            assert not vel[:, 0, 1 if r["class"] == "TranslateHorizontal" else 0].any()
        if r["class"] == "Rotate":
            assert not gt["translating"].any()
            assert np.ptp(gt["angle"]) > 0


def test_mask_centroid_moves_by_velocity(ds):
    out, _ = ds
    checked = 0
    for path in sorted((out / "_groundtruth" / "TranslateHorizontal").glob("*.npz")):
        gt = np.load(path)
        ys, xs = np.mgrid[0:H, 0:W]
        m = gt["masks"].astype(np.float64)
        cx = (m * xs).sum((1, 2)) / m.sum((1, 2))
        cy = (m * ys).sum((1, 2)) / m.sum((1, 2))
        np.testing.assert_allclose(np.diff(cx), gt["velocity"][1:, 0, 0], atol=1e-9)
        np.testing.assert_allclose(np.diff(cy), gt["velocity"][1:, 0, 1], atol=1e-9)
        assert np.abs(gt["velocity"][1:, 0, 0]).sum() > 0
        checked += 1
    assert checked == 3


def test_deterministic(ds, tmp_path):
    out, _ = ds
    again = tmp_path / "again"
    synth.make_synth(again, seed=0, **{**SMALL, "progress": True})
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel

    other = tmp_path / "other"
    synth.make_synth(other, seed=1, **SMALL)
    a = sorted(out.glob("*/*_c01.mp4"))
    b = sorted(other.glob("*/*_c01.mp4"))
    assert [p.name for p in a] == [p.name for p in b]  # train: same names (g = class)
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(a, b))


def test_all_classes_no_bframes(tmp_path):
    out = tmp_path / "all"
    s = synth.make_synth(
        out, classes=8, videos_per_class=1, size=(64, 48), frames=10, gop=5, bframes=0,
        test_fraction=0.0, progress=False,
    )
    assert s["n_videos"] == 8 and s["n_test"] == 0
    assert (out / "testlist01.txt").read_text() == ""
    meta = json.loads((out / "synth.json").read_text())
    assert meta["class_names"] == list(synth.CLASS_NAMES)
    for r in meta["videos"]:
        with av.open(str(out / r["path"])) as c:
            frames = list(c.decode(video=0))
        assert len(frames) == 10
        assert {int(f.pict_type) for f in frames} <= {1, 2}  # I and P only
        assert [t for t, f in enumerate(frames) if f.key_frame] == [0, 5]
    gt = np.load(out / next(r["groundtruth"] for r in meta["videos"] if r["class"] == "TwoObjectsOpposite"))
    assert gt["velocity"].shape == (10, 2, 2) and gt["translating"].all()
    np.testing.assert_array_equal(gt["velocity"][:, 0], -gt["velocity"][:, 1])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(classes=0),
        dict(classes=1),
        dict(classes=99),
        dict(size=(97, 64)),
        dict(size=(96, 65)),
        dict(size=(16, 16)),
        dict(frames=1),
        dict(videos_per_class=0),
        dict(test_fraction=1.0),
        dict(bframes=-1),
        dict(gop=0),
        dict(seed=-1),
        dict(size=(96,)),
    ],
)
def test_bad_args(tmp_path, kwargs):
    out = tmp_path / "bad"
    with pytest.raises(ValueError):
        synth.make_synth(out, **{**SMALL, **kwargs})
    assert not out.exists()


def test_helpers():
    assert synth.n_test_videos(12, 1 / 3) == 4
    assert synth.n_test_videos(3, 1 / 3) == 1
    assert synth.n_test_videos(1, 1 / 3) == 0
    assert synth.n_test_videos(5, 0.0) == 0
    assert synth.video_stem("Zoom", 2, 8) == "v_Zoom_g03_c09"
    with pytest.raises(ValueError):
        synth.encode_h264(np.zeros((2, 31, 32, 3), np.uint8), Path("never.mp4"))


def test_encoder_deterministic(tmp_path):
    """Same frames -> same bytes, whatever was encoded before in the process.

    (x264's mb-tree rate control with B-frames was not: its output depended on the
    previous encodes; ``x264_params`` turns it off.)
    """
    videos = []
    for c, i in [(5, 11), (5, 8), (0, 4)]:
        rng = np.random.default_rng([0, c, i])
        bg = synth.make_background(c, rng, 160, 120)
        videos.append(synth.render_video(bg, synth._motion(c, rng, 160, 120, 64))[0])
    digests: dict[int, set] = {0: set(), 1: set(), 2: set()}
    for k in [0, 1, 2, 0, 2, 1, 0]:
        synth.encode_h264(videos[k], tmp_path / "v.mp4")
        digests[k].add((tmp_path / "v.mp4").read_bytes())
    assert all(len(d) == 1 for d in digests.values())


# --------------------------------------------------------------------------- bias regimes


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) of two integer label arrays."""
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def _families(bias: str, split: str, strength: float = 1.0, classes: int = 6, n: int = 600):
    labels, fams = [], []
    for c in range(classes):
        for i in range(n // classes):
            rng = np.random.default_rng([0, c, i, 1])
            fams.append(synth.background_family(c, split, classes, bias, strength, rng))
            labels.append(c)
    return np.array(labels), np.array(fams)


@pytest.mark.parametrize("split", ["train", "test"])
def test_bias_none_decorrelates_background_from_class(split):
    from scipy.stats import chi2_contingency

    lab, fam = _families("none", split)
    assert _mutual_information(lab, fam) < 0.05  # log(6) = 1.79 nats when the family is the class
    table = np.zeros((6, 6))
    np.add.at(table, (lab, fam), 1)
    assert chi2_contingency(table).pvalue > 0.001
    assert set(fam.tolist()) == set(range(6)), "every family is used"


def test_bias_class_follows_the_class_in_train_never_in_test():
    lab, fam = _families("class", "train")
    assert (lab == fam).all()
    assert _mutual_information(lab, fam) == pytest.approx(np.log(6))
    lab, fam = _families("class", "test")
    assert (lab != fam).all()


def test_bias_strength_is_the_share_of_train_videos_wearing_their_class_background():
    lab, fam = _families("class", "train", strength=0.5, n=3000)
    assert (lab == fam).mean() == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize("kw", [dict(bias="scene"), dict(bias_strength=1.5), dict(bias="none", bias_strength=0.5)])
def test_bad_bias_options_are_one_line_errors(tmp_path, kw):
    with pytest.raises(ValueError, match="bias"):
        synth.make_synth(tmp_path / "x", **{**SMALL, **kw})


def test_bias_none_dataset_records_the_regime_and_keeps_the_objects(tmp_path):
    small = {**SMALL, "videos_per_class": 2}
    synth.make_synth(tmp_path / "c", seed=0, **small)
    synth.make_synth(tmp_path / "n", seed=0, bias="none", **small)
    mc = json.loads((tmp_path / "c" / synth.META_FILE).read_text())
    mn = json.loads((tmp_path / "n" / synth.META_FILE).read_text())
    assert (mc["params"]["bias"], mn["params"]["bias"]) == ("class", "none")
    for rc, rn in zip(mc["videos"], mn["videos"]):
        assert rc["objects"] == rn["objects"] and rc["label"] == rn["label"], "same objects, other background"
        assert f"_g{rn['background_family'] + 1:02d}_" in rn["path"]


def test_camera_pan_frames_are_windows_of_the_background_along_the_path():
    rng = np.random.default_rng(3)
    bg = rng.integers(0, 255, (40, 50, 3), np.uint8)
    path = synth.camera_path(np.random.default_rng(1), 5, 12)
    assert path.shape == (12, 2) and path.min() >= 0 and path.max() <= 10
    steps = np.abs(np.diff(path, axis=0))
    assert steps[:, 0].max() in (1, 2) and steps[:, 1].max() <= 1 and (steps[:, 0] > 0).mean() > 0.8
    sprite = synth.make_sprite(rng, 30)
    track = synth.Track(sprite, np.full((12, 2), 20.0), np.zeros(12), np.ones(12), True)
    frames, masks, _ = synth.render_video(bg, [track], camera=path, size=(40, 30))
    assert frames.shape == (12, 30, 40, 3)
    for t in (0, 5, 11):
        x0, y0 = path[t]
        window = bg[y0 : y0 + 30, x0 : x0 + 40]
        assert np.array_equal(frames[t][~masks[t]], window[~masks[t]])  # the scene moves, the object does not
    assert masks[0].sum() > 0 and np.array_equal(masks[0], masks[11])


def test_camera_pan_dataset_records_the_scene_motion_and_the_video_shows_it(tmp_path):
    small = {**SMALL, "videos_per_class": 1, "classes": 2}
    synth.make_synth(tmp_path / "s", seed=0, **small)
    synth.make_synth(tmp_path / "p", seed=0, camera="pan", **small)
    ms = json.loads((tmp_path / "s" / synth.META_FILE).read_text())
    mp = json.loads((tmp_path / "p" / synth.META_FILE).read_text())
    assert (ms["params"]["camera"], mp["params"]["camera"]) == ("static", "pan")
    assert "scene_velocity" not in np.load(tmp_path / "s" / ms["videos"][0]["groundtruth"])
    # each decoded frame is the previous one shifted by the recorded scene motion (away from the
    # objects); summed over the videos (a stripes background hides motion along its stripes)
    errs = {"recorded": 0.0, "none": 0.0}
    for rec in mp["videos"]:
        gt = np.load(tmp_path / "p" / rec["groundtruth"])
        v = gt["scene_velocity"]
        assert v.shape == (small["frames"], 2) and (np.abs(v[1:, 0]) >= 1).mean() > 0.8  # (0 at a reflection)
        with av.open(str(tmp_path / "p" / rec["path"])) as c:
            fr = [f.to_ndarray(format="rgb24").astype(np.float32).mean(-1) for f in c.decode(video=0)]
        for t in range(1, len(fr)):
            dx, dy = (int(round(a)) for a in v[t])
            keep = ~(gt["masks"][t] | gt["masks"][t - 1])
            h, w = fr[t].shape
            ys, xs = np.mgrid[8 : h - 8, 8 : w - 8]
            ok = keep[ys, xs] & keep[ys - dy, xs - dx]
            errs["recorded"] += np.abs(fr[t][ys, xs] - fr[t - 1][ys - dy, xs - dx])[ok].mean()
            errs["none"] += np.abs(fr[t][ys, xs] - fr[t - 1][ys, xs])[keep[ys, xs]].mean()
    assert errs["recorded"] < 0.5 * errs["none"], errs


def test_bad_camera_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="camera must be one of static, pan"):
        synth.make_synth(tmp_path / "x", camera="zoom", **SMALL)
    assert not (tmp_path / "x").exists()
