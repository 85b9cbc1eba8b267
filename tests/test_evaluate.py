"""The one evaluation table and the metrics computed from it."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import csi.evaluate as E
from csi.checkpoints import save_checkpoint
from csi.models import CSICNN, DnCNN
from csi.prnu import postprocess, resample_fingerprint, rgb_to_gray


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _dataset(tmp_path, n_cams=3, n_img=3, shape=(64, 96), strength=0.3, seed=0):
    rng = np.random.default_rng(seed)
    Ks = {f"c{c}": rng.normal(0, 1, shape).astype(np.float32) for c in range(n_cams)}
    rows = []
    for c in range(n_cams):
        for i in range(n_img):
            base = rng.uniform(90, 160)
            img = base * (1 + strength * Ks[f"c{c}"][..., None]) + rng.normal(0, 2, shape + (3,))
            p = tmp_path / f"c{c}_{i}.png"
            Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8)).save(p)
            rows.append({"path": str(p), "device": f"c{c}", "platform": "original"})
    return pd.DataFrame(rows), Ks


class Green:
    """A simple residual extractor: green channel minus its mean; counts its calls."""

    cache_key = "green-v1"

    def __init__(self):
        self.calls = 0
        self.__name__ = "green"

    def __call__(self, img):
        self.calls += 1
        g = img[..., 1].astype(np.float32)
        return g - g.mean()


def _corr(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_table_rows_values_and_metrics(tmp_path):
    df, Ks = _dataset(tmp_path)
    ex = Green()
    t = E.evaluate(ex, df, Ks, crop=32, cache_dir=None, progress=False)
    assert list(t.columns) == ["image", "true_device", "candidate_device", "ncc", "pce", "method", "platform"]
    assert len(t) == len(df) * len(Ks)
    # slow reference for one row: centre 32x32 crop of image and fingerprint, Pearson correlation
    row = t.iloc[4]
    img = np.asarray(Image.open(row["image"]).convert("RGB"))
    y0, x0 = (64 - 32) // 2, (96 - 32) // 2
    W = ex(img[y0:y0 + 32, x0:x0 + 32])
    K = Ks[row["candidate_device"]][y0:y0 + 32, x0:x0 + 32]
    assert row["ncc"] == pytest.approx(_corr(W, K), abs=1e-6)
    # the strong synthetic fingerprint is found: every image's own camera wins
    acc = E.accuracy_table(t)
    assert acc["acc"].item() == 1.0 and acc["n_images"].item() == len(df)
    auc = E.auc_table(t)
    assert auc["auc"].item() == 1.0 and auc["n_pos"].item() == len(df)


def test_accuracy_counts_argmax(tmp_path):
    # hand-made table: image a correct, image b wrong
    t = pd.DataFrame({
        "image": ["a", "a", "b", "b"], "true_device": ["x", "x", "y", "y"],
        "candidate_device": ["x", "y", "x", "y"], "ncc": [0.5, 0.1, 0.4, 0.2], "pce": [1.0, 0.0, 0.0, 3.0],
    })
    assert E.accuracy_table(t)["acc"].item() == 0.5
    assert E.accuracy_table(t, score="pce")["acc"].item() == 1.0
    # AUC: positives 0.5, 0.2; negatives 0.1, 0.4 -> pairs won: (0.5>0.1, 0.5>0.4, 0.2>0.1) = 3/4
    assert E.auc_table(t)["auc"].item() == pytest.approx(0.75)


def test_residual_cache_is_used_and_invalidated(tmp_path):
    df, Ks = _dataset(tmp_path, n_cams=2, n_img=2)
    ex = Green()
    t1 = E.evaluate(ex, df, Ks, crop=32, cache_dir=tmp_path / "cache", progress=False)
    assert ex.calls == 4
    t2 = E.evaluate(ex, df, Ks, crop=32, cache_dir=tmp_path / "cache", progress=False)
    assert ex.calls == 4
    pd.testing.assert_frame_equal(t1, t2)
    E.evaluate(ex, df, Ks, crop=48, cache_dir=tmp_path / "cache", progress=False)  # another crop
    assert ex.calls == 8
    p = df["path"].iloc[0]
    st = os.stat(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # file changed
    E.evaluate(ex, df, Ks, crop=32, cache_dir=tmp_path / "cache", progress=False)
    assert ex.calls == 9


def test_unreadable_images_are_reported(tmp_path):
    df, Ks = _dataset(tmp_path, n_cams=2, n_img=1)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    df = pd.concat([df, pd.DataFrame([{"path": str(bad), "device": "c0", "platform": "original"},
                                      {"path": str(tmp_path / "missing.png"), "device": "c1",
                                       "platform": "original"}])], ignore_index=True)
    t = E.evaluate(Green(), df, Ks, crop=None, cache_dir=None, progress=False)
    assert len(t) == 2 * 2
    assert [p for p, _ in t.attrs["skipped"]] == [str(bad), str(tmp_path / "missing.png")]
    assert all(reason for _, reason in t.attrs["skipped"])


def test_downscaled_query_uses_resampled_fingerprint(tmp_path):
    rng = np.random.default_rng(1)
    K = {"a": rng.normal(size=(64, 96)).astype(np.float32), "b": rng.normal(size=(64, 96)).astype(np.float32)}
    img = np.clip(128 * (1 + 0.3 * np.repeat(K["a"][..., None], 3, axis=2)), 0, 255).astype(np.uint8)
    small = np.asarray(Image.fromarray(img).resize((48, 32), Image.Resampling.BILINEAR))
    p = tmp_path / "small.png"
    Image.fromarray(small).save(p)
    ex = Green()
    t = E.evaluate(ex, pd.DataFrame({"path": [str(p)], "device": ["a"]}), K, crop=24, cache_dir=None,
                   progress=False)
    Kr = resample_fingerprint(K["a"], (32, 48))[4:28, 12:36]
    W = ex(small[4:28, 12:36])
    assert t.set_index("candidate_device").loc["a", "ncc"] == pytest.approx(_corr(W, Kr), abs=1e-6)
    assert E.accuracy_table(t)["acc"].item() == 1.0
    # a query with another aspect ratio is a crop of the sensor: centre crop of K
    assert np.array_equal(E.align_fingerprint(K["a"], (40, 40)), K["a"][12:52, 28:68])
    with pytest.raises(ValueError, match="larger than the fingerprint"):
        E.align_fingerprint(K["a"], (80, 120))


def test_reference_ik(tmp_path):
    df, Ks = _dataset(tmp_path, n_cams=2, n_img=1)
    ex = Green()
    t = E.evaluate(ex, df, Ks, crop=None, reference="IK", cache_dir=None, progress=False)
    row = t.iloc[1]
    img = np.asarray(Image.open(row["image"]).convert("RGB")).astype(np.float32)
    gray = img @ np.array([0.29893602, 0.58704307, 0.11402090], np.float32)
    assert row["ncc"] == pytest.approx(_corr(ex(img), gray * Ks[row["candidate_device"]]), abs=1e-6)
    assert t.attrs["reference"] == "IK"


def _randomised(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def test_cnn_extractors_equal_eager_float32(tmp_path):
    torch.manual_seed(0)
    net = _randomised(CSICNN())
    ck = save_checkpoint(tmp_path / "c.pt", net, {"kind": "csi-cnn", "model": net.config()})
    img = np.random.default_rng(0).integers(0, 256, (70, 150, 3), dtype=np.uint8)
    ex = E.get_extractor("csi-cnn", checkpoint=ck, device="cpu", tile=32)
    x = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        ref = net(x)[0, 0].numpy()
    got_raw = E.get_extractor("csi-cnn", checkpoint=ck, device="cpu", tile=32, zero_mean=False, wiener=False)(img)
    assert np.abs(got_raw - ref).max() <= 1e-4 * np.abs(ref).max()
    assert np.allclose(ex(img), postprocess(ref), atol=1e-4 * np.abs(postprocess(ref)).max())

    d = _randomised(DnCNN(depth=4, width=8))
    ckd = save_checkpoint(tmp_path / "d.pt", d, {"kind": "dncnn", "model": d.config()})
    exd = E.get_extractor("dncnn", checkpoint=ckd, device="cpu", tile=None)
    with torch.no_grad():
        noise = torch.cat([d(x[:, c:c + 1]) for c in range(3)], 1)[0].permute(1, 2, 0).numpy() * 255
    want = postprocess(rgb_to_gray(noise))
    assert np.allclose(exd(img), want, atol=1e-4 * np.abs(want).max())
    with pytest.raises(ValueError, match="not a CSICNN"):
        E.get_extractor("csi-cnn", checkpoint=ckd)


def test_wavelet_extractor_and_errors(tmp_path):
    from csi.prnu import noise_residual

    img = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert np.array_equal(E.get_extractor("wavelet")(img), noise_residual(img, sigma=E.QUERY_SIGMA))
    df, Ks = _dataset(tmp_path, n_cams=2, n_img=1)
    with pytest.raises(ValueError, match="method"):
        E.get_extractor("median")
    with pytest.raises(ValueError, match="needs a checkpoint"):
        E.get_extractor("csi-cnn")
    with pytest.raises(ValueError, match="reference"):
        E.evaluate(Green(), df, Ks, reference="KI", cache_dir=None)
    with pytest.raises(ValueError, match="crop"):
        E.evaluate(Green(), df, Ks, crop=3, cache_dir=None)
    with pytest.raises(ValueError, match="columns 'path' and 'device'"):
        E.evaluate(Green(), df.rename(columns={"device": "camera"}), Ks, cache_dir=None)
    with pytest.raises(ValueError, match="extractor_options"):
        E.evaluate("wavelet", df, Ks, cache_dir=None, extractor_options={"sigma2": 3})
    with pytest.raises(ValueError, match="returned shape"):
        E.evaluate(lambda im: im[:4, :4, 0], df, Ks, cache_dir=None, progress=False)


def test_camera_with_a_smaller_sensor_is_still_scored(tmp_path):
    df, Ks = _dataset(tmp_path, n_cams=2, n_img=2)
    Ks = dict(Ks)
    Ks["tiny"] = np.random.default_rng(5).normal(size=(40, 50)).astype(np.float32)  # other sensor, smaller
    t = E.evaluate(Green(), df, Ks, crop=48, cache_dir=None, progress=False)
    assert len(t) == len(df) * 3 and np.isfinite(t["ncc"]).all()
    assert E.accuracy_table(t)["acc"].item() == 1.0
    win = E.fingerprint_window(Ks["tiny"], (64, 96), (8, 56, 24, 72))
    assert win.shape == (40, 48) and np.array_equal(win, Ks["tiny"][:, 1:49])
