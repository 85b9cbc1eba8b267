"""Tests for csi.simulator: scenes, demosaicing, sensor model, platform profiles, recipe builds."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from csi import scales
from csi import simulator as S
from csi.io import decode_rgb, estimate_jpeg_quality, read_rgb

SMOKE_SCALE = max(scales.SCALES["smoke"]["sensor_shape"]) / S.REAL_LONG_SIDE


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
    h, w = raw.shape
    idx = np.tile(np.array(S.CFA_PATTERNS[cfa]), ((h + 1) // 2, (w + 1) // 2))[:h, :w]  # channel of each site
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


# --- oracle twin --------------------------------------------------------------------------------------


def test_twin_of_a_zero_prnu_camera_is_the_image():
    shape = (48, 64)
    scene = S.make_scene("dead_leaves", shape, np.random.default_rng(0))
    proc = S.model_processing("Acme_Phone")
    K0 = np.zeros(shape, np.float32)
    for jpeg in (False, True):
        img, twin = S.render_pair(scene, K0, proc, np.random.default_rng(1), jpeg=jpeg)
        assert img.dtype == twin.dtype == np.uint8 and img.shape == twin.shape == shape + (3,)
        np.testing.assert_array_equal(img, twin)
    a, b = S.render_jpeg(scene, K0, proc, np.random.default_rng(1), twin=True)
    assert a == b


def test_twin_leaves_the_camera_output_and_the_generator_unchanged():
    shape = (48, 64)
    scene = S.make_scene("flat", shape, np.random.default_rng(0))
    proc = S.model_processing("Acme_Phone")
    K = S.device_prnu(shape, 0, "t", "dev1", 0.015)
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    plain = S.render_jpeg(scene, K, proc, r1)
    image, twin = S.render_jpeg(scene, K, proc, r2, twin=True)
    assert image == plain and twin != plain
    assert r1.random() == r2.random()  # the twin draws nothing extra
    raw = S.render_raw(scene, K, proc, np.random.default_rng(3))
    np.testing.assert_array_equal(S.render_raw(scene, K, proc, np.random.default_rng(3), twin=True)[0], raw)
    np.testing.assert_array_equal(S.render_pair(scene, K, proc, np.random.default_rng(3), jpeg=False)[0], raw)


@pytest.mark.parametrize("model, kind, min_raw, min_jpeg", [
    ("Apple_iPhone6", "flat", 0.75, 0.28),          # Malvar demosaicing, QF 94
    ("Apple_iPhone6", "dead_leaves", 0.65, 0.22),
    ("Samsung_GalaxyS5", "flat", 0.55, 0.16),       # bilinear demosaicing spreads K over neighbours, QF 91
])  # fmt: skip
def test_image_minus_twin_is_the_prnu_term(model, kind, min_raw, min_jpeg):
    shape = (192, 256)
    proc = S.model_processing(model)
    K = S.device_prnu(shape, 0, "t", "dev1", 0.015)
    other = S.device_prnu(shape, 0, "t", "dev2", 0.015)
    scene = S.make_scene(kind, shape, np.random.default_rng(0))
    for jpeg, lo in ((False, min_raw), (True, min_jpeg)):
        img, twin = S.render_pair(scene, K, proc, np.random.default_rng(10), jpeg=jpeg)
        gray = twin.astype(np.float64).mean(2)
        d = img.astype(np.float64).mean(2) - gray
        own, foreign = _corr(d, gray * K), _corr(d, gray * other)
        assert own > lo, (jpeg, own)  # measured: raw 0.86/0.79/0.65, jpeg 0.36/0.30/0.22
        assert abs(foreign) < 0.03, (jpeg, foreign)


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
    cap = prof["long_side"] or prof["max_width"]  # landscape input: the width is the long side
    f = min(1.0, cap * scale / 1024)  # the size rule, written out
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


def test_weibo_caps_the_width_and_draws_its_watermark():
    assert S.platform_size((3024, 4032), S.PLATFORMS["weibo"]) == (2000, 2667)  # width, not long side
    assert S.platform_size((4032, 3024), S.PLATFORMS["weibo"]) == (2000, 1500)
    assert "estimate" in S.PLATFORMS["weibo"]["source"] and S.PLATFORMS["weibo"]["watermark"]
    yy, xx = np.mgrid[0:768, 0:1024]
    arr = np.stack([(yy // 3) % 256, (xx // 4) % 256, np.full_like(yy, 90)], 2).astype(np.uint8)
    data = S.encode_jpeg(arr, 94)
    scale = 1024 / S.REAL_LONG_SIDE
    plain = dict(S.PLATFORMS["weibo"], watermark=None)
    marked = decode_rgb(S.apply_platform(data, "weibo", scale)).astype(int)
    clean = decode_rgb(S.apply_platform(data, "weibo", scale, profiles={"weibo": plain})).astype(int)
    assert marked.shape == clean.shape == (381, 508, 3)
    resized = np.asarray(Image.fromarray(decode_rgb(data)).resize((508, 381), Image.Resampling.LANCZOS))
    text = (S.draw_watermark(resized, S.PLATFORMS["weibo"]["watermark"]) != resized).any(2)
    ys, xs = np.nonzero(text)
    h, w = text.shape
    assert ys.min() > 0.9 * h and xs.min() > 0.75 * w and ys.max() < h - 3 and xs.max() < w - 3  # bottom right
    diff = np.abs(marked - clean).max(2)
    assert diff[text].mean() > 20 and (marked - clean)[text].mean() > 10  # white text: brighter
    outside = diff.copy()
    outside[ys.min() - 16 :, xs.min() - 16 :] = 0  # JPEG blocks (16-px MCUs) around the text change too
    assert outside.max() == 0


def test_draw_watermark_contract():
    img = np.full((120, 160, 3), 40, np.uint8)
    before = img.copy()
    a = S.draw_watermark(img, "weibo.com/csi")
    np.testing.assert_array_equal(img, before)  # input not modified
    np.testing.assert_array_equal(a, S.draw_watermark(img, "weibo.com/csi"))  # deterministic
    assert a.dtype == np.uint8 and a.shape == img.shape and a.max() > 40
    assert (a[: 120 // 2] == 40).all() and (a[:, : 160 // 2] == 40).all()
    big = S.draw_watermark(np.zeros((1500, 2000, 3), np.uint8), "weibo.com/csi")
    rows = np.nonzero(big.max((1, 2)))[0]
    assert 30 <= rows.max() - rows.min() + 1 <= 60  # text height scales with the image (~2.5 % of the width)
    np.testing.assert_array_equal(S.draw_watermark(np.zeros((8, 8, 3), np.uint8), "x"), 0)  # too small: none
    with pytest.raises(ValueError, match="text"):
        S.draw_watermark(img, "")
    with pytest.raises(ValueError, match="watermark"):
        S.get_profile("p", {"p": {"watermark": "caf\u00e9"}})
    with pytest.raises(ValueError, match="max_width"):
        S.get_profile("p", {"p": {"max_width": 3}})
    mine = S.get_profile("p", {"p": {"long_side": 100, "watermark": "me"}})
    out = decode_rgb(S.apply_platform(np.zeros((300, 400, 3), np.uint8), "p", profiles={"p": mine}))
    assert out.shape == (75, 100, 3)


def _smooth_camera_jpeg(shape):
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    arr = 128 + 60 * np.sin(xx / 37.0)[:, :, None] * np.cos(yy[:, :, None] / 23.0 + np.arange(3))
    arr = arr + np.random.default_rng(0).normal(0, 3, (h, w, 1))
    return S.encode_jpeg(np.clip(arr, 0, 255).astype(np.uint8), 94)


@pytest.mark.parametrize("shape", [(768, 1024), (3024, 4032)])
def test_the_five_paper_platforms_give_five_different_images(shape):
    data = _smooth_camera_jpeg(shape)
    scale = shape[1] / S.REAL_LONG_SIDE
    views = {p: decode_rgb(S.apply_platform(data, p, scale)) for p in S.PAPER_PLATFORMS}
    assert set(views) == {"twitter", "facebook", "instagram", "wechat", "weibo"}
    names = list(views)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert views[a].shape != views[b].shape or not np.array_equal(views[a], views[b]), (a, b)
    # Facebook and Weibo: different size rule (long side 2048 vs width 2000) and Weibo's watermark
    assert views["facebook"].shape[1] == round(2048 * scale) and views["weibo"].shape[1] == round(2000 * scale)


# --- recipes ------------------------------------------------------------------------------------------


def _checksums(path):
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != "manifest.json"}  # fmt: skip


@pytest.fixture
def small_recipes(monkeypatch):
    """Fewer shots per recipe so the build tests stay fast (the layout logic is the same)."""
    monkeypatch.setitem(scales.SCALES["smoke"]["recipes"], "our", {"devices": 5, "images": 4})
    monkeypatch.setitem(scales.SCALES["smoke"]["recipes"], "kaggle", {"devices": 10, "train": 1, "test": 4, "crop": 64})
    monkeypatch.setattr(S.recipes, "VISION_SMOKE", ("D01_Samsung_GalaxyS3Mini", "D26_Samsung_GalaxyS3Mini"))


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


def test_recipe_overrides_validate_and_enter_the_plan():
    plain = S.recipe_plan("our", "smoke")
    assert plain["overrides"] == {} and plain["code"] == S.simulator_digest()
    p = S.recipe_plan("our", "smoke", overrides={"images": 3, "prnu_std": 0.0075, "exposure": (0.5, 1.0)})
    assert p["counts"]["images"] == 3 and p["sensor"]["prnu_std"] == 0.0075 and p["sensor"]["exposure"] == [0.5, 1]
    assert p["overrides"] == {"exposure": [0.5, 1.0], "images": 3, "prnu_std": 0.0075}
    plan_hash = S.recipes._plan_hash
    assert plan_hash(p) != plan_hash(plain) and plan_hash(plain) != plan_hash(plain, twins=True)
    # an override equal to the default is no override
    assert S.recipe_plan("our", "smoke", overrides={"prnu_std": S.SENSOR_DEFAULTS["prnu_std"]}) == plain
    two = S.recipe_plan("kaggle", "smoke", overrides={"devices": 2, "camera_quality": (80, 85)})
    assert list(two["devices"]) == ["HTC-1-M7_1", "HTC-1-M7_2", "iPhone-4s_1", "iPhone-4s_2"]
    assert all(80 <= m["quality"] <= 85 for m in two["processing"].values())
    with pytest.raises(ValueError, match="imgs, prnu"):
        S.recipe_plan("our", "smoke", overrides={"imgs": 3, "prnu": 0.01})
    with pytest.raises(ValueError, match="crop"):  # a Kaggle count is not an `our` count
        S.recipe_plan("our", "smoke", overrides={"crop": 32})
    for bad in ({"images": 0}, {"images": 2.5}, {"prnu_std": -0.01}, {"exposure": (0.8, 0.2)}, {"adc_bits": 40},
                {"camera_quality": (90, 101)}, {"devices": 6}):  # fmt: skip
        with pytest.raises(ValueError, match=next(iter(bad))):
            S.recipe_plan("our", "smoke", overrides=bad)
    with pytest.raises(TypeError):
        S.recipe_plan("our", "smoke", overrides=[("images", 3)])
    # folders: plain stays, overrides and twins get their own
    root = "data/synthetic"
    assert S.dataset_dir("our", "smoke", 0, root).name == "our-smoke-seed0"
    assert S.dataset_dir("our", "smoke", 0, root, overrides={"images": scales.SCALES["smoke"]["recipes"]["our"]["images"]}
                         ).name == "our-smoke-seed0"  # fmt: skip
    names = {S.dataset_dir("our", "smoke", 0, root, overrides=o, twins=t).name
             for o, t in (({"images": 3}, False), ({"images": 4}, False), ({"images": 3}, True), (None, True))}
    assert len(names) == 4 and all(n.startswith("our-smoke-seed0-") and len(n) == len("our-smoke-seed0-") + 8
                                   for n in names)  # fmt: skip


def test_cache_reuses_unchanged_and_rebuilds_changed_plans(tmp_path, monkeypatch):
    ov = {"images": 2, "devices": 2}
    a = S.build_dataset("our", "smoke", 0, tmp_path, progress=False, overrides=ov)
    assert a == S.dataset_dir("our", "smoke", 0, tmp_path, overrides=ov) and a.name != "our-smoke-seed0"
    man = S.read_manifest(a)
    assert man["overrides"] == ov and man["n_files"] == 4 and len(S.ground_truth(a)) == 2
    f = next(a.rglob("*.jpg"))
    mtime = f.stat().st_mtime_ns
    assert S.build_dataset("our", "smoke", 0, tmp_path, progress=False, overrides=dict(ov)) == a  # unchanged rerun
    assert f.stat().st_mtime_ns == mtime
    b = S.build_dataset("our", "smoke", 0, tmp_path, progress=False, overrides={**ov, "images": 3})  # changed
    assert b != a and S.read_manifest(b)["n_files"] == 6 and f.stat().st_mtime_ns == mtime
    # same images at different PRNU strength: realistic-PRNU override
    c = S.build_dataset("our", "smoke", 0, tmp_path, progress=False, overrides={**ov, "prnu_std": 0.0075})
    assert S.ground_truth(c)["D01_Apple_iPhone6"].std() == pytest.approx(0.0075, rel=0.05)
    assert (c / f.relative_to(a)).read_bytes() != f.read_bytes()
    # an edit of the rendering code (a new digest) rebuilds in place
    monkeypatch.setattr(S.recipes, "simulator_digest", lambda: "0123456789abcdef")
    assert S.build_dataset("our", "smoke", 0, tmp_path, progress=False, overrides=ov) == a
    assert S.read_manifest(a)["plan_hash"] != man["plan_hash"] and f.stat().st_mtime_ns != mtime
    assert f.read_bytes() == (b / f.relative_to(a)).read_bytes()  # same code really: same bytes


def test_build_with_twins(tmp_path, small_recipes):
    ov = {"images": 2}
    plain = S.build_dataset("our", "smoke", 0, tmp_path, progress=False, overrides=ov)
    tw = S.build_dataset("our", "smoke", 0, tmp_path, progress=False, overrides=ov, twins=True)
    assert tw != plain
    man = S.read_manifest(tw)
    assert man["twins"] is True
    images = sorted(k for k in man["files"] if not k.startswith("twins/"))
    twins = sorted(k for k in man["files"] if k.startswith("twins/"))
    assert len(images) == 10 and twins == [f"twins/{k}" for k in images]
    K = S.ground_truth(tw)
    for rel in images:
        assert (tw / rel).read_bytes() == (plain / rel).read_bytes()  # camera images unchanged by twins
        img, twin = read_rgb(tw / rel).astype(float), read_rgb(tw / "twins" / rel).astype(float)
        gray = twin.mean(2)
        d = img.mean(2) - gray
        dev = rel.split("/")[0]
        assert _corr(d, gray * K[dev]) > 0.08  # full-size JPEGs, any scene kind
    k = S.build_dataset("kaggle", "smoke", 0, tmp_path, progress=False, twins=True,
                        overrides={"devices": 2, "train": 1, "test": 2})  # fmt: skip
    tifs = sorted(p.relative_to(k) for p in (k / "test").glob("*.tif"))
    assert len(tifs) == 4 and all((k / "twins" / t).is_file() for t in tifs)
    assert all(Image.open(k / "twins" / t).size == (64, 64) for t in tifs)
