"""csi.pipeline: the split protocols, and caches keyed by parameters and code (smoke-scale synthetic data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi import evaluate, experiments, io, pipeline


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("pipeline")


def _cfg(root, **kw):
    args = {"scale": "smoke", "out_dir": str(root / "figs"), "data_root": str(root / "data"),
            "notebook": "06_table3_accuracy", "datasets": "our,kaggle,vision"}
    args.update(kw)
    return experiments.setup(**args)


def test_training_dataset_is_split_1_1_6_2(root):
    ds = pipeline.load(_cfg(root), "our")
    assert ds.training
    c = ds.split_counts()
    assert (c[["fingerprint", "train", "val", "test"]] > 0).all().all()
    assert (c["train"] > 2 * c["test"]).all()  # 6 : 2
    assert set(ds.test["device"]) == set(ds.images["label"])
    assert ds.part("train")["device"].isin(ds.images["label"]).all()


def test_a_tested_only_dataset_tests_every_photo(root):
    ds = pipeline.load(_cfg(root), "vision")
    assert not ds.training
    c = ds.split_counts()
    assert (c["train"] == 0).all() and (c["val"] == 0).all()
    orig = ds.images
    flat = orig["scene_type"] == "flat"
    assert (orig.loc[flat, "split"] == "fingerprint").all()
    assert (orig.loc[~flat, "split"] == "test").all()  # every natural photo is a test photo
    assert "every photo counts" in ds.protocol


def test_kaggle_two_readings_share_fingerprints(root):
    cfg = _cfg(root)
    same, other = pipeline.load(cfg, "kaggle"), pipeline.load(cfg, "kaggle-other")
    assert pipeline.fingerprint_images(same).keys() == pipeline.fingerprint_images(other).keys()
    fp_devices = set(same.images.loc[same.images["split"] == "fingerprint", "device"])
    assert set(same.test["source_device"]) <= fp_devices          # same phones
    assert not set(other.test["source_device"]) & fp_devices      # second phone of each model
    assert set(other.test["device"]) <= set(same.images["label"])  # labelled by model


def test_fingerprints_are_cached_by_files_size_and_code(root, monkeypatch):
    cfg = _cfg(root)
    ds = pipeline.load(cfg, "our")
    K = pipeline.fingerprints(cfg, ds, progress=False)
    assert len(K) == 5 and all(k.dtype == np.float32 for k in K.values())
    pipeline._FINGERPRINTS.clear()

    def fail(*a, **k):
        raise AssertionError("recomputed a cached fingerprint")

    from csi import prnu

    monkeypatch.setattr(prnu, "estimate_fingerprint", fail)
    again = pipeline.fingerprints(cfg, ds, progress=False)  # an unchanged rerun reads the cache
    assert all(np.array_equal(K[c], again[c]) for c in K)
    with pytest.raises(AssertionError, match="recomputed"):  # another size is another key
        pipeline.fingerprints(_cfg(root, fingerprint_size=64), ds, progress=False)


def test_a_centre_fingerprint_is_embedded_in_a_full_frame(root):
    cfg = _cfg(root, fingerprint_size=64)
    ds = pipeline.load(cfg, "our")
    K = next(iter(pipeline.fingerprints(cfg, ds, progress=False).values()))
    full = next(iter(pipeline.fingerprints(_cfg(root), ds, progress=False).values()))
    assert K.shape == full.shape
    h, w = K.shape
    assert np.count_nonzero(K) <= 64 * 64 and np.any(K[h // 2 - 32:h // 2 + 32, w // 2 - 32:w // 2 + 32])


def test_scores_are_cached_and_recomputed_when_extractor_or_crop_change(root, monkeypatch):
    cfg = _cfg(root)
    ds = pipeline.load(cfg, "our")
    first = pipeline.score(cfg, ds, "original", "wavelet", progress=False)
    assert set(first.columns) >= {"image", "true_device", "candidate_device", "ncc", "platform"}
    assert len(first) == len(ds.test) * 5 and first.ncc.between(-1, 1).all()
    calls = []
    real = evaluate.evaluate

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(evaluate, "evaluate", counting)
    pd.testing.assert_frame_equal(pipeline.score(cfg, ds, "original", "wavelet", progress=False), first)
    assert calls == []  # unchanged: cache hit
    pipeline.score(_cfg(root, crop=48), ds, "original", "wavelet", progress=False)
    assert len(calls) == 1  # another crop: recomputed

    def green(img):
        return img[..., 1].astype(np.float32) - img[..., 1].mean()

    a = pipeline.score(cfg, ds, "original", green, progress=False)
    assert len(calls) == 2

    def green(img):  # noqa: F811 - a student edits the extractor in the same cell
        return img[..., 0].astype(np.float32) - img[..., 0].mean()

    b = pipeline.score(cfg, ds, "original", green, progress=False)
    assert len(calls) == 3 and not np.allclose(a.ncc, b.ncc)
    pipeline.score(cfg, ds, "original", green, progress=False)
    assert len(calls) == 3


def test_an_edited_platform_profile_makes_new_copies(root):
    from csi import simulator

    cfg = _cfg(root)
    ds = pipeline.load(cfg, "our")
    default = pipeline.views(cfg, ds, "wechat", progress=False)
    prof = {"wechat": {**simulator.PLATFORMS["wechat"], "quality": 20}}
    low = pipeline.views(cfg, ds, "wechat", profiles=prof, progress=False)
    assert set(low["path"]).isdisjoint(default["path"])
    assert io.estimate_jpeg_quality(low["path"].iloc[0]) == 20
    assert io.estimate_jpeg_quality(default["path"].iloc[0]) == simulator.PLATFORMS["wechat"]["quality"]
    assert list(low["device"]) == list(default["device"])


def test_select_test_caps_balances_and_is_deterministic():
    rng = np.random.default_rng(1)
    rows = [(d, f"{d}/{i:03d}.jpg") for d, n in (("a", 9), ("b", 3), ("c", 1), ("d", 6)) for i in range(n)]
    df = pd.DataFrame(rows, columns=["device", "path"]).sample(frac=1, random_state=3)
    before = df.copy()
    out = pipeline.select_test(df, per_device=4, total=9, seed=5)
    pd.testing.assert_frame_equal(df, before)
    sizes = out.groupby("device").size().to_dict()
    assert sum(sizes.values()) == 9 and max(sizes.values()) <= 4
    assert sizes["c"] == 1 and sizes["b"] == 3 and min(sizes["a"], sizes["d"]) >= 2
    again = pipeline.select_test(df.sample(frac=1, random_state=int(rng.integers(100))), 4, 9, seed=5)
    assert list(again.path) == list(out.path)
    assert list(pipeline.select_test(df, 4, 9, seed=6).path) != list(out.path)
    assert len(pipeline.select_test(df, None, None, 0)) == len(df)


def test_training_on_a_small_real_source_is_refused_with_the_minimum(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for dev in ("A_One", "B_Two"):
        for i in range(6):
            d = tmp_path / "photos" / dev
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(d / f"{i}.png")  # >= the crop
    cfg = experiments.setup(scale="smoke", source="folder", data_path=str(tmp_path / "photos"),
                            train_on_source=True, out_dir=str(tmp_path / "f"), data_root=str(tmp_path / "d"),
                            notebook="06_table3_accuracy")
    with pytest.raises(ValueError, match=f"at least {experiments.MIN_TRAIN_PER_CAMERA} training images per camera"):
        pipeline.training_dataset(cfg)


def test_cached_scores_take_this_runs_spelling_of_the_images(tmp_path, monkeypatch):
    """Score caches are keyed by resolved paths, so a hit must give the images as the caller spells them: a table
    written by a run on ``../data`` and read by one on the absolute path would otherwise share no image."""
    (tmp_path / "data").mkdir()
    img = tmp_path / "data" / "a.jpg"
    img.write_bytes(b"x")
    monkeypatch.chdir(tmp_path / "data")
    table = tmp_path / "scores.csv"
    pd.DataFrame({"image": ["../data/a.jpg", "../data/a.jpg"], "true_device": ["0", "0"],
                  "candidate_device": ["0", "1"], "ncc": [0.1, 0.0]}).to_csv(table, index=False)
    got = pipeline.cached_scores(table, [str(img)])
    assert got["image"].tolist() == [str(img)] * 2 and got["candidate_device"].tolist() == ["0", "1"]
    assert pipeline.cached_scores(table, ["../data/a.jpg"])["image"].tolist() == ["../data/a.jpg"] * 2
