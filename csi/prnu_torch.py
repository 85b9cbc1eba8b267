"""The wavelet residual (Eq. 3-4) and Eq. 5's per-image terms in torch, for a GPU (``csi ... --device cuda``).

The same maths as :mod:`csi.prnu`, which stays the reference (``tests/test_prnu_torch.py``: equal within 1e-4 on
the CPU). Design notes: ``docs/performance.md``.

References
----------
Wang et al. (2021), Eq. 3-5; Mihcak, Kozintsev and Ramchandran (1999); Coifman and Donoho (1995).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import prnu
from . import wavelet as wavelet_engine

__all__ = ["wavelet_residual", "noise_residual", "fingerprint_terms", "intensity_weight", "saturation_mask"]

_R = wavelet_engine._WINDOWS[-1] // 2


def _device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _as_chw(image, device: torch.device) -> torch.Tensor:
    """Validated ``(H, W[, C])`` 0-255 image -> ``(C, H, W)`` float32 tensor on ``device``."""
    if isinstance(image, torch.Tensor):
        t = image.to(device=device, dtype=torch.float32)
        return (t[None] if t.ndim == 2 else t.permute(2, 0, 1)).contiguous()
    arr = wavelet_engine._as_image(image)
    if not (arr.flags.c_contiguous and arr.flags.writeable):
        arr = np.array(arr, order="C")  # torch wants a writable buffer (a decoded image may be read-only)
    t = torch.from_numpy(arr).to(device)
    t = t[None] if arr.ndim == 2 else t.permute(2, 0, 1)
    return t.to(torch.float32).contiguous()


def _symmetric_index(n: int, before: int, after: int, device) -> torch.Tensor:
    """Indices of ``numpy.pad(..., mode="symmetric")`` (edge sample repeated) along an axis of length ``n``."""
    i = torch.arange(-before, n + after, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def _dwt_last(x: torch.Tensor, analysis: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Periodic DWT step along the last axis, ``(..., N)`` -> approximation, detail ``(..., N/2)`` (a matmul)."""
    n = x.shape[-1]
    taps = analysis.shape[1]
    idx = (torch.arange(n - 2 + taps, device=x.device) + start) % n
    windows = x[..., idx].unfold(-1, taps, 2)  # (..., N/2, L), a strided view
    out = windows @ analysis.T  # (..., N/2, 2)
    return out[..., 0], out[..., 1]


def _fold(y: torch.Tensor, start: int, n: int) -> torch.Tensor:
    """``x[(t + start) mod n] += y[t]`` along the last axis (the adjoint of the circular gather)."""
    total = y.shape[-1]
    x = y.new_zeros(y.shape[:-1] + (n,))
    t = 0
    while t < total:
        pos = (t + start) % n
        seg = min(n - pos, total - t)
        x[..., pos:pos + seg] += y[..., t:t + seg]
        t += seg
    return x


def _idwt_last(a: torch.Tensor, d: torch.Tensor, analysis: torch.Tensor, start: int) -> torch.Tensor:
    """Inverse of :func:`_dwt_last` (its adjoint: the periodic DWT is orthogonal)."""
    half = a.shape[-1]
    taps = analysis.shape[1]
    contrib = torch.stack([a, d], -1) @ analysis  # (..., N/2, L): the value x[2i + m] receives
    length = half + taps // 2 - 1
    y = a.new_zeros(a.shape[:-1] + (length, 2))
    for q in range(taps // 2):
        y[..., q:q + half, :] += contrib[..., 2 * q:2 * q + 2]
    return _fold(y.reshape(a.shape[:-1] + (2 * length,)), start, 2 * half)


def _shrink(bands: torch.Tensor, sigma2: float) -> torch.Tensor:
    """Residual part ``c sigma2 / max(min_w mean_w(c^2), sigma2)`` of ``(B, K, h, w)`` detail bands."""
    energy = bands * bands
    m = None
    for k in wavelet_engine._WINDOWS:
        mean = F.avg_pool2d(energy, k, stride=1, padding=k // 2, count_include_pad=True)
        m = mean if m is None else torch.minimum(m, mean)
    return bands * (sigma2 / torch.clamp(m, min=sigma2))


def _mihcak(x: torch.Tensor, sigma2: float, levels: int, analysis: torch.Tensor, start: int) -> torch.Tensor:
    """Wavelet residual of a ``(B, H, W)`` stack, periodic DWT, ``H, W`` multiples of ``2**levels``."""
    details = []
    ll = x
    for _ in range(levels):
        lw, hw = _dwt_last(ll, analysis, start)  # along W: (B, H, W/2)
        a, lh = _dwt_last(lw.transpose(-1, -2), analysis, start)  # along H: (B, W/2, H/2), transposed
        hl, hh = _dwt_last(hw.transpose(-1, -2), analysis, start)
        d = _shrink(torch.stack([lh, hl, hh], 1), sigma2)
        details.append(d)
        ll = a  # the next level works on the transposed approximation (the windows are symmetric)
    rec = torch.zeros_like(ll)
    for d in reversed(details):
        lw = _idwt_last(rec, d[:, 0], analysis, start).transpose(-1, -2)
        hw = _idwt_last(d[:, 1], d[:, 2], analysis, start).transpose(-1, -2)
        rec = _idwt_last(lw, hw, analysis, start)
    return rec


def _residual_chw(x: torch.Tensor, sigma: float, levels: int, wavelet: str, boundary: str,
                  shifts: int) -> torch.Tensor:
    """``(C, H, W)`` float32 -> ``(C, H, W)`` residual, every channel and shift in one batch."""
    analysis_np, _, start, _ = wavelet_engine._filters(wavelet)
    analysis = torch.from_numpy(analysis_np).to(x.device)
    c, h, w = x.shape
    block = 2**levels
    if min(h, w) < block:
        raise ValueError(f"image of size {h}x{w} is too small for levels={levels}: both sides must be at least "
                         f"2**levels = {block} pixels (use fewer levels or a larger image)")
    margin = analysis.shape[1] if boundary == "symmetric" else 0
    (pt, pb), (pl, pr) = wavelet_engine._pad_amounts(h, block, margin), wavelet_engine._pad_amounts(w, block, margin)
    if pt or pb or pl or pr:
        x = x[:, _symmetric_index(h, pt, pb, x.device)][:, :, _symmetric_index(w, pl, pr, x.device)]
    offsets = wavelet_engine.SHIFT_SETS[shifts]
    stack = torch.cat([torch.roll(x, (dy, dx), (1, 2)) if dy or dx else x for dy, dx in offsets])
    rec = _mihcak(stack, sigma * sigma, levels, analysis, start).reshape(len(offsets), c, *x.shape[1:])
    out = None
    for k, (dy, dx) in enumerate(offsets):
        win = torch.roll(rec[k], (-(pt + dy), -(pl + dx)), (1, 2))[:, :h, :w]
        out = win.clone() if out is None else out.add_(win)
    if len(offsets) > 1:
        out.mul_(1.0 / len(offsets))
    return out


def _gray(res: torch.Tensor) -> torch.Tensor:
    if res.shape[0] == 1:
        return res[0].clone()
    wr, wg, wb = prnu.GRAY_WEIGHTS
    gray = res[0] * wr
    gray += res[1] * wg
    gray += res[2] * wb
    return gray


def _zero_mean_cfa(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for a in (0, 1):
        for b in (0, 1):
            sub = x[a::2, b::2]
            if sub.numel() == 0:
                continue
            rows = sub.mean(1, dtype=torch.float64)
            cols = sub.mean(0, dtype=torch.float64)
            rows = rows - rows.mean()
            out[a::2, b::2] = sub - rows.float()[:, None] - cols.float()[None, :]
    return out


def _wiener_dft(x: torch.Tensor) -> torch.Tensor:
    sigma = float(x.double().std(correction=0))
    if sigma == 0.0:
        return x.clone()
    h, w = x.shape
    spec = torch.fft.rfft2(x)  # (H, W//2 + 1) complex64
    half = spec.shape[1]
    power = (spec.real * spec.real + spec.imag * spec.imag) * (1.0 / (h * w))
    # the full spectrum's power by Hermitian symmetry, then wrapped by 4 cells on every side
    cols = torch.arange(-_R, half + _R, device=x.device) % w
    rows = torch.arange(-_R, h + _R, device=x.device) % h
    direct = cols < half
    padded = torch.empty((rows.numel(), cols.numel()), dtype=power.dtype, device=x.device)
    padded[:, direct] = power[rows][:, cols[direct]]
    padded[:, ~direct] = power[(-rows) % h][:, w - cols[~direct]]
    m = None
    for k in wavelet_engine._WINDOWS:
        r = k // 2
        mean = F.avg_pool2d(padded[None, None], k, stride=1)[0, 0]
        mean = mean[_R - r:_R - r + h, _R - r:_R - r + half]
        m = mean if m is None else torch.minimum(m, mean)
    s2 = sigma * sigma
    spec = spec * (s2 / torch.clamp(m, min=s2))
    return torch.fft.irfft2(spec, s=(h, w))


def _residual(image, sigma, levels, wavelet, boundary, shifts, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(C, H, W)`` float32 image on the device and its residual, arguments checked as in :mod:`csi.prnu`."""
    x = _as_chw(image, _device(device))
    return x, _residual_chw(x, wavelet_engine._check_sigma(sigma), wavelet_engine._check_levels(levels), wavelet,
                            wavelet_engine._check_boundary(boundary), wavelet_engine._check_shifts(shifts))


@torch.inference_mode()
def wavelet_residual(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", *,
                     boundary: str = "symmetric", shifts: int = 2, device=None) -> torch.Tensor:
    """:func:`csi.prnu.wavelet_residual` in torch: ``(H, W[, 3])`` 0-255 image -> ``(C, H, W)`` float32 tensor.

    ``image``: numpy array or tensor, uint8 or float. ``device``: ``"cuda"``, ``"cpu"``; None or ``"auto"``: the GPU
    when there is one. Note the channels-first output (the numpy function returns ``(H, W, C)``).

    >>> img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    >>> tuple(wavelet_residual(img, device="cpu").shape)
    (3, 40, 56)
    """
    return _residual(image, sigma, levels, wavelet, boundary, shifts, device)[1]


@torch.inference_mode()
def noise_residual(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", zero_mean: bool = True,
                   wiener: bool = True, *, boundary: str = "symmetric", shifts: int = 2, device=None,
                   as_numpy: bool = True):
    """:func:`csi.prnu.noise_residual` in torch (Eq. 3-4): ``(H, W)`` float32, a numpy array unless ``as_numpy=False``.

    >>> from csi import prnu
    >>> img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> bool(np.abs(noise_residual(img, sigma=3.0, device="cpu") - prnu.noise_residual(img, sigma=3.0)).max() < 1e-4)
    True
    """
    g = _gray(_residual(image, sigma, levels, wavelet, boundary, shifts, device)[1])
    if zero_mean:
        g = _zero_mean_cfa(g)
    if wiener:
        g = _wiener_dft(g)
    return g.cpu().numpy() if as_numpy else g


def intensity_weight(x: torch.Tensor) -> torch.Tensor:
    """:func:`csi.prnu.intensity_weight` of a float32 0-255 tensor: ``I/T`` below ``T``, ``exp(-(I-T)^2/6)`` above."""
    t = prnu.INTENSITY_T
    d = x - t
    return torch.where(x >= t, torch.exp(-(d * d) / prnu._INTENSITY_V), x * (1.0 / t))


def saturation_mask(x: torch.Tensor) -> torch.Tensor:
    """:func:`csi.prnu.saturation_mask` of a ``(C, H, W)`` tensor: False at saturated flat pixels."""
    mask = torch.ones_like(x, dtype=torch.bool)
    for j, ch in enumerate(x):
        top = ch.max()
        if float(top) <= prnu.SATURATION_LEVEL:
            continue
        flat = ((ch == torch.roll(ch, 1, 0)) | (ch == torch.roll(ch, -1, 0))
                | (ch == torch.roll(ch, 1, 1)) | (ch == torch.roll(ch, -1, 1)))
        mask[j] = ~((ch == top) & flat)
    return mask


@torch.inference_mode()
def fingerprint_terms(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", *,
                      boundary: str = "symmetric", shifts: int = 1, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`csi.prnu.fingerprint_terms` in torch: Eq. 5's ``(W I, I^2)`` as ``(C, H, W)`` float32 tensors.

    Sum them over a device's images and finish with :func:`csi.prnu.fingerprint_from_sums` on the CPU.

    >>> img = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    >>> [tuple(t.shape) for t in fingerprint_terms(img, device="cpu")]
    [(3, 32, 48), (3, 32, 48)]
    """
    x, res = _residual(image, sigma, levels, wavelet, boundary, shifts, device)
    weight = intensity_weight(x) * saturation_mask(x)
    return res * weight, weight * weight
