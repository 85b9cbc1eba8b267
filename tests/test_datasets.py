"""Tests for csi.datasets: every loader on a tiny tree in its real layout, split, platform views."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from csi import datasets as D
from csi import scales
from csi import simulator as S
from csi.io import estimate_jpeg_quality


def _jpg(path, w=40, h=30, seed=0, quality=92):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format="JPEG", quality=quality)
    return path


def _check_columns(df):
    assert list(df.columns[: len(D.COLUMNS)]) == list(D.COLUMNS)
    assert (df["width"] >= df["height"]).all()
    assert df["path"].is_monotonic_increasing


# --- loaders ------------------------------------------------------------------------------------------


def test_vision_layout(tmp_path):
    for dev in ("D01_Samsung_GalaxyS3Mini", "D26_Samsung_GalaxyS3Mini"):
        num = dev[:3]
        for i in (1, 2):
            _jpg(tmp_path / dev / "images" / "flat" / f"{num}_I_flat_{i:04d}.jpg")
            for f in ("nat", "natFBH", "natFBL", "natWA"):
                _jpg(tmp_path / dev / "images" / f / f"{num}_I_{f}_{i:04d}.jpg", w=20, h=40)
    (tmp_path / "D27_Samsung_GalaxyS5").mkdir()  # empty device folder
    df = D.load("vision", tmp_path)
    _check_columns(df)
    assert len(df) == 2 * 2 * 5
    assert set(df["platform"]) == {"original", "facebook", "facebook_lq", "whatsapp"}
    assert set(df["model"]) == {"GalaxyS3Mini"} and set(df["brand"]) == {"Samsung"}
    d1 = df[df["device"] == "D01_Samsung_GalaxyS3Mini"]
    scene = d1[d1["scene_id"] == "D01_Samsung_GalaxyS3Mini/nat/0001"]
    assert sorted(scene["platform"]) == ["facebook", "facebook_lq", "original", "whatsapp"]
    assert set(d1[d1["scene_type"] == "flat"]["scene_id"]).isdisjoint(set(d1[d1["scene_type"] == "nat"]["scene_id"]))
    assert (scene[["width", "height"]].to_numpy() == [40, 20]).all()  # portrait file reported as read (landscape)
    assert df.attrs["skipped"] == [(str(tmp_path / "D27_Samsung_GalaxyS5"),
                                    "empty device folder (no images/ sub-folder with content)")]  # fmt: skip


def test_kaggle_layout_with_and_without_labels(tmp_path):
    _jpg(tmp_path / "train" / "HTC-1-M7" / "(HTC-1-M7)1.jpg")
    _jpg(tmp_path / "train" / "iPhone-6" / "(iP6)1.jpg")
    (tmp_path / "test").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "test" / "img_0a1b2c3_unalt.tif")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "test" / "img_00ffee1_manip.tif")
    df = D.load("kaggle", tmp_path)
    _check_columns(df)
    test = df[df["subset"] == "test"]
    assert len(test) == 2 and set(test["model"]) == {"unknown"} and set(test["manipulation"]) == {"unalt", "manip"}
    train = df[df["subset"] == "train"]
    assert set(train["brand"]) == {"HTC", "Apple"} and set(train["device"]) == {"HTC-1-M7", "iPhone-6"}
    (tmp_path / "test_labels.csv").write_text("fname,camera\nimg_0a1b2c3_unalt.tif,iPhone-6\n")
    df = D.load("kaggle", tmp_path)
    row = df[df["path"].str.endswith("img_0a1b2c3_unalt.tif")].iloc[0]
    assert row["model"] == "iPhone-6" and row["brand"] == "Apple" and row["device"] == "iPhone-6_test"
    assert df[df["path"].str.endswith("img_00ffee1_manip.tif")].iloc[0]["model"] == "unknown"


def test_daxing_layout(tmp_path):
    _jpg(tmp_path / "Apple_iPhone6S_01" / "flat" / "a_0001.jpg")
    _jpg(tmp_path / "Apple_iPhone6S_01" / "nat" / "a_0002.jpg")
    _jpg(tmp_path / "Huawei_P9_02" / "IMG_1.jpg")
    df = D.load("daxing", tmp_path)
    _check_columns(df)
    assert sorted(df["scene_type"]) == ["flat", "nat", "unknown"]
    assert set(zip(df["brand"], df["model"], strict=True)) == {("Apple", "iPhone6S"), ("Huawei", "P9")}


def test_dresden_layout(tmp_path):
    _jpg(tmp_path / "Nikon_D70_0_19929.JPG")
    _jpg(tmp_path / "Nikon_D70_1_20001.JPG")
    _jpg(tmp_path / "Samsung_L74_wide_0_123.JPG")
    _jpg(tmp_path / "README.JPG")  # does not match the naming scheme
    df = D.load("dresden", tmp_path)
    _check_columns(df)
    assert sorted(df["device"]) == ["Nikon_D70_0", "Nikon_D70_1", "Samsung_L74_wide_0"]
    assert df[df["brand"] == "Samsung"].iloc[0]["model"] == "L74_wide"
    assert [r for _, r in df.attrs["skipped"]] == ["file name does not match Brand_Model_Instance_Shot"]


def test_fodb_layout(tmp_path):
    dev = tmp_path / "D01_Apple_iPhone8_1"
    for version in ("original", "facebook", "WA"):
        for n in (1, 2):
            _jpg(dev / version / f"D01_{version}_{n:03d}.jpg")
    (dev / "misc").mkdir()
    df = D.load("fodb", tmp_path)
    _check_columns(df)
    assert set(df["platform"]) == {"original", "facebook", "whatsapp"}
    assert df.groupby("scene_id")["platform"].nunique().tolist() == [3, 3]
    assert df.iloc[0]["model"] == "iPhone8"
    assert any("unknown entry" in r for _, r in df.attrs["skipped"])


def test_folder_layout_reports_bad_files(tmp_path):
    dev = tmp_path / "D01_Apple_iPhone6"
    _jpg(dev / "IMG_0001.jpg")
    _jpg(dev / "IMG_0002.jpg")
    _jpg(dev / "twitter" / "IMG_0001.jpg", w=20, h=15)
    _jpg(dev / "flat" / "IMG_0100.jpg")
    (dev / "notes.txt").write_text("hello")
    (dev / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    _jpg(tmp_path / "MyCamera" / "x.jpg")
    (tmp_path / "EmptyPhone").mkdir()
    df = D.load("folder", tmp_path)
    _check_columns(df)
    assert len(df) == 5
    tw = df[df["platform"] == "twitter"].iloc[0]
    assert tw["scene_id"] == "D01_Apple_iPhone6/IMG_0001" and (tw["width"], tw["height"]) == (20, 15)
    assert df[df["device"] == "MyCamera"].iloc[0]["brand"] == "unknown"
    reasons = dict(df.attrs["skipped"])
    assert reasons[str(tmp_path / "EmptyPhone")] == "empty device folder"
    assert "not an image" in reasons[str(dev / "notes.txt")]
    assert str(dev / "broken.jpg") in reasons


def test_load_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="loader name"):
        D.load("flickr", tmp_path)
    with pytest.raises(ValueError, match="not an existing folder"):
        D.load("folder", tmp_path / "missing")
    with pytest.raises(ValueError, match="no usable images"):
        D.load("folder", tmp_path)


# --- split --------------------------------------------------------------------------------------------


def _table(n_dev=3, n_scene=20, n_flat=0, copies=("facebook",)):
    rows = []
    for d in range(n_dev):
        for s in range(n_scene):
            for plat in ("original",) + tuple(copies):
                rows.append({"path": f"d{d}/{plat}/{s}.jpg", "device": f"d{d}", "platform": plat,
                             "scene_type": "nat", "scene_id": f"d{d}/{s}", "subset": ""})  # fmt: skip
        for s in range(n_flat):
            rows.append({"path": f"d{d}/flat/{s}.jpg", "device": f"d{d}", "platform": "original",
                         "scene_type": "flat", "scene_id": f"d{d}/flat{s}", "subset": ""})  # fmt: skip
    return pd.DataFrame(rows)


def test_split_ratios_disjoint_and_grouped():
    df = _table(n_scene=20)
    out = D.split(df, seed=3)
    assert set(out["split"]) == set(D.SPLITS)
    assert (out.groupby("scene_id")["split"].nunique() == 1).all()  # all versions of a scene together
    per = out[out["platform"] == "original"].groupby(["device", "split"]).size().unstack()
    assert (per[["val", "fingerprint", "train", "test"]].to_numpy() == [2, 2, 12, 4]).all()
    again = D.split(df.sample(frac=1, random_state=1), seed=3).sort_index()
    assert (again["split"] == out["split"]).all()  # row order does not matter
    assert not (D.split(df, seed=4)["split"] == out["split"]).all()
    assert "split" not in df.columns  # input untouched


def test_split_fingerprint_from_flat_and_fixed_test():
    df = _table(n_scene=10, n_flat=6, copies=())
    auto = D.split(df)
    flat = auto[auto["scene_type"] == "flat"]
    assert (flat["split"] == "fingerprint").all()
    assert (auto[auto["scene_type"] == "nat"]["split"] != "fingerprint").all()
    anyway = D.split(df, fingerprint_from="any")
    assert (anyway["split"] == "fingerprint").sum() > 0 and not (anyway[anyway.scene_type == "flat"]["split"]
                                                                  == "fingerprint").all()  # fmt: skip
    few = D.split(_table(n_scene=10, n_flat=2, copies=()))  # auto: too few flats -> ordinary split
    assert (few[few["scene_type"] == "nat"]["split"] == "fingerprint").any()
    with pytest.raises(ValueError, match="no flat"):
        D.split(_table(n_flat=0, copies=()), fingerprint_from="flat")
    kag = df.copy()
    kag["subset"] = np.where(np.arange(len(kag)) % 4 == 0, "test", "train")
    out = D.split(kag)
    assert (out[kag["subset"] == "test"]["split"] == "test").all()
    assert (out[kag["subset"] == "train"]["split"] != "test").all()


def test_split_bad_input():
    df = _table()
    with pytest.raises(ValueError, match="ratios"):
        D.split(df, ratios=(1, 1, 6))
    with pytest.raises(ValueError, match="ratios"):
        D.split(df, ratios=(1, -1, 6, 2))
    with pytest.raises(ValueError, match="fingerprint_from"):
        D.split(df, fingerprint_from="sky")
    with pytest.raises(ValueError, match="column"):
        D.split(df.drop(columns="device"))


# --- platform views and synthetic loading ---------------------------------------------------------------


def test_platform_view_uses_real_copies_or_makes_cached_ones(tmp_path):
    dev = tmp_path / "data" / "D01_Apple_iPhone6"
    _jpg(dev / "IMG_0001.jpg", w=400, h=300, seed=1)
    _jpg(dev / "IMG_0002.jpg", w=400, h=300, seed=2)
    _jpg(dev / "instagram" / "IMG_0001.jpg", w=80, h=60)  # a real downloaded copy
    df = D.split(D.load("folder", tmp_path / "data"), ratios=(0, 0, 1, 1))
    cache = tmp_path / "cache"
    ig = D.platform_view(df, "instagram", cache, sensor_scale=0.25)
    assert len(ig) == 2 and set(ig["platform"]) == {"instagram"} and "split" in ig
    real = ig[ig["scene_id"] == "D01_Apple_iPhone6/IMG_0001"].iloc[0]
    assert real["path"] == str(dev / "instagram" / "IMG_0001.jpg")
    made = ig[ig["scene_id"] == "D01_Apple_iPhone6/IMG_0002"].iloc[0]
    assert made["path"].startswith(str(cache)) and (made["width"], made["height"]) == (270, 202)
    assert made["source_path"] == str(dev / "IMG_0002.jpg")
    assert estimate_jpeg_quality(made["path"]) == S.PLATFORMS["instagram"]["quality"]
    mtime = (p := __import__("pathlib").Path(made["path"])).stat().st_mtime_ns
    again = D.platform_view(df, "instagram", cache, sensor_scale=0.25)
    assert again["path"].tolist() == ig["path"].tolist() and p.stat().st_mtime_ns == mtime
    p.unlink()
    D.platform_view(df, "instagram", cache, sensor_scale=0.25)
    assert p.is_file()  # rebuilt when missing
    import os

    before = p.read_bytes()
    _jpg(dev / "IMG_0002.jpg", w=400, h=300, seed=7)  # the original is rebuilt with new content
    os.utime(dev / "IMG_0002.jpg", ns=(p.stat().st_mtime_ns + 10**9,) * 2)
    D.platform_view(df, "instagram", cache, sensor_scale=0.25)
    assert p.read_bytes() != before  # a copy older than its original is made again
    orig = D.platform_view(df, "original", cache)
    assert orig["path"].tolist() == df[df["platform"] == "original"]["path"].tolist()
    with pytest.raises(ValueError, match="unknown platform"):
        D.platform_view(df, "myspace", cache)


def test_load_synthetic_our_smoke(tmp_path, monkeypatch):
    monkeypatch.setitem(scales.SCALES["smoke"]["recipes"], "our", {"devices": 5, "images": 3})  # keep the test fast
    df = D.load_synthetic("our", "smoke", seed=0, root=tmp_path, progress=False)
    assert df.attrs["sensor_scale"] == pytest.approx(320 / 4032)
    assert sorted(df["device"].unique()) == list(S.OUR_DEVICES)
    assert (df.groupby("device").size() == 3).all() and df.attrs["skipped"] == []
    assert set(df["platform"]) == {"original"} and (df["width"] == 320).all()
    wc = D.platform_view(df.head(3), "wechat", tmp_path / "cache", sensor_scale=df.attrs["sensor_scale"])
    with Image.open(wc["path"].iloc[0]) as im:
        assert im.size == S.platform_size((320, 240), S.PLATFORMS["wechat"], df.attrs["sensor_scale"])
    data = io.BytesIO(open(wc["path"].iloc[0], "rb").read())
    assert estimate_jpeg_quality(data.getvalue()) == 60


def test_flat_and_natural_photos_with_the_same_file_name_are_different_scenes(tmp_path):
    from PIL import Image

    from csi import datasets

    rng = np.random.default_rng(0)
    for kind in ("flat", "nat"):
        d = tmp_path / "Acme_One" / kind
        d.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(d / "IMG_0001.jpg")
    fb = tmp_path / "Acme_One" / "facebook"
    fb.mkdir()
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(fb / "IMG_0001.jpg")
    df = datasets.load("folder", tmp_path)
    ids = df.set_index(df["path"].map(lambda p: p.split("/")[-2]))["scene_id"]
    assert ids["flat"] != ids["nat"]
    assert ids["facebook"] == ids["nat"]  # a downloaded copy pairs with the natural photo
