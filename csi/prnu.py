"""PRNU core: noise residuals, camera fingerprints and the detectors that compare them.

The pipeline follows the established sensor-fingerprint method (Lukas, Fridrich and Goljan 2006; Chen et al.
2008; Goljan, Fridrich and Filler 2009) that the paper builds on (Eq. 3-5):

1. :func:`wavelet_residual` -- ``W = I - F(I)`` per colour channel, with ``F`` the Mihcak wavelet denoiser:
   a 4-level ``db4`` DWT, every detail coefficient ``c`` shrunk by a local Wiener filter whose variance is
   the minimum over 3/5/7/9 windows, the approximation band set to 0 (Eq. 3-4); by default averaged over
   two cycle-spinning shifts (see below).
2. :func:`rgb_to_gray` -- weights (0.29893602, 0.58704307, 0.11402090).
3. :func:`zero_mean_cfa` -- rows and columns zero-mean on each of the 4 CFA sub-lattices.
4. :func:`wiener_dft` -- the same adaptive Wiener shrink on the DFT magnitude, phase kept.

:func:`noise_residual` chains all four; :func:`estimate_fingerprint` is the maximum-likelihood estimate of
Eq. 5 with intensity weighting and a saturation mask, streamed over any number of images.
:func:`ncc` is the paper's correlation ``rho``; :func:`pce` is the peak-to-correlation energy.

Implementation choices (each documented where it is made):

* The DWT is periodic (PyWavelets' ``"periodization"`` mode) on the image mirror-padded by one filter
  length (8 pixels for ``db4``) on every side and up to a multiple of ``2**levels``, then cropped back
  (``boundary="symmetric"``). Without the margin (``boundary="periodic"``, the MATLAB reference's rule and
  this module's former default) the periodic DWT wraps the bottom row onto the top one; on whole x0.5
  copies the step edge's artefacts cost 5-6 % of the detection statistic d' (14 % when the fingerprint
  wraps too).
* Cycle-spinning (``shifts=2``, the default for single-image residuals): the residual is averaged over the
  image and the image circularly shifted by one pixel diagonally, which removes much of the decimated
  DWT's shift-dependent error and raises the true-camera correlation by 5-20 % on every condition measured
  (``docs/residual.md``, ``benchmarks/residual_downscale.py``). Fingerprints keep one shift.
* Each 1-D DWT pass runs as one batched matrix product along the rows, with a transpose between the two
  passes of a level (the bands of the next level are simply stored transposed), which avoids the
  cache-hostile column passes of a generic DWT and makes the residual several times faster than the public
  implementations; ``tests/test_prnu.py`` pins it to a plain ``pywt.wavedec2`` version.
* Local variances of wavelet coefficients use zero padding at the band borders (as the reference code's
  ``filter2``/``uniform_filter(mode="constant")``). In the DFT domain the windows wrap around (the spectrum is
  periodic); this keeps the gain Hermitian-symmetric, so the real inverse transform is exact and only half of
  the spectrum (``rfft2``) has to be filtered. The public code zero-pads the spectrum instead, which only
  changes the gain of the few lowest-frequency rows/columns.
* Everything is ``float32``; sums that need it (means, correlations) are taken in ``float64``.

References
----------
Wang et al. (2021), "Image Source Identification Using Convolutional Neural Networks in IoT Environment",
Eq. 3-5 (residual and fingerprint) and Sec. 4.2 (correlation). Mihcak, Kozintsev and Ramchandran (1999) for
the wavelet denoiser; Coifman and Donoho (1995) for cycle-spinning; Goljan, Fridrich and Filler (2009) for
PCE.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from numbers import Real
from types import MappingProxyType

import numpy as np
import pywt
import scipy.fft as sfft
from numpy.lib.stride_tricks import as_strided

log = logging.getLogger(__name__)

__all__ = [
    "GRAY_WEIGHTS",
    "SATURATION_LEVEL",
    "INTENSITY_T",
    "BOUNDARIES",
    "SHIFT_SETS",
    "wavelet_residual",
    "rgb_to_gray",
    "zero_mean_cfa",
    "wiener_dft",
    "postprocess",
    "noise_residual",
    "intensity_weight",
    "saturation_mask",
    "fingerprint_terms",
    "fingerprint_from_sums",
    "estimate_fingerprint",
    "ncc",
    "pce",
    "center_crop",
    "to_landscape",
    "resample_fingerprint",
    "match_orientation",
    "match_orientation_best",
]

#: RGB -> gray weights of the reference pipeline (MATLAB's ``rgb2gray`` rounded the same way).
GRAY_WEIGHTS: tuple[float, float, float] = (0.29893602, 0.58704307, 0.11402090)
#: A colour channel whose maximum exceeds this value is checked for saturated flat areas.
SATURATION_LEVEL: float = 250.0
#: Intensity threshold ``T`` of the fingerprint weighting: ``I/T`` below ``T``, a Gaussian roll-off above.
INTENSITY_T: float = 252.0
_INTENSITY_V: float = 6.0
#: Windows of the adaptive local-variance estimate (odd side lengths).
_WINDOWS: tuple[int, ...] = (3, 5, 7, 9)
_R: int = _WINDOWS[-1] // 2  # padding radius needed by the largest window


# ----------------------------------------------------------------------------------------- validation


def _check_sigma(sigma, name: str = "sigma") -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, Real):
        raise TypeError(f"{name} must be a real number, got {type(sigma).__name__}")
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {sigma!r}")
    return sigma


def _check_levels(levels) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
        raise TypeError(f"levels must be an int, got {type(levels).__name__}")
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    return int(levels)


@lru_cache(maxsize=16)
def _filters(wavelet: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Analysis ``(2, L)`` and synthesis matrices, and the two index offsets, of the batched periodic DWT."""
    try:
        w = pywt.Wavelet(wavelet)
    except (ValueError, TypeError):
        raise ValueError(f"unknown wavelet {wavelet!r}; expected a discrete PyWavelets name such as 'db4'") from None
    if not w.orthogonal:
        raise ValueError(f"wavelet {wavelet!r} is not orthogonal; the residual needs an orthogonal wavelet (e.g. 'db4')")
    lo = np.asarray(w.dec_lo, dtype=np.float64)
    hi = np.asarray(w.dec_hi, dtype=np.float64)
    n_taps = lo.size
    off = n_taps // 2
    # Analysis (PyWavelets' periodization convention): a[i] = sum_k lo[k] x[(2i + off - k) mod N].
    # With xp[t] = x[(t + s) mod N], s = off - (L - 1): a[i] = sum_m lo[L-1-m] xp[2i + m].
    analysis = np.stack([lo[::-1], hi[::-1]]).astype(np.float32)  # (2, L)
    # Synthesis = transpose (orthogonal): x[j] += lo[k] a[i] + hi[k] d[i] with j = 2i + off - k (mod N).
    # For the row pair j = 2p + e: i = p + q, q = (k - off + e) / 2 when that is an integer.
    qs = [(k - off + e) // 2 for e in (0, 1) for k in range(n_taps) if (k - off + e) % 2 == 0]
    qmin, qmax = min(qs), max(qs)
    synth = np.zeros((2, qmax - qmin + 1, 2), dtype=np.float64)
    for e in (0, 1):
        for k in range(n_taps):
            if (k - off + e) % 2 == 0:
                q = (k - off + e) // 2
                synth[e, q - qmin, 0] += lo[k]
                synth[e, q - qmin, 1] += hi[k]
    synth = synth.reshape(2, -1).astype(np.float32)  # (2, 2*(qmax-qmin+1)) acting on interleaved (a, d)
    return analysis, synth, off - (n_taps - 1), qmin


def _as_image(image, name: str = "image") -> np.ndarray:
    """Validate an (H, W) or (H, W, C) numeric image; return it as an array (not copied)."""
    if isinstance(image, (str, os.PathLike)):
        raise TypeError(f"{name} must be an array; read files with csi.io.read_rgb first (got path {image!r})")
    arr = np.asarray(image)
    if arr.dtype == object or arr.dtype.kind not in "uif":
        raise TypeError(f"{name} must be a numeric array (uint8 or float, 0-255 scale), got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, 3), got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_2d(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "uif":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


# ----------------------------------------------------------------------------- adaptive Wiener gain


#: Elements per chunk of the local-variance computation: about 200 KB of float32, so that the dozen
#: temporaries of one chunk stay in a core's L2 cache (measured 2x faster than whole-array passes).
_CHUNK_ELEMENTS = 50_000


def _shrink_gain(energy: np.ndarray, sigma2: float) -> np.ndarray:
    """Adaptive Wiener gain ``sigma2 / (v + sigma2)`` from a padded energy array.

    ``energy`` has shape ``(B, h + 8, K, w + 8)``: the squared coefficients padded by 4 cells on axes 1 and
    3 (zeros, or wrapped values for a periodic signal). Returns the ``(B, h, K, w)`` float32 gain with
    ``v = max(0, min_w mean_w(c^2) - sigma2)`` over the square windows ``w`` in 3, 5, 7, 9. Note that
    ``sigma2 / (v + sigma2) = sigma2 / max(min_w mean_w, sigma2)``. Works in blocks of rows.
    """
    b, hp, k, wp = energy.shape
    h, w = hp - 2 * _R, wp - 2 * _R
    out = np.empty((b, h, k, w), np.float32)
    rows = max(1, min(h, _CHUNK_ELEMENTS // (k * wp)))
    for bi in range(b):
        for i0 in range(0, h, rows):
            i1 = min(h, i0 + rows)
            _shrink_gain_block(energy[bi, i0 : i1 + 2 * _R], sigma2, out[bi, i0:i1])
    return out


def _shrink_gain_block(energy: np.ndarray, sigma2: float, out: np.ndarray) -> None:
    """:func:`_shrink_gain` on one contiguous block: ``energy`` ``(h + 8, K, w + 8)`` -> ``out`` ``(h, K, w)``.

    The horizontal window sums run on the flattened block: a window of an output column ``j < w`` never
    leaves its padded row, so the sums that straddle two rows only land in the 8 padding columns, which
    are dropped at the end. Every operation is then one contiguous 1-D pass.
    """
    hp, k, wp = energy.shape
    h, w = hp - 2 * _R, wp - 2 * _R
    f32 = np.float32
    n = h * k * wp
    span = n - 2 * _R  # flat positions whose window stays inside the array
    e = energy.reshape(hp, k * wp)
    # Vertical running sums of height 2r+1, grown in place: vert[i] = sum_{d=-r..r} energy[i + R + d].
    vert2d = e[_R - 1 : _R - 1 + h] + e[_R : _R + h]
    vert2d += e[_R + 1 : _R + 1 + h]
    v = vert2d.reshape(n)
    p2 = np.empty(n - 1, f32)
    p4 = np.empty(n - 3, f32)
    p8 = np.empty(n - 7, f32)
    s = np.empty(span, f32)
    m = np.empty(n, f32)
    mv = m[:span]
    for r in range(1, _R + 1):
        if r > 1:
            vert2d += e[_R - r : _R - r + h]
            vert2d += e[_R + r : _R + r + h]
        # Horizontal sums of width 2r+1 from pair sums: p2[j] = v[j] + v[j+1], p4 = p2[j] + p2[j+2], ...
        np.add(v[:-1], v[1:], out=p2)
        lo = _R - r  # first padded column of the window of output column 0
        if r == 1:
            np.add(p2[lo : lo + span], v[lo + 2 : lo + 2 + span], out=s)
        elif r == 2:
            np.add(p2[lo : lo + span], p2[lo + 2 : lo + 2 + span], out=s)
            s += v[lo + 4 : lo + 4 + span]
        else:
            np.add(p2[:-2], p2[2:], out=p4)
            if r == 3:
                np.add(p4[lo : lo + span], p2[lo + 4 : lo + 4 + span], out=s)
                s += v[lo + 6 : lo + 6 + span]
            else:  # r == 4
                np.add(p4[:-4], p4[4:], out=p8)
                np.add(p8[lo : lo + span], v[lo + 8 : lo + 8 + span], out=s)
        scale = f32(1.0 / (2 * r + 1) ** 2)
        if r == 1:
            np.multiply(s, scale, out=mv)
        else:
            s *= scale
            np.minimum(mv, s, out=mv)
    m3 = m.reshape(h, k, wp)[:, :, :w]
    np.maximum(m3, f32(sigma2), out=out)
    np.divide(f32(sigma2), out, out=out)


def _pad_energy_zero(*bands: np.ndarray) -> np.ndarray:
    """Square ``(B, h, K_i, w)`` bands into one zero-padded ``(B, h+8, sum K_i, w+8)`` energy array."""
    b, h, _, w = bands[0].shape
    k = sum(x.shape[2] for x in bands)
    energy = np.zeros((b, h + 2 * _R, k, w + 2 * _R), np.float32)
    j = 0
    for x in bands:
        np.square(x, out=energy[:, _R : _R + h, j : j + x.shape[2], _R : _R + w])
        j += x.shape[2]
    return energy


# ------------------------------------------------------------------------------- periodic 2-D DWT


def _banded_matmul(filt: np.ndarray, x: np.ndarray, step: int, first: int, taps: int, out: np.ndarray) -> None:
    """``out[:, i] = filt @ stack(x[:, (step*i + first + t) mod n] for t < taps)`` for every output row ``i``.

    ``x`` is ``(B, n, M)``, or ``(B, n, 2, M)`` with axes 1-2 contiguous (each tap is then a ``(2, M)``
    block), with a contiguous last axis; ``out`` is ``(B, n_out, P, M)``. The rows whose window lies inside
    ``x`` are one batched matrix product on a strided view of ``x`` itself (no copy); only the few rows
    whose window wraps around the ends are gathered.
    """
    b, n = x.shape[:2]
    n_out = out.shape[1]
    m = x.shape[-1]
    inner = x.shape[2] if x.ndim == 4 else 1
    if inner > 1 and x.strides[1] != inner * x.strides[2]:
        raise ValueError("internal: tap blocks must be contiguous")
    i_lo = min(n_out, -(first // step) if first < 0 else 0)  # first output row whose window starts >= 0
    i_hi = max(i_lo, min(n_out, (n - taps - first) // step + 1))  # rows whose window ends at row <= n
    if i_hi > i_lo:
        origin = x[:, step * i_lo + first :]
        s_tap = x.strides[2] if inner > 1 else x.strides[1]
        view = as_strided(
            origin,
            (b, i_hi - i_lo, taps * inner, m),
            (x.strides[0], step * x.strides[1], s_tap, x.strides[-1]),
            writeable=False,
        )
        np.matmul(filt, view, out=out[:, i_lo:i_hi])
    border = np.r_[0:i_lo, i_hi:n_out]
    if border.size:
        idx = (step * border[:, None] + first + np.arange(taps)[None, :]) % n  # (n_border, taps)
        gathered = np.take(x, idx, axis=1).reshape(b, border.size, taps * inner, m)
        out[:, border] = np.matmul(filt, gathered)


def _dwt_rows(x: np.ndarray, analysis: np.ndarray, start: int, out: np.ndarray | None = None) -> np.ndarray:
    """One periodic DWT step along axis 1 of ``x`` (B, N, M): returns interleaved (B, N/2, 2, M) = (a, d).

    ``out``, if given, is a contiguous float32 buffer of ``x.size`` elements (not overlapping ``x``) that
    receives the result.
    """
    b, n, m = x.shape
    shape = (b, n // 2, 2, m)
    out = np.empty(shape, np.float32) if out is None else out.reshape(shape)
    _banded_matmul(analysis, x, 2, start, analysis.shape[1], out)
    return out


def _idwt_rows(q: np.ndarray, synth: np.ndarray, qmin: int, out: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`_dwt_rows`: interleaved (B, n, 2, M) -> (B, 2n, M), optionally into ``out``."""
    b, n, _, m = q.shape
    shape = (b, n, 2, m)
    out = np.empty(shape, np.float32) if out is None else out.reshape(shape)
    _banded_matmul(synth, q, 1, qmin, synth.shape[1] // 2, out)
    return out.reshape(b, 2 * n, m)


def _dwt2_level(ll: np.ndarray, analysis: np.ndarray, start: int, scratch: np.ndarray) -> np.ndarray:
    """One level of the periodic 2-D DWT of a ``(B, H, W)`` stack, as ``(B, 2, W/2, 2, H/2)`` (transposed).

    Both 1-D passes are :func:`_dwt_rows` (a batched matrix product along axis 1) with a transpose in
    between, which is several times faster than a filter along the contiguous last axis. Index ``[:, r, :,
    c, :]`` is the band filtered with ``r`` (0 low, 1 high) along ``H`` and ``c`` along ``W``; each band is
    stored transposed, ``(W/2, H/2)``. That is harmless: the square windows of the shrinkage are symmetric,
    and the next level simply works on the transposed approximation (``[:, 0, :, 0, :]``). ``scratch`` is
    a flat float32 buffer of at least ``ll.size`` elements that is overwritten; the result is a new array.
    """
    b, h, w = ll.shape
    p = np.empty((b, 2, w // 2, 2, h // 2), np.float32)
    q = _dwt_rows(ll, analysis, start, out=p)  # (B, H/2, 2, W), held in p's memory for now
    t = scratch[: ll.size].reshape(b, 2, w, h // 2)
    np.copyto(t, q.transpose(0, 2, 3, 1))  # (B, 2, W, H/2)
    _dwt_rows(t.reshape(2 * b, w, h // 2), analysis, start, out=p)
    return p


def _idwt2_level(p: np.ndarray, synth: np.ndarray, qmin: int, scratch: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_dwt2_level`: ``(B, 2, W/2, 2, H/2)`` -> ``(B, H, W)``, a view of ``scratch``.

    ``p`` is overwritten (used as the second buffer).
    """
    b, _, w2, _, h2 = p.shape
    t = _idwt_rows(p.reshape(2 * b, w2, 2, h2), synth, qmin, out=scratch[: p.size])  # (B*2, W, H/2)
    q = p.reshape(b, h2, 2, 2 * w2)
    np.copyto(q, t.reshape(b, 2, 2 * w2, h2).transpose(0, 3, 1, 2))  # (B, H/2, 2, W)
    return _idwt_rows(q, synth, qmin, out=scratch[: p.size])


def _mihcak_periodic(x: np.ndarray, sigma2: float, levels: int, wavelet: str,
                     scratch: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Wavelet residual (Eq. 3-4) of a ``(B, H, W)`` float32 stack, periodic DWT; ``H, W`` multiples of 2**levels.

    Per level the three detail bands are shrunk to their residual part ``c * sigma2 / (v + sigma2)``; the
    approximation is set to 0 before the inverse transform. ``x`` is only read. Returns the ``(B, H, W)``
    float32 residual as a view of ``scratch``, a flat float32 buffer of at least ``x.size`` elements (a new
    one if None) that serves every level: fewer fresh pages to fault in, which at 512x512 is a third of the
    run time.
    """
    analysis, synth, start, qmin = _filters(wavelet)
    if scratch is None:
        scratch = np.empty(x.size, np.float32)
    details = []
    ll = x
    for _ in range(levels):
        p = _dwt2_level(ll, analysis, start, scratch)  # (B, 2, w, 2, h), bands transposed
        band = p[:, 0, :, 1:2]  # low along H, high along W: (B, w, 1, h)
        hi = p[:, 1]  # high along H: (B, w, 2, h)
        gain = _shrink_gain(_pad_energy_zero(band, hi), sigma2)
        band *= gain[:, :, 0:1]  # the residual part, in place in p
        hi *= gain[:, :, 1:3]
        details.append(p)
        ll = p[:, 0, :, 0]  # approximation, transposed: the next level works across the other axis
    rec = None
    for p in reversed(details):
        p[:, 0, :, 0] = 0.0 if rec is None else rec  # approximation removed from the residual
        rec = _idwt2_level(p, synth, qmin, scratch)
    return rec


def _pad_amounts(size: int, multiple: int, margin: int = 0) -> tuple[int, int]:
    """Rows (or columns) to add before and after ``size`` samples: at least ``margin`` on each side, and the
    padded length a multiple of ``multiple`` (the odd extra sample goes first)."""
    total = 2 * margin + (-(size + 2 * margin)) % multiple
    extra = total - 2 * margin
    return margin + (extra + 1) // 2, margin + extra // 2


#: Boundary handling of the DWT (see :func:`wavelet_residual`).
BOUNDARIES: tuple[str, ...] = ("symmetric", "periodic")
#: Cycle-spinning shift sets ``(dy, dx)``: ``shifts`` -> circular shifts of the padded image averaged over.
#: 2 flips the parity of both axes (the level-1 polyphase along the diagonal); 4 covers every level-1
#: phase; 16 every level-1 and level-2 phase.
SHIFT_SETS: Mapping[int, tuple[tuple[int, int], ...]] = MappingProxyType({
    1: ((0, 0),),
    2: ((0, 0), (1, 1)),
    4: ((0, 0), (1, 1), (0, 1), (1, 0)),
    16: tuple((i, j) for i in range(4) for j in range(4)),
})


def _check_boundary(boundary) -> str:
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; expected one of {', '.join(map(repr, BOUNDARIES))}")
    return str(boundary)


def _check_shifts(shifts) -> int:
    if isinstance(shifts, bool) or not isinstance(shifts, (int, np.integer)):
        raise TypeError(f"shifts must be an int, got {type(shifts).__name__}")
    if int(shifts) not in SHIFT_SETS:
        raise ValueError(f"shifts must be one of {', '.join(map(str, SHIFT_SETS))}, got {shifts}")
    return int(shifts)


def _window(a: np.ndarray, top: int, left: int, h: int, w: int) -> np.ndarray:
    """``a[:, top:top+h, left:left+w]`` of a ``(B, H, W)`` array, indices wrapping around (a view if none do)."""
    _, hh, ww = a.shape
    top, left = top % hh, left % ww
    if top + h > hh:
        a = a[:, (top + np.arange(h)) % hh]
        top = 0
    if left + w > ww:
        a = a[:, :, (left + np.arange(w)) % ww]
        left = 0
    return a[:, top : top + h, left : left + w]


def _wavelet_residual_chw(arr: np.ndarray, sigma: float, levels: int, wavelet: str,
                          boundary: str = "symmetric", shifts: int = 2) -> np.ndarray:  # fmt: skip
    """Residual of a validated (H, W[, C]) image as a (C, H, W) float32 array (parameters validated)."""
    analysis = _filters(wavelet)[0]
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w, c = arr.shape
    block = 2**levels
    if min(h, w) < block:
        raise ValueError(
            f"image of size {h}x{w} is too small for levels={levels}: both sides must be at least "
            f"2**levels = {block} pixels (use fewer levels or a larger image)"
        )
    margin = analysis.shape[1] if boundary == "symmetric" else 0
    (pt, pb), (pl, pr) = _pad_amounts(h, block, margin), _pad_amounts(w, block, margin)
    x = np.moveaxis(arr, 2, 0).astype(np.float32)  # (C, H, W), a new array
    if pt or pb or pl or pr:
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr)), mode="symmetric")
    sigma2 = sigma * sigma
    offsets = SHIFT_SETS[shifts]
    out = np.empty((c, h, w), np.float32)
    scratch = np.empty(x[0].size, np.float32)
    # One channel and one shift at a time: the working set of a channel stays in cache better than a batch
    # of all of them (measured 20-30 % faster on a shared 2-core machine), and memory stays O(one channel).
    for ci in range(c):
        for k, (dy, dx) in enumerate(offsets):
            chan = x[ci : ci + 1]
            shifted = np.roll(chan, (dy, dx), axis=(1, 2)) if dy or dx else chan
            rec = _window(_mihcak_periodic(shifted, sigma2, levels, wavelet, scratch), pt + dy, pl + dx, h, w)
            if k == 0:
                out[ci] = rec[0]
            else:
                out[ci] += rec[0]
    if len(offsets) > 1:
        out *= np.float32(1.0 / len(offsets))
    return out


def wavelet_residual(
    image,
    sigma: float = 5.0,
    levels: int = 4,
    wavelet: str = "db4",
    *,
    boundary: str = "symmetric",
    shifts: int = 2,
) -> np.ndarray:
    """Noise residual ``W = I - F(I)`` of each colour channel with the Mihcak wavelet denoiser ``F`` (Eq. 3-4).

    Per channel: a ``levels``-level periodic 2-D DWT; every detail coefficient ``c`` becomes
    ``c * sigma^2 / (v + sigma^2)`` with ``v = min_w max(0, mean_w(c^2) - sigma^2)`` over square windows of
    3, 5, 7 and 9 coefficients (zero padding at the band borders); the approximation band is set to 0; the
    inverse DWT gives the residual.

    Boundaries: the image is mirror-padded (edge sample repeated, as MATLAB's ``padarray(..., 'symmetric')``)
    and the result cropped back, so any size works. ``boundary="periodic"`` pads only up to the next multiple
    of ``2**levels`` (the MATLAB reference's rule, and this module's behaviour before cycle-spinning was
    added): the periodic DWT then wraps the bottom row onto the top one, a step edge whose artefacts leak
    into the residual of uncropped images. ``"symmetric"`` first adds a margin of one filter length (8
    pixels for ``db4``) on every side, so that the wrap-around happens inside mirrored content. In the
    measurements this did as well as the symmetric-extension DWT of the public Python port (PyWavelets mode
    ``"symmetric"``), at a fraction of its cost.

    Cycle-spinning (``shifts`` > 1): the decimated DWT is not shift-invariant, so its shrinkage leaves
    shift-dependent artefacts (scene content leaking into the residual). The residual is computed for the
    padded image circularly shifted by each ``(dy, dx)`` of :data:`SHIFT_SETS` [``shifts``], shifted back and
    averaged (Coifman and Donoho 1995). Two shifts, ``(0, 0)`` and ``(1, 1)``, give nearly all of the gain
    of 4 or 16 (``docs/residual.md``) at twice the cost of one.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` RGB or ``(H, W)`` gray image, ``uint8`` or float on a 0-255 scale. Not modified.
    sigma : float
        Assumed standard deviation of the noise on the 0-255 scale (5 for fingerprint images).
    levels : int
        Number of DWT levels; ``H`` and ``W`` must be at least ``2**levels``.
    wavelet : str
        An orthogonal PyWavelets wavelet; ``"db4"`` is the 8-tap Daubechies filter of the reference code.
    boundary : {"symmetric", "periodic"}
        Mirror margin of one filter length on every side (default), or only up to a multiple of
        ``2**levels`` (the behaviour before; faster on sizes that are already multiples, worse on whole
        downscaled images, see ``docs/residual.md``).
    shifts : {1, 2, 4, 16}
        Number of cycle-spinning shifts averaged over (default 2); 1 = a single DWT (half the time).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` (or ``(H, W)`` for a gray input) ``float32`` residual, zero-centred, roughly within
        +-4 sigma on textured areas.

    Raises
    ------
    ValueError
        Wrong shape, NaN/inf values, non-positive ``sigma``, an image smaller than ``2**levels``, an unknown
        or non-orthogonal wavelet, an unknown ``boundary`` or ``shifts``.
    TypeError
        A non-numeric image, or non-integer ``levels`` or ``shifts``.

    References
    ----------
    Paper Eq. 3-4 (``I0' = F(I)``, ``W = I - I0'``); Mihcak, Kozintsev and Ramchandran (1999); Coifman and
    Donoho (1995), "Translation-invariant de-noising".

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    >>> wavelet_residual(img).shape
    (64, 80, 3)
    >>> old = wavelet_residual(img, boundary="periodic", shifts=1)  # the residual before cycle-spinning
    >>> bool(np.corrcoef(old.ravel(), wavelet_residual(img).ravel())[0, 1] > 0.8)
    True
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
    """Convert a 3-channel residual (or image) to gray with the reference weights.

    Parameters
    ----------
    residual : numpy.ndarray
        ``(H, W, 3)`` float or integer array, any value range; ``(H, W)`` and ``(H, W, 1)`` are returned as
        ``float32`` copies. Not modified.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32``: ``0.29893602 R + 0.58704307 G + 0.11402090 B``.

    References
    ----------
    Post-processing of the residual before Eq. 5 and the correlation; MATLAB ``rgb2gray`` weights.

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
    """Make every row and every column zero-mean, separately on each of the 4 CFA sub-lattices.

    On each sub-lattice ``s`` (``x[0::2, 0::2]``, ``x[0::2, 1::2]``, ``x[1::2, 0::2]``, ``x[1::2, 1::2]``)
    this is the double centring ``s - rowmean - colmean + mean``. It removes the linear patterns that cameras
    of one model share (demosaicing, JPEG block grid).

    Parameters
    ----------
    x : numpy.ndarray
        ``(H, W)`` float residual, any size. Not modified.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32``; each row and column of each sub-lattice sums to 0 (to rounding).

    References
    ----------
    Chen et al. (2008), "Determining image origin and integrity using sensor noise"; used before Eq. 5.

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


def _pad_spectrum_energy(power: np.ndarray, full_w: int) -> np.ndarray:
    """Wrap-pad the half-plane power ``(H, W//2+1)`` by 4 cells, using Hermitian symmetry beyond its edge."""
    h, wh = power.shape
    if h >= _R and full_w >= 2 * _R + 2:  # fast path: slices, with a gather only for the 8 mirrored columns
        out = np.empty((h + 2 * _R, wh + 2 * _R), np.float32)
        mid = out[:, _R : _R + wh]
        mid[:_R] = power[h - _R :]
        mid[_R : _R + h] = power
        mid[_R + h :] = power[:_R]
        rows_neg = (-np.arange(-_R, h + _R)) % h
        # Left of column 0 are full columns W-4..W-1, mirrors of columns 4..1; right of the half-plane's
        # last column c0 = W//2 are columns c0+1..c0+4, mirrors of W-c0-1..W-c0-4.
        left = np.arange(_R, 0, -1)
        right = full_w - (wh + np.arange(_R))
        out[:, :_R] = power[np.ix_(rows_neg, left)]
        out[:, _R + wh :] = power[np.ix_(rows_neg, right)]
        return out
    rows = np.arange(-_R, h + _R) % h
    cols = np.arange(-_R, wh + _R) % full_w
    direct = cols < wh
    out = np.empty((h + 2 * _R, wh + 2 * _R), np.float32)
    out[:, direct] = power[np.ix_(rows, cols[direct])]
    if not direct.all():
        # |F(r, c)| = |F(-r, W - c)| for a real signal.
        out[:, ~direct] = power[np.ix_((-rows) % h, full_w - cols[~direct])]
    return out


def wiener_dft(x, sigma: float | None = None) -> np.ndarray:
    """Wiener filtering in the DFT domain: flatten the spectrum, remove periodic peaks, keep the phase.

    The normalised magnitude ``|F| / sqrt(H W)`` goes through the same 3/5/7/9 adaptive Wiener shrink as the
    wavelet coefficients, i.e. ``F`` is multiplied by ``sigma^2 / (v + sigma^2)``. The windows wrap around
    (the spectrum is periodic), which keeps the gain Hermitian-symmetric, so the result is exactly real and
    is computed on half the spectrum with ``rfft2``/``irfft2``.

    Parameters
    ----------
    x : numpy.ndarray
        ``(H, W)`` float residual. Not modified.
    sigma : float or None
        Noise standard deviation of the shrink; ``None`` uses ``x.std()`` (population std). An all-zero
        ``x`` with ``sigma=None`` is returned unchanged (as a copy).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32``, same scale as ``x``.

    References
    ----------
    Goljan, Fridrich and Filler (2009); the post-processing of the fingerprint after Eq. 5.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> wiener_dft(rng.standard_normal((32, 48)).astype(np.float32)).shape
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
    """Zero-mean (per CFA sub-lattice) and DFT-Wiener a gray residual or fingerprint.

    Parameters
    ----------
    x : numpy.ndarray
        ``(H, W)`` float residual. Not modified.
    zero_mean : bool
        Apply :func:`zero_mean_cfa`.
    wiener : bool
        Apply :func:`wiener_dft` with ``sigma`` = std of the (zero-meaned) input.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32``; a new array even when both steps are off.

    References
    ----------
    Post-processing applied to ``W`` (Eq. 4) and ``K`` (Eq. 5) in the reference pipeline.

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


def noise_residual(
    image,
    sigma: float = 5.0,
    levels: int = 4,
    wavelet: str = "db4",
    zero_mean: bool = True,
    wiener: bool = True,
    *,
    boundary: str = "symmetric",
    shifts: int = 2,
) -> np.ndarray:
    """The complete single-image noise residual ``W`` used for matching against a fingerprint (Eq. 3-4).

    :func:`wavelet_residual` per channel, then :func:`rgb_to_gray`, :func:`zero_mean_cfa` and
    :func:`wiener_dft` (the last two switchable).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` RGB (or ``(H, W)`` gray), ``uint8`` or float on a 0-255 scale, any ``H, W >= 2**levels``.
        Not modified.
    sigma : float
        Noise standard deviation of the wavelet denoiser (0-255 scale). The default 5 is the fingerprint
        value; the MATLAB reference uses 2-3 for query images, which can be passed here.
    levels, wavelet :
        See :func:`wavelet_residual`.
    zero_mean, wiener : bool
        See :func:`postprocess`.
    boundary : {"symmetric", "periodic"}
        DWT boundary handling, see :func:`wavelet_residual`.
    shifts : {1, 2, 4, 16}
        Cycle-spinning shifts (default 2), see :func:`wavelet_residual`. The defaults (``"symmetric"``, 2) gave a
        higher true-camera correlation and detection statistic d' than the former ``("periodic", 1)`` on
        every simulated condition (original, JPEG 75, x0.5 + JPEG 85, Facebook, Instagram, WeChat), most
        on downscaled copies (``benchmarks/residual_downscale.py``, ``docs/residual.md``).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32`` residual, mean ~0.

    Notes
    -----
    The established detector correlates this residual with ``I * K`` (the gray image times the
    fingerprint, see :func:`ncc` and :func:`pce`), not with ``K`` alone.

    References
    ----------
    Paper Eq. 3-4.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise_residual(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).shape
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
    """Intensity factor of the fingerprint estimate: ``I / T`` below ``T = 252``, ``exp(-(I - T)^2 / 6)`` above.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W[, C])`` ``uint8`` or float image on a 0-255 scale. Not modified.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of the same shape, values in ``[0, 1]`` (1 at ``I = T``).

    References
    ----------
    The ``I_k`` of Eq. 5 as the reference implementation weights it (Chen et al. 2008).

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
    """Mask (False = drop) of saturated flat pixels, per colour channel.

    In a channel whose maximum exceeds 250, a pixel is dropped when it equals the channel maximum *and*
    equals at least one of its 4 neighbours (circular at the borders): a clipped flat area, where the PRNU
    is absent. Every pixel of a channel whose maximum is 250 or less is kept, whatever the other channels do
    (the public Python port wrongly turns such channels into a "texture" mask).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W[, C])`` ``uint8`` or float image on a 0-255 scale. Not modified.

    Returns
    -------
    numpy.ndarray
        ``bool`` array of the image's shape; True where the pixel is used.

    References
    ----------
    Eq. 5 weights; Chen et al. (2008) saturation handling.

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
        flat = (
            (ch == np.roll(ch, 1, axis=0))
            | (ch == np.roll(ch, -1, axis=0))
            | (ch == np.roll(ch, 1, axis=1))
            | (ch == np.roll(ch, -1, axis=1))
        )
        mask[:, :, j] = ~(at_max & flat)
    return mask[:, :, 0] if arr.ndim == 2 else mask


def _describe(index: int, path) -> str:
    return f"images[{index}]" + (f" ({os.fspath(path)})" if path is not None else "")


def _load_item(item, index: int):
    """Return (array, path or None) for an item: array, path, or (path, array) from csi.io.iter_rgb."""
    if isinstance(item, (str, os.PathLike)):
        from csi.io import read_rgb  # lazy: keeps csi.prnu importable without the I/O stack

        return read_rgb(item), item
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], (str, os.PathLike)):
        return item[1], item[0]
    return item, None


def _fingerprint_terms(arr: np.ndarray, res: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W I, I^2)`` of Eq. 5 for a validated ``(H, W, C)`` image and its ``(C, H, W)`` residual (overwritten)."""
    weight = intensity_weight(arr) * saturation_mask(arr)
    weight = np.moveaxis(weight, 2, 0)  # (C, H, W) view
    res *= weight
    return res, weight * weight


def fingerprint_terms(
    image,
    sigma: float = 5.0,
    levels: int = 4,
    wavelet: str = "db4",
    *,
    boundary: str = "symmetric",
    shifts: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """One image's two terms of Eq. 5: ``W_k I_k`` and ``I_k^2``, per colour channel.

    :func:`estimate_fingerprint` adds these up over the images (``num = sum W I``, ``den = sum I^2``) and
    finishes with :func:`fingerprint_from_sums`. Exposed so that the sums can be split over processes or
    machines and reduced by addition (a map-reduce), e.g. by ``csi fingerprint --scheduler``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` (or ``(H, W)``) ``uint8`` or float image on a 0-255 scale. Not modified.
    sigma, levels, wavelet, boundary, shifts :
        As for :func:`estimate_fingerprint`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(C, H, W)`` ``float32`` arrays ``W I`` and ``I^2``, ``I`` = :func:`intensity_weight` x
        :func:`saturation_mask`, ``W`` = :func:`wavelet_residual`; ``C`` = 3 (1 for a gray image).

    References
    ----------
    Paper Eq. 5; Chen et al. (2008).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.integers(60, 200, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    >>> terms = [fingerprint_terms(im) for im in imgs]
    >>> num, den = (terms[0][i] + terms[1][i] for i in (0, 1))
    >>> bool(np.array_equal(fingerprint_from_sums(num, den), estimate_fingerprint(imgs)))
    True
    """
    arr = _as_image(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    res = _wavelet_residual_chw(arr, _check_sigma(sigma), _check_levels(levels), wavelet,
                                _check_boundary(boundary), _check_shifts(shifts))  # fmt: skip
    return _fingerprint_terms(arr, res)


def fingerprint_from_sums(num, den, copy: bool = True) -> np.ndarray:
    """Finish Eq. 5 from its running sums: ``K = postprocess(gray(num / (den + 1)))``.

    Parameters
    ----------
    num, den : numpy.ndarray
        ``(C, H, W)`` ``float32`` sums of ``W_k I_k`` and ``I_k^2`` over the images
        (:func:`fingerprint_terms`), ``C`` in 1 or 3.
    copy : bool
        False lets the function overwrite ``num`` and ``den`` (saves two arrays).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32`` fingerprint, as :func:`estimate_fingerprint` returns it.

    References
    ----------
    Paper Eq. 5.

    Examples
    --------
    >>> fingerprint_from_sums(np.zeros((3, 16, 16), np.float32), np.ones((3, 16, 16), np.float32)).shape
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
    return postprocess(_gray_chw(num))


def estimate_fingerprint(
    images: Iterable,
    sigma: float = 5.0,
    levels: int = 4,
    wavelet: str = "db4",
    progress: bool = False,
    errors: str = "raise",
    return_info: bool = False,
    *,
    boundary: str = "symmetric",
    shifts: int = 1,
):
    """Maximum-likelihood PRNU fingerprint ``K = sum_k W_k I_k / (sum_k I_k^2 + 1)`` (Eq. 5), streamed.

    Per colour channel, each image contributes its wavelet residual ``W_k`` (:func:`wavelet_residual` with
    ``sigma``) and its weight ``I_k`` = :func:`intensity_weight` x :func:`saturation_mask`. The two sums are
    accumulated as the images stream in (memory ``O(H W)`` whatever their number); ``+1`` in the
    denominator keeps dark pixels finite. The per-channel estimate is then converted to gray, zero-meaned
    per CFA sub-lattice and Wiener-filtered in the DFT domain (``sigma`` = its std).

    Parameters
    ----------
    images : iterable
        Any iterable (a generator too) of ``(H, W, 3)`` ``uint8``/float 0-255 images, of file paths
        (``str``/``os.PathLike``, read with :func:`csi.io.read_rgb`, landscape), or of ``(path, image)``
        pairs as yielded by :func:`csi.io.iter_rgb`. All must have the same shape. Not modified.
    sigma : float
        Noise standard deviation of the wavelet denoiser (5 for fingerprints).
    levels, wavelet :
        See :func:`wavelet_residual`.
    progress : bool
        Show a progress bar (:mod:`csi.progress`).
    errors : {"raise", "skip"}
        What to do with an unreadable file or an image of the wrong shape: raise (the message names the
        item index and path), or skip it, log a warning and list it in the info.
    return_info : bool
        Also return a dict ``{"n_images": int, "skipped": [(index, path or None, reason), ...]}``.
    boundary : {"symmetric", "periodic"}
        DWT boundary handling of the residuals, see :func:`wavelet_residual`.
    shifts : {1, 2, 4, 16}
        Cycle-spinning shifts of the residuals, see :func:`wavelet_residual`. The default is 1, unlike the
        query residual's 2: averaging many images already does what cycle-spinning does for one, and a
        fingerprint from 2 shifts matched queries no better (``docs/residual.md``) at twice the cost.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, dict)
        ``(H, W)`` ``float32`` fingerprint. The weights are ``I/T`` while ``W`` is on the 0-255 scale, so the
        values are about ``T`` (252) times the relative sensitivity deviation ``K``, attenuated by the
        denoiser: a standard deviation of 0.5-1.3 for the simulator's ``K`` of 0.015 (only the direction
        matters for the NCC).

    Raises
    ------
    ValueError
        Empty iterable (or nothing usable left), mismatched shapes, NaN values, bad parameters.
    csi.io.ImageReadError
        An unreadable file (with ``errors="raise"``).

    References
    ----------
    Paper Eq. 5; Chen et al. (2008).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> imgs = (rng.integers(60, 200, (64, 64, 3), dtype=np.uint8) for _ in range(3))
    >>> estimate_fingerprint(imgs).shape
    (64, 64)
    """
    from csi.progress import bar as progress_bar

    sigma = _check_sigma(sigma)
    levels = _check_levels(levels)
    boundary = _check_boundary(boundary)
    shifts = _check_shifts(shifts)
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

    num = den = None
    shape = None
    used = 0
    skipped: list[tuple[int, object, str]] = []
    bar = progress_bar(it, total=total, enabled=progress, desc="fingerprint", unit="img")
    for index, item in enumerate(bar):
        path = None
        try:
            img, path = _load_item(item, index)
            where = _describe(index, path)
            arr = _as_image(img, where)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            if shape is not None and arr.shape != shape:
                raise ValueError(
                    f"{where} has shape {arr.shape}, but the first image has {shape}; "
                    "all images of one fingerprint must have the same size and orientation"
                )
            try:
                res = _wavelet_residual_chw(arr, sigma, levels, wavelet, boundary, shifts)  # (C, H, W)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            shape = arr.shape
        except (ValueError, TypeError) as exc:  # ImageReadError is a ValueError naming the file
            if errors == "raise":
                raise
            skipped.append((index, path, str(exc)))
            log.warning("skipped %s: %s", _describe(index, path), exc)
            continue
        wi, ii = _fingerprint_terms(arr, res)
        if num is None:
            num = np.zeros(res.shape, np.float32)
            den = np.zeros(res.shape, np.float32)
        num += wi
        den += ii
        used += 1
    bar.close()
    if used == 0:
        if skipped:
            raise ValueError(f"no usable image among {len(skipped)} given; first problem: {skipped[0][2]}")
        raise ValueError("images is empty: a fingerprint needs at least one image")
    if skipped:
        log.warning("fingerprint from %d images; skipped %d: %s", used, len(skipped),
                    ", ".join(_describe(i, p) for i, p, _ in skipped))
    else:
        log.info("fingerprint from %d images of shape %s", used, shape)
    fingerprint = fingerprint_from_sums(num, den, copy=False)
    if return_info:
        return fingerprint, {"n_images": used, "skipped": skipped}
    return fingerprint


# -------------------------------------------------------------------------------------- detectors


def ncc(x, y) -> float:
    """Normalised correlation ``rho = (x - mean x) . (y - mean y) / (|x - mean x| |y - mean y|)``.

    The paper's ``rho = x.y / (|x| |y|)`` with the means removed first (Pearson's correlation). For the
    zero-mean residuals and fingerprints of this module the two variants agree. Sums are in ``float64``.

    Parameters
    ----------
    x, y : numpy.ndarray
        Arrays of the same shape (typically ``(H, W)`` ``float32`` residual and fingerprint, or ``I*K``).
        Not modified.

    Returns
    -------
    float
        In ``[-1, 1]``; ``0.0`` when either input is constant (no information).

    Raises
    ------
    ValueError
        Different shapes, empty arrays, NaN or infinite values.

    References
    ----------
    Paper Sec. 4 (Table 2, Fig. 3): the correlation coefficient between a residual and a fingerprint.

    Examples
    --------
    >>> round(ncc(np.array([1.0, 2, 3]), np.array([2.0, 4, 7])), 4)
    0.9934
    """
    a = np.asarray(x)
    b = np.asarray(y)
    for name, v in (("x", a), ("y", b)):
        if v.dtype == object or v.dtype.kind not in "uifb":
            raise TypeError(f"{name} must be a numeric array, got dtype {v.dtype}")
        if v.size == 0:
            raise ValueError(f"{name} is empty")
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    a -= a.mean()
    b -= b.mean()
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    if denom == 0.0:
        return 0.0
    return float(np.clip(np.dot(a, b) / denom, -1.0, 1.0))


def _check_odd(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1 or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd int, got {value}")
    return int(value)


def pce(x, y, search: int = 0, exclude: int = 11, return_shift: bool = False):
    """Signed peak-to-correlation energy of the circular cross-correlation of ``x`` and ``y``.

    ``C(s) = sum_p (x - mean x)(p + s) (y - mean y)(p)`` over all circular shifts ``s`` (via the FFT). The
    peak is ``C(0)`` (``search=0``) or the largest ``C(s)`` with ``|dy|, |dx| <= search``. Then
    ``PCE = sign(peak) peak^2 / mean(C(s)^2 for s outside the exclude x exclude square centred on the peak)``,
    the square wrapping around the borders like the correlation itself, and the mean taken over the
    remaining cells only.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(H, W)`` arrays of the same shape, e.g. a residual ``W`` and ``I*K`` (or ``K``). Not modified.
    search : int
        Largest absolute shift (pixels, per axis) searched for the peak; 0 = zero shift only.
    exclude : int
        Odd side of the square around the peak left out of the energy (11 in the literature).
    return_shift : bool
        Also return the peak's shift ``(dy, dx)``, signed, with ``x ~ np.roll(y, (dy, dx), axis=(0, 1))``.

    Returns
    -------
    float or (float, (int, int))
        PCE (negative when the peak is negative); 0.0 when the correlation is identically 0.

    Raises
    ------
    ValueError
        Shapes differ or are not 2-D, NaN values, ``search < 0``, or ``exclude`` leaves no cell.

    References
    ----------
    Goljan, Fridrich and Filler (2009), "Large scale test of sensor fingerprint camera identification".

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> k = rng.standard_normal((64, 64))
    >>> p, shift = pce(np.roll(k, (3, -5), axis=(0, 1)), k, search=8, return_shift=True)
    >>> shift, p > 1000
    ((3, -5), True)
    """
    a = _as_2d(x, "x")
    b = _as_2d(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    if isinstance(search, bool) or not isinstance(search, (int, np.integer)):
        raise TypeError(f"search must be an int, got {type(search).__name__}")
    if search < 0:
        raise ValueError(f"search must be >= 0, got {search}")
    exclude = _check_odd(exclude, "exclude")
    h, w = a.shape
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    corr = sfft.irfft2(sfft.rfft2(a) * np.conj(sfft.rfft2(b)), s=(h, w))
    rows = np.unique(np.arange(-search, search + 1) % h)
    cols = np.unique(np.arange(-search, search + 1) % w)
    block = corr[np.ix_(rows, cols)]
    i, j = np.unravel_index(int(np.argmax(block)), block.shape)
    py, px = int(rows[i]), int(cols[j])
    peak = corr[py, px]
    half = exclude // 2
    ex_rows = np.unique((py + np.arange(-half, half + 1)) % h)
    ex_cols = np.unique((px + np.arange(-half, half + 1)) % w)
    n_rest = h * w - ex_rows.size * ex_cols.size
    if n_rest <= 0:
        raise ValueError(f"exclude={exclude} leaves no correlation cells outside the peak for shape {a.shape}")
    sq = corr * corr
    energy = (sq.sum() - sq[np.ix_(ex_rows, ex_cols)].sum()) / n_rest
    value = 0.0 if energy <= 0 else float(np.sign(peak) * peak * peak / energy)
    if return_shift:
        dy = py - h if py > h // 2 else py
        dx = px - w if px > w // 2 else px
        return value, (dy, dx)
    return value


# ------------------------------------------------------------------- geometry: crops and rotations


def center_crop(array, size, copy: bool = True) -> np.ndarray:
    """Centre crop of the first two axes.

    Parameters
    ----------
    array : numpy.ndarray
        ``(H, W, ...)`` array of any dtype. Not modified.
    size : int or (int, int)
        Crop height and width (an int gives a square).
    copy : bool
        Return a new contiguous array (default) instead of a view.

    Returns
    -------
    numpy.ndarray
        ``(h, w, ...)``, same dtype, rows ``(H - h) // 2`` onwards and columns ``(W - w) // 2`` onwards.

    Raises
    ------
    ValueError
        ``size`` not positive, or the array is smaller than the crop.

    Examples
    --------
    >>> center_crop(np.arange(16).reshape(4, 4), 2)
    array([[ 5,  6],
           [ 9, 10]])
    """
    arr = np.asarray(array)
    if arr.ndim < 2:
        raise ValueError(f"array must have at least 2 dimensions, got shape {arr.shape}")
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        ch, cw = int(size), int(size)
    else:
        try:
            ch, cw = (int(v) for v in size)
        except (TypeError, ValueError):
            raise TypeError(f"size must be an int or a (height, width) pair, got {size!r}") from None
    if ch < 1 or cw < 1:
        raise ValueError(f"size must be positive, got {(ch, cw)}")
    h, w = arr.shape[:2]
    if ch > h or cw > w:
        raise ValueError(f"array of size {h}x{w} is smaller than the crop {ch}x{cw}")
    top, left = (h - ch) // 2, (w - cw) // 2
    out = arr[top : top + ch, left : left + cw]
    return np.array(out, copy=True) if copy else out


def to_landscape(image) -> np.ndarray:
    """Rotate a portrait image (``H > W``) by 90 degrees counter-clockwise, as :func:`csi.io.read_rgb` does.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, ...)`` array of any dtype. Not modified.

    Returns
    -------
    numpy.ndarray
        A new contiguous array with ``W >= H`` (landscape input is copied unchanged).

    Examples
    --------
    >>> to_landscape(np.zeros((4, 3, 3))).shape
    (3, 4, 3)
    """
    arr = np.asarray(image)
    if arr.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions, got shape {arr.shape}")
    if arr.shape[0] > arr.shape[1]:
        return np.ascontiguousarray(np.rot90(arr, 1))
    return arr.copy()


def resample_fingerprint(K, shape, filter: str = "bilinear") -> np.ndarray:
    """Resample a fingerprint to a (downscaled) query image's size.

    Uses Pillow's resize on a mode-"F" (32-bit float) image. Pillow's ``BILINEAR``/``BICUBIC``/``LANCZOS``
    filters widen their support by the scale factor when downscaling (antialiased), and ``BOX`` averages the
    covered area, so the fingerprint is low-pass filtered the way a platform's downscaling filters the
    sensor pattern.

    Parameters
    ----------
    K : numpy.ndarray
        ``(H, W)`` float fingerprint. Not modified.
    shape : (int, int)
        Target ``(h, w)``, normally smaller than ``(H, W)`` with the same orientation.
    filter : {"bilinear", "box", "bicubic", "lanczos"}
        Pillow resampling filter.

    Returns
    -------
    numpy.ndarray
        ``(h, w)`` ``float32``.

    References
    ----------
    Goljan and Fridrich (2008) on matching scaled images; used for platform-downscaled queries (Sec. 4).

    Examples
    --------
    >>> resample_fingerprint(np.ones((8, 12), np.float32), (4, 6)).round(6)[0, 0]
    np.float32(1.0)
    """
    from PIL import Image

    filters = {
        "bilinear": Image.Resampling.BILINEAR,
        "box": Image.Resampling.BOX,
        "bicubic": Image.Resampling.BICUBIC,
        "lanczos": Image.Resampling.LANCZOS,
    }
    if filter not in filters:
        raise ValueError(f"unknown filter {filter!r}; expected one of {', '.join(map(repr, filters))}")
    arr = _as_2d(K, "K").astype(np.float32)
    try:
        th, tw = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be an (h, w) pair of ints, got {shape!r}") from None
    if th < 1 or tw < 1:
        raise ValueError(f"shape must be positive, got {(th, tw)}")
    if (th, tw) == arr.shape:
        return arr
    img = Image.fromarray(arr)  # mode "F"
    out = img.resize((tw, th), resample=filters[filter])
    return np.asarray(out, dtype=np.float32).copy()


def _orientation(shape) -> str:
    return "portrait" if shape[0] > shape[1] else "landscape"


def match_orientation(residual, K, k: int = 1) -> np.ndarray:
    """Rotate the fingerprint when the residual's orientation (portrait/landscape) differs from it.

    Parameters
    ----------
    residual : numpy.ndarray
        ``(h, w)`` residual of the query image (only its shape is used).
    K : numpy.ndarray
        ``(H, W)`` fingerprint. Not modified.
    k : {1, 3}
        Quarter turns counter-clockwise (``np.rot90``) applied when the orientations differ; which one is
        right depends on how the camera was held -- :func:`match_orientation_best` tries both.

    Returns
    -------
    numpy.ndarray
        ``K`` rotated by ``k`` quarter turns when the orientations differ, else a copy of ``K``; ``float32``.

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


def match_orientation_best(residual, K, score: str = "pce", try_180: bool = False, **score_kwargs):
    """Try the plausible rotations of ``K`` against ``residual`` and keep the best score.

    When the orientations differ both quarter turns (``k = 1, 3``) are tried, else ``k = 0`` (and ``k = 2``
    with ``try_180``). The rotated fingerprint is centre-cropped to the residual's size before scoring.

    Parameters
    ----------
    residual : numpy.ndarray
        ``(h, w)`` float residual (or ``I*K``-style query). Not modified.
    K : numpy.ndarray
        ``(H, W)`` float fingerprint, at least as large as ``residual`` once rotated. Not modified.
    score : {"pce", "ncc"}
        Detector used to compare.
    try_180 : bool
        Also try the upside-down orientation.
    **score_kwargs :
        Passed to :func:`pce` (e.g. ``search``, ``exclude``).

    Returns
    -------
    (float, numpy.ndarray, int)
        Best score, the rotated and cropped ``(h, w)`` ``float32`` fingerprint, and its quarter turns ``k``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> K = rng.standard_normal((40, 60)).astype(np.float32)
    >>> s, Kr, k = match_orientation_best(np.rot90(K, 3), K)
    >>> k
    3
    """
    res = _as_2d(residual, "residual")
    kk = _as_2d(K, "K")
    if score not in ("pce", "ncc"):
        raise ValueError(f"unknown score {score!r}; expected 'pce' or 'ncc'")
    if score == "ncc" and score_kwargs:
        raise ValueError(f"ncc takes no options, got {sorted(score_kwargs)}")
    differ = _orientation(res.shape) != _orientation(kk.shape) and res.shape[0] != res.shape[1]
    turns = (1, 3) if differ else ((0, 2) if try_180 else (0,))
    best = None
    for k in turns:
        cand = np.rot90(kk, k)
        if cand.shape[0] < res.shape[0] or cand.shape[1] < res.shape[1]:
            raise ValueError(f"K rotated by {90 * k} degrees has shape {cand.shape}, smaller than residual {res.shape}")
        cand = center_crop(cand, res.shape).astype(np.float32)
        value = pce(res, cand, **score_kwargs) if score == "pce" else ncc(res, cand)
        if best is None or value > best[0]:
            best = (value, cand, k)
    return best


def ncc_matrix(residuals, references) -> np.ndarray:
    """NCC (:func:`ncc`) of every residual with every reference: the score matrix of one image size.

    Parameters
    ----------
    residuals : array_like
        ``(n, h, w)`` float.
    references : array_like
        ``(m, h, w)`` float (e.g. camera fingerprints aligned to the residuals).

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` float64 in [-1, 1]; 0 where a residual or reference is constant.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 8, 8))
    >>> bool(np.allclose(ncc_matrix(x, x), [[1, ncc(x[0], x[1])], [ncc(x[1], x[0]), 1]]))
    True
    """

    def unit(stack, name):
        st = np.asarray(stack, dtype=np.float64)
        if st.ndim != 3:
            raise ValueError(f"{name} must have shape (n, h, w), got {st.shape}")
        st = st - st.mean(axis=(1, 2), keepdims=True)
        norm = np.sqrt(np.square(st).sum(axis=(1, 2), keepdims=True))
        return np.divide(st, norm, out=np.zeros_like(st), where=norm > 0)

    a, b = unit(residuals, "residuals"), unit(references, "references")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"residuals and references differ in size: {a.shape[1:]} != {b.shape[1:]}")
    out = np.empty((len(a), len(b)))
    for i, x in enumerate(a):  # one row at a time: no (n, m, h, w) temporary
        out[i] = (b * x).sum(axis=(1, 2))
    return np.clip(out, -1.0, 1.0)
