"""The wavelet noise residual and Eq. 5's per-image terms in torch, for a GPU (``csi ... --device cuda``).

The same maths as :mod:`csi.prnu` (which stays the reference; ``tests/test_prnu_torch.py`` checks the two
agree to 1e-4 on the CPU):

1. mirror padding by one filter length and up to a multiple of ``2**levels`` (``boundary="symmetric"``);
2. per colour channel and cycle-spinning shift, a ``levels``-level periodic 2-D DWT (PyWavelets'
   ``"periodization"`` convention); every detail coefficient ``c`` becomes ``c sigma^2 / max(m, sigma^2)``
   with ``m`` the smallest local mean of ``c^2`` over 3/5/7/9 windows (zero padding); the approximation is
   set to 0 and the inverse DWT gives ``W = I - F(I)`` (Eq. 3-4);
3. gray conversion, zero-mean rows and columns per CFA sub-lattice, Wiener filter in the DFT domain.

Every channel and shift of an image goes through the transform as one batch. Each 1-D DWT step is a matrix
product on a strided view (``Tensor.unfold``), so float32 stays float32 on GPUs that would otherwise use TF32
in convolutions (``torch.backends.cuda.matmul.allow_tf32`` is off by default). Runs under
``torch.inference_mode()``.

References
----------
Wang et al. (2021), Eq. 3-5; Mihcak, Kozintsev and Ramchandran (1999); Coifman and Donoho (1995).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .prnu import _INTENSITY_V, GRAY_WEIGHTS, INTENSITY_T, SATURATION_LEVEL
from .wavelet import (
    _WINDOWS,
    SHIFT_SETS,
    _as_image,
    _check_boundary,
    _check_levels,
    _check_shifts,
    _check_sigma,
    _filters,
    _pad_amounts,
)

__all__ = ["wavelet_residual", "noise_residual", "fingerprint_terms", "intensity_weight", "saturation_mask"]

_R = _WINDOWS[-1] // 2


def _device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _as_chw(image, device: torch.device) -> tuple[torch.Tensor, bool]:
    """Validated ``(H, W[, C])`` 0-255 image -> ``(C, H, W)`` float32 tensor on ``device``, and whether it was 2-D."""
    if isinstance(image, torch.Tensor):
        t = image.to(device=device, dtype=torch.float32)
        gray = t.ndim == 2
        return (t[None] if gray else t.permute(2, 0, 1)).contiguous(), gray
    arr = _as_image(image)
    gray = arr.ndim == 2
    if not (arr.flags.c_contiguous and arr.flags.writeable):
        arr = np.array(arr, order="C")  # torch wants a writable buffer (a decoded image may be read-only)
    t = torch.from_numpy(arr).to(device)
    t = t[None] if gray else t.permute(2, 0, 1)
    return t.to(torch.float32).contiguous(), gray


def _symmetric_index(n: int, before: int, after: int, device) -> torch.Tensor:
    """Indices of ``numpy.pad(..., mode="symmetric")`` (edge sample repeated) along an axis of length ``n``."""
    i = torch.arange(-before, n + after, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def _dwt_last(x: torch.Tensor, analysis: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One periodic DWT step along the last axis: ``(..., N)`` -> approximation and detail ``(..., N/2)``.

    ``a[i] = sum_m analysis[0, m] x[(2i + start + m) mod N]`` (and ``analysis[1]`` for the detail).
    """
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
    for k in _WINDOWS:
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
    analysis_np, _, start, _ = _filters(wavelet)
    analysis = torch.from_numpy(analysis_np).to(x.device)
    c, h, w = x.shape
    block = 2**levels
    if min(h, w) < block:
        raise ValueError(f"image of size {h}x{w} is too small for levels={levels}: both sides must be at least "
                         f"2**levels = {block} pixels (use fewer levels or a larger image)")
    margin = analysis.shape[1] if boundary == "symmetric" else 0
    (pt, pb), (pl, pr) = _pad_amounts(h, block, margin), _pad_amounts(w, block, margin)
    if pt or pb or pl or pr:
        x = x[:, _symmetric_index(h, pt, pb, x.device)][:, :, _symmetric_index(w, pl, pr, x.device)]
    offsets = SHIFT_SETS[shifts]
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
    wr, wg, wb = GRAY_WEIGHTS
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
    for k in _WINDOWS:
        r = k // 2
        mean = F.avg_pool2d(padded[None, None], k, stride=1)[0, 0]
        mean = mean[_R - r:_R - r + h, _R - r:_R - r + half]
        m = mean if m is None else torch.minimum(m, mean)
    s2 = sigma * sigma
    spec = spec * (s2 / torch.clamp(m, min=s2))
    return torch.fft.irfft2(spec, s=(h, w))


def wavelet_residual(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", *,
                     boundary: str = "symmetric", shifts: int = 2, device=None) -> torch.Tensor:
    """:func:`csi.prnu.wavelet_residual` in torch: ``(H, W[, 3])`` 0-255 image -> ``(C, H, W)`` float32 tensor.

    Parameters
    ----------
    image : numpy.ndarray or torch.Tensor
        ``(H, W, 3)`` or ``(H, W)``, ``uint8`` or float on a 0-255 scale. Not modified.
    sigma, levels, wavelet, boundary, shifts :
        As for :func:`csi.prnu.wavelet_residual`.
    device : str, torch.device or None
        ``"cuda"``, ``"cpu"``; None or ``"auto"``: the GPU when there is one.

    Returns
    -------
    torch.Tensor
        ``(C, H, W)`` float32 on ``device`` (channels first, unlike the numpy function).

    Examples
    --------
    >>> img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    >>> tuple(wavelet_residual(img, device="cpu").shape)
    (3, 40, 56)
    """
    dev = _device(device)
    with torch.inference_mode():
        x, _ = _as_chw(image, dev)
        return _residual_chw(x, _check_sigma(sigma), _check_levels(levels), wavelet, _check_boundary(boundary),
                             _check_shifts(shifts))


def noise_residual(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", zero_mean: bool = True,
                   wiener: bool = True, *, boundary: str = "symmetric", shifts: int = 2, device=None,
                   as_numpy: bool = True):
    """:func:`csi.prnu.noise_residual` in torch: residual, gray, CFA zero-mean, DFT Wiener (Eq. 3-4).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``(H, W)`` float32 (a numpy array unless ``as_numpy=False``).

    Examples
    --------
    >>> from csi import prnu
    >>> img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> ref = prnu.noise_residual(img, sigma=3.0)
    >>> bool(np.abs(noise_residual(img, sigma=3.0, device="cpu") - ref).max() < 1e-4)
    True
    """
    dev = _device(device)
    with torch.inference_mode():
        x, _ = _as_chw(image, dev)
        res = _residual_chw(x, _check_sigma(sigma), _check_levels(levels), wavelet, _check_boundary(boundary),
                            _check_shifts(shifts))
        g = _gray(res)
        if zero_mean:
            g = _zero_mean_cfa(g)
        if wiener:
            g = _wiener_dft(g)
        return g.cpu().numpy() if as_numpy else g


def intensity_weight(x: torch.Tensor) -> torch.Tensor:
    """:func:`csi.prnu.intensity_weight` of a float32 0-255 tensor: ``I/T`` below ``T``, ``exp(-(I-T)^2/6)`` above."""
    d = x - INTENSITY_T
    return torch.where(x >= INTENSITY_T, torch.exp(-(d * d) / _INTENSITY_V), x * (1.0 / INTENSITY_T))


def saturation_mask(x: torch.Tensor) -> torch.Tensor:
    """:func:`csi.prnu.saturation_mask` of a ``(C, H, W)`` tensor: False at saturated flat pixels."""
    mask = torch.ones_like(x, dtype=torch.bool)
    for j in range(x.shape[0]):
        ch = x[j]
        top = ch.max()
        if float(top) <= SATURATION_LEVEL:
            continue
        flat = ((ch == torch.roll(ch, 1, 0)) | (ch == torch.roll(ch, -1, 0))
                | (ch == torch.roll(ch, 1, 1)) | (ch == torch.roll(ch, -1, 1)))
        mask[j] = ~((ch == top) & flat)
    return mask


def fingerprint_terms(image, sigma: float = 5.0, levels: int = 4, wavelet: str = "db4", *,
                      boundary: str = "symmetric", shifts: int = 1, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`csi.prnu.fingerprint_terms` in torch: ``(W I, I^2)`` of Eq. 5 as ``(C, H, W)`` float32 tensors.

    Add them up over a device's images and finish with :func:`csi.prnu.fingerprint_from_sums` (on the
    arrays moved to the CPU).

    Examples
    --------
    >>> img = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    >>> [tuple(t.shape) for t in fingerprint_terms(img, device="cpu")]
    [(3, 32, 48), (3, 32, 48)]
    """
    dev = _device(device)
    with torch.inference_mode():
        x, _ = _as_chw(image, dev)
        res = _residual_chw(x, _check_sigma(sigma), _check_levels(levels), wavelet, _check_boundary(boundary),
                            _check_shifts(shifts))
        weight = intensity_weight(x) * saturation_mask(x)
        return res * weight, weight * weight
