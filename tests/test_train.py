"""Training pairs (Fig. 2), the training loop, checkpoints/resume, DnCNN training, get_or_train."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import csi.train as T
from csi.models import CSICNN, DnCNN


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP oversubscription on a busy 2-core machine (speed only)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _camera_set(n_cams=3, n_img=4, shape=(96, 128), strength=0.25, seed=0):
    """Images I = scene * (1 + K_cam) + noise: a fingerprint strong enough to be learned in seconds."""
    rng = np.random.default_rng(seed)
    Ks = {f"cam{c}": rng.normal(0, 1, shape).astype(np.float32) for c in range(n_cams)}
    images, devices = [], []
    for c in range(n_cams):
        for _ in range(n_img):
            base = rng.uniform(80, 170)
            scene = base + 25 * np.sin(np.linspace(0, rng.uniform(2, 6), shape[1]))[None, :] * np.ones((shape[0], 1))
            img = scene[..., None] * (1 + strength * Ks[f"cam{c}"][..., None]) + rng.normal(0, 2, shape + (3,))
            images.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
            devices.append(f"cam{c}")
    return images, devices, Ks


def _coded_set(n_cams=3, n_img=3, shape=(96, 128)):
    """Images whose pixels encode (row, col, image) and fingerprints whose values encode (camera, row, col)."""
    r, c = np.mgrid[0:shape[0], 0:shape[1]]
    images = [np.stack([r, c, np.full(shape, i)], -1).astype(np.uint8) for i in range(n_cams * n_img)]
    devices = [f"cam{i // n_img}" for i in range(n_cams * n_img)]
    Ks = {f"cam{k}": (k * 100000 + r * 1000 + c).astype(np.float32) for k in range(n_cams)}
    return images, devices, Ks


def _decode(x, y):
    """(image, row, col) of an input patch and (camera, row, col) of a fingerprint patch, from their top-left."""
    px = np.rint(x[:, 0, 0].numpy() * 255).astype(int)  # R, G, B of the top-left pixel
    v = int(y[0, 0, 0].item())
    return (px[2], px[0], px[1]), (v // 100000, (v % 100000) // 1000, v % 1000)


def test_pairs_follow_fig2():
    images, devices, Ks = _coded_set()
    p = 16
    s = T.PairSampler(images, devices, Ks, patch=p, batch=64, seed=3, crop=None)
    x, y, label = s.batch_at(1, 0)
    assert x.shape == (64, 3, p, p) and y.shape == (64, 1, p, p) and label.shape == (64,)
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert 10 < int(label.sum()) < 54  # labels drawn with p = 1/2
    n_same_pos, other_cams = 0, set()
    for k in range(64):
        (i, r, c), (cam, kr, kc) = _decode(x[k], y[k])
        # the whole input patch is the image window at (r, c), the whole K' a fingerprint window at (kr, kc)
        assert np.array_equal(np.rint(x[k].permute(1, 2, 0).numpy() * 255), images[i][r:r + p, c:c + p])
        assert np.array_equal(y[k, 0].numpy(), Ks[f"cam{cam}"][kr:kr + p, kc:kc + p])
        own = int(devices[i][3:])
        if label[k] == 1:  # same position of the source camera's fingerprint
            assert (cam, kr, kc) == (own, r, c)
        else:  # a same-size window of ANOTHER camera's fingerprint, position drawn at random
            assert cam != own
            other_cams.add((own, cam))
            n_same_pos += (kr, kc) == (r, c)
    assert n_same_pos <= 2
    assert len(other_cams) >= 4  # both other cameras are used


def test_negative_same_position_option():
    images, devices, Ks = _coded_set(n_cams=2, n_img=2)
    s = T.PairSampler(images, devices, Ks, patch=16, batch=32, seed=0, crop=None, negative_position="same")
    x, y, label = s.batch_at(0, 0)
    assert (label == 0).sum() > 5
    for k in np.nonzero(label.numpy() == 0)[0]:
        (i, r, c), (cam, kr, kc) = _decode(x[k], y[k])
        assert cam != int(devices[i][3:]) and (kr, kc) == (r, c)


def test_sampler_is_deterministic_per_seed():
    images, devices, Ks = _camera_set()
    a = T.PairSampler(images, devices, Ks, patch=16, batch=8, seed=5, crop=64)
    b = T.PairSampler(images, devices, Ks, patch=16, batch=8, seed=5, crop=64)
    c = T.PairSampler(images, devices, Ks, patch=16, batch=8, seed=6, crop=64)
    for t1, t2 in zip(a.batch_at(2, 3), b.batch_at(2, 3), strict=True):
        assert torch.equal(t1, t2)
    assert not torch.equal(a.batch_at(2, 3)[0], c.batch_at(2, 3)[0])
    assert not torch.equal(a.batch_at(2, 3)[0], a.batch_at(2, 4)[0])


def test_crop_keeps_fingerprint_alignment():
    images, devices, Ks = _camera_set(n_img=1)
    s = T.PairSampler(images, devices, Ks, patch=8, batch=16, seed=0, crop=32)
    # the kept block is the centre 32x32 and its fingerprint view is the same block of K
    y0, x0 = (96 - 32) // 2, (128 - 32) // 2
    assert np.array_equal(s.images[0], images[0][y0:y0 + 32, x0:x0 + 32])
    assert np.array_equal(s.fingerprint_views[0], Ks[devices[0]][y0:y0 + 32, x0:x0 + 32])


def test_each_image_decoded_once(tmp_path, monkeypatch):
    images, devices, Ks = _camera_set(n_cams=2, n_img=2)
    paths = []
    for k, img in enumerate(images):
        p = tmp_path / f"{k}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    import csi.io

    calls = []
    real = csi.io.read_rgb
    monkeypatch.setattr(csi.io, "read_rgb", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    s = T.PairSampler([*paths, tmp_path / "bad.jpg"], [*devices, "cam0"], Ks, patch=16, batch=8, seed=0)
    for step in range(5):
        s.batch_at(0, step)
    assert len(calls) == len(paths) + 1
    assert len(s) == len(paths)
    assert [p for p, _ in s.skipped] == [str(tmp_path / "bad.jpg")]


def test_platform_copy_gets_resampled_fingerprint():
    images, devices, Ks = _camera_set(n_cams=2, n_img=1)
    small = np.asarray(Image.fromarray(images[0]).resize((64, 48)))  # half size, same aspect
    s = T.PairSampler([small, images[1]], devices, Ks, patch=16, batch=4, seed=0, crop=None)
    from csi.prnu import resample_fingerprint

    assert s.fingerprint_views[0].shape == (48, 64)
    assert np.allclose(s.fingerprint_views[0], resample_fingerprint(Ks[devices[0]], (48, 64)))
    assert s.fingerprint_views[1].shape == (96, 128)


def test_other_camera_with_another_sensor_size():
    images, devices, Ks = _coded_set(n_cams=2, n_img=2)
    Ks = dict(Ks)
    Ks["cam2"] = Ks["cam1"][:40, :50].copy() + 100000  # a third camera with a smaller sensor, no images
    big = np.zeros((120, 160, 3), np.uint8)  # an image larger than its camera's fingerprint: skipped
    s = T.PairSampler([*images, big], [*devices, "cam0"], Ks, patch=16, batch=64, seed=1, negative_position="same")
    assert len(s) == 4 and "larger than its camera's fingerprint" in s.skipped[0][1]
    x, y, label = s.batch_at(0, 0)
    cams = {_decode(x[k], y[k])[1][0] for k in range(64) if label[k] == 0}
    assert 2 in cams  # the smaller camera provides negatives too


def test_sampler_errors():
    images, devices, Ks = _camera_set(n_cams=2, n_img=1)
    with pytest.raises(ValueError, match="differ in length"):
        T.PairSampler(images, devices[:1], Ks)
    with pytest.raises(ValueError, match="without a fingerprint"):
        T.PairSampler(images, ["cam0", "nope"], Ks)
    with pytest.raises(ValueError, match="at least two cameras"):
        T.PairSampler(images[:1], devices[:1], {"cam0": Ks["cam0"]})
    with pytest.raises(ValueError, match="negative_position"):
        T.PairSampler(images, devices, Ks, negative_position="left")
    with pytest.raises(ValueError, match="crop"):
        T.PairSampler(images, devices, Ks, patch=64, crop=32)


def test_lr_schedule_reading():
    assert T.lr_step_for(100) == 30
    assert T.lr_step_for(10) == 3


def _fit(tmp_path, name, epochs=4, steps=6, val=True, patch=24, batch=8, **kw):
    images, devices, Ks = _camera_set(seed=1)
    s = T.PairSampler(images, devices, Ks, patch=patch, batch=batch, seed=0, crop=None)
    v = T.ValidationSet(images, devices, Ks, crop=48) if val else None
    torch.manual_seed(0)
    model = CSICNN()
    hist = T.fit(model, s, "cosine", "smoke", epochs=epochs, steps_per_epoch=steps, val=v, device="cpu", seed=0,
                 log_csv=tmp_path / f"{name}.csv", checkpoint=tmp_path / f"{name}.pt", progress=False, **kw)
    return model, hist, s, v


def test_fit_smoke_loss_decreases_and_auc_rises(tmp_path):
    model, hist, _, _ = _fit(tmp_path, "a", epochs=4, steps=6)
    assert list(hist.columns) == ["epoch", "train_loss", "val_auc", "lr", "seconds", "pairs_per_s"]
    assert hist["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[1]
    assert hist["val_auc"].iloc[-1] > hist["val_auc"].iloc[0]
    # lr x 0.2 every round(0.3 * 4) = 1 epoch
    assert np.allclose(hist["lr"].iloc[1:], [1e-3, 2e-4, 4e-5, 8e-6])
    csv = pd.read_csv(tmp_path / "a.csv")
    assert np.allclose(csv["train_loss"].iloc[1:], hist["train_loss"].iloc[1:])
    # checkpoint: state dict + plain config, loads with weights_only=True
    ck = torch.load(tmp_path / "a.pt", weights_only=True)
    assert ck["config"]["kind"] == "csi-cnn" and ck["epoch"] == 4 and ck["complete"]
    m2 = T.load_model(tmp_path / "a.pt")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(m2(x), model.eval()(x), atol=1e-6)
    assert T.load_history(tmp_path / "a.pt")["val_auc"].tolist() == pytest.approx(hist["val_auc"].tolist())


def test_fit_resume_equals_uninterrupted(tmp_path):
    ref, hist_ref, _, _ = _fit(tmp_path, "ref", epochs=3, steps=2, val=False, patch=16, batch=4)
    images, devices, Ks = _camera_set(seed=1)
    s = T.PairSampler(images, devices, Ks, patch=16, batch=4, seed=0, crop=None)
    real = s.batch_at

    def crash(epoch, step):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(epoch, step)

    s.batch_at = crash
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        T.fit(CSICNN(), s, "cosine", "smoke", epochs=3, steps_per_epoch=2, device="cpu", seed=0,
              checkpoint=tmp_path / "r.pt", progress=False)
    assert T.load_checkpoint(tmp_path / "r.pt")["epoch"] == 1
    s.batch_at = real
    torch.manual_seed(123)  # a different init: must be overwritten by the checkpoint
    resumed = CSICNN()
    hist = T.fit(resumed, s, "cosine", "smoke", epochs=3, steps_per_epoch=2, device="cpu", seed=0,
                 checkpoint=tmp_path / "r.pt", progress=False)
    assert hist["epoch"].tolist() == [0, 1, 2, 3]
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k


def test_fit_mse_runs_and_rejects_bad_input(tmp_path):
    images, devices, Ks = _camera_set(n_cams=2, n_img=2)
    s = T.PairSampler(images, devices, Ks, patch=16, batch=4, seed=0)
    hist = T.fit(CSICNN(), s, "mse", "smoke", epochs=1, steps_per_epoch=2, device="cpu", progress=False)
    assert np.isfinite(hist["train_loss"].iloc[-1])
    with pytest.raises(ValueError, match="loss"):
        T.fit(CSICNN(), s, "l1", "smoke", progress=False)
    with pytest.raises(ValueError, match="scale"):
        T.fit(CSICNN(), s, "cosine", "huge", progress=False)
    with pytest.raises(TypeError, match="CSICNN"):
        T.fit(DnCNN(depth=3, width=4), s, progress=False)


def test_validation_auc_detects_the_fingerprint():
    images, devices, Ks = _camera_set(seed=2)
    v = T.ValidationSet(images, devices, Ks, crop=64)

    class Green(torch.nn.Module):  # a "network" returning the green channel minus a local mean
        def forward(self, x):
            g = x[:, 1:2]
            return g - torch.nn.functional.avg_pool2d(g, 5, 1, 2, count_include_pad=False)

    import csi.train

    orig = csi.train.export_inference_model
    csi.train.export_inference_model = lambda m: m
    try:
        s = v.scores(Green())
        assert s.shape == (len(images), 3)
        assert (s.argmax(1) == np.array(v.true_index)).all()
        assert v.auc(Green()) == 1.0
    finally:
        csi.train.export_inference_model = orig


def test_fit_denoiser_learns(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    scenes = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (a * xx + b * yy)) for a, b in rng.uniform(0.5, 2, (8, 2))])
    torch.manual_seed(0)
    model = DnCNN(depth=4, width=16)
    hist = T.fit_denoiser(model, "smoke", steps=60, batch=8, patch=32, sigma_range=(15, 25), scenes=scenes,
                          device="cpu", checkpoint=tmp_path / "d.pt", progress=False)
    assert hist["psnr_denoised"].iloc[-1] > hist["psnr_noisy"].iloc[-1] + 1.0
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    assert isinstance(T.load_model(tmp_path / "d.pt"), DnCNN)


def test_get_or_train_caches(tmp_path, monkeypatch):
    images, devices, Ks = _camera_set(n_cams=2, n_img=3)
    paths = []
    for k, img in enumerate(images):
        p = tmp_path / f"img{k}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    df = pd.DataFrame({"path": paths, "device": devices})
    cfg = {"epochs": 1, "steps_per_epoch": 2, "batch": 4, "patch": 16, "crop": 64, "val_crop": 32}
    p1 = T.get_or_train("csi-cnn", "toy", scale="smoke", train=df, val=df, fingerprints=Ks, config=cfg,
                        cache_dir=tmp_path / "models", device="cpu", progress=False)
    assert p1.exists() and p1.with_suffix(".csv").exists()
    monkeypatch.setattr(T, "fit", lambda *a, **k: pytest.fail("should not retrain"))
    p2 = T.get_or_train("csi-cnn", "toy", scale="smoke", train=df, val=df, fingerprints=Ks, config=cfg,
                        cache_dir=tmp_path / "models", device="cpu", progress=False)
    assert p2 == p1
    p3 = T.get_or_train("csi-cnn", "toy", scale="smoke", config=cfg, seed=0, cache_dir=tmp_path / "models",
                        device="cpu", progress=False, train=df, val=df, fingerprints=Ks)
    assert p3 == p1
    with pytest.raises(ValueError, match="pass train"):
        T.get_or_train("csi-cnn", "toy", scale="smoke", seed=1, cache_dir=tmp_path / "models")
    with pytest.raises(ValueError, match="unknown config keys"):
        T.get_or_train("csi-cnn", "toy", config={"epochz": 1}, cache_dir=tmp_path / "models")
