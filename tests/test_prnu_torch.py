"""csi.prnu_torch (the GPU residual of `csi ... --device cuda`) equals csi.prnu's numpy residual on the CPU."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from csi import prnu, prnu_torch  # noqa: E402
from csi.evaluate import QUERY_SIGMA  # noqa: E402

TOL = 1e-4


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    img[:6, :9] = 255  # a saturated flat corner (exercises the saturation mask)
    return img


@pytest.mark.parametrize("shape", [(48, 64, 3), (61, 93, 3), (40, 33, 3), (37, 50)])
@pytest.mark.parametrize("opts", [{"sigma": QUERY_SIGMA, "shifts": 2}, {"sigma": 5.0, "shifts": 1},
                                  {"sigma": 5.0, "shifts": 4, "boundary": "periodic"}])
def test_residuals_equal_numpy(shape, opts):
    img = _image(shape)
    ref = prnu.wavelet_residual(img, **opts)
    got = prnu_torch.wavelet_residual(img, device="cpu", **opts).numpy()
    got = got[0] if img.ndim == 2 else np.moveaxis(got, 0, 2)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)
    full = prnu_torch.noise_residual(img, device="cpu", **opts)
    np.testing.assert_allclose(full, prnu.noise_residual(img, **opts), rtol=0, atol=TOL)


def test_query_settings_and_uint8_vs_float_input():
    img = _image((96, 128, 3), seed=1)
    ref = prnu.noise_residual(img, sigma=QUERY_SIGMA)
    np.testing.assert_allclose(prnu_torch.noise_residual(img.astype(np.float32), sigma=QUERY_SIGMA, device="cpu"),
                               ref, rtol=0, atol=TOL)
    t = prnu_torch.noise_residual(torch.from_numpy(img), sigma=QUERY_SIGMA, device="cpu", as_numpy=False)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32


def test_fingerprint_terms_equal_numpy():
    imgs = [_image((64, 80, 3), seed=s) for s in range(3)]
    ref = [prnu.fingerprint_terms(im) for im in imgs]
    got = [[t.numpy() for t in prnu_torch.fingerprint_terms(im, device="cpu")] for im in imgs]
    for (wi, ii), (gwi, gii) in zip(ref, got, strict=True):
        np.testing.assert_allclose(gwi, wi, rtol=0, atol=TOL)
        np.testing.assert_array_equal(gii == 0, ii == 0)  # the same saturated pixels masked
        np.testing.assert_allclose(gii, ii, rtol=1e-6, atol=1e-7)
    num = sum(g[0] for g in got)
    den = sum(g[1] for g in got)
    np.testing.assert_allclose(prnu.fingerprint_from_sums(num, den), prnu.estimate_fingerprint(imgs), rtol=0,
                               atol=TOL)


def test_errors_match_numpy():
    with pytest.raises(ValueError, match="too small"):
        prnu_torch.noise_residual(np.zeros((8, 8, 3), np.uint8), device="cpu")
    with pytest.raises(ValueError, match="sigma"):
        prnu_torch.noise_residual(np.zeros((32, 32, 3), np.uint8), sigma=0, device="cpu")
