"""discover_inputs on tiny fake datasets: empty placeholder videos and hand-written split files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vssl.errors import InputError
from vssl.io.inputs import VIDEO_EXTENSIONS, discover_inputs


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def by_id(res):
    return {e.id: e for e in res.entries}


# --------------------------------------------------------------------------- UCF101


def ucf(tmp_path: Path, lists: Path | None = None) -> tuple[Path, Path]:
    root = tmp_path / "UCF-101"
    touch(root,
          "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
          "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
          "Archery/v_Archery_g08_c01.avi",
          "Archery/v_Archery_g01_c01.avi",
          "Archery/v_Archery_g02_c01.avi")  # in no list
    lists = lists or root
    write(lists / "classInd.txt", "1 ApplyEyeMakeup\r\n2 Archery\r\n")
    write(lists / "trainlist01.txt",
          "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\n"
          "Archery/v_Archery_g09_c01.avi 2\n")  # not on disk
    write(lists / "testlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nArchery/v_Archery_g01_c01.avi\n")
    write(lists / "trainlist02.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\n")
    write(lists / "testlist02.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi\n")
    return root, lists


def test_ucf101_labels_and_splits(tmp_path):
    root, _ = ucf(tmp_path)
    res = discover_inputs(root)
    assert res.format == "ucf101"
    assert res.classes == ["ApplyEyeMakeup", "Archery"]
    e = by_id(res)
    assert [x.id for x in res.entries] == sorted(e)
    a = e["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"]
    assert (a.label, a.class_name, a.splits) == (0, "ApplyEyeMakeup", {"1": "train", "2": "test"})
    assert a.path == (root / a.id).absolute() and a.path.is_absolute()
    b = e["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"]
    assert b.splits == {"1": "test", "2": "train"}
    c = e["Archery/v_Archery_g01_c01.avi"]  # testlist: label from classInd by folder name
    assert (c.label, c.class_name, c.splits) == (1, "Archery", {"1": "test"})
    d = e["Archery/v_Archery_g02_c01.avi"]  # on disk, in no list: kept, label from its folder
    assert (d.label, d.splits) == (1, {})
    assert len(res.entries) == 5
    assert res.missing == ["Archery/v_Archery_g09_c01.avi"]
    assert len(res.warnings) == 1 and "trainlist01.txt" in res.warnings[0] and "v_Archery_g09" in res.warnings[0]


def test_ucf101_splits_dir_and_subfolder(tmp_path):
    lists = tmp_path / "ucfTrainTestlist"
    root, _ = ucf(tmp_path, lists)
    res = discover_inputs(root, splits_dir=lists)
    assert res.format == "ucf101"
    assert by_id(res)["Archery/v_Archery_g08_c01.avi"].splits == {"1": "train"}
    # Without splits_dir, the root holds no split files: folder per class.
    assert discover_inputs(root).format == "folders"
    # Input = the parent of both: split files found one level down; listed paths still match.
    res = discover_inputs(tmp_path)
    assert res.format == "ucf101"
    assert by_id(res)["UCF-101/Archery/v_Archery_g08_c01.avi"].splits == {"1": "train"}


def test_ucf101_reencoded_extension(tmp_path):
    root = tmp_path / "ucf"
    touch(root, "Archery/v_Archery_g01_c01.mp4")
    write(root / "classInd.txt", "1 Archery\n")
    write(root / "testlist01.txt", "Archery/v_Archery_g01_c01.avi\n")
    (e,) = discover_inputs(root).entries
    assert (e.id, e.label, e.splits) == ("Archery/v_Archery_g01_c01.mp4", 0, {"1": "test"})


@pytest.mark.parametrize("name,text,msg", [
    ("classInd.txt", "1 ApplyEyeMakeup\nx Archery\n", "classInd.txt:2: class index must be an integer"),
    ("classInd.txt", "1 ApplyEyeMakeup\n3 Archery\n", "class indices must be 1..2"),
    ("trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n\n# c\nArchery/v.avi two\n",
     "trainlist01.txt:4: label must be an integer, got 'two'"),
    ("trainlist01.txt", "Archery/v_Archery_g08_c01.avi 7\n", "trainlist01.txt:1: label 7 outside 1..2"),
    ("testlist01.txt", "Archery/v_Archery_g01_c01.avi\nNoSuchClass/v.avi\n", "testlist01.txt:2: folder"),
    ("testlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi\n", "testlist01.txt:1:"),  # also train in split 1
])
def test_ucf101_malformed(tmp_path, name, text, msg):
    root, lists = ucf(tmp_path)
    write(lists / name, text)
    with pytest.raises(InputError, match=msg.replace(".", r"\.").replace("(", r"\(")) as ei:
        discover_inputs(root)
    assert "\n" not in str(ei.value)


def test_ucf101_needs_classind(tmp_path):
    root, lists = ucf(tmp_path)
    (lists / "classInd.txt").unlink()
    with pytest.raises(InputError, match="no classInd.txt"):
        discover_inputs(root)


# --------------------------------------------------------------------------- HMDB51


def test_hmdb51(tmp_path):
    root = tmp_path / "hmdb"
    touch(root, "brush_hair/a.avi", "brush_hair/b.avi", "brush_hair/c.avi", "wave/w1.avi", "wave/w2.avi",
          "wave/extra.avi")
    sp = tmp_path / "splits"
    write(sp / "brush_hair_test_split1.txt", "a.avi 1 \nb.avi 2 \nc.avi 0 \ngone.avi 1 \n")
    write(sp / "brush_hair_test_split2.txt", "a.avi 2\nb.avi 1\nc.avi 1\n")
    write(sp / "wave_test_split1.txt", "w1.avi 2\nw2.avi 1\nunused_gone.avi 0\n")
    res = discover_inputs(root, splits_dir=sp)
    assert res.format == "hmdb51"
    assert res.classes == ["brush_hair", "wave"]
    e = by_id(res)
    assert (e["brush_hair/a.avi"].label, e["brush_hair/a.avi"].splits) == (0, {"1": "train", "2": "test"})
    assert e["brush_hair/b.avi"].splits == {"1": "test", "2": "train"}
    assert e["brush_hair/c.avi"].splits == {"2": "train"}  # 0 = unused in split 1
    assert (e["wave/w1.avi"].label, e["wave/w1.avi"].class_name, e["wave/w1.avi"].splits) == (1, "wave", {"1": "test"})
    assert (e["wave/extra.avi"].label, e["wave/extra.avi"].splits) == (1, {})
    assert res.missing == ["brush_hair/gone.avi"]  # an unused missing video is not reported
    assert len(res.warnings) == 1 and "brush_hair_test_split1.txt" in res.warnings[0]


@pytest.mark.parametrize("text,msg", [
    ("a.avi 1\nb.avi\n", "x_test_split1.txt:2: expected 'VIDEO K'"),
    ("a.avi 3\n", "x_test_split1.txt:1: split code must be 0, 1 or 2"),
    ("a.avi one\n", "x_test_split1.txt:1: split code must be an integer"),
])
def test_hmdb51_malformed(tmp_path, text, msg):
    touch(tmp_path, "x/a.avi", "x/b.avi")
    write(tmp_path / "x_test_split1.txt", text)
    with pytest.raises(InputError, match=msg):
        discover_inputs(tmp_path)


# --------------------------------------------------------------------------- Kinetics


def test_kinetics(tmp_path):
    root = tmp_path / "k400"
    touch(root,
          "train/abseiling/aaaaaaaaaaa_000010_000020.mp4",
          "train/air drumming/bbbbbbbbbbb_000001_000011.mp4",
          "val/abseiling/ccccccccccc_000005_000015.mp4",
          "abseiling/d-d_dddddddd.mp4",  # stem = youtube id, directly in <root>/<label>
          "air drumming/eeeeeeeeeee_000000_000010.mkv",  # test.csv
          "train/air drumming/fffffffffff_000000_000010.mp4")  # in no CSV
    write(root / "train.csv", "label,youtube_id,time_start,time_end,split\n"
          "abseiling,aaaaaaaaaaa,10,20,train\n"
          "air drumming,bbbbbbbbbbb,1,11,train\n"
          "abseiling,zzzzzzzzzzz,0,10,train\n")  # missing
    write(root / "validate.csv", "label,youtube_id,time_start,time_end,split\n"
          "abseiling,ccccccccccc,5,15,val\n"
          '"abseiling",d-d_dddddddd,30,40,val\n')
    write(root / "test.csv", "label,youtube_id,time_start,time_end,split\nair drumming,eeeeeeeeeee,0,10,test\n")
    res = discover_inputs(root)
    assert res.format == "kinetics"
    assert res.classes == ["abseiling", "air drumming"]
    e = by_id(res)
    assert len(e) == 6
    a = e["train/abseiling/aaaaaaaaaaa_000010_000020.mp4"]
    assert (a.label, a.class_name, a.splits) == (0, "abseiling", {"1": "train"})
    assert e["train/air drumming/bbbbbbbbbbb_000001_000011.mp4"].label == 1
    assert e["val/abseiling/ccccccccccc_000005_000015.mp4"].splits == {"1": "test"}
    assert (e["abseiling/d-d_dddddddd.mp4"].label, e["abseiling/d-d_dddddddd.mp4"].splits) == (0, {"1": "test"})
    t = e["air drumming/eeeeeeeeeee_000000_000010.mkv"]
    assert (t.label, t.splits) == (1, {})
    f = e["train/air drumming/fffffffffff_000000_000010.mp4"]
    assert (f.label, f.splits) == (1, {})
    assert res.missing == ["zzzzzzzzzzz_000000_000010"]
    assert len(res.warnings) == 1 and "train.csv" in res.warnings[0]


def test_kinetics_same_id_two_segments(tmp_path):
    touch(tmp_path, "x/aaaaaaaaaaa_000000_000010.mp4", "x/aaaaaaaaaaa_000020_000030.mp4")
    write(tmp_path / "train.csv", "label,youtube_id,time_start,time_end\nx,aaaaaaaaaaa,20,30\nx,aaaaaaaaaaa,0,10\n")
    res = discover_inputs(tmp_path)
    assert all(e.splits == {"1": "train"} for e in res.entries) and not res.warnings


@pytest.mark.parametrize("text,msg", [
    ("label,youtube_id,time_start\n", "train.csv:1: header lacks column.s. time_end"),
    ("label,youtube_id,time_start,time_end\nx,aaaaaaaaaaa,0,10\nx,bbbbbbbbbbb,zero,10\n",
     "train.csv:3: time_start must be a number"),
    ("label,youtube_id,time_start,time_end\nx,aaaaaaaaaaa\n", "train.csv:2: 2 field"),
])
def test_kinetics_malformed(tmp_path, text, msg):
    touch(tmp_path, "x/aaaaaaaaaaa_000000_000010.mp4")
    write(tmp_path / "train.csv", text)
    with pytest.raises(InputError, match=msg):
        discover_inputs(tmp_path)


# --------------------------------------------------------------------------- folders, flat, list files


def test_folders_and_hidden(tmp_path):
    touch(tmp_path, "b_class/x.MP4", "a_class/sub/y.webm", "a_class/z.txt", ".hidden/h.mp4", "_cache/c.mp4",
          "a_class/.trash/t.mp4", "root.avi")
    res = discover_inputs(tmp_path)
    assert res.format == "folders"
    assert res.classes == ["a_class", "b_class"]
    assert [(e.id, e.label, e.class_name, e.splits) for e in res.entries] == [
        ("a_class/sub/y.webm", 0, "a_class", {}),
        ("b_class/x.MP4", 1, "b_class", {}),
        ("root.avi", None, None, {}),
    ]
    assert len(res.warnings) == 1


def test_flat(tmp_path):
    touch(tmp_path, "b.mkv", "a.mp4", "notes.txt")
    res = discover_inputs(tmp_path)
    assert res.format == "flat" and res.classes == []
    assert [(e.id, e.label, e.class_name) for e in res.entries] == [("a.mp4", None, None), ("b.mkv", None, None)]
    assert discover_inputs(tmp_path, extensions=[".mkv"]).entries[0].id == "b.mkv"
    assert ".ts" in VIDEO_EXTENSIONS


def test_single_video(tmp_path):
    touch(tmp_path, "v.mp4")
    (e,) = discover_inputs(tmp_path / "v.mp4").entries
    assert e.id == "v.mp4" and e.path == (tmp_path / "v.mp4").absolute()


def test_list_file_class_names(tmp_path):
    touch(tmp_path, "data/run/r1.mp4", "data/walk/w 1.mp4", "other/o.avi")
    lst = write(tmp_path / "data" / "list.txt",
                "# videos\n\nrun/r1.mp4 run\nwalk/w 1.mp4   walk\n"
                f"{tmp_path / 'other' / 'o.avi'} run\nrun/gone.mp4 walk\nrun/r1.mp4 run\n")
    res = discover_inputs(lst)
    assert res.format == "list"
    assert res.classes == ["run", "walk"]
    assert [(e.id, e.label, e.class_name) for e in res.entries] == [
        ("data/run/r1.mp4", 0, "run"), ("data/walk/w 1.mp4", 1, "walk"), ("other/o.avi", 0, "run")]
    assert res.missing == ["run/gone.mp4"] and len(res.warnings) == 1


def test_list_file_int_labels_and_csv(tmp_path):
    touch(tmp_path, "a.mp4", "b.mp4", "c d.mp4")
    res = discover_inputs(write(tmp_path / "l.lst", "a.mp4 3\nb.mp4 0\nc d.mp4\n"))
    assert [(e.id, e.label, e.class_name) for e in res.entries] == [
        ("a.mp4", 3, None), ("b.mp4", 0, None), ("c d.mp4", None, None)]
    res = discover_inputs(write(tmp_path / "l.csv", "path,label\na.mp4,cat\nc d.mp4,dog\n"))
    assert [(e.id, e.label, e.class_name) for e in res.entries] == [("a.mp4", 0, "cat"), ("c d.mp4", 1, "dog")]


@pytest.mark.parametrize("text,msg", [
    ("a.mp4 1\nb.mp4 cat\n", "l.txt:2: label mixes integers and class names"),
    ("a.mp4 1\n\na.mp4 2\n", "l.txt:3: a.mp4 listed again with label 2"),
    ("a.mp4 -1\n", "l.txt:1: label must be >= 0"),
    ("# nothing\n", "no video paths"),
    ("gone.mp4\n", "none of the 1 listed videos exists"),
])
def test_list_file_malformed(tmp_path, text, msg):
    touch(tmp_path, "a.mp4", "b.mp4")
    with pytest.raises(InputError, match=msg):
        discover_inputs(write(tmp_path / "l.txt", text))


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="input not found: "):
        discover_inputs(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    touch(tmp_path, "empty/readme.txt")
    with pytest.raises(InputError, match="no video files"):
        discover_inputs(tmp_path / "empty")
    with pytest.raises(InputError, match="splits dir not found"):
        touch(tmp_path, "v/a.mp4")
        discover_inputs(tmp_path / "v", splits_dir=tmp_path / "nosplits")
    with pytest.raises(InputError, match="no split files in"):
        discover_inputs(tmp_path / "v", splits_dir=tmp_path / "empty")
    with pytest.raises(InputError, match="neither a directory"):
        discover_inputs(touch(tmp_path, "x.json") or tmp_path / "x.json")
    write(tmp_path / "bin.txt", "").write_bytes(b"\xff\xfe\x00a.mp4\n")
    with pytest.raises(InputError, match="bin.txt: not UTF-8"):
        discover_inputs(tmp_path / "bin.txt")
