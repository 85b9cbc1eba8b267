"""Every file left out of a folder of photos is reported once, with its reason, on a first and a cached run.

The folder: three phones with flat and natural JPEGs, and among phone A's files a grayscale JPEG, an RGBA PNG
with a transparent pixel, a 16-bit PNG, a zero-byte file, a 40x30 photo (smaller than the smoke crop of 64 px)
and a flat JPEG truncated after its header (found by the pipeline's one decode of every photo, cached).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from csi import datasets, experiments, pipeline

SHAPE = (96, 128)  # height, width: above the smoke crop (experiments.SCALES["smoke"]["real_crop"])


def _rgb(rng, shape=SHAPE):
    return rng.integers(0, 256, (*shape, 3), dtype=np.uint8)


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for phone in ("A_One", "B_Two", "C_Three"):
        for kind, n in (("flat", 3), ("nat", 2)):
            (root / phone / kind).mkdir(parents=True)
            for j in range(n):
                Image.fromarray(_rgb(rng)).save(root / phone / kind / f"IMG_{j:04d}.jpg", quality=92)
    nat, flat = root / "A_One" / "nat", root / "A_One" / "flat"
    Image.fromarray(_rgb(rng)[..., 0]).save(nat / "gray.jpg")
    rgba = np.dstack([_rgb(rng), np.full(SHAPE, 255, np.uint8)])
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(nat / "transparent.png")
    Image.fromarray(rng.integers(0, 65536, SHAPE, dtype=np.uint16)).save(nat / "deep.png")
    (nat / "empty.jpg").write_bytes(b"")
    Image.fromarray(_rgb(rng, (30, 40))).save(nat / "small.jpg")
    good = (flat / "IMG_0000.jpg").read_bytes()
    (flat / "IMG_0009.jpg").write_bytes(good[: len(good) // 2])  # a flat truncated after its header
    bad = {nat / "gray.jpg": "grayscale", nat / "transparent.png": "transparent", nat / "deep.png": "16-bit",
           nat / "empty.jpg": "empty file", nat / "small.jpg": "smaller than the crop",
           flat / "IMG_0009.jpg": "truncated"}
    return root, {str(p): why for p, why in bad.items()}


def test_the_loader_finds_decoding_problems_from_headers(photos):
    root, bad = photos
    df = datasets.load("folder", root, min_size=experiments.SCALES["smoke"]["real_crop"])
    reasons = dict(df.attrs["skipped"])
    assert len(df.attrs["skipped"]) == len(reasons) == len(bad) - 1  # all but the truncated flat
    for path, why in bad.items():
        if why != "truncated":
            assert why in reasons[path], (path, reasons.get(path))
            assert path not in set(df["path"])
    assert len(df) == 3 * 5 + 1  # the truncated flat passes its header check
    assert "smaller than the crop" not in str(datasets.load("folder", root).attrs["skipped"])  # min_size=0


def _run(root, data_root):
    pipeline._DATASETS.clear()
    pipeline._FINGERPRINTS.clear()
    cfg = experiments.setup(scale="smoke", source="folder", data_path=str(root), out_dir=str(data_root / "f"),
                            data_root=str(data_root / "d"), notebook="06_table3_accuracy")
    ds = pipeline.load(cfg, "folder")
    pipeline.fingerprints(cfg, ds, progress=False)
    return ds, ds.split_counts()


def test_every_file_left_out_is_listed_once_also_on_a_cached_rerun(photos, tmp_path, monkeypatch):
    root, bad = photos
    ds, table = _run(root, tmp_path)
    assert sorted(p for p, _ in ds.skipped) == sorted(bad)  # each once
    reasons = dict(ds.skipped)
    for path, why in bad.items():
        assert why in reasons[path], (path, reasons[path])
    left = table[table["status"] == "left out"]
    assert sorted(left["file"]) == sorted(bad) and set(left.index) == {"A_One"}
    used = table[table["status"] == "used"]
    # nothing is both counted and left out: phone A has 3 good flats and 2 good natural photos, like the others
    assert list(used["fingerprint"]) == [3, 3, 3] and list(used["tested"]) == [2, 2, 2]
    assert (left[["fingerprint", "train", "val", "test", "tested"]] == 0).all().all()

    from csi import io, prnu

    def recompute(*a, **k):
        raise AssertionError("the rerun should read the cached fingerprints")

    def decode(path, *a, decode=False, **k):
        assert not decode, "the rerun should read the cached decode check"
        return check_image(path, *a, **k)

    check_image = io.check_image
    monkeypatch.setattr(prnu, "estimate_fingerprint", recompute)
    monkeypatch.setattr(io, "check_image", decode)
    again, table_again = _run(root, tmp_path)
    assert sorted(again.skipped) == sorted(ds.skipped)
    pd.testing.assert_frame_equal(table_again, table)


def test_a_flat_eq5_cannot_decode_stays_listed_on_a_cached_rerun(photos, tmp_path, monkeypatch):
    # a file that breaks after the folder was read (the decode check passed it): Eq. 5 skips it, and the cached
    # fingerprint keeps the list
    root, bad = photos
    truncated = next(p for p, why in bad.items() if why == "truncated")
    monkeypatch.setattr(pipeline, "decode_check", lambda cfg, paths: [])
    first, _ = _run(root, tmp_path)
    again, _ = _run(root, tmp_path)
    for ds in (first, again):
        assert [r for p, r in ds.skipped if p == truncated] == [dict(first.skipped)[truncated]]
        assert "truncated" in dict(ds.skipped)[truncated]


def test_split_counts_has_no_extra_columns_when_nothing_is_left_out(photos, tmp_path):
    root, bad = photos
    for path in bad:
        (root / path).unlink()
    ds, table = _run(root, tmp_path)
    assert ds.skipped == [] and list(table.columns) == ["fingerprint", "train", "val", "test", "tested"]
