"""The wavelet denoiser's engine (Eq. 3-4): Mihcak filter on a periodic 2-D DWT, and the adaptive Wiener gain."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from numbers import Real
from types import MappingProxyType

import numpy as np
import pywt
from numpy.lib.stride_tricks import as_strided

__all__ = ["BOUNDARIES", "SHIFT_SETS"]

#: Windows of the adaptive local-variance estimate (odd side lengths).
_WINDOWS: tuple[int, ...] = (3, 5, 7, 9)
_R: int = _WINDOWS[-1] // 2  # padding radius needed by the largest window


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


#: Elements per chunk of the local-variance computation (about 200 KB of float32; docs/performance.md).
_CHUNK_ELEMENTS = 50_000


def _shrink_gain(energy: np.ndarray, sigma2: float) -> np.ndarray:
    """Adaptive Wiener gain ``sigma2 / (v + sigma2)`` from a padded energy array."""
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
    """:func:`_shrink_gain` on one contiguous block: ``energy`` ``(h + 8, K, w + 8)`` -> ``out`` ``(h, K, w)``."""
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


def _banded_matmul(filt: np.ndarray, x: np.ndarray, step: int, first: int, taps: int, out: np.ndarray) -> None:
    """``out[:, i] = filt @ stack(x[:, (step*i + first + t) mod n] for t < taps)`` for every output row ``i``."""
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
    """One periodic DWT step along axis 1 of ``x`` (B, N, M): returns interleaved (B, N/2, 2, M) = (a, d)."""
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
    """One level of the periodic 2-D DWT of a ``(B, H, W)`` stack, as ``(B, 2, W/2, 2, H/2)`` (transposed)."""
    b, h, w = ll.shape
    p = np.empty((b, 2, w // 2, 2, h // 2), np.float32)
    q = _dwt_rows(ll, analysis, start, out=p)  # (B, H/2, 2, W), held in p's memory for now
    t = scratch[: ll.size].reshape(b, 2, w, h // 2)
    np.copyto(t, q.transpose(0, 2, 3, 1))  # (B, 2, W, H/2)
    _dwt_rows(t.reshape(2 * b, w, h // 2), analysis, start, out=p)
    return p


def _idwt2_level(p: np.ndarray, synth: np.ndarray, qmin: int, scratch: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_dwt2_level`: ``(B, 2, W/2, 2, H/2)`` -> ``(B, H, W)``, a view of ``scratch``."""
    b, _, w2, _, h2 = p.shape
    t = _idwt_rows(p.reshape(2 * b, w2, 2, h2), synth, qmin, out=scratch[: p.size])  # (B*2, W, H/2)
    q = p.reshape(b, h2, 2, 2 * w2)
    np.copyto(q, t.reshape(b, 2, 2 * w2, h2).transpose(0, 3, 1, 2))  # (B, H/2, 2, W)
    return _idwt_rows(q, synth, qmin, out=scratch[: p.size])


def _mihcak_periodic(x: np.ndarray, sigma2: float, levels: int, wavelet: str,
                     scratch: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Wavelet residual (Eq. 3-4) of a ``(B, H, W)`` float32 stack, periodic DWT; ``H, W`` multiples of 2**levels."""
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
    """Padding ``(before, after)``: >= ``margin`` each side, total a multiple of ``multiple`` (odd extra first)."""
    total = 2 * margin + (-(size + 2 * margin)) % multiple
    extra = total - 2 * margin
    return margin + (extra + 1) // 2, margin + extra // 2


#: Boundary handling of the DWT (see :func:`wavelet_residual`).
BOUNDARIES: tuple[str, ...] = ("symmetric", "periodic")
#: Cycle-spinning shift sets ``(dy, dx)``: 2 flips both parities; 4 every level-1, 16 every level-1/2 phase.
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
    # one channel and one shift at a time (faster than a batch, docs/performance.md; memory O(one channel))
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

