"""Tests for csi.simulate: scenes, demosaicing, sensor model, platform profiles, recipe builds."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from csi import simulate as S
from csi.io import decode_rgb, estimate_jpeg_quality, read_rgb

SMOKE_SCALE = max(S.SENSOR_SHAPES["smoke"]) / S.REAL_LONG_SIDE


# --- scenes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", S.SCENE_KINDS)
def test_make_scene_contract(kind):
    a = S.make_scene(kind, (48, 64), np.random.default_rng(1))
    b = S.make_scene(kind, (48, 64), np.random.default_rng(1))
    c = S.make_scene(kind, (48, 64), np.random.default_rng(2))
    assert a.shape == (48, 64, 3) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_make_scene_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="kind"):
        S.make_scene("clouds", (32, 32), rng)
    with pytest.raises(ValueError, match="shape"):
        S.make_scene("flat", (4, 32), rng)
    with pytest.raises(TypeError, match="rng"):
        S.make_scene("flat", (32, 32), 0)


def _spectrum_slope(gray):
    f = np.abs(np.fft.fftshift(np.fft.fft2(gray - gray.mean()))) ** 2
    h, w = gray.shape
    yy, xx = np.indices(f.shape)
    r = np.hypot(yy - h // 2, xx - w // 2).astype(int)
    radial = np.bincount(r.ravel(), f.ravel()) / np.bincount(r.ravel())
    k = np.arange(4, min(h, w) // 4)
    return np.polyfit(np.log(k), np.log(radial[k]), 1)[0]


def test_dead_leaves_has_natural_power_spectrum():
    # natural images: power ~ 1/f^2 (slope about -2 in log-log); white noise would give 0
    slopes = [_spectrum_slope(S.make_scene("dead_leaves", (256, 256), np.random.default_rng(s)).mean(2))
              for s in range(3)]  # fmt: skip
    assert -3.5 < np.mean(slopes) < -1.3


def test_flat_scenes_are_smooth_and_unsaturated():
    rng = np.random.default_rng(0)
    for _ in range(6):
        flat = S.make_scene("flat", (96, 128), rng)
        assert 0.02 <= flat.min() and flat.max() <= 0.9
        lap = np.abs(ndimage.laplace(flat.mean(2))).mean()
        leaves = S.make_scene("dead_leaves", (96, 128), rng)
        assert lap < 0.2 * np.abs(ndimage.laplace(leaves.mean(2))).mean()


# --- CFA and demosaicing -------------------------------------------------------------------------------


def _bilinear_reference(raw, cfa):
    """Slow textbook bilinear demosaicing on interior pixels (written from the definition)."""
    idx = S._cfa_index(raw.shape, cfa)
    h, w = raw.shape
    out = np.zeros((h, w, 3))
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            for c in range(3):
                if idx[y, x] == c:
                    out[y, x, c] = raw[y, x]
                    continue
                vals = [raw[y + dy, x + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                        if (dy or dx) and idx[y + dy, x + dx] == c and (c != 1 or dy == 0 or dx == 0)]  # fmt: skip
                out[y, x, c] = np.mean(vals)
    return out


@pytest.mark.parametrize("cfa", list(S.CFA_PATTERNS))
def test_bilinear_matches_reference(cfa):
    raw = np.random.default_rng(3).random((10, 12)).astype(np.float32)
    ours = S.demosaic(raw, cfa, "bilinear")
    ref = _bilinear_reference(raw, cfa)
    np.testing.assert_allclose(ours[1:-1, 1:-1], ref[1:-1, 1:-1], atol=1e-5)


@pytest.mark.parametrize("method", S.DEMOSAIC_METHODS)
@pytest.mark.parametrize("cfa", list(S.CFA_PATTERNS))
def test_demosaic_keeps_samples_and_reconstructs_smooth_images(method, cfa):
    yy, xx = np.mgrid[0:32, 0:40].astype(np.float32)
    rgb = np.stack([0.2 + 0.01 * xx, 0.5 + 0.005 * yy, 0.3 + 0.002 * (xx + yy)], axis=2)
    raw = S.mosaic(rgb, cfa)
    out = S.demosaic(raw, cfa, method)
    np.testing.assert_array_equal(S.mosaic(out, cfa), raw)
    np.testing.assert_allclose(out[3:-3, 3:-3], rgb[3:-3, 3:-3], atol=1e-4)  # linear ramps are exact inside
    const = S.demosaic(S.mosaic(np.full((16, 16, 3), [0.1, 0.4, 0.7], np.float32), cfa), cfa, method)
    np.testing.assert_allclose(const, np.broadcast_to([0.1, 0.4, 0.7], const.shape), atol=1e-6)


def test_mosaic_pattern_and_errors():
    rgb = np.broadcast_to(np.array([1.0, 2.0, 3.0], np.float32), (4, 4, 3))
    assert S.mosaic(rgb, "BGGR")[:2, :2].tolist() == [[3.0, 2.0], [2.0, 1.0]]
    with pytest.raises(ValueError, match="cfa"):
        S.mosaic(rgb, "RGBW")
    with pytest.raises(ValueError, match="method"):
        S.demosaic(np.zeros((8, 8)), "RGGB", "ahd")


# --- sensor model -------------------------------------------------------------------------------------


def _flat_fingerprint(K, proc, n, seed):
    """Textbook PRNU estimate (Eq. 5) with a Gaussian denoiser, from n flat images of one device."""
    num = den = 0.0
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        img = decode_rgb(S.render_jpeg(S.make_scene("flat", K.shape, rng), K, proc, rng)).astype(np.float64)
        gray = img.mean(2)
        W = gray - ndimage.gaussian_filter(gray, 1.5)
        num = num + W * gray
        den = den + gray * gray
    return num / den


def _corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_ground_truth_prnu_is_recoverable():
    shape = (96, 128)
    proc = S.model_processing("Acme_Phone")
    k1 = S.device_prnu(shape, 0, "t", "dev1", S.SENSOR_DEFAULTS["prnu_std"])
    k2 = S.device_prnu(shape, 0, "t", "dev2", S.SENSOR_DEFAULTS["prnu_std"])
    assert k1.dtype == np.float32 and abs(k1.std() - S.SENSOR_DEFAULTS["prnu_std"]) < 0.1 * k1.std()
    est = _flat_fingerprint(k1, proc, 6, seed=5)
    own, other = _corr(est, k1), _corr(est, k2)
    assert own > 0.1, own
    assert own > other + 0.08, (own, other)
    # with K = 0 there is nothing to find
    est0 = _flat_fingerprint(np.zeros(shape, np.float32), proc, 6, seed=5)
    assert abs(_corr(est0, k1)) < 0.05


def test_render_is_deterministic_and_prnu_multiplicative():
    shape = (32, 48)
    scene = np.full(shape + (3,), 0.4, np.float32)
    proc = dict(S.model_processing("Acme_Phone"), contrast=0.0, gamma=1.0)
    K = np.zeros(shape, np.float32)
    K[:, 24:] = 0.2  # right half 20 % more sensitive
    quiet = {"read_noise": 0.0, "full_well": 1e7, "exposure": (1.0, 1.0)}
    img = S.render_raw(scene, K, proc, np.random.default_rng(0), quiet).astype(float)
    ratio = img[4:-4, 28:-4].mean() / img[4:-4, 4:20].mean()
    assert abs(ratio - 1.2) < 0.02, ratio
    a = S.render_jpeg(scene, K, proc, np.random.default_rng(7))
    b = S.render_jpeg(scene, K, proc, np.random.default_rng(7))
    assert a == b
    with pytest.raises(ValueError, match="unknown sensor parameters"):
        S.render_raw(scene, K, proc, np.random.default_rng(0), {"prnu": 1})


def test_model_processing_shared_and_valid():
    a, b = S.model_processing("Apple_iPhone6"), S.model_processing("Apple_iPhone6")
    assert a == b
    lo, hi = S.SENSOR_DEFAULTS["camera_quality"]
    models = [S.model_processing(f"Brand_M{i}") for i in range(20)]
    assert all(lo <= m["quality"] <= hi and m["cfa"] in S.CFA_PATTERNS for m in models)
    assert len({(m["cfa"], m["demosaic"], m["quality"]) for m in models}) > 5


# --- platforms ----------------------------------------------------------------------------------------


def _camera_jpeg(shape=(768, 1024), quality=94, exif_orientation=None):
    arr = np.random.default_rng(0).integers(0, 256, shape + (3,), dtype=np.uint8)
    buf = io.BytesIO()
    kw = {}
    if exif_orientation:
        ex = Image.Exif()
        ex[0x0112] = exif_orientation
        ex[0x010F] = "Acme"
        kw["exif"] = ex.tobytes()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality, **kw)
    return buf.getvalue(), arr


@pytest.mark.parametrize("platform", [p for p in S.PLATFORMS if p != "original"])
def test_platform_size_and_quality(platform):
    scale = 1024 / S.REAL_LONG_SIDE
    data, _ = _camera_jpeg()
    out = S.apply_platform(data, platform, sensor_scale=scale)
    prof = S.PLATFORMS[platform]
    im = Image.open(io.BytesIO(out))
    f = min(1.0, prof["long_side"] * scale / 1024)  # the long-side rule, written out
    assert im.size == (round(1024 * f), round(768 * f))
    assert estimate_jpeg_quality(out) == prof["quality"]
    assert bool(im.info.get("progressive") or im.info.get("progression")) == prof["progressive"]
    assert len(im.getexif()) == 0


def test_platform_caps_scale_with_sensor():
    arr = np.zeros((3024, 4032, 3), np.uint8)
    small = np.zeros((768, 1024, 3), np.uint8)
    for name in ("instagram", "facebook", "wechat"):
        real = S.platform_size((4032, 3024), S.PLATFORMS[name])
        sim = S.platform_size((1024, 768), S.PLATFORMS[name], 1024 / 4032)
        assert abs(real[0] / 4032 - sim[0] / 1024) < 0.01  # same resize ratio
    assert S.platform_size(arr.shape[1::-1], S.PLATFORMS["instagram"]) == (1080, 810)
    assert S.platform_size(small.shape[1::-1], S.PLATFORMS["twitter"], 1024 / 4032) == (1024, 768)  # no upscale


def test_wechat_long_images_cap_short_side():
    assert S.platform_size((1000, 300), S.PLATFORMS["wechat"], 0.1) == (427, 128)
    assert S.platform_size((400, 300), S.PLATFORMS["wechat"], 0.1) == (128, 96)


def test_original_passthrough_and_exif_orientation():
    data, arr = _camera_jpeg((60, 80), exif_orientation=6)
    assert S.apply_platform(data, "original") == data
    out = S.apply_platform(data, "facebook")
    im = Image.open(io.BytesIO(out))
    assert im.size == (60, 80)  # orientation applied: portrait as displayed
    assert len(im.getexif()) == 0


def test_twitter_keeps_small_compliant_jpeg():
    data, _ = _camera_jpeg((60, 80), quality=80)
    ex = Image.Exif()
    ex[0x010F] = "Acme"
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, format="JPEG", quality=80, exif=ex.tobytes())
    with_exif = buf.getvalue()
    kept = S.apply_platform(with_exif, "twitter")
    np.testing.assert_array_equal(decode_rgb(kept), decode_rgb(with_exif))  # not re-encoded
    assert len(Image.open(io.BytesIO(kept)).getexif()) == 0 and len(kept) < len(with_exif)
    hq, _ = _camera_jpeg((60, 80), quality=95)
    assert estimate_jpeg_quality(S.apply_platform(hq, "twitter")) == 85  # not compliant: re-encoded


def test_user_profiles(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"myapp": {"long_side": 100, "quality": 66, "subsampling": "4:4:4"}}))
    prof = S.load_profiles(f)
    out = S.apply_platform(np.zeros((300, 400, 3), np.uint8), "myapp", profiles=prof)
    assert Image.open(io.BytesIO(out)).size == (100, 75) and estimate_jpeg_quality(out) == 66
    f.write_text(json.dumps({"bad": {"qualty": 50}}))
    with pytest.raises(ValueError, match="qualty"):
        S.load_profiles(f)
    with pytest.raises(ValueError, match="unknown platform"):
        S.apply_platform(np.zeros((8, 8, 3), np.uint8), "myspace")
    with pytest.raises(ValueError, match="sensor_scale"):
        S.apply_platform(np.zeros((8, 8, 3), np.uint8), "twitter", sensor_scale=2.0)
    with pytest.raises(TypeError):
        S.apply_platform([1, 2, 3], "twitter")


# --- recipes ------------------------------------------------------------------------------------------


def _checksums(path):
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != "manifest.json"}  # fmt: skip


@pytest.fixture
def small_recipes(monkeypatch):
    """Fewer shots per recipe so the build tests stay fast (the layout logic is the same)."""
    monkeypatch.setitem(S.RECIPE_SCALES["our"], "smoke", {"devices": 5, "images": 4})
    monkeypatch.setitem(S.RECIPE_SCALES["kaggle"], "smoke", {"devices": 10, "train": 1, "test": 4, "crop": 64})
    monkeypatch.setattr(S, "VISION_SMOKE", ("D01_Samsung_GalaxyS3Mini", "D26_Samsung_GalaxyS3Mini"))


def test_build_deterministic_cached_and_worker_independent(tmp_path, small_recipes):
    a = S.build_dataset("our", "smoke", seed=0, root=tmp_path / "a", progress=False, workers=1)
    b = S.build_dataset("our", "smoke", seed=0, root=tmp_path / "b", progress=False, workers=2)
    ca, cb = _checksums(a), _checksums(b)
    assert ca == cb and len(ca) == 5 * 4 + 5
    man = S.read_manifest(a)
    assert man["recipe"] == "our" and man["scale"] == "smoke" and man["seed"] == 0
    assert man["sensor_shape"] == [240, 320] and man["sensor_scale"] == pytest.approx(SMOKE_SCALE)
    assert {k: v["sha256"] for k, v in man["files"].items()} == {k: v for k, v in ca.items()
                                                                 if not k.startswith("ground_truth")}  # fmt: skip
    gt = S.ground_truth(a)
    assert sorted(gt) == list(S.OUR_DEVICES) and gt["D01_Apple_iPhone6"].shape == (240, 320)
    assert gt["D01_Apple_iPhone6"].dtype == np.float32
    # cached: a second call does not rewrite
    f = next(a.rglob("*.jpg"))
    mtime = f.stat().st_mtime_ns
    assert S.build_dataset("our", "smoke", seed=0, root=tmp_path / "a", progress=False) == a
    assert f.stat().st_mtime_ns == mtime
    # a different seed gives a different plan folder and different devices
    assert S.dataset_dir("our", "smoke", 1, tmp_path / "a") != a
    k0 = S.device_prnu((240, 320), 0, "our", "D01_Apple_iPhone6", 0.01)
    k1 = S.device_prnu((240, 320), 1, "our", "D01_Apple_iPhone6", 0.01)
    assert abs(np.corrcoef(k0.ravel(), k1.ravel())[0, 1]) < 0.02
    # images: camera size, same processing within a model
    img = read_rgb(f)
    assert img.shape == (240, 320, 3)


def test_build_rebuilds_when_parameters_change(tmp_path, monkeypatch, small_recipes):
    a = S.build_dataset("our", "smoke", seed=0, root=tmp_path, progress=False)
    h1 = S.read_manifest(a)["plan_hash"]
    monkeypatch.setitem(S.SENSOR_DEFAULTS, "prnu_std", 0.005)
    b = S.build_dataset("our", "smoke", seed=0, root=tmp_path, progress=False)
    assert b == a and S.read_manifest(b)["plan_hash"] != h1
    assert S.ground_truth(b)["D01_Apple_iPhone6"].std() == pytest.approx(0.005, rel=0.05)


def test_kaggle_recipe_layout_and_labels(tmp_path, small_recipes):
    p = S.build_dataset("kaggle", "smoke", seed=0, root=tmp_path, progress=False)
    labels = (p / "test_labels.csv").read_text().splitlines()
    assert labels[0] == "fname,camera,device,manipulation" and len(labels) == 1 + 10 * 4
    rows = [r.split(",") for r in labels[1:]]
    assert sum(r[3] == "unalt" for r in rows) == 20  # half manipulated
    assert all(r[3] in S.KAGGLE_MANIPULATIONS for r in rows if r[3] != "unalt")
    for fname, _, dev, manip in rows[:6]:
        f = p / "test" / fname
        assert f.is_file() and fname.endswith(("_unalt.tif", "_manip.tif"))
        assert (manip == "unalt") == fname.endswith("_unalt.tif") and dev.endswith("_2")
        assert Image.open(f).size == (64, 64)
    train = sorted((p / "train").iterdir())
    assert [d.name for d in train] == sorted(S.KAGGLE_CLASSES)
    assert (p / "train" / "iPhone-6" / "(iP6)1.jpg").is_file()


def test_vision_recipe_writes_platform_copies(tmp_path, small_recipes):
    p = S.build_dataset("vision", "smoke", seed=0, root=tmp_path, progress=False)
    d = p / "D01_Samsung_GalaxyS3Mini" / "images"
    assert sorted(x.name for x in d.iterdir()) == ["flat", "nat", "natFBH", "natFBL", "natWA"]
    assert len(list((d / "flat").iterdir())) == 4 and len(list((d / "natWA").iterdir())) == 6
    nat = d / "nat" / "D01_I_nat_0001.jpg"
    for folder, plat in (("natFBH", "facebook"), ("natFBL", "facebook_lq"), ("natWA", "whatsapp")):
        copy = d / folder / f"D01_I_{folder}_0001.jpg"
        assert copy.read_bytes() == S.apply_platform(nat.read_bytes(), plat, SMOKE_SCALE)
        assert estimate_jpeg_quality(copy.read_bytes()) == S.PLATFORMS[plat]["quality"]
