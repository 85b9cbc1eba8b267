"""Training pairs (Fig. 2), validation on platform copies, the pair-budget loop, checkpoints, the cache key."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import csi.train as T
import csi.validation
from csi.checkpoints import load_checkpoint, load_history, load_model, save_checkpoint
from csi.experiments import sizes
from csi.metrics import auc_mann_whitney
from csi.models import CSICNN, DnCNN
from csi.prnu import ncc, postprocess, resample_fingerprint


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


def _resized(img, shape):
    return np.asarray(Image.fromarray(img).resize((shape[1], shape[0]), Image.Resampling.BICUBIC))


# ------------------------------------------------------------------------------------------------ sampler


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
    import csi.pairs

    calls = []
    real = csi.pairs.read_rgb
    monkeypatch.setattr(csi.pairs, "read_rgb", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    s = T.PairSampler([*paths, tmp_path / "bad.jpg"], [*devices, "cam0"], Ks, patch=16, batch=8, seed=0)
    for step in range(5):
        s.batch_at(0, step)
    assert len(calls) == len(paths) + 1
    assert len(s) == len(paths)
    assert [p for p, _ in s.skipped] == [str(tmp_path / "bad.jpg")]


def test_platform_copy_gets_resampled_fingerprint():
    images, devices, Ks = _camera_set(n_cams=2, n_img=1)
    small = _resized(images[0], (48, 64))  # half size, same aspect
    s = T.PairSampler([small, images[1]], devices, Ks, patch=16, batch=4, seed=0, crop=None)
    assert s.fingerprint_views[0].shape == (48, 64)
    assert np.allclose(s.fingerprint_views[0], resample_fingerprint(Ks[devices[0]], (48, 64)))
    assert s.fingerprint_views[1].shape == (96, 128)


def _check_plan(s, stream, step):
    """Every pair of a batch against the sampler's draws, one pair at a time (a slow reference)."""
    x, y, label = s.arrays_at(stream, step)
    pl = s.plan(stream, step)
    p = s.patch
    assert np.array_equal(label, pl["label"])
    xd, yd, ld = T.DevicePairs(s, "cpu").batch(stream, step)  # fit's GPU path, here on the CPU: the same batch
    assert np.array_equal(xd.numpy(), x) and np.array_equal(yd.numpy(), y) and np.array_equal(ld.numpy(), label)
    for k in range(s.batch):
        i, r, c = pl["image"][k], pl["row"][k], pl["col"][k]
        cam, kr, kc = s.device_names[pl["camera"][k]], pl["krow"][k], pl["kcol"][k]
        assert np.array_equal(x[k], s.images[i][r:r + p, c:c + p])
        view = s.fp.get(cam, s._shapes[i], s.crop)  # the camera's fingerprint aligned to image i, as at evaluation
        assert np.array_equal(y[k, 0], view[kr:kr + p, kc:kc + p])
        if label[k] == 1:
            assert cam == s.devices[i] and (kr, kc) == (r, c)
            assert np.array_equal(y[k, 0], s.fingerprint_views[i][r:r + p, c:c + p])
        else:
            assert cam != s.devices[i]
    return pl


def test_mixed_originals_and_copies_of_several_sizes():
    images, devices, Ks = _camera_set(n_cams=3, n_img=2)
    sizes = [(96, 128), (72, 96), (48, 64), (36, 48)]  # original + three platform sizes, same aspect
    mixed, devs = [], []
    for img, dev in zip(images, devices, strict=True):
        for sh in sizes:
            mixed.append(img if sh == (96, 128) else _resized(img, sh))
            devs.append(dev)
    s = T.PairSampler(mixed, devs, Ks, patch=16, batch=64, seed=2, crop=None)
    assert len(s) == len(mixed) and len(s._stacks) == len(sizes)
    seen = set()
    for step in range(4):
        pl = _check_plan(s, 0, step)
        seen |= {s.images[i].shape[:2] for i in pl["image"]}
    assert seen == set(sizes)
    # a copy's label-0 partner is the OTHER camera's fingerprint resampled to the copy's size
    i = next(k for k, im in enumerate(s.images) if im.shape[:2] == (48, 64))
    other = next(d for d in s.device_names if d != s.devices[i])
    assert np.allclose(s.fp.get(other, s._shapes[i], s.crop), resample_fingerprint(Ks[other], (48, 64)))


def test_cropped_copies_and_same_position_negatives():
    images, devices, Ks = _camera_set(n_cams=2, n_img=2)
    mixed = [*images, *[_resized(im, (72, 96)) for im in images]]
    s = T.PairSampler(mixed, devices * 2, Ks, patch=16, batch=32, seed=0, crop=64, negative_position="same")
    for step in range(3):
        pl = _check_plan(s, 1, step)
        neg = pl["label"] == 0
        assert np.array_equal(pl["krow"][neg], pl["row"][neg]) and np.array_equal(pl["kcol"][neg], pl["col"][neg])


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
    _check_plan(s, 0, 0)


def test_mix_weights_and_weighted_drawing():
    w = T.mix_weights([False, True, True, True], 0.25)
    assert np.allclose(w, [0.75, 0.25 / 3, 0.25 / 3, 0.25 / 3]) and w.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="impossible"):
        T.mix_weights([False, False], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        T.mix_weights([False, True], 1.5)
    images, devices, Ks = _camera_set(n_cams=2, n_img=3)
    copies = [_resized(im, (48, 64)) for im in images]
    is_copy = [False] * len(images) + [True] * len(copies)
    counts = {}
    for prob in (0.1, 0.9):
        s = T.PairSampler([*images, *copies], devices * 2, Ks, patch=16, batch=256, seed=0,
                          weights=T.mix_weights(is_copy, prob))
        drawn = np.concatenate([s.plan(0, k)["image"] for k in range(8)])
        counts[prob] = np.mean([s.images[i].shape[0] == 48 for i in drawn])
    assert counts[0.1] == pytest.approx(0.1, abs=0.04) and counts[0.9] == pytest.approx(0.9, abs=0.04)
    uniform = T.PairSampler([*images, *copies], devices * 2, Ks, patch=16, batch=8, seed=0)
    assert uniform.weights is None
    with pytest.raises(ValueError, match="weights"):
        T.PairSampler(images, devices, Ks, patch=16, weights=[1.0])


def test_sampler_does_not_modify_inputs():
    images, devices, Ks = _camera_set(n_cams=2, n_img=2)
    before = [im.copy() for im in images], {k: v.copy() for k, v in Ks.items()}
    s = T.PairSampler(images, devices, Ks, patch=16, batch=8, seed=0)
    s.batch_at(0, 0)
    assert all(np.array_equal(a, b) for a, b in zip(images, before[0], strict=True))
    assert all(np.array_equal(Ks[k], before[1][k]) for k in Ks)


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


# ------------------------------------------------------------------------------------------------ schedule


def test_budget_and_schedule_arithmetic():
    assert T.steps_for(16_000, 64) == 250 and T.steps_for(65, 64) == 2
    assert T.lr_milestones(50_000) == [15_000, 30_000, 45_000]  # the paper: epochs 30, 60, 90 of 100 x 500 steps
    assert T.lr_milestones(10) == [3, 6, 9]
    assert T._eval_points(250, 10) == [25, 50, 75, 100, 125, 150, 175, 200, 225, 250]
    assert T._eval_points(3, 10) == [1, 2, 3]
    with pytest.raises(ValueError, match="fractions"):
        T.lr_milestones(10, (0.0, 0.5))
    with pytest.raises(ValueError, match="pairs"):
        T.steps_for(0, 64)


# ------------------------------------------------------------------------------------------------ validation


class _HighPass(torch.nn.Module):
    """A fixed 'network': the green channel minus its 5x5 local mean (receptive radius 2)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 5, padding=2, bias=False)
        w = -torch.ones(1, 3, 5, 5) / 25
        w[:, [0, 2]] = 0
        w[0, 1, 2, 2] += 1
        with torch.no_grad():
            self.conv.weight.copy_(w)

    def forward(self, x):
        return self.conv(x)


@pytest.fixture()
def _identity_export(monkeypatch):
    monkeypatch.setattr(csi.validation, "export_inference_model", lambda m: m)


def test_validation_auc_detects_the_fingerprint(_identity_export):
    images, devices, Ks = _camera_set(seed=2)
    v = T.ValidationSet(images, devices, Ks, crop=64)
    s = v.scores(_HighPass())
    assert s.shape == (len(images), 3)
    assert (s.argmax(1) == np.array(v.true_index)).all()
    m = v.evaluate(_HighPass())
    assert m["val_auc"] == 1.0 and m["val_acc"] == 1.0 and m["val_ncc_true"] > 0.1

    class Noise(torch.nn.Module):  # a residual without any PRNU: the AUC must fall to chance
        def forward(self, x):
            g = torch.Generator().manual_seed(0)
            return torch.randn(x.shape[0], 1, *x.shape[2:], generator=g)

    assert v.evaluate(Noise())["val_auc"] < 0.8


def _random_bn_statistics(net: torch.nn.Module) -> None:
    """Non-trivial BatchNorm running statistics, then eval mode (so folding and halos are really tested)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    net.eval()


def test_validation_runs_on_crop_plus_halo_not_on_the_padded_crop():
    torch.manual_seed(0)
    net = CSICNN()
    _random_bn_statistics(net)
    images, devices, Ks = _camera_set(n_cams=2, n_img=2)
    crop = 48
    y0, x0 = (96 - crop) // 2, (128 - crop) // 2
    with torch.no_grad():
        full = net(torch.from_numpy(images[0]).permute(2, 0, 1)[None].float() / 255)[0, 0].numpy()
    want = postprocess(full[y0:y0 + crop, x0:x0 + crop])
    got = T.ValidationSet(images, devices, Ks, crop=crop).residuals(net)[0]
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-4
    padded = T.ValidationSet(images, devices, Ks, crop=crop, halo=0).residuals(net)[0]
    assert np.abs(padded - want).max() / np.abs(want).max() > 1e-3  # zero padding at the crop border differs


def test_validation_residual_matches_the_evaluation_extractor(tmp_path):
    from csi.evaluate import get_extractor

    torch.manual_seed(1)
    net = CSICNN().eval()
    ck = save_checkpoint(tmp_path / "m.pt", net, {"kind": "csi-cnn", "model": net.config()})
    images, devices, Ks = _camera_set(n_cams=2, n_img=1)
    want = get_extractor("csi-cnn", ck, device="cpu")(images[0])  # the whole image: no crop border involved
    got = T.ValidationSet(images, devices, Ks, crop=512).residuals(net)[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-4


def test_validation_on_platform_copies_per_platform(_identity_export):
    images, devices, Ks = _camera_set(n_cams=3, n_img=2, seed=4, strength=0.4)
    copies = [_resized(im, (72, 96)) for im in images]
    frame = pd.DataFrame({"path": [*images, *copies], "device": devices * 2,
                          "platform": ["original"] * len(images) + ["Face Book"] * len(copies)})
    v = T.ValidationSet(frame["path"].tolist(), frame["device"].tolist(), Ks, crop=64,
                        platforms=frame["platform"].tolist())
    assert v._references(len(images))[0].shape == (64, 64)  # the copy's fingerprint: resampled, then cropped
    s = v.scores(_HighPass())
    m = v.metrics_from_scores(s)
    assert set(m) == {f"val_{k}{p}" for k in ("auc", "ncc_true", "acc") for p in ("", "_original", "_face_book")}
    true = np.array(v.true_index)
    for name, rows in (("_original", slice(0, len(images))), ("_face_book", slice(len(images), None))):
        lab = np.zeros_like(s[rows], bool)
        lab[np.arange(lab.shape[0]), true[rows]] = True
        assert m[f"val_auc{name}"] == pytest.approx(auc_mann_whitney(s[rows].ravel(), lab.ravel()))
        assert m[f"val_ncc_true{name}"] == pytest.approx(s[rows][np.arange(lab.shape[0]), true[rows]].mean())
        own = s[rows][np.arange(lab.shape[0]), true[rows]]
        hits = sum(own[k] > np.delete(s[rows][k], true[rows][k]).max() for k in range(len(own)))  # Eq. 9 by hand
        assert m[f"val_acc{name}"] == pytest.approx(hits / len(own))
    # the NCC is with the fingerprint window the evaluation uses for a copy
    from csi.evaluate import fingerprint_window

    r = v.residuals(_HighPass())[len(images)]
    K = fingerprint_window(Ks[devices[0]], (72, 96), (4, 68, 16, 80))
    assert s[len(images), true[len(images)]] == pytest.approx(ncc(r, K))


# ------------------------------------------------------------------------------------------------ fit


def _data(seed=1, **kw):
    return _camera_set(seed=seed, **kw)


def _fit(tmp_path, name, pairs=48, evals=4, val=True, patch=24, batch=8, seed=0, init=0, threads=1, loss="cosine",
         **kw):
    """Train a fresh CSI-CNN (one thread: two OpenMP threads on tiny tensors crawl on a shared machine)."""
    images, devices, Ks = _data()
    s = T.PairSampler(images, devices, Ks, patch=patch, batch=batch, seed=seed, crop=None)
    v = T.ValidationSet(images, devices, Ks, crop=48) if val else None
    torch.manual_seed(init)
    model = CSICNN()
    hist = T.fit(model, s, T.TrainingRecipe(pairs=pairs, evals=evals, loss=loss), val=v, device="cpu",
                 log_csv=tmp_path / f"{name}.csv", checkpoint=tmp_path / f"{name}.pt", progress=False,
                 threads=threads, **kw)
    return model, hist, s, v


def test_fit_pair_budget_history_and_checkpoint(tmp_path):
    model, hist, _, _ = _fit(tmp_path, "a", pairs=200, evals=5, batch=8)
    assert hist["step"].tolist() == [0, 5, 10, 15, 20, 25] and hist["epoch"].tolist() == [0, 1, 2, 3, 4, 5]
    assert hist["pairs_seen"].tolist() == [0, 40, 80, 120, 160, 200]
    for col in ("train_loss", "train_rho_pos", "train_rho_neg", "lr", "seconds", "pairs_per_s", "val_seconds",
                "val_auc", "val_ncc_true", "val_acc"):
        assert col in hist.columns, col
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[1]
    assert hist["val_auc"].iloc[-1] > hist["val_auc"].iloc[0]
    assert hist["train_rho_pos"].iloc[-1] > hist["train_rho_neg"].iloc[-1]
    csv = pd.read_csv(tmp_path / "a.csv")
    assert np.allclose(csv["train_loss"].iloc[1:], hist["train_loss"].iloc[1:])
    # checkpoint: state dict + plain config, loads with weights_only=True
    ck = torch.load(tmp_path / "a.pt", weights_only=True)
    assert ck["config"]["kind"] == "csi-cnn" and ck["step"] == 25 and ck["complete"]
    assert ck["config"]["train"]["pairs"] == 200 and ck["config"]["train"]["milestones"] == [8, 15, 22]
    m2 = load_model(tmp_path / "a.pt")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(m2(x), model.eval()(x), atol=1e-6)
    assert load_history(tmp_path / "a.pt")["val_auc"].tolist() == pytest.approx(hist["val_auc"].tolist())


def test_lr_schedule_scales_with_run_length(tmp_path):
    for steps in (10, 20):
        _, hist, _, _ = _fit(tmp_path, f"lr{steps}", pairs=4 * steps, evals=steps, val=False, patch=16, batch=4)
        lr = hist["lr"].iloc[1:].to_numpy()  # the rate of update t (0-based) is in row t + 1
        expect = [1e-3 * 0.2 ** sum(t >= m for m in (0.3 * steps, 0.6 * steps, 0.9 * steps)) for t in range(steps)]
        assert np.allclose(lr, expect), steps


def test_fit_accepts_a_duck_typed_validation():
    """csi.experiments passes an object with only ``auc(model, device)`` (one call per history row)."""
    calls = []

    class AUCOnly:
        def auc(self, model, device="cpu"):
            calls.append(device)
            return 0.5

    images, devices, Ks = _data()
    s = T.PairSampler(images, devices, Ks, patch=16, batch=4, seed=0)
    hist = T.fit(CSICNN(), s, T.TrainingRecipe(pairs=16, evals=2), val=AUCOnly(), device="cpu", progress=False,
                 threads=1)
    assert len(calls) == len(hist) == 3 and hist["val_auc"].tolist() == [0.5, 0.5, 0.5]


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_gives_identical_weights(tmp_path):
    a, _, _, _ = _fit(tmp_path, "d1", pairs=32, evals=2, val=False, patch=16, batch=8)
    b, _, _, _ = _fit(tmp_path, "d2", pairs=32, evals=2, val=False, patch=16, batch=8, prefetch=0)
    c, _, _, _ = _fit(tmp_path, "d3", pairs=32, evals=2, val=False, patch=16, batch=8, seed=1)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)  # another sampler seed: other batches


def test_fit_resume_equals_uninterrupted(tmp_path):
    ref, hist_ref, _, _ = _fit(tmp_path, "ref", pairs=24, evals=3, val=False, patch=16, batch=4)
    images, devices, Ks = _data()
    s = T.PairSampler(images, devices, Ks, patch=16, batch=4, seed=0, crop=None)
    real = s.arrays_at

    def crash(stream, step):
        if step == 3:
            raise KeyboardInterrupt
        return real(stream, step)

    s.arrays_at = crash
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        T.fit(CSICNN(), s, T.TrainingRecipe(pairs=24, evals=3), device="cpu", checkpoint=tmp_path / "r.pt",
              progress=False, threads=1)
    assert load_checkpoint(tmp_path / "r.pt")["step"] == 2
    s.arrays_at = real
    torch.manual_seed(123)  # a different init: must be overwritten by the checkpoint
    resumed = CSICNN()
    hist = T.fit(resumed, s, T.TrainingRecipe(pairs=24, evals=3), device="cpu", checkpoint=tmp_path / "r.pt",
                 progress=False, threads=1)
    assert hist["step"].tolist() == [0, 2, 4, 6]
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_fit_restores_threads_and_accepts_every_loss(tmp_path):
    torch.set_num_threads(1)
    for loss in T.LOSSES:
        _, hist, _, _ = _fit(tmp_path, loss, pairs=16, evals=1, val=False, patch=16, batch=8, threads=2, loss=loss)
        assert np.isfinite(hist["train_loss"].iloc[-1])
        assert torch.get_num_threads() == 1
    ck = load_checkpoint(tmp_path / "mse-std.pt")
    _, _, Ks = _data()
    from csi.losses import fingerprint_scale

    assert ck["config"]["train"]["target_std"] == pytest.approx(fingerprint_scale(Ks))


def test_fit_rejects_bad_input(tmp_path):
    images, devices, Ks = _camera_set(n_cams=2, n_img=2)
    s = T.PairSampler(images, devices, Ks, patch=16, batch=4, seed=0)
    with pytest.raises(ValueError, match="loss"):
        T.TrainingRecipe(pairs=8, evals=1, loss="l1")
    for bad in ({"pairs": 0}, {"evals": 0}, {"lr": 0.0}, {"gamma": 1.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            T.TrainingRecipe(**{"pairs": 8, "evals": 1, **bad})
    with pytest.raises(TypeError, match="CSICNN"):  # a colour DnCNN (a gray one is trained: dncnn-cosine)
        T.fit(DnCNN(depth=3, width=4, channels=3), s, T.TrainingRecipe(pairs=8, evals=1), progress=False)
    with pytest.raises(TypeError, match="TrainingRecipe"):
        T.fit(CSICNN(), s, {"pairs": 8, "evals": 1}, progress=False)
    with pytest.raises(ValueError, match="prefetch"):
        T.fit(CSICNN(), s, T.TrainingRecipe(pairs=8, evals=1), prefetch=-1, device="cpu", progress=False)


def test_torch_runtime_restores_settings():
    from csi.runtime import torch_runtime

    torch.set_num_threads(1)
    with torch_runtime(threads=2) as n:
        assert n == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="threads"):
        with torch_runtime(threads=0):
            pass


def test_fit_denoiser_learns(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    scenes = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (a * xx + b * yy)) for a, b in rng.uniform(0.5, 2, (8, 2))])
    torch.manual_seed(0)
    model = DnCNN(depth=4, width=16)
    hist = T.fit_denoiser(model, steps=60, batch=8, patch=32, sigma_range=(15, 25), scenes=scenes,
                          device="cpu", checkpoint=tmp_path / "d.pt", progress=False)
    assert hist["psnr_denoised"].iloc[-1] > hist["psnr_noisy"].iloc[-1] + 1.0
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    assert isinstance(load_model(tmp_path / "d.pt"), DnCNN)


# ------------------------------------------------------------------------------------------------ get_or_train


@pytest.fixture()
def _toy(tmp_path):
    images, devices, Ks = _camera_set(n_cams=2, n_img=3)
    paths = []
    for k, img in enumerate(images):
        p = tmp_path / f"img{k}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    df = pd.DataFrame({"path": paths, "device": devices, "platform": "original"})
    cfg = {**sizes("smoke", "csi_cnn"), "pairs": 16, "evals": 2, "batch": 4, "patch": 16, "crop": 64, "val_crop": 32,
           "threads": 1}
    return df, Ks, cfg


def _got(tmp_path, df, Ks, cfg, **kw):
    args = {"scale": "smoke", "train": df, "val": df, "fingerprints": Ks, "cache_dir": tmp_path / "models",
            "device": "cpu", "progress": False, **kw}
    return T.get_or_train("csi-cnn", "toy", cfg, **args)


def test_get_or_train_caches_and_retrains_on_change(tmp_path, monkeypatch, _toy):
    df, Ks, cfg = _toy
    p1 = _got(tmp_path, df, Ks, cfg)
    assert p1.exists() and p1.with_suffix(".csv").exists() and "-p16-" in p1.name
    assert load_checkpoint(p1)["complete"]
    calls = []
    real_fit = T.fit
    monkeypatch.setattr(T, "fit", lambda *a, **k: calls.append(a[2]) or real_fit(*a, **k))
    assert _got(tmp_path, df, Ks, cfg) == p1 and not calls  # unchanged rerun: cache hit
    assert _got(tmp_path, df, Ks, {**cfg, "threads": 2, "prefetch": 0}) == p1 and not calls  # run-time options
    changed = [
        _got(tmp_path, df, Ks, {**cfg, "phi": 0.0}),  # a parameter
        _got(tmp_path, df, Ks, {**cfg, "pairs": 20}),  # the budget
        _got(tmp_path, df, Ks, cfg, loss="mse-std"),  # the loss
        _got(tmp_path, df, {k: v * 1.5 for k, v in Ks.items()}, cfg),  # fingerprint contents
        _got(tmp_path, df.iloc[::-1].reset_index(drop=True), Ks, cfg),  # the file list (its order too)
        _got(tmp_path, df, Ks, cfg, seed=1),
    ]
    assert len(calls) == len(changed) and len({p1, *changed}) == len(changed) + 1
    assert calls[1].pairs == 20 and calls[2].loss == "mse-std"


def test_get_or_train_retrains_when_the_code_changes(tmp_path, monkeypatch, _toy):
    df, Ks, cfg = _toy
    p1 = _got(tmp_path, df, Ks, cfg)
    real = T._training_code
    monkeypatch.setattr(T, "_training_code", lambda: (*real(), "an edited loss"))
    p2 = _got(tmp_path, df, Ks, cfg)
    assert p2 != p1 and p2.exists()
    # the key really digests csi.losses: another module object in its place changes it
    import csi.losses
    import csi.metrics

    key = T.training_key("csi-cnn", "toy", cfg, scale="smoke", train=df, fingerprints=Ks)[0]
    monkeypatch.setattr(T, "_training_code", lambda: tuple(csi.metrics if m is csi.losses else m for m in real()))
    assert T.training_key("csi-cnn", "toy", cfg, scale="smoke", train=df, fingerprints=Ks)[0] != key


def test_get_or_train_regimes_and_errors(tmp_path, _toy):
    df, Ks, cfg = _toy
    copies = []
    for k, p in enumerate(df["path"]):
        q = tmp_path / f"copy{k}.png"
        Image.fromarray(_resized(np.asarray(Image.open(p)), (48, 64))).save(q)
        copies.append(str(q))
    mixed = pd.concat([df, df.assign(path=copies, platform="facebook")], ignore_index=True)
    p_mix = _got(tmp_path, mixed, Ks, {**cfg, "copy_probability": 0.5})
    hist = load_history(p_mix)
    assert {"val_auc_original", "val_auc_facebook", "val_ncc_true_facebook"} <= set(hist.columns)
    assert load_checkpoint(p_mix)["config"]["train"]["weighted"]
    with pytest.raises(ValueError, match="copy_probability"):
        _got(tmp_path, df.drop(columns="platform"), Ks, {**cfg, "copy_probability": 0.5})
    with pytest.raises(ValueError, match="pass train"):
        T.get_or_train("csi-cnn", "toy", cfg, scale="smoke", seed=1, cache_dir=tmp_path / "models")
    with pytest.raises(ValueError, match="unknown config keys"):
        T.get_or_train("csi-cnn", "toy", {**cfg, "epochs": 1}, cache_dir=tmp_path / "models")
    with pytest.raises(ValueError, match="lacks the csi-cnn sizes val_crop"):
        T.get_or_train("csi-cnn", "toy", {k: v for k, v in cfg.items() if k != "val_crop"},
                       cache_dir=tmp_path / "models")
    with pytest.raises(ValueError, match="lacks the dncnn sizes"):
        T.training_key("dncnn", "scenes", {"depth": 4})
    assert T.training_key("dncnn", "scenes", sizes("smoke", "dncnn"), scale="smoke")[1]["recipe"]["steps"] == 6


def test_validation_scores_equal_ncc_also_with_a_smaller_sensor(_identity_export):
    images, devices, Ks = _camera_set(n_cams=2, n_img=2, seed=3)
    Ks = {**Ks, "tiny": Ks["cam1"][:40, :40].copy()}  # a camera whose sensor is smaller than the crop
    def _common_centre(a, b):
        h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
        return [x[(x.shape[0] - h) // 2:][:h, (x.shape[1] - w) // 2:][:, :w] for x in (a, b)]

    for crop, ks in ((32, Ks), (64, Ks), (64, {k: v for k, v in Ks.items() if k != "tiny"})):
        v = T.ValidationSet(images, devices, ks, crop=crop)
        s = v.scores(_HighPass())
        res = v.residuals(_HighPass())
        want = [[ncc(*_common_centre(r, K)) for K in v._references(i)] for i, r in enumerate(res)]
        assert np.allclose(s, want, atol=1e-12)


# ------------------------------------------------------------------------------------------------ dncnn-cosine


def test_rgb_to_gray_module_equals_the_numpy_gray():
    from csi.models import RGBToGray
    from csi.prnu import rgb_to_gray

    img = np.random.default_rng(0).random((23, 31, 3), dtype=np.float32)
    got = RGBToGray()(torch.from_numpy(img).permute(2, 0, 1)[None])
    assert got.shape == (1, 1, 23, 31) and got.dtype == torch.float32
    np.testing.assert_allclose(got[0, 0].numpy(), rgb_to_gray(img), rtol=0, atol=1e-6)
    assert np.abs(got[0, 0].numpy() - img.mean(-1)).max() > 1e-2  # the weights are not equal
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        RGBToGray()(torch.zeros(1, 1, 4, 4))


def test_fit_trains_a_gray_dncnn_with_the_cosine_loss(tmp_path):
    from csi.losses import DEFAULT_PHI, cosine_loss
    from csi.prnu import GRAY_WEIGHTS

    images, devices, Ks = _data()
    s = T.PairSampler(images, devices, Ks, patch=16, batch=8, seed=0, crop=None)
    v = T.ValidationSet(images, devices, Ks, crop=48, halo=4)
    torch.manual_seed(0)
    model = DnCNN(depth=4, width=8)
    start = copy.deepcopy(model).train()
    hist = T.fit(model, s, T.TrainingRecipe(pairs=24, evals=3), val=v, device="cpu", checkpoint=tmp_path / "g.pt",
                 progress=False, threads=1)
    assert hist["val_auc"].notna().all() and hist["step"].tolist() == [0, 1, 2, 3]  # validated on RGB crops
    x, y, lab = s.batch_at(0, 0)  # step 1's loss, by hand: the cosine loss of the net on the batch's gray
    gray = torch.einsum("nchw,c->nhw", x, torch.tensor(GRAY_WEIGHTS))[:, None]
    want = cosine_loss(start(gray), y, lab, phi=DEFAULT_PHI).item()
    assert hist["train_loss"].iloc[1] == pytest.approx(want, rel=1e-4)
    assert not torch.equal(start.body[0].weight, model.body[0].weight)  # trained in place
    ck = load_checkpoint(tmp_path / "g.pt")
    assert ck["complete"] and ck["config"]["kind"] == "dncnn" and ck["config"]["input"] == "gray"
    assert ck["config"]["model"] == {"depth": 4, "width": 8, "channels": 1}
    again = load_model(tmp_path / "g.pt")
    assert isinstance(again, DnCNN) and not again.training
    assert all(torch.equal(w, model.state_dict()[k]) for k, w in again.state_dict().items())
    g = torch.rand(2, 1, 20, 24)
    with torch.no_grad():  # same weights; channels-last vs contiguous kernels round differently
        assert torch.allclose(again(g), model.eval()(g), atol=1e-6)


def test_dncnn_cosine_extractor_is_the_net_on_gray_post_processed(tmp_path):
    from csi.evaluate import get_extractor
    from csi.models import RGBToGray
    from csi.prnu import rgb_to_gray

    torch.manual_seed(2)
    net = DnCNN(depth=4, width=8)
    _random_bn_statistics(net)
    ck = save_checkpoint(tmp_path / "g.pt", net, {"kind": "dncnn", "model": net.config(), "input": "gray"})
    images, devices, Ks = _camera_set(n_cams=2, n_img=1)
    with torch.no_grad():
        r = net(torch.from_numpy(rgb_to_gray(images[0].astype(np.float32) / 255))[None, None])[0, 0].numpy()
    want = postprocess(r)
    for tile in (None, 40):  # one pass, and tiles with the receptive radius as halo
        ex = get_extractor("dncnn-cosine", ck, device="cpu", tile=tile)
        got = ex(images[0])
        assert got.shape == want.shape and np.abs(got - want).max() / np.abs(want).max() < 1e-4
    assert ex.name == "dncnn-cosine" and ex.halo == 4
    assert ex.key != get_extractor("dncnn", ck, device="cpu").key
    assert np.abs(get_extractor("dncnn", ck, device="cpu")(images[0]) - want).max() > 1e-2 * np.abs(want).max()
    gray_net = torch.nn.Sequential(RGBToGray(), net)  # what fit validates: the same residual
    val = T.ValidationSet(images, devices, Ks, crop=512).residuals(gray_net)[0]
    assert np.abs(val - want).max() / np.abs(want).max() < 1e-4
    csi_ck = save_checkpoint(tmp_path / "c.pt", CSICNN(), {"kind": "csi-cnn", "model": {}})
    with pytest.raises(ValueError, match="not a DnCNN"):
        get_extractor("dncnn-cosine", csi_ck, device="cpu")


def test_get_or_train_dncnn_cosine_has_its_own_cache(tmp_path, monkeypatch, _toy):
    df, Ks, cfg = _toy
    small = {**cfg, "depth": 4, "width": 8}
    args = {"scale": "smoke", "train": df, "val": df, "fingerprints": Ks, "cache_dir": tmp_path / "models",
            "device": "cpu", "progress": False}
    p1 = T.get_or_train("dncnn-cosine", "toy", small, **args)
    assert p1.name.startswith("dncnn-cosine-toy-smoke-s0-cosine-p16-") and p1.with_suffix(".csv").exists()
    ck = load_checkpoint(p1)
    assert ck["complete"] and ck["config"]["input"] == "gray" and ck["config"]["extra"]["stem"] == p1.stem
    assert load_history(p1)["val_auc"].notna().all()
    again = load_model(p1)
    assert isinstance(again, DnCNN) and again.config() == {"depth": 4, "width": 8, "channels": 1}
    calls = []
    monkeypatch.setattr(T, "fit", lambda *a, **k: calls.append(a))
    assert T.get_or_train("dncnn-cosine", "toy", small, **args) == p1 and not calls  # cached
    assert T.get_or_train("dncnn-cosine", "toy", {**small, "width": 6}, **args) != p1 and len(calls) == 1
    # its own key beside CSI-CNN's; CSI-CNN's recipe has no DnCNN sizes (they do not change its key)
    stem, params = T.training_key("dncnn-cosine", "toy", cfg, scale="smoke", train=df, fingerprints=Ks)
    assert params["recipe"]["depth"] == 17 and params["recipe"]["width"] == 64 and params["recipe"]["val_halo"] == 17
    csi_stem, csi_params = T.training_key("csi-cnn", "toy", cfg, scale="smoke", train=df, fingerprints=Ks)
    assert csi_stem.startswith("csi-cnn-toy-smoke-s0-cosine-p16-") and stem.split("-")[-1] != csi_stem.split("-")[-1]
    assert "depth" not in csi_params["recipe"] and csi_params["recipe"]["val_halo"] == 6
    assert T.training_key("csi-cnn", "toy", small, scale="smoke", train=df, fingerprints=Ks)[0] == csi_stem
    with pytest.raises(ValueError, match="lacks the dncnn-cosine sizes val_crop"):
        T.training_key("dncnn-cosine", "toy", {k: v for k, v in cfg.items() if k != "val_crop"})


# ------------------------------------------------------------------------------------------------ module layers


def _imported_modules(module):
    """Every csi module ``module`` imports, at top level or inside functions (read from the source)."""
    import ast
    import importlib

    path = importlib.import_module(f"csi.{module}").__file__
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("csi"):
            found |= {node.module.removeprefix("csi").lstrip(".")} if node.module != "csi" else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("csi.") for a in node.names if a.name.startswith("csi.")}
    return found


def test_training_layers_have_no_circle():
    """evaluate and batch use the networks without the training code; train does not read the notebook settings."""
    for module in ("evaluate", "batch", "checkpoints", "runtime", "models", "losses"):
        assert "train" not in _imported_modules(module), module
    for module in ("train", "pairs", "validation", "checkpoints", "runtime"):
        assert not {"experiments", "pipeline", "claim"} & _imported_modules(module), module
    assert "load_model" in vars(__import__("csi.checkpoints").checkpoints)
    assert not hasattr(T, "TRAIN_SCALES") and not hasattr(T, "training_runtime")


def test_fit_takes_at_most_twelve_parameters():
    import inspect

    assert len(inspect.signature(T.fit).parameters) <= 12
    assert len(inspect.signature(T.fit_denoiser).parameters) <= 12


def test_prefetcher_keeps_order_and_reraises():
    from csi.runtime import Prefetcher

    def fn(t):
        if t == 3:
            raise KeyError("broken batch")
        return t * t

    feeder = Prefetcher(fn, range(5), depth=2)
    try:
        assert [feeder.get(t) for t in range(3)] == [0, 1, 4]
        with pytest.raises(KeyError, match="broken batch"):
            feeder.get(3)
    finally:
        feeder.close()
    assert [Prefetcher(fn, range(2), depth=0).get(t) for t in range(2)] == [0, 1]


def test_load_model_rejects_an_unknown_kind(tmp_path):
    p = save_checkpoint(tmp_path / "x.pt", CSICNN(), {"kind": "resnet", "model": {}})
    with pytest.raises(ValueError, match="unknown model kind"):
        load_model(p)
