"""PRNU core (Eq. 3-5): noise residuals, camera fingerprints, the detectors and the geometry that lines them up.

* residual ``W = I - F(I)`` (Eq. 3-4): :func:`wavelet_residual` (Mihcak wavelet denoiser), :func:`rgb_to_gray`,
  :func:`zero_mean_cfa`, :func:`wiener_dft`; :func:`noise_residual` chains them.
* fingerprint ``K = sum W_k I_k / (sum I_k^2 + 1)`` (Eq. 5): :func:`estimate_fingerprint`, or
  :func:`fingerprint_terms` summed and finished by :func:`fingerprint_from_sums`.
* detectors: :func:`ncc` (the paper's rho), :func:`ncc_matrix` (every residual against every reference, the
  score matrix of Tables 2-3), :func:`pce` (peak-to-correlation energy).
* geometry: :func:`crop_box`, :func:`center_crop`, :func:`common_centre`, :func:`align_fingerprint`,
  :func:`fingerprint_window`, :func:`match_orientation`, :func:`resample_fingerprint`.

Everything is ``float32``; sums that need it are ``float64``. Implementation notes and measurements:
``docs/performance.md`` and ``docs/residual.md``.

References
----------
Wang et al. (2021), Eq. 3-5 and Sec. 4.2. Lukas, Fridrich and Goljan (2006); Chen et al. (2008); Mihcak,
Kozintsev and Ramchandran (1999); Coifman and Donoho (1995); Goljan, Fridrich and Filler (2009).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.fft as sfft
from PIL import Image

from .io import read_rgb
from .progress import bar as progress_bar
from .wavelet import (
    BOUNDARIES,
    SHIFT_SETS,
    _as_2d,
    _as_image,
    _check_boundary,
    _check_levels,
    _check_shifts,
    _check_sigma,
    _filters,
    _pad_spectrum_energy,
    _shrink_gain,
    _wavelet_residual_chw,
)

log = logging.getLogger(__name__)

__all__ = [
    "GRAY_WEIGHTS", "SATURATION_LEVEL", "INTENSITY_T", "BOUNDARIES", "SHIFT_SETS",
    "wavelet_residual", "rgb_to_gray", "zero_mean_cfa", "wiener_dft", "postprocess", "noise_residual",
    "intensity_weight", "saturation_mask", "fingerprint_terms", "fingerprint_from_sums", "estimate_fingerprint",
    "ncc", "ncc_matrix", "unit_rows", "pce",
    "crop_box", "center_crop", "common_centre", "align_fingerprint", "fingerprint_window", "resample_fingerprint",
    "match_orientation",
]

#: RGB -> gray weights of the reference pipeline (MATLAB's ``rgb2gray`` rounded the same way).
GRAY_WEIGHTS: tuple[float, float, float] = (0.29893602, 0.58704307, 0.11402090)
#: A colour channel whose maximum exceeds this value is checked for saturated flat areas.
SATURATION_LEVEL: float = 250.0
#: Intensity threshold ``T`` of the fingerprint weighting: ``I/T`` below ``T``, a Gaussian roll-off above.
INTENSITY_T: float = 252.0
_INTENSITY_V: float = 6.0



def wavelet_residual(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", *,
                     boundary: str = "symmetric", shifts: int = 2) -> np.ndarray:
    """Noise residual ``W = I - F(I)`` of each colour channel with the Mihcak wavelet denoiser ``F`` (Eq. 3-4).

    A ``levels``-level 2-D DWT; every detail coefficient ``c`` becomes ``c * sigma^2 / (v + sigma^2)`` with
    ``v = min_w max(0, mean_w(c^2) - sigma^2)`` over 3/5/7/9 windows; the approximation is set to 0.
    ``boundary="symmetric"`` mirror-pads by one filter length before the periodic DWT (``"periodic"``: only up to a
    multiple of ``2**levels``, the MATLAB rule). ``shifts`` > 1 averages over the cycle-spinning shifts of
    :data:`SHIFT_SETS` (``docs/residual.md``).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` or ``(H, W)``, ``uint8`` or float on 0-255, ``H, W >= 2**levels``. Not modified.
    sigma : float
        Noise standard deviation on 0-255 (5 for fingerprint images).
    levels, wavelet : int, str
        DWT levels and an orthogonal PyWavelets wavelet (``"db4"``, as the reference code).
    boundary : {"symmetric", "periodic"}
    shifts : {1, 2, 4, 16}

    Returns
    -------
    numpy.ndarray
        ``float32``, the shape of ``image``.

    Examples
    --------
    >>> img = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    >>> wavelet_residual(img).shape
    (64, 80, 3)
    """
    arr = _as_image(image)
    res = _wavelet_residual_chw(arr, _check_sigma(sigma), _check_levels(levels), wavelet,
                                _check_boundary(boundary), _check_shifts(shifts))  # fmt: skip
    if arr.ndim == 2:
        return np.ascontiguousarray(res[0])
    return np.ascontiguousarray(np.moveaxis(res, 0, 2))


# ------------------------------------------------------------------------------- post-processing


def _gray_chw(res: np.ndarray) -> np.ndarray:
    if res.shape[0] == 1:
        return np.ascontiguousarray(res[0], dtype=np.float32)
    wr, wg, wb = (np.float32(v) for v in GRAY_WEIGHTS)
    gray = res[0] * wr
    gray += res[1] * wg
    gray += res[2] * wb
    return gray


def rgb_to_gray(residual) -> np.ndarray:
    """``(H, W, 3)`` residual or image -> ``(H, W)`` float32 ``0.29893602 R + 0.58704307 G + 0.11402090 B``.

    ``(H, W)`` and ``(H, W, 1)`` inputs come back as float32 copies. The gray step before Eq. 5 and the NCC.

    Examples
    --------
    >>> rgb_to_gray(np.ones((2, 3, 3), np.float32)).round(6)[0, 0]
    np.float32(1.0)
    """
    arr = _as_image(residual, "residual")
    if arr.ndim == 2:
        return arr.astype(np.float32)  # astype copies
    return _gray_chw(np.moveaxis(arr, 2, 0).astype(np.float32, copy=False))


def zero_mean_cfa(x) -> np.ndarray:
    """Rows and columns zero-mean on each of the 4 CFA sub-lattices (Chen et al. 2008): ``(H, W)`` -> float32.

    Removes the linear patterns that cameras of one model share (demosaicing, JPEG grid).

    Examples
    --------
    >>> z = zero_mean_cfa(np.arange(16, dtype=np.float32).reshape(4, 4))
    >>> bool(np.allclose(z[0::2, 0::2].sum(axis=0), 0))
    True
    """
    arr = _as_2d(x, "x")
    out = np.empty(arr.shape, np.float32)
    for a in (0, 1):
        for b in (0, 1):
            sub = arr[a::2, b::2]
            if sub.size == 0:
                continue
            rows = sub.mean(axis=1, dtype=np.float64)
            cols = sub.mean(axis=0, dtype=np.float64)
            rows -= rows.mean()  # grand mean folded into the row means
            dst = out[a::2, b::2]
            np.subtract(sub, rows.astype(np.float32)[:, None], out=dst, dtype=np.float32)
            dst -= cols.astype(np.float32)[None, :]
    return out




def wiener_dft(x, sigma: float | None = None) -> np.ndarray:
    """Wiener filter in the DFT domain: the 3/5/7/9 adaptive shrink on ``|F| / sqrt(H W)``, phase kept.

    ``x``: ``(H, W)`` float; ``sigma`` None uses ``x.std()`` (an all-zero ``x`` comes back as a copy). Returns
    ``(H, W)`` float32. The windows wrap around (the spectrum is periodic), so the gain is Hermitian and only
    half of the spectrum is filtered (Goljan, Fridrich and Filler 2009).

    Examples
    --------
    >>> wiener_dft(np.random.default_rng(0).standard_normal((32, 48)).astype(np.float32)).shape
    (32, 48)
    """
    arr = _as_2d(x, "x").astype(np.float32, copy=False)
    if sigma is None:
        sigma = float(arr.std(dtype=np.float64))
        if sigma == 0.0:
            return arr.copy()
    sigma = _check_sigma(sigma)
    h, w = arr.shape
    spec = sfft.rfft2(arr, workers=1)  # complex64 (H, W//2 + 1)
    power = spec.real * spec.real
    power += spec.imag * spec.imag
    power *= np.float32(1.0 / (h * w))
    energy = _pad_spectrum_energy(power, w)
    gain = _shrink_gain(energy[None, :, None, :], sigma * sigma)[0, :, 0, :]
    spec *= gain
    return sfft.irfft2(spec, s=(h, w), workers=1).astype(np.float32, copy=False)


def postprocess(x, zero_mean: bool = True, wiener: bool = True) -> np.ndarray:
    """:func:`zero_mean_cfa` then :func:`wiener_dft` (each switchable) of an ``(H, W)`` residual or fingerprint.

    Returns a new ``(H, W)`` float32 array, even with both steps off.

    Examples
    --------
    >>> postprocess(np.zeros((8, 8)), wiener=False).dtype
    dtype('float32')
    """
    arr = _as_2d(x, "x")
    out = zero_mean_cfa(arr) if zero_mean else arr.astype(np.float32)
    if wiener:
        out = wiener_dft(out)
    return out


def noise_residual(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", zero_mean: bool = True,
                   wiener: bool = True, *, boundary: str = "symmetric", shifts: int = 2) -> np.ndarray:
    """The single-image residual ``W`` (Eq. 3-4): :func:`wavelet_residual`, gray, then :func:`postprocess`.

    ``image``: ``(H, W, 3)`` or ``(H, W)`` on 0-255; options as for :func:`wavelet_residual` and
    :func:`postprocess` (queries use ``sigma=3``, :data:`csi.evaluate.QUERY_SIGMA`). Returns ``(H, W)`` float32.

    Examples
    --------
    >>> noise_residual(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)).shape
    (50, 70)
    """
    arr = _as_image(image)
    res = _wavelet_residual_chw(arr, _check_sigma(sigma), _check_levels(levels), wavelet,
                                _check_boundary(boundary), _check_shifts(shifts))  # fmt: skip
    gray = _gray_chw(res)
    if zero_mean:
        gray = zero_mean_cfa(gray)
    if wiener:
        gray = wiener_dft(gray)
    return gray


# ----------------------------------------------------------------------------------- fingerprint


def intensity_weight(image) -> np.ndarray:
    """The ``I_k`` of Eq. 5: ``I / T`` below ``T = 252``, ``exp(-(I - T)^2 / 6)`` above; float32, in ``[0, 1]``.

    Examples
    --------
    >>> intensity_weight(np.array([[0, 126, 252, 255]], np.uint8)).round(3)
    array([[0.   , 0.5  , 1.   , 0.223]], dtype=float32)
    """
    arr = _as_image(image)
    x = arr.astype(np.float32)  # float arithmetic: no uint8 overflow
    w = x * np.float32(1.0 / INTENSITY_T)
    high = x >= INTENSITY_T
    if high.any():
        d = x[high] - np.float32(INTENSITY_T)
        w[high] = np.exp(-(d * d) / np.float32(_INTENSITY_V))
    return w


def saturation_mask(image) -> np.ndarray:
    """Bool mask, False at saturated flat pixels: in a channel whose maximum exceeds 250, the pixels that equal
    the maximum and one of their 4 neighbours (circular), as the reference code (Chen et al. 2008).

    Examples
    --------
    >>> img = np.full((4, 4, 3), 100, np.uint8); img[:2, :2, 0] = 255
    >>> int(saturation_mask(img)[..., 0].sum()), int(saturation_mask(img)[..., 1].sum())
    (12, 16)
    """
    arr = _as_image(image)
    chans = arr[:, :, None] if arr.ndim == 2 else arr
    mask = np.ones(chans.shape, dtype=bool)
    for j in range(chans.shape[2]):
        ch = chans[:, :, j]
        top = ch.max()
        if top <= SATURATION_LEVEL:
            continue
        at_max = ch == top
        flat = ((ch == np.roll(ch, 1, axis=0)) | (ch == np.roll(ch, -1, axis=0))
                | (ch == np.roll(ch, 1, axis=1)) | (ch == np.roll(ch, -1, axis=1)))  # fmt: skip
        mask[:, :, j] = ~(at_max & flat)
    return mask[:, :, 0] if arr.ndim == 2 else mask


def _describe(index: int, path) -> str:
    return f"images[{index}]" + (f" ({os.fspath(path)})" if path is not None else "")


def _load_item(item):
    """(array, path or None) of an item: an array, a path, or a (path, array) pair from csi.io.iter_rgb."""
    if isinstance(item, (str, os.PathLike)):
        return read_rgb(item), item
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], (str, os.PathLike)):
        return item[1], item[0]
    return item, None


def _weight_chw(arr: np.ndarray) -> np.ndarray:
    """``I_k`` of Eq. 5 (intensity weight x saturation mask) of a validated ``(H, W, C)`` image, ``(C, H, W)``."""
    return np.moveaxis(intensity_weight(arr) * saturation_mask(arr), 2, 0)


def _fingerprint_terms(arr: np.ndarray, res: np.ndarray, weight: np.ndarray | None = None):
    """``(W I, I^2)`` of Eq. 5 for a validated ``(H, W, C)`` image and its ``(C, H, W)`` residual (overwritten);
    ``weight`` is the image's :func:`_weight_chw` when already computed."""
    weight = _weight_chw(arr) if weight is None else weight
    res *= weight
    return res, weight * weight


def fingerprint_terms(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", *,
                      boundary: str = "symmetric", shifts: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One image's terms of Eq. 5, ``(W_k I_k, I_k^2)``, each ``(C, H, W)`` float32 (``C`` = 3, or 1 for gray).

    Summed over a camera's images and finished by :func:`fingerprint_from_sums` (a map-reduce, as
    ``csi fingerprint`` does); options as for :func:`estimate_fingerprint`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.integers(60, 200, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    >>> num, den = (a + b for a, b in zip(*(fingerprint_terms(im) for im in imgs)))
    >>> bool(np.array_equal(fingerprint_from_sums(num, den), estimate_fingerprint(imgs)))
    True
    """
    arr = _as_image(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    res = _wavelet_residual_chw(arr, _check_sigma(sigma), _check_levels(levels), wavelet,
                                _check_boundary(boundary), _check_shifts(shifts))  # fmt: skip
    return _fingerprint_terms(arr, res)


def fingerprint_from_sums(num, den, copy: bool = True, name: str = "the fingerprint") -> np.ndarray:
    """Finish Eq. 5 from its sums: ``K = postprocess(gray(num / (den + 1)))``, ``(H, W)`` float32.

    ``num``, ``den``: ``(C, H, W)`` sums of ``W_k I_k`` and ``I_k^2`` (:func:`fingerprint_terms`); ``copy=False``
    lets the function overwrite them. Raises ``ValueError`` naming ``name`` when ``K`` is all zero (no usable
    pixel: a dead camera would otherwise score 0 against everything and win argmaxes).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fingerprint_from_sums(rng.normal(size=(3, 16, 16)), np.ones((3, 16, 16))).shape
    (16, 16)
    """
    num = np.asarray(num)
    den = np.asarray(den)
    if num.shape != den.shape or num.ndim != 3 or num.shape[0] not in (1, 3):
        raise ValueError(f"num and den must be (C, H, W) arrays of one shape with C in 1 or 3, got "
                         f"{num.shape} and {den.shape}")
    if copy or num.dtype != np.float32 or den.dtype != np.float32:
        num = num.astype(np.float32)
        den = den.astype(np.float32)
    den += np.float32(1.0)
    num /= den
    K = postprocess(_gray_chw(num))
    if not K.any():
        raise ValueError(f"{name} is all zero: no image contributed a usable pixel (saturated, black or flat "
                         "images only?)")
    return K


def estimate_fingerprint(images: Iterable, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4",
                         progress: bool = False, errors: str = "raise", return_info: bool = False, *,
                         boundary: str = "symmetric", shifts: int = 1, name: str | None = None):
    """Maximum-likelihood fingerprint ``K = sum_k W_k I_k / (sum_k I_k^2 + 1)`` (Eq. 5), streamed.

    Per colour channel: residual ``W_k`` (:func:`wavelet_residual`, ``sigma``) times ``I_k`` =
    :func:`intensity_weight` x :func:`saturation_mask`, summed as the images stream (memory ``O(H W)``);
    then gray and :func:`postprocess`. An image with no usable pixel (black, or saturated flat) is skipped with
    its reason, whatever ``errors``; a fingerprint left all zero raises ``ValueError``.

    Parameters
    ----------
    images : iterable
        ``(H, W, 3)`` 0-255 images, file paths (read landscape with :func:`csi.io.read_rgb`) or ``(path, image)``
        pairs, all of one shape. Not modified.
    sigma, levels, wavelet, boundary, shifts :
        As for :func:`wavelet_residual` (one shift: averaging images does what cycle-spinning does for one).
    progress : bool
    errors : {"raise", "skip"}
        An unreadable file or an image of the wrong shape: raise, or skip it with a warning.
    return_info : bool
        Also return ``{"n_images": int, "skipped": [(index, path or None, reason), ...]}``.
    name : str or None
        The camera, named in warnings and errors.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, dict)
        ``(H, W)`` float32; about ``T`` = 252 times the relative PRNU, attenuated by the denoiser.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> estimate_fingerprint(rng.integers(60, 200, (64, 64, 3), dtype=np.uint8) for _ in range(3)).shape
    (64, 64)
    """
    sigma, levels = _check_sigma(sigma), _check_levels(levels)
    boundary, shifts = _check_boundary(boundary), _check_shifts(shifts)
    _filters(wavelet)
    if errors not in ("raise", "skip"):
        raise ValueError(f"unknown errors {errors!r}; expected one of 'raise', 'skip'")
    if isinstance(images, (str, os.PathLike, np.ndarray)):
        raise TypeError("images must be an iterable of images or paths, not a single path or array")
    try:
        it = iter(images)
    except TypeError:
        raise TypeError(f"images must be an iterable, got {type(images).__name__}") from None
    total = len(images) if hasattr(images, "__len__") else None
    what = f"fingerprint of {name}" if name else "fingerprint"
    num = den = shape = None
    used = 0
    skipped: list[tuple[int, object, str]] = []
    for index, item in enumerate(progress_bar(it, total=total, enabled=progress, desc=what, unit="img")):
        path = None
        try:
            img, path = _load_item(item)
            where = _describe(index, path)
            arr = _as_image(img, where)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            if shape is not None and arr.shape != shape:
                raise ValueError(f"{where} has shape {arr.shape}, but the first image has {shape}; "
                                 "all images of one fingerprint must have the same size and orientation")
            weight = _weight_chw(arr)
            if weight.any():
                try:
                    res = _wavelet_residual_chw(arr, sigma, levels, wavelet, boundary, shifts)  # (C, H, W)
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc}") from None
            shape = arr.shape
        except (ValueError, TypeError) as exc:  # ImageReadError is a ValueError naming the file
            if errors == "raise":
                raise
            skipped.append((index, path, str(exc)))
            log.warning("%s: skipped %s: %s", what, _describe(index, path), exc)
            continue
        if not weight.any():  # adds exactly 0 to both sums
            reason = "no usable pixel (black, or saturated flat): every weight I_k is 0"
            skipped.append((index, path, reason))
            log.warning("%s: skipped %s: %s", what, _describe(index, path), reason)
            continue
        wi, ii = _fingerprint_terms(arr, res, weight)
        if num is None:
            num = np.zeros(wi.shape, np.float32)
            den = np.zeros(wi.shape, np.float32)
        num += wi
        den += ii
        used += 1
    if used == 0:
        if skipped:
            raise ValueError(f"{what}: no usable image among {len(skipped)} given; first problem: {skipped[0][2]}")
        raise ValueError(f"{what}: images is empty: a fingerprint needs at least one image")
    if skipped:
        log.warning("%s from %d images; skipped %d: %s", what, used, len(skipped),
                    ", ".join(_describe(i, p) for i, p, _ in skipped))
    fingerprint = fingerprint_from_sums(num, den, copy=False, name=what)
    if return_info:
        return fingerprint, {"n_images": used, "skipped": skipped}
    return fingerprint


# -------------------------------------------------------------------------------------- detectors

#: Largest absolute value a detector sums without rescaling: its squares, summed over 2**60 cells, stay finite.
_SAFE_MAX = 2.0**200
_SAFE_MIN = 2.0**-200


def _unit_scale(a: np.ndarray) -> np.ndarray:
    """``a`` (float64, modified in place) times a power of two that brings its max abs into a safe range.

    Exact, and a no-op for ordinary inputs, so sums of squares neither overflow nor underflow at any scale.
    """
    top = float(np.max(np.abs(a))) if a.size else 0.0
    if top > _SAFE_MAX or 0.0 < top < _SAFE_MIN:
        a *= np.ldexp(1.0, -np.frexp(top)[1])
    return a


def _check_numeric(v: np.ndarray, name: str) -> None:
    if v.dtype == object or v.dtype.kind not in "uifb":
        raise TypeError(f"{name} must be a numeric array, got dtype {v.dtype}")
    if v.size == 0:
        raise ValueError(f"{name} is empty")
    if v.dtype.kind == "f" and not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def ncc(x, y) -> float:
    """The paper's correlation ``rho`` (Sec. 4.2): ``x~ . y~ / (|x~| |y~|)`` with ``x~ = x - mean(x)``.

    ``x``, ``y``: arrays of one shape (a residual and ``K`` or ``I*K``). Sums in float64, at any input scale.
    Returns a float in ``[-1, 1]``; 0.0 when either input is constant. Equals :func:`ncc_matrix` up to float64
    rounding (which orders the same products differently).

    Examples
    --------
    >>> round(ncc(np.array([1.0, 2, 3]), np.array([2.0, 4, 7])), 4)
    0.9934
    """
    a, b = np.asarray(x), np.asarray(y)
    _check_numeric(a, "x")
    _check_numeric(b, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    a = _unit_scale(a.astype(np.float64).ravel())
    b = _unit_scale(b.astype(np.float64).ravel())
    a -= a.mean()
    b -= b.mean()
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    if denom == 0.0:
        return 0.0
    return float(np.clip(np.dot(a, b) / denom, -1.0, 1.0))


def unit_rows(arrays) -> np.ndarray:
    """``(m, h, w)`` (or a sequence of ``(h, w)``) -> ``(m, h*w)`` float64 rows, mean-free, unit norm.

    A constant array gives a row of zeros. The reference side of :func:`ncc_matrix`, computed once per set of
    fingerprint windows.

    Examples
    --------
    >>> unit_rows([np.array([[1.0, 3.0]])]).tolist()
    [[-0.7071067811865475, 0.7071067811865475]]
    """
    m = np.stack([_unit_scale(np.asarray(w, np.float64).ravel()) for w in arrays])
    m -= m.mean(1, keepdims=True)
    n = np.sqrt((m * m).sum(1, keepdims=True))
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def ncc_matrix(residuals, references, *, normalised: bool = False) -> np.ndarray:
    """NCC of every residual with every reference: the score matrix of Tables 2-3 and of training validation.

    Parameters
    ----------
    residuals : array_like
        ``(n, h, w)`` (or a sequence of ``(h, w)``) query residuals.
    references : array_like
        ``(m, h, w)`` fingerprint windows, or with ``normalised=True`` their :func:`unit_rows` ``(m, h*w)``.

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` float64 in ``[-1, 1]``; 0 where a residual or a reference is constant.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> K = rng.normal(size=(3, 8, 8))
    >>> ncc_matrix(K[:2] + 0.1 * rng.normal(size=(2, 8, 8)), K).argmax(1).tolist()
    [0, 1]
    """
    units = np.asarray(references, np.float64) if normalised else unit_rows(references)
    out = np.zeros((len(residuals), units.shape[0]))
    for i, r in enumerate(residuals):
        w = _unit_scale(np.asarray(r, np.float64).ravel())
        if w.size != units.shape[1]:
            raise ValueError(f"residuals[{i}] has {w.size} values, the references {units.shape[1]}")
        w -= w.mean()
        norm = np.sqrt(w @ w)
        if norm > 0:
            out[i] = np.clip(units @ w / norm, -1.0, 1.0)
    return out


def pce(x, y, search: int = 0, exclude: int = 11, return_shift: bool = False):
    """Signed peak-to-correlation energy of the circular cross-correlation (Goljan, Fridrich and Filler 2009).

    ``C(s) = sum_p x~(p + s) y~(p)`` (means removed, FFT); peak ``C(0)``, or the largest ``C(s)`` with
    ``|dy|, |dx| <= search``; ``PCE = sign(peak) peak^2 / mean(C^2 outside the exclude x exclude square
    around the peak)``, wrapping at the borders. Any input scale.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(H, W)`` arrays of one shape (a residual and ``I*K`` or ``K``).
    search : int
        Largest absolute shift searched per axis.
    exclude : int
        Odd side of the square left out of the energy (11 in the literature).
    return_shift : bool
        Also return the peak's ``(dy, dx)``, with ``x ~ np.roll(y, (dy, dx), axis=(0, 1))``.

    Returns
    -------
    float or (float, (int, int))
        0.0 when the correlation is identically 0.

    Examples
    --------
    >>> k = np.random.default_rng(0).standard_normal((64, 64))
    >>> p, shift = pce(np.roll(k, (3, -5), axis=(0, 1)), k, search=8, return_shift=True)
    >>> shift, p > 1000
    ((3, -5), True)
    """
    a, b = _as_2d(x, "x"), _as_2d(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    if isinstance(search, bool) or not isinstance(search, (int, np.integer)):
        raise TypeError(f"search must be an int, got {type(search).__name__}")
    if search < 0:
        raise ValueError(f"search must be >= 0, got {search}")
    if isinstance(exclude, bool) or not isinstance(exclude, (int, np.integer)) or exclude < 1 or exclude % 2 == 0:
        raise ValueError(f"exclude must be a positive odd int, got {exclude!r}")
    h, w = a.shape
    a = _unit_scale(a.astype(np.float64))
    b = _unit_scale(b.astype(np.float64))
    a -= a.mean()
    b -= b.mean()
    corr = sfft.irfft2(sfft.rfft2(a) * np.conj(sfft.rfft2(b)), s=(h, w))
    rows = np.unique(np.arange(-search, search + 1) % h)
    cols = np.unique(np.arange(-search, search + 1) % w)
    block = corr[np.ix_(rows, cols)]
    i, j = np.unravel_index(int(np.argmax(block)), block.shape)
    py, px = int(rows[i]), int(cols[j])
    peak = corr[py, px]
    half = int(exclude) // 2
    ex_rows = np.unique((py + np.arange(-half, half + 1)) % h)
    ex_cols = np.unique((px + np.arange(-half, half + 1)) % w)
    n_rest = h * w - ex_rows.size * ex_cols.size
    if n_rest <= 0:
        raise ValueError(f"exclude={exclude} leaves no correlation cells outside the peak for shape {a.shape}")
    sq = corr * corr
    energy = (sq.sum() - sq[np.ix_(ex_rows, ex_cols)].sum()) / n_rest
    value = 0.0 if energy <= 0 else float(np.sign(peak) * peak * peak / energy)
    if return_shift:
        return value, (py - h if py > h // 2 else py, px - w if px > w // 2 else px)
    return value


# ------------------------------------------------------------------- geometry: crops and rotations


def _pair(size, name: str = "size") -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return int(size), int(size)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a (height, width) pair, got {size!r}") from None
    return h, w


def crop_box(shape: Sequence[int], crop) -> tuple[int, int, int, int]:
    """The centre crop of an image of ``shape`` ``(H, W)`` as ``(y0, y1, x0, x1)``, clamped to the image.

    ``crop``: side, ``(h, w)`` or None (the whole image). The one crop rule of the package (Sec. 4.3's centre
    crops): rows from ``(H - h) // 2``, columns from ``(W - w) // 2``.

    Examples
    --------
    >>> crop_box((768, 1024), 128)
    (320, 448, 448, 576)
    """
    h, w = (int(s) for s in shape[:2])
    if crop is None:
        return 0, h, 0, w
    ch, cw = _pair(crop, "crop")
    ch, cw = min(ch, h), min(cw, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return y0, y0 + ch, x0, x0 + cw


def center_crop(array, size, copy: bool = True) -> np.ndarray:
    """Centre crop (:func:`crop_box`) of the first two axes of ``(H, W, ...)`` to ``size`` (int or ``(h, w)``).

    Raises ``ValueError`` when the array is smaller than the crop. ``copy=False`` returns a view.

    Examples
    --------
    >>> center_crop(np.arange(16).reshape(4, 4), 2)
    array([[ 5,  6],
           [ 9, 10]])
    """
    arr = np.asarray(array)
    if arr.ndim < 2:
        raise ValueError(f"array must have at least 2 dimensions, got shape {arr.shape}")
    ch, cw = _pair(size)
    if ch < 1 or cw < 1:
        raise ValueError(f"size must be positive, got {(ch, cw)}")
    if ch > arr.shape[0] or cw > arr.shape[1]:
        raise ValueError(f"array of size {arr.shape[0]}x{arr.shape[1]} is smaller than the crop {ch}x{cw}")
    y0, y1, x0, x1 = crop_box(arr.shape, (ch, cw))
    out = arr[y0:y1, x0:x1]
    return np.array(out, copy=True) if copy else out


def common_centre(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre crops (views) of two ``(H, W)`` arrays to their common shape; unchanged when the shapes agree.

    Examples
    --------
    >>> [x.shape for x in common_centre(np.zeros((4, 6)), np.zeros((6, 4)))]
    [(4, 4), (4, 4)]
    """
    if a.shape == b.shape:
        return a, b
    size = (min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1]))
    return center_crop(a, size, copy=False), center_crop(b, size, copy=False)


_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


def resample_fingerprint(K, shape, filter: str = "bilinear") -> np.ndarray:
    """``(H, W)`` fingerprint resized to a downscaled query's ``(h, w)``, float32 (Pillow, mode "F").

    Pillow's filters widen their support when downscaling (antialiased), low-passing ``K`` as a platform's
    resize low-passes the sensor pattern (Goljan and Fridrich 2008). ``filter``: bilinear, box, bicubic, lanczos.

    Examples
    --------
    >>> resample_fingerprint(np.ones((8, 12), np.float32), (4, 6)).round(6)[0, 0]
    np.float32(1.0)
    """
    if filter not in _FILTERS:
        raise ValueError(f"unknown filter {filter!r}; expected one of {', '.join(map(repr, _FILTERS))}")
    arr = _as_2d(K, "K").astype(np.float32)
    try:
        th, tw = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be an (h, w) pair of ints, got {shape!r}") from None
    if th < 1 or tw < 1:
        raise ValueError(f"shape must be positive, got {(th, tw)}")
    if (th, tw) == arr.shape:
        return arr
    out = Image.fromarray(arr).resize((tw, th), resample=_FILTERS[filter])
    return np.asarray(out, dtype=np.float32).copy()


def _orientation(shape) -> str:
    return "portrait" if shape[0] > shape[1] else "landscape"


def match_orientation(residual, K, k: int = 1) -> np.ndarray:
    """``K`` (float32) turned by ``k`` quarter turns (1 or 3) when its orientation differs from ``residual``'s.

    Examples
    --------
    >>> match_orientation(np.zeros((6, 4)), np.zeros((4, 6))).shape
    (6, 4)
    """
    res = np.asarray(residual)
    kk = _as_2d(K, "K")
    if res.ndim != 2:
        raise ValueError(f"residual must be a 2-D (h, w) array, got shape {res.shape}")
    if k not in (1, 3):
        raise ValueError(f"k must be 1 or 3 quarter turns, got {k!r}")
    if _orientation(res.shape) != _orientation(kk.shape) and res.shape[0] != res.shape[1]:
        return np.ascontiguousarray(np.rot90(kk, k), dtype=np.float32)
    return kk.astype(np.float32)


def align_fingerprint(K, shape: Sequence[int], rtol: float = 0.02) -> np.ndarray:
    """A camera fingerprint brought to a query image's ``(h, w)``, float32.

    Same shape: ``K``; portrait query: ``K`` rotated (:func:`match_orientation`); smaller with the aspect ratio
    within ``rtol`` (a platform's downscaled copy): :func:`resample_fingerprint`; smaller with another aspect
    ratio (a crop of the sensor): the centre crop. Raises ``ValueError`` for a query larger than ``K``.

    Examples
    --------
    >>> K = np.zeros((60, 80), np.float32)
    >>> align_fingerprint(K, (60, 80)).shape, align_fingerprint(K, (30, 40)).shape, align_fingerprint(K, (50, 50)).shape
    ((60, 80), (30, 40), (50, 50))
    """
    K = np.asarray(K)
    if K.ndim != 2:
        raise ValueError(f"K must be 2-D (H, W), got shape {K.shape}")
    h, w = (int(s) for s in shape[:2])
    if (h, w) == K.shape:
        return K.astype(np.float32, copy=False)
    if (h > w) != (K.shape[0] > K.shape[1]) and h != w and K.shape[0] != K.shape[1]:
        K = match_orientation(np.broadcast_to(np.float32(0), (h, w)), K)
        if (h, w) == K.shape:
            return K.astype(np.float32, copy=False)
    H, W = K.shape
    if h > H or w > W:
        raise ValueError(f"query of shape {(h, w)} is larger than the fingerprint {K.shape}")
    if abs((h / w) / (H / W) - 1.0) <= rtol:
        return np.asarray(resample_fingerprint(K, (h, w)), np.float32)
    y0, y1, x0, x1 = crop_box(K.shape, (h, w))
    return np.ascontiguousarray(K[y0:y1, x0:x1], dtype=np.float32)


def fingerprint_window(K, image_shape: Sequence[int], box: Sequence[int]) -> np.ndarray:
    """The part of ``K`` that lines up with ``image[y0:y1, x0:x1]`` (``box``), float32.

    ``K`` is aligned to the whole image (:func:`align_fingerprint`) and cut at ``box``. A sensor smaller than
    the image (it cannot be the source, but the closed-set argmax still needs its score) gives its centre,
    at most the box's size.

    Examples
    --------
    >>> K = np.arange(48, dtype=np.float32).reshape(6, 8)
    >>> fingerprint_window(K, (6, 8), (1, 3, 2, 5)).tolist()
    [[10.0, 11.0, 12.0], [18.0, 19.0, 20.0]]
    """
    y0, y1, x0, x1 = (int(v) for v in box)
    try:
        return np.ascontiguousarray(align_fingerprint(K, image_shape)[y0:y1, x0:x1])
    except ValueError:
        K = np.asarray(K, np.float32)
        a0, a1, b0, b1 = crop_box(K.shape, (y1 - y0, x1 - x0))
        return np.ascontiguousarray(K[a0:a1, b0:b1])
