"""Camera simulator, scene content, social-platform profiles and the synthetic dataset recipes.

The simulator follows the sensor output model of the paper (Eq. 1-2)::

    I = g^gamma * [(1 + K) Y + xi]^gamma + Theta

step by step:

1. **scene** ``Y``: linear light in [0, 1] (:func:`make_scene`: dead leaves, flat scenes, bundled photographs);
2. **colour filter**: each photosite sees one channel of ``Y`` (Bayer pattern of the model) times the
   model's channel sensitivity;
3. **PRNU**: multiplicative ``(1 + K)``, ``K`` zero-mean Gaussian per photosite, one ``K`` per device, saved
   as ground truth;
4. **shot noise** (Poisson on the photo-electrons) and **read noise** (Gaussian), full-well clipping,
   ADC quantisation (these are ``xi``);
5. **demosaicing** (bilinear or Malvar-He-Cutler, per model);
6. **white balance and gain** ``g`` (undo the channel sensitivity; digital gain undoes the exposure);
7. **tone curve** (gamma ``1/gamma`` plus a model-specific S-curve);
8. **8-bit quantisation** (``Theta``) and **in-camera JPEG** through Pillow's libjpeg.

Steps 2-4 are done on the mosaic directly (one value per photosite), which is the same as applying PRNU and
noise to a full RGB plane and then sampling it with the CFA, only three times cheaper.

**Oracle twin** (:func:`render_pair`, ``render_raw/render_jpeg(..., twin=True)``, ``build_dataset(...,
twins=True)``): the same shot with ``K = 0`` and the same noise draws, through the same steps 4-8. ``image -
twin`` is the PRNU term as the camera delivers it, the most any residual extractor could recover.

**Platforms** (:data:`PLATFORMS`, :func:`apply_platform`): size rule, optional watermark (Weibo), JPEG
re-encode; every number carries its source. **Recipes** (:func:`build_dataset`): the paper's datasets in their
real on-disk layouts, with ``overrides`` of counts and sensor parameters; the cache key holds the plan and the
code (:func:`simulator_digest`).

Devices of one model share everything (CFA, demosaicing, white balance, tone curve, JPEG quality and
subsampling, resolution) and differ only in ``K``; so the same data show device-level identification (PRNU)
and model-level traces (processing). See ``docs/data.md`` for every default and its reason.

References
----------
Wang et al. (2021), Eq. 1-2 (sensor model), Eq. 5 (fingerprint), Sec. 4.1 (datasets).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import multiprocessing as mp
import os
import shutil
import sys
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from csi.config import check_choice, check_keys, check_scale
from csi.io import decode_rgb, estimate_jpeg_quality

log = logging.getLogger(__name__)

#: A human-readable tag of the rendering code, recorded in every plan. The cache key does not depend on
#: remembering to bump it: it also holds :func:`simulator_digest` (the code itself).
SIMULATOR_VERSION = "3"

#: Long side of a real phone sensor (12 MP, 4032 x 3024); ``sensor_scale = simulated long side / this``.
REAL_LONG_SIDE = 4032

# ---------------------------------------------------------------------------------------------------------
# Sensor defaults (one setting for every recipe and every method; see docs/data.md "Calibration")
# ---------------------------------------------------------------------------------------------------------

#: Sensor and noise parameters shared by all simulated cameras. Each value is explained in docs/data.md.
SENSOR_DEFAULTS: dict[str, Any] = {
    # PRNU: std of K. Real phone sensors: about 0.5-1 % (Lukas et al. 2006 report a few 1e-3 to 1e-2).
    "prnu_std": 0.015,
    # photo-electrons at raw value 1 (full well) for the reference exposure; small phone pixels hold ~4-6k e-
    "full_well": 4000.0,
    # read noise std in electrons (phone CMOS: 2-5 e-)
    "read_noise": 3.0,
    # ADC bit depth (phones: 10-12 bit)
    "adc_bits": 10,
    # exposure factor range (log-uniform): fraction of the full well used at scene value 1; the digital gain
    # undoes it, so darker exposures mean higher ISO and more shot noise relative to K.
    "exposure": (0.3, 1.0),
    # in-camera JPEG quality range; each model draws one value from it (phones write QF ~ 90-97)
    "camera_quality": (90, 96),
}

#: Bayer patterns (2x2 tile, channel index 0=R, 1=G, 2=B).
CFA_PATTERNS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "RGGB": ((0, 1), (1, 2)),
    "BGGR": ((2, 1), (1, 0)),
    "GRBG": ((1, 0), (2, 1)),
    "GBRG": ((1, 2), (0, 1)),
}
DEMOSAIC_METHODS = ("bilinear", "malvar")
SCENE_KINDS = ("dead_leaves", "flat", "photo")


def _stable_hash(*parts) -> int:
    """A 32-bit hash of strings/ints that is the same in every process and Python version."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


def _rng(*parts) -> np.random.Generator:
    """A generator seeded from a tuple of ints/strings (independent streams per device/image)."""
    ints = [p if isinstance(p, (int, np.integer)) else _stable_hash(p) for p in parts]
    return np.random.default_rng(np.random.SeedSequence([int(i) for i in ints]))


# ---------------------------------------------------------------------------------------------------------
# Camera models
# ---------------------------------------------------------------------------------------------------------


def model_processing(model: str, camera_quality: tuple[int, int] = SENSOR_DEFAULTS["camera_quality"]) -> dict:
    """The in-camera processing of a camera model, drawn deterministically from the model name.

    Real phones' pipelines are not public, so each model gets plausible values from fixed ranges, seeded by
    the model name: every device of a model shares them, different models usually differ.

    Parameters
    ----------
    model : str
        Model name, e.g. ``"Apple_iPhone6"``.
    camera_quality : (int, int)
        Inclusive range of the in-camera JPEG quality.

    Returns
    -------
    dict
        ``cfa`` (Bayer pattern), ``demosaic``, ``sensitivity`` (R, G, B raw channel sensitivity, G = 1),
        ``gamma`` (tone curve exponent, output = linear ** (1/gamma)), ``contrast`` (S-curve blend 0-0.3),
        ``quality`` (JPEG QF), ``subsampling`` (JPEG chroma subsampling).

    Examples
    --------
    >>> p = model_processing("Apple_iPhone6")
    >>> sorted(p)[:3]
    ['cfa', 'contrast', 'demosaic']
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty str, got {model!r}")
    lo, hi = int(camera_quality[0]), int(camera_quality[1])
    if not 1 <= lo <= hi <= 100:
        raise ValueError(f"camera_quality must be (lo, hi) with 1 <= lo <= hi <= 100, got {camera_quality!r}")
    r = _rng("model", model)
    return {
        "cfa": str(r.choice(list(CFA_PATTERNS))),
        "demosaic": str(r.choice(DEMOSAIC_METHODS)),
        "sensitivity": (float(r.uniform(0.45, 0.65)), 1.0, float(r.uniform(0.55, 0.8))),
        "gamma": float(r.uniform(2.0, 2.4)),
        "contrast": float(r.uniform(0.0, 0.3)),
        "quality": int(r.integers(lo, hi + 1)),
        "subsampling": "4:2:0" if r.random() < 0.8 else "4:2:2",
    }


def device_prnu(shape: tuple[int, int], seed: int, recipe: str, device: str, prnu_std: float) -> np.ndarray:
    """The ground-truth PRNU factor ``K`` of one simulated device.

    Parameters
    ----------
    shape : (int, int)
        Sensor ``(H, W)``.
    seed, recipe, device
        Identify the device; the same triple always gives the same ``K``.
    prnu_std : float
        Standard deviation of ``K`` (e.g. 0.01 = 1 %).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32``, zero-mean Gaussian, clipped to +-4 std.

    References
    ----------
    Eq. 1-2 of the paper: ``K`` is the zero-mean multiplicative PRNU factor.

    Examples
    --------
    >>> device_prnu((4, 6), 0, "our", "D01", 0.01).shape
    (4, 6)
    """
    return _device_prnu_cached(tuple(int(s) for s in shape), int(seed), str(recipe), str(device), float(prnu_std))


@functools.lru_cache(maxsize=4)
def _device_prnu_cached(shape, seed, recipe, device, prnu_std):
    k = _rng(seed, "prnu", recipe, device).standard_normal(shape, dtype=np.float32)
    np.clip(k, -4.0, 4.0, out=k)
    k *= np.float32(prnu_std)
    k.setflags(write=False)
    return k


# ---------------------------------------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------------------------------------

#: Photographs shipped inside installed wheels: (package, file, is_gray). Nothing is downloaded.
PHOTO_SOURCES: tuple[tuple[str, str, bool], ...] = (
    ("skimage", "astronaut.png", False),
    ("skimage", "coffee.png", False),
    ("skimage", "chelsea.png", False),
    ("skimage", "rocket.jpg", False),
    ("skimage", "motorcycle_left.png", False),
    ("skimage", "motorcycle_right.png", False),
    ("skimage", "hubble_deep_field.jpg", False),
    ("skimage", "retina.jpg", False),
    ("skimage", "color.png", False),
    ("skimage", "brick.png", True),
    ("skimage", "grass.png", True),
    ("skimage", "gravel.png", True),
    ("sklearn", "china.jpg", False),
    ("sklearn", "flower.jpg", False),
)


def _photo_path(package: str, name: str) -> Path:
    if package == "skimage":
        import skimage.data

        return Path(skimage.data.__file__).parent / name
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images" / name


@functools.cache
def _load_photo(index: int) -> np.ndarray:
    package, name, gray = PHOTO_SOURCES[index]
    path = _photo_path(package, name)
    if not path.is_file():
        raise FileNotFoundError(f"bundled photo {name} not found in the installed {package} ({path})")
    with Image.open(path) as img:
        img = img.convert("L" if gray else "RGB")
        arr = np.asarray(img, dtype=np.uint8)
    arr.setflags(write=False)
    return arr


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Inverse sRGB transfer curve (IEC 61966-2-1).

    Parameters
    ----------
    x : numpy.ndarray
        Any shape, float in [0, 1] (sRGB-encoded).

    Returns
    -------
    numpy.ndarray
        Same shape, ``float32`` linear light in [0, 1].

    Examples
    --------
    >>> float(srgb_to_linear(np.array([1.0]))[0])
    1.0
    """
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _resize_float(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a 2-D float32 field with Pillow (mode F)."""
    img = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32), mode="F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32)


def _smooth_field(shape, rng, cells=(3, 8)) -> np.ndarray:
    """Low-frequency random field, about zero-mean, unit-ish std, ``(H, W) float32``."""
    n = int(rng.integers(cells[0], cells[1] + 1))
    gh = max(2, round(n * shape[0] / max(shape)))
    gw = max(2, round(n * shape[1] / max(shape)))
    return _resize_float(rng.standard_normal((gh, gw)).astype(np.float32), shape)


def _pink_field(shape, rng, exponent: float = 1.0) -> np.ndarray:
    """Gaussian field with a 1/f**exponent amplitude spectrum, zero mean, unit std, ``(H, W) float32``."""
    from scipy import fft

    h, w = shape
    fy = fft.fftfreq(h).astype(np.float32)[:, None]
    fx = fft.rfftfreq(w).astype(np.float32)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    f[0, 0] = 1.0
    spec = fft.rfft2(rng.standard_normal(shape, dtype=np.float32)) / f**exponent
    spec[0, 0] = 0
    field = fft.irfft2(spec, s=shape).astype(np.float32)
    field /= field.std() + 1e-12
    return field


def _dead_leaves(shape, rng) -> np.ndarray:
    h, w = shape
    long_side = max(h, w)
    rmin, rmax = max(1.5, 0.008 * long_side), 0.25 * long_side
    # radii with density ~ r^-3 on [rmin, rmax] (scale-invariant, gives 1/f statistics)
    n_draw = 20000
    u = rng.random(n_draw)
    radii = rmin / np.sqrt(1.0 - u * (1.0 - (rmin / rmax) ** 2))
    cum = np.cumsum(np.pi * radii**2)
    n = int(np.searchsorted(cum, 3.0 * h * w)) + 1
    radii = radii[:n]
    cy = rng.uniform(-0.05 * h, 1.05 * h, n)
    cx = rng.uniform(-0.05 * w, 1.05 * w, n)
    lum = np.exp(rng.uniform(np.log(0.03), np.log(0.85), n))
    chroma = 1.0 + rng.uniform(-0.45, 0.45, (n, 3))
    colors = np.clip(lum[:, None] * chroma, 0.0, 1.0).astype(np.float32)
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = colors[0]
    for r, y, x, c in zip(radii, cy, cx, colors, strict=True):
        y0, y1 = max(0, int(y - r)), min(h, int(y + r) + 1)
        x0, x1 = max(0, int(x - r)), min(w, int(x + r) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = (np.arange(y0, y1, dtype=np.float32) - y)[:, None]
        xx = (np.arange(x0, x1, dtype=np.float32) - x)[None, :]
        m = yy * yy + xx * xx <= r * r
        img[y0:y1, x0:x1][m] = c
    texture = float(rng.uniform(0.03, 0.15))
    img *= (1.0 + texture * _pink_field(shape, rng))[:, :, None]
    # optical blur: separable binomial [1, 2, 1] / 4 (a Gaussian of sigma ~0.7 px), edges replicated
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    img = 0.25 * pad[:-2] + 0.5 * pad[1:-1] + 0.25 * pad[2:]
    img = 0.25 * img[:, :-2] + 0.5 * img[:, 1:-1] + 0.25 * img[:, 2:]
    return np.clip(img, 0.0, 1.0)


def _flat(shape, rng) -> np.ndarray:
    h, w = shape
    kind = rng.choice(["sky", "wall", "gradient"])
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    xx = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    bright = float(rng.uniform(0.35, 0.8))
    if kind == "sky":
        top = np.array([0.25, 0.42, 0.8], np.float32) * rng.uniform(0.85, 1.15, 3)
        bottom = np.array([0.65, 0.75, 0.9], np.float32) * rng.uniform(0.9, 1.1, 3)
        t = yy ** float(rng.uniform(0.6, 1.6))
        img = (top * (1 - t) + bottom * t) * bright
        clouds = np.clip(_smooth_field(shape, rng, (4, 10)), 0, None)[:, :, None]
        img = img + float(rng.uniform(0.0, 0.12)) * clouds
    elif kind == "wall":
        base = rng.uniform(0.45, 1.0, 3).astype(np.float32) * bright
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        img = base * (1.0 + float(rng.uniform(-0.2, 0.2)) * (ramp - 0.5))
        img = img * (1.0 + 0.03 * _smooth_field(shape, rng, (6, 16)))[:, :, None]
    else:
        c0 = rng.uniform(0.3, 1.0, 3).astype(np.float32) * bright
        c1 = rng.uniform(0.3, 1.0, 3).astype(np.float32) * bright
        angle = rng.uniform(0, 2 * np.pi)
        t = np.clip(np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5) + 0.5, 0, 1)
        img = c0 * (1 - t) + c1 * t
    return np.clip(img, 0.02, 0.9).astype(np.float32)


def _photo(shape, rng) -> np.ndarray:
    h, w = shape
    idx = int(rng.integers(len(PHOTO_SOURCES)))
    src = _load_photo(idx)
    sh, sw = src.shape[:2]
    aspect = w / h
    # largest crop with the target aspect, then a random 50-100 % of it at a random place
    ch, cw = (sh, int(sh * aspect)) if sh * aspect <= sw else (int(sw / aspect), sw)
    frac = float(rng.uniform(0.5, 1.0))
    ch, cw = max(8, int(ch * frac)), max(8, int(cw * frac))
    y0 = int(rng.integers(0, sh - ch + 1))
    x0 = int(rng.integers(0, sw - cw + 1))
    crop = src[y0 : y0 + ch, x0 : x0 + cw]
    img = Image.fromarray(np.ascontiguousarray(crop))
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    if rng.random() < 0.2:
        img = ImageOps.flip(img)
    arr = np.asarray(img.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    lin = srgb_to_linear(arr)
    if lin.ndim == 2:  # gray texture: colourise with a random tint
        tint = rng.uniform(0.55, 1.0, 3).astype(np.float32)
        lin = lin[:, :, None] * (tint / tint.max())
    return np.clip(lin, 0.0, 1.0).astype(np.float32)


def make_scene(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Synthesise scene content (linear light) with no downloads.

    Parameters
    ----------
    kind : {"dead_leaves", "flat", "photo"}
        ``"dead_leaves"``: occluding disks with radii ~ r^-3 (scale-invariant, natural 1/f statistics) plus a
        1/f texture and a slight optical blur. ``"flat"``: smooth skies, walls and gradients, bright and
        unsaturated (like VISION's ``flat`` class). ``"photo"``: a random crop of a photograph bundled with
        scikit-image or scikit-learn (:data:`PHOTO_SOURCES`), flipped, rescaled, linearised; gray textures are
        colourised.
    shape : (int, int)
        ``(H, W)``, each >= 8.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` ``float32`` linear light in [0, 1].

    Examples
    --------
    >>> s = make_scene("flat", (48, 64), np.random.default_rng(0))
    >>> s.shape, s.dtype, bool(0 <= s.min() and s.max() <= 1)
    ((48, 64, 3), dtype('float32'), True)
    """
    check_choice("kind", kind, SCENE_KINDS)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if len(shape) != 2 or any(not isinstance(s, (int, np.integer)) or s < 8 for s in shape):
        raise ValueError(f"shape must be (H, W) with ints >= 8, got {shape!r}")
    shape = (int(shape[0]), int(shape[1]))
    fn = {"dead_leaves": _dead_leaves, "flat": _flat, "photo": _photo}[kind]
    return np.ascontiguousarray(fn(shape, rng), dtype=np.float32)


def _choose_kind(mix: Mapping[str, float], rng: np.random.Generator) -> str:
    kinds = sorted(mix)
    p = np.array([mix[k] for k in kinds], dtype=float)
    return kinds[int(rng.choice(len(kinds), p=p / p.sum()))]


# ---------------------------------------------------------------------------------------------------------
# The camera pipeline
# ---------------------------------------------------------------------------------------------------------


def _cfa_index(shape, cfa: str) -> np.ndarray:
    tile = np.array(CFA_PATTERNS[cfa], dtype=np.int64)
    h, w = shape
    return np.tile(tile, ((h + 1) // 2, (w + 1) // 2))[:h, :w]


def mosaic(rgb: np.ndarray, cfa: str = "RGGB") -> np.ndarray:
    """Sample an RGB plane with a Bayer colour filter array.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(H, W, 3)`` float.
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        2x2 pattern, read row by row from the top-left photosite.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` ``float32``: at each photosite the value of its filter's channel.

    Examples
    --------
    >>> mosaic(np.ones((2, 2, 3)) * [1, 2, 3], "RGGB").tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    check_choice("cfa", cfa, CFA_PATTERNS)
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    idx = _cfa_index(rgb.shape[:2], cfa)
    return np.take_along_axis(rgb, idx[:, :, None], axis=2)[:, :, 0]


def _embed5(k) -> np.ndarray:
    k = np.asarray(k, dtype=np.float32)
    out = np.zeros((5, 5), np.float32)
    o = (5 - k.shape[0]) // 2
    out[o : o + k.shape[0], o : o + k.shape[1]] = k
    return out


# Interpolation kernels (correlation weights over a 5x5 neighbourhood), per method:
#   "g":    green at a red/blue site;  "row": red (blue) at a green site whose row holds red (blue) samples;
#   "col":  red (blue) at a green site whose column holds them;  "diag": red at a blue site and vice versa.
_BILINEAR = {
    "g": _embed5([[0, 1, 0], [1, 0, 1], [0, 1, 0]]) / 4,
    "row": _embed5([[0, 0, 0], [1, 0, 1], [0, 0, 0]]) / 2,
    "col": _embed5([[0, 1, 0], [0, 0, 0], [0, 1, 0]]) / 2,
    "diag": _embed5([[1, 0, 1], [0, 0, 0], [1, 0, 1]]) / 4,
}
# Malvar, He & Cutler (2004) gradient-corrected linear interpolation (weights / 8)
_M_ROW = np.array([[0, 0, 0.5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0], [0, 0, 0.5, 0, 0]],
                  np.float32) / 8  # fmt: skip
_MALVAR = {
    "g": np.array([[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]],
                  np.float32) / 8,  # fmt: skip
    "row": _M_ROW,
    "col": _M_ROW.T.copy(),
    "diag": np.array([[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]],
                     np.float32) / 8,  # fmt: skip
}
_DEMOSAIC_KERNELS = {"bilinear": _BILINEAR, "malvar": _MALVAR}


def _correlate_at(padded: np.ndarray, kernel: np.ndarray, a: int, b: int, h2: int, w2: int) -> np.ndarray:
    """Correlate with a 5x5 kernel, evaluated only on the sub-lattice of rows a::2 and columns b::2."""
    acc = np.zeros((h2, w2), dtype=np.float32)
    for dy, dx in zip(*np.nonzero(kernel), strict=True):
        y0, x0 = a + dy, b + dx  # padded by 2: offset (dy - 2) + 2
        acc += kernel[dy, dx] * padded[y0 : y0 + 2 * h2 : 2, x0 : x0 + 2 * w2 : 2]
    return acc


def demosaic(raw: np.ndarray, cfa: str = "RGGB", method: str = "bilinear") -> np.ndarray:
    """Interpolate a Bayer mosaic to full RGB.

    Parameters
    ----------
    raw : numpy.ndarray
        ``(H, W)`` float mosaic (``H, W >= 5``).
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Pattern used by :func:`mosaic`.
    method : {"bilinear", "malvar"}
        ``"bilinear"``: mean of the nearest same-colour samples. ``"malvar"``: Malvar-He-Cutler
        gradient-corrected linear interpolation (5x5 kernels). Borders are mirrored (without repeating the
        edge sample), so edge pixels use the same-colour samples that exist.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` ``float32``; measured samples are kept exactly. Not clipped.

    Examples
    --------
    >>> rgb = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    >>> out = demosaic(mosaic(rgb, "GRBG"), "GRBG")
    >>> bool(np.allclose(mosaic(out, "GRBG"), mosaic(rgb, "GRBG")))
    True
    """
    check_choice("cfa", cfa, CFA_PATTERNS)
    check_choice("method", method, DEMOSAIC_METHODS)
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 2 or min(raw.shape) < 5:
        raise ValueError(f"raw must be a 2-D mosaic of at least 5x5, got shape {raw.shape}")
    kern = _DEMOSAIC_KERNELS[method]
    padded = np.pad(raw, 2, mode="reflect")  # mirror without repeating the edge: same-colour neighbours
    tile = CFA_PATTERNS[cfa]
    r_row = 0 if 0 in tile[0] else 1  # parity of the rows holding red samples
    out = np.empty(raw.shape + (3,), dtype=np.float32)
    h, w = raw.shape
    for a in (0, 1):
        for b in (0, 1):
            s = (slice(a, None, 2), slice(b, None, 2))
            h2, w2 = (h - a + 1) // 2, (w - b + 1) // 2
            site = tile[a][b]
            if site == 1:  # green site: red along the row in a red row, along the column in a blue row
                red, blue = ("row", "col") if a == r_row else ("col", "row")
                out[s + (0,)] = _correlate_at(padded, kern[red], a, b, h2, w2)
                out[s + (1,)] = raw[s]
                out[s + (2,)] = _correlate_at(padded, kern[blue], a, b, h2, w2)
            else:
                out[s + (site,)] = raw[s]
                out[s + (1,)] = _correlate_at(padded, kern["g"], a, b, h2, w2)
                out[s + (2 - site,)] = _correlate_at(padded, kern["diag"], a, b, h2, w2)
    return out


def encode_jpeg(image: np.ndarray, quality: int, subsampling: str = "4:2:0", progressive: bool = False) -> bytes:
    """Encode ``(H, W, 3) uint8`` RGB as JPEG with Pillow's libjpeg (no metadata written).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` ``uint8``.
    quality : int
        libjpeg quality factor 1-100 (standard tables scaled, no custom tables).
    subsampling : {"4:4:4", "4:2:2", "4:2:0"}
        Chroma subsampling.
    progressive : bool
        Progressive scan.

    Returns
    -------
    bytes
        JPEG data.

    Examples
    --------
    >>> data = encode_jpeg(np.zeros((16, 16, 3), np.uint8), 90)
    >>> data[:2] == b"\\xff\\xd8"
    True
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in 1..100, got {quality!r}")
    check_choice("subsampling", subsampling, ("4:4:4", "4:2:2", "4:2:0"))
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality), subsampling=subsampling,
                                progressive=bool(progressive), optimize=False)  # fmt: skip
    return buf.getvalue()


def _sensor_params(sensor: Mapping | None) -> dict:
    """:data:`SENSOR_DEFAULTS` updated with ``sensor`` (unknown keys raise)."""
    p = dict(SENSOR_DEFAULTS)
    if sensor:
        check_keys("sensor parameters", sensor, SENSOR_DEFAULTS)
        p.update(sensor)
    return p


def _expose(scene: np.ndarray, K: np.ndarray, processing: Mapping, rng: np.random.Generator, p: Mapping,
            twin: bool) -> tuple[np.ndarray, np.ndarray | None, float]:  # fmt: skip
    """Steps 2-4 up to the photo-electrons: ``(electrons, twin electrons or None, exposure)``, ``(H, W) float32``.

    The twin's electrons are the same draw minus the PRNU's mean contribution ``lambda0 * K`` (``lambda0`` the
    expected electrons without PRNU), so both share every random number; no extra draw is made for the twin.
    """
    cfa = processing["cfa"]
    sens = np.asarray(processing["sensitivity"], dtype=np.float32)
    # 2. colour filter + channel sensitivity (on the mosaic)
    tile = CFA_PATTERNS[cfa]
    raw = np.empty(K.shape, dtype=np.float32)
    for a in (0, 1):
        for b in (0, 1):
            c = tile[a][b]
            raw[a::2, b::2] = scene[a::2, b::2, c] * sens[c]
    # 3-4. PRNU, shot noise, read noise (full well and ADC follow in _develop)
    lo, hi = p["exposure"]
    exposure = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    gain = np.float32(float(p["full_well"]) * exposure)
    lam = raw * (1.0 + K) * gain
    electrons = rng.poisson(np.clip(lam, 0, None)).astype(np.float32)
    electrons += rng.standard_normal(K.shape, dtype=np.float32) * np.float32(p["read_noise"])
    twin_electrons = electrons - (raw * gain) * K if twin else None
    return electrons, twin_electrons, exposure


def _develop(electrons: np.ndarray, exposure: float, processing: Mapping, p: Mapping) -> np.ndarray:
    """Steps 4 (full well, ADC) to 8 (8-bit quantisation) of one electron mosaic; ``(H, W, 3) uint8``."""
    full_well = float(p["full_well"])
    sens = np.asarray(processing["sensitivity"], dtype=np.float32)
    levels = float(2 ** int(p["adc_bits"]) - 1)
    v = np.round(np.clip(electrons / full_well, 0.0, 1.0) * levels) / np.float32(levels)
    # 6 (gain part): digital gain undoes the exposure
    v = v.astype(np.float32) / np.float32(exposure)
    # 5. demosaicing
    rgb = demosaic(v, processing["cfa"], processing["demosaic"])
    # 6. white balance (undo the channel sensitivity)
    rgb /= sens
    np.clip(rgb, 0.0, 1.0, out=rgb)
    # 7. tone curve: gamma + S-curve
    y = rgb ** np.float32(1.0 / processing["gamma"])
    c = np.float32(processing["contrast"])
    y += c * (y * y * (3.0 - 2.0 * y) - y)
    # 8. 8-bit quantisation
    return np.round(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


def render_raw(scene: np.ndarray, K: np.ndarray, processing: Mapping, rng: np.random.Generator,
               sensor: Mapping | None = None,
               twin: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Run a scene through the camera up to the 8-bit output (before the in-camera JPEG).

    Parameters
    ----------
    scene : numpy.ndarray
        ``(H, W, 3)`` float linear light in [0, 1] (:func:`make_scene`).
    K : numpy.ndarray
        ``(H, W)`` ``float32`` PRNU factor of the device.
    processing : mapping
        The model's processing (:func:`model_processing`).
    rng : numpy.random.Generator
        Noise and exposure. It advances by the same draws whether or not ``twin`` is set.
    sensor : mapping, optional
        Overrides of :data:`SENSOR_DEFAULTS`.
    twin : bool
        Also return the oracle twin: the same shot with ``K = 0`` and the same noise draws (see
        :func:`render_pair`).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        ``(H, W, 3)`` ``uint8`` RGB, the camera's 8-bit output; with ``twin``, ``(image, twin)``.

    References
    ----------
    Eq. 1-2: ``I = g^gamma [(1+K) Y + xi]^gamma + Theta``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> K = np.zeros((32, 32), np.float32)
    >>> img = render_raw(make_scene("flat", (32, 32), rng), K, model_processing("X_Y"), rng)
    >>> img.shape, img.dtype
    ((32, 32, 3), dtype('uint8'))
    """
    p = _sensor_params(sensor)
    scene = np.asarray(scene, dtype=np.float32)
    K = np.asarray(K, dtype=np.float32)
    if scene.ndim != 3 or scene.shape[2] != 3 or scene.shape[:2] != K.shape:
        raise ValueError(f"scene (H, W, 3) and K (H, W) must match, got {scene.shape} and {K.shape}")
    electrons, twin_electrons, exposure = _expose(scene, K, processing, rng, p, bool(twin))
    image = _develop(electrons, exposure, processing, p)
    if twin_electrons is None:
        return image
    return image, _develop(twin_electrons, exposure, processing, p)


def render_jpeg(scene, K, processing, rng, sensor=None, twin: bool = False) -> bytes | tuple[bytes, bytes]:
    """:func:`render_raw` followed by the in-camera JPEG (model quality and subsampling); returns JPEG bytes.

    With ``twin=True`` returns ``(jpeg, twin_jpeg)``: the oracle twin (:func:`render_pair`) goes through the
    same in-camera JPEG. The camera JPEG is byte-identical to the one made with ``twin=False``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> data = render_jpeg(make_scene("flat", (32, 32), rng), np.zeros((32, 32), np.float32),
    ...                    model_processing("X_Y"), rng)
    >>> data[:2] == b"\\xff\\xd8"
    True
    """
    out = render_raw(scene, K, processing, rng, sensor, twin=twin)
    if not twin:
        return encode_jpeg(out, processing["quality"], processing["subsampling"])
    return tuple(encode_jpeg(x, processing["quality"], processing["subsampling"]) for x in out)


def render_pair(scene: np.ndarray, K: np.ndarray, processing: Mapping, rng: np.random.Generator,
                sensor: Mapping | None = None, jpeg: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A photo and its oracle twin: the same shot with ``K = 0`` and the same noise draws.

    The photo-electrons of the twin are those of the photo minus the PRNU's mean contribution::

        e      = Poisson(lambda0 (1 + K)) + read noise      lambda0 = raw * full_well * exposure
        e_twin = e - lambda0 K

    so the twin keeps every random draw (shot noise, read noise, exposure) and loses only the PRNU term of
    Eq. 1-2. Both then go through identical full-well clipping, ADC, demosaicing, white balance, tone curve,
    8-bit quantisation and (``jpeg=True``) the in-camera JPEG at the model's quality. ``image - twin`` is
    therefore the PRNU term ``~ I K`` as the camera delivers it, up to the quantisation and JPEG rounding of
    the two; it bounds what any residual extractor can recover from the image. With ``K = 0`` the twin equals
    the image. (The twin's shot noise keeps the variance of ``lambda0 (1 + K)``: a relative difference of
    order ``K``, about 1 %.)

    Parameters
    ----------
    scene, K, processing, rng, sensor
        As for :func:`render_raw`; ``rng`` advances exactly as in :func:`render_raw`.
    jpeg : bool
        ``True`` (default): the decoded in-camera JPEGs (what a dataset holds); ``False``: the 8-bit camera
        output before the JPEG.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(image, twin)``, each ``(H, W, 3)`` ``uint8``.

    References
    ----------
    Eq. 1-2 of the paper (the PRNU term ``I K`` of the sensor output model).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = make_scene("flat", (32, 32), rng)
    >>> img, twin = render_pair(scene, np.zeros((32, 32), np.float32), model_processing("X_Y"), rng)
    >>> bool((img == twin).all())
    True
    """
    if jpeg:
        data, twin_data = render_jpeg(scene, K, processing, rng, sensor, twin=True)
        return decode_rgb(data), decode_rgb(twin_data)
    return render_raw(scene, K, processing, rng, sensor, twin=True)


# ---------------------------------------------------------------------------------------------------------
# Platform profiles
# ---------------------------------------------------------------------------------------------------------

_PROFILE_KEYS = ("long_side", "short_side", "max_width", "aspect_short_cap", "quality", "subsampling",
                 "progressive", "keep_if_compliant", "passthrough", "resample", "watermark", "source")  # fmt: skip

#: Platform profiles. ``long_side``/``short_side``/``max_width``: size caps in px (long side, short side,
#: width whatever the orientation) for a real 4032-px sensor (scaled by ``sensor_scale``);
#: ``aspect_short_cap``: if the aspect ratio exceeds it, cap the short side instead of the long side;
#: ``keep_if_compliant``: a JPEG already within the cap and at or below ``quality`` is kept as encoded (only
#: its metadata stripped); ``passthrough``: camera files are returned unchanged; ``watermark``: text the
#: platform draws in the bottom-right corner (:func:`draw_watermark`) or None. ``source`` says where each
#: number comes from; "estimate" marks values that are not measured facts.
PLATFORMS: dict[str, dict[str, Any]] = {
    "original": {
        "long_side": None, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 95,
        "subsampling": "4:2:0", "progressive": False, "keep_if_compliant": False, "passthrough": True,
        "resample": "lanczos", "watermark": None,
        "source": "camera file unchanged; an array is encoded at QF 95 4:2:0 (a typical phone setting; estimate)",
    },
    "twitter": {
        "long_side": 4096, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 85,
        "subsampling": "4:2:0", "progressive": True, "keep_if_compliant": True, "passthrough": False,
        "resample": "lanczos", "watermark": None,
        "source": "long side 4096 (current cap; older 2048/1024); QF ~85 (estimate); since 2019 small compliant "
                  "JPEGs are kept as encoded; EXIF removed (estimate); progressive (estimate)",
    },
    "facebook": {
        "long_side": 2048, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 85,
        "subsampling": "4:2:0", "progressive": True, "keep_if_compliant": False, "passthrough": False,
        "resample": "lanczos", "watermark": None,
        "source": "HQ upload: long side 2048; QF 71-85, 85 from ImageMagick identify on downloads (estimate); "
                  "progressive; EXIF removed; always recompressed (blog measurements 2010-2021; Moltisanti et "
                  "al. 2015). The FBMD IPTC block and ICC profile it adds are not simulated",
    },
    "facebook_lq": {
        "long_side": 960, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 75,
        "subsampling": "4:2:0", "progressive": True, "keep_if_compliant": False, "passthrough": False,
        "resample": "lanczos", "watermark": None,
        "source": "older low-quality default: long side 960; QF 75 from a DCT-based thesis estimate (estimate)",
    },
    "instagram": {
        "long_side": 1080, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 75,
        "subsampling": "4:2:0", "progressive": False, "keep_if_compliant": False, "passthrough": False,
        "resample": "lanczos", "watermark": None,
        "source": "width/long side 1080; QF ~75-85, low end taken (estimate); EXIF removed (estimate)",
    },
    "wechat": {
        "long_side": 1280, "short_side": None, "max_width": None, "aspect_short_cap": 2.0, "quality": 60,
        "subsampling": "4:2:0", "progressive": False, "keep_if_compliant": False, "passthrough": False,
        "resample": "lanczos", "watermark": None,
        "source": "Moments: long side 1280 (2016 reverse engineering); aspect > 2 caps the short side; iOS "
                  "quality 0.5 ~ libjpeg QF 50-70, 60 taken (estimate); metadata stripped (Yang et al. 2022)",
    },
    "weibo": {
        "long_side": None, "short_side": None, "max_width": 2000, "aspect_short_cap": None, "quality": 85,
        "subsampling": "4:2:0", "progressive": False, "keep_if_compliant": False, "passthrough": False,
        "resample": "lanczos", "watermark": "weibo.com/csi",
        "source": "large view: width capped at 2000 px whatever the height (web client 'mw2000' size; the number "
                  "is the width: dataabc/weibo-crawler#621, 2026); older 'large' view capped the width at 2048 "
                  "(2016 user measurement 2560x300 -> 2048x240; suxiaogang/WeiboPicBed#49, 2016). Always "
                  "recompressed, 'close to Photoshop Save-for-Web quality ~80' (2016 user measurement); libjpeg "
                  "QF 85 taken (estimate; Photoshop's scale is finer than libjpeg's at equal numbers). Default "
                  "watermark drawn into the pixels bottom-right: served images carry it (dataabc/weibo-crawler"
                  "#196 and #225, 2021; hupo376787/WeiboAlbumDownloader#10, 2024), content is a user setting "
                  "(nickname, logo or 'weibo.com/<user>' address), simulated as small semi-transparent white "
                  "text 'weibo.com/csi' (text, size, opacity: estimates). Progressive and subsampling: estimates",
    },
    "whatsapp": {
        "long_side": 1600, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 77,
        "subsampling": "4:2:0", "progressive": False, "keep_if_compliant": False, "passthrough": False,
        "resample": "lanczos", "watermark": None,
        "source": "long side 1600 (1280 in 2015; HD mode ~4096); QF ~75-80, 77 taken (estimate)",
    },
    "telegram": {
        "long_side": 1280, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 80,
        "subsampling": "4:2:0", "progressive": False, "keep_if_compliant": False, "passthrough": False,
        "resample": "lanczos", "watermark": None,
        "source": "long side 1280 (desktop and Android; web 2560); QF 80 Android (desktop 87); re-encoded from a "
                  "bitmap so EXIF is lost",
    },
}

#: The five platforms of the paper (Table 3).
PAPER_PLATFORMS: tuple[str, ...] = ("twitter", "facebook", "instagram", "wechat", "weibo")

_RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
             "bilinear": Image.Resampling.BILINEAR, "area": Image.Resampling.BOX}  # fmt: skip


def _validate_profile(name: str, prof: Mapping) -> dict:
    check_keys(f"keys in platform profile {name!r}", prof, _PROFILE_KEYS)
    out = dict(PLATFORMS["instagram"])  # defaults for omitted keys
    out.update({"long_side": None, "keep_if_compliant": False, "passthrough": False, "watermark": None,
                "source": "user profile"})  # fmt: skip
    out.update(prof)
    for key in ("long_side", "short_side", "max_width"):
        v = out[key]
        if v is not None and (not isinstance(v, (int, np.integer)) or v < 16):
            raise ValueError(f"platform profile {name!r}: {key} must be None or an int >= 16, got {v!r}")
    q = out["quality"]
    if not isinstance(q, (int, np.integer)) or not 1 <= q <= 100:
        raise ValueError(f"platform profile {name!r}: quality must be an int in 1..100, got {q!r}")
    check_choice(f"subsampling of platform profile {name!r}", out["subsampling"], ("4:4:4", "4:2:2", "4:2:0"))
    check_choice(f"resample of platform profile {name!r}", out["resample"], _RESAMPLE)
    if out["aspect_short_cap"] is not None and float(out["aspect_short_cap"]) < 1:
        raise ValueError(f"platform profile {name!r}: aspect_short_cap must be None or >= 1")
    wm = out["watermark"]
    if wm is not None and not (isinstance(wm, str) and 1 <= len(wm) <= 64 and wm.isascii() and wm.isprintable()):
        raise ValueError(f"platform profile {name!r}: watermark must be None or 1-64 printable ASCII characters, "
                         f"got {wm!r}")  # fmt: skip
    return out


def load_profiles(path: str | os.PathLike) -> dict[str, dict]:
    """Read extra or overriding platform profiles from a JSON file.

    The file holds ``{"name": {profile keys...}, ...}``; omitted keys take defaults (see :data:`PLATFORMS`).
    Pass the result as ``profiles=`` to :func:`apply_platform` / ``csi.datasets.platform_view``.

    Parameters
    ----------
    path : str or os.PathLike
        JSON file.

    Returns
    -------
    dict
        ``{name: validated profile dict}``.

    Examples
    --------
    >>> # profiles.json: {"myapp": {"long_side": 1000, "quality": 70}}
    >>> prof = load_profiles("profiles.json")          # doctest: +SKIP
    >>> apply_platform(img, "myapp", profiles=prof)    # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"profiles file {p} does not exist")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"profiles file {p} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"profiles file {p} must hold an object of objects {{name: {{key: value}}}}")
    return {str(k): _validate_profile(str(k), v) for k, v in data.items()}


def get_profile(platform: str, profiles: Mapping[str, Mapping] | None = None) -> dict:
    """The profile dict of ``platform``: ``profiles`` (user) first, then :data:`PLATFORMS`.

    Examples
    --------
    >>> get_profile("wechat")["quality"]
    60
    """
    if profiles is not None:
        if not isinstance(profiles, Mapping):
            raise TypeError(f"profiles must be a dict of dicts, got {type(profiles).__name__}")
        if platform in profiles:
            return _validate_profile(platform, profiles[platform])
    if platform not in PLATFORMS:
        known = sorted(set(PLATFORMS) | set(profiles or {}))
        raise ValueError(f"unknown platform {platform!r}; expected one of {', '.join(map(repr, known))}")
    return dict(PLATFORMS[platform])


def platform_size(size: tuple[int, int], profile: Mapping, sensor_scale: float = 1.0) -> tuple[int, int]:
    """Output ``(width, height)`` of a platform's resize rule (never upscales).

    Parameters
    ----------
    size : (int, int)
        Input ``(width, height)``.
    profile : mapping
        Platform profile.
    sensor_scale : float
        Caps are multiplied by it (simulated long side / 4032), keeping the real resize ratio.

    Returns
    -------
    (int, int)
        ``(width, height)``.

    Examples
    --------
    >>> platform_size((4032, 3024), PLATFORMS["instagram"])
    (1080, 810)
    >>> platform_size((1024, 768), PLATFORMS["instagram"], sensor_scale=1024 / 4032)
    (274, 206)
    >>> platform_size((3024, 4032), PLATFORMS["weibo"])  # Weibo caps the width, not the long side
    (2000, 2667)
    """
    w, h = int(size[0]), int(size[1])
    longest, shortest = max(w, h), min(w, h)
    cap_long = profile.get("long_side")
    cap_short = profile.get("short_side")
    asp = profile.get("aspect_short_cap")
    factor = 1.0
    if asp is not None and longest / shortest > float(asp) and cap_long is not None:
        factor = min(factor, cap_long * sensor_scale / shortest)  # very long images: cap the short side
    elif cap_long is not None:
        factor = min(factor, cap_long * sensor_scale / longest)
    if cap_short is not None:
        factor = min(factor, cap_short * sensor_scale / shortest)
    cap_width = profile.get("max_width")
    if cap_width is not None:
        factor = min(factor, cap_width * sensor_scale / w)
    if factor >= 1.0:
        return w, h
    return max(1, round(w * factor)), max(1, round(h * factor))


#: Watermark geometry (estimates): text height (the default bitmap font's 11-px line box, scaled) as a
#: fraction of the image width, margin to the right and bottom edges, and opacity of the white text.
WATERMARK_STYLE: dict[str, float] = {"height": 0.025, "margin": 0.012, "opacity": 0.6}


@functools.cache
def _watermark_mask(text: str) -> np.ndarray:
    """The text rendered with Pillow's built-in bitmap font: ``(11, w) uint8`` in {0, 255}, read-only."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default_imagefont()  # bitmap font embedded in Pillow: no file, no FreeType
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, right), max(1, bottom)))
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    arr = np.asarray(mask, dtype=np.uint8).copy()
    arr.setflags(write=False)
    return arr


def draw_watermark(image: np.ndarray, text: str) -> np.ndarray:
    """Draw a small semi-transparent white text watermark in the bottom-right corner (like Weibo's).

    The text is rendered with Pillow's built-in bitmap font (embedded in Pillow, so the same pixels on every
    machine, offline), scaled bilinearly to a height of ``WATERMARK_STYLE["height"]`` times the image width
    (the watermark scales with the image), placed ``WATERMARK_STYLE["margin"]`` times the width from the
    right and bottom edges, and alpha-blended in white at ``WATERMARK_STYLE["opacity"]``. Text that does not
    fit is shrunk to fit; below 4 px height nothing is drawn.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` ``uint8`` RGB; not modified.
    text : str
        Printable ASCII.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` ``uint8``, a new array; pixels outside the watermark box are unchanged.

    Examples
    --------
    >>> out = draw_watermark(np.zeros((300, 400, 3), np.uint8), "weibo.com/csi")
    >>> bool(out[-20:, -120:].max() > 100), bool(out[:200].max() == 0)
    (True, True)
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if not (isinstance(text, str) and text and text.isascii() and text.isprintable()):
        raise ValueError(f"text must be a non-empty printable ASCII str, got {text!r}")
    out = image.copy()
    h, w = image.shape[:2]
    mask = _watermark_mask(text)
    margin = round(WATERMARK_STYLE["margin"] * w)
    scale = min(WATERMARK_STYLE["height"] * w / mask.shape[0], (w - 2 * margin) / mask.shape[1],
                (h - 2 * margin) / mask.shape[0])  # fmt: skip
    th, tw = round(mask.shape[0] * scale), round(mask.shape[1] * scale)
    if th < 4 or tw < 4:
        return out
    alpha = np.asarray(Image.fromarray(mask).resize((tw, th), Image.Resampling.BILINEAR), dtype=np.float32)
    alpha *= np.float32(WATERMARK_STYLE["opacity"] / 255.0)
    y0, x0 = h - margin - th, w - margin - tw
    box = out[y0 : y0 + th, x0 : x0 + tw].astype(np.float32)
    box += alpha[:, :, None] * (np.float32(255.0) - box)
    out[y0 : y0 + th, x0 : x0 + tw] = np.round(box).astype(np.uint8)
    return out


def strip_jpeg_metadata(data: bytes) -> bytes:
    """Remove APPn (except APP0 JFIF / APP14 Adobe) and COM segments from JPEG data, keeping the entropy data.

    Parameters
    ----------
    data : bytes
        A JPEG file.

    Returns
    -------
    bytes
        The same JPEG without EXIF/XMP/ICC/comments; decodes to identical pixels.

    Examples
    --------
    >>> jpg = encode_jpeg(np.zeros((8, 8, 3), np.uint8), 90)
    >>> strip_jpeg_metadata(jpg) == jpg
    True
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("data is not a JPEG (no SOI marker)")
    out = bytearray(b"\xff\xd8")
    i = 2
    n = len(data)
    while i < n:
        if data[i] != 0xFF:
            raise ValueError(f"corrupt JPEG: expected a marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:  # start of scan: copy the rest verbatim
            out += data[i:]
            return bytes(out)
        if i + 4 > n:
            raise ValueError("corrupt JPEG: truncated segment header")
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        seg = data[i : i + 2 + length]
        drop = (0xE1 <= marker <= 0xEF and marker != 0xEE) or marker == 0xFE
        if not drop:
            out += seg
        i += 2 + length
    raise ValueError("corrupt JPEG: no start-of-scan marker")


def apply_platform(image, platform: str, sensor_scale: float = 1.0,
                   profiles: Mapping[str, Mapping] | None = None) -> bytes:  # fmt: skip
    """Simulate uploading a picture to a platform and downloading it again.

    Applies the EXIF orientation, strips metadata, resizes by the profile's size rule (caps scaled by
    ``sensor_scale``), draws the profile's ``watermark`` (if any, :func:`draw_watermark`), and re-encodes as
    JPEG with the profile's quality, chroma subsampling and progressive flag. Profiles with
    ``keep_if_compliant`` (Twitter) return a JPEG that is already within the cap and at or below the profile
    quality unchanged apart from its metadata (unless they draw a watermark); ``passthrough``
    (``"original"``) returns camera bytes unchanged.

    Parameters
    ----------
    image : numpy.ndarray or bytes
        ``(H, W, 3)`` ``uint8`` RGB array, or encoded image bytes (a camera JPEG).
    platform : str
        A key of :data:`PLATFORMS` or of ``profiles``.
    sensor_scale : float
        In (0, 1]: simulated long side / real long side (4032); size caps are multiplied by it.
    profiles : dict, optional
        Extra or overriding profiles (:func:`load_profiles`).

    Returns
    -------
    bytes
        JPEG data as the platform serves it.

    Examples
    --------
    >>> img = np.zeros((300, 400, 3), np.uint8)
    >>> out = apply_platform(img, "instagram", sensor_scale=0.25)
    >>> Image.open(io.BytesIO(out)).size
    (270, 202)
    """
    prof = get_profile(platform, profiles)
    if not isinstance(sensor_scale, (int, float, np.floating)) or not 0 < float(sensor_scale) <= 1:
        raise ValueError(f"sensor_scale must be a number in (0, 1], got {sensor_scale!r}")
    sensor_scale = float(sensor_scale)
    data = None
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if prof["passthrough"]:
            return data
        arr = decode_rgb(data, name=f"<input to {platform}>")
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3) uint8 or JPEG bytes, got array {image.shape} {image.dtype}")
        arr = image
    else:
        raise TypeError(f"image must be a numpy array or bytes, got {type(image).__name__}")
    w, h = arr.shape[1], arr.shape[0]
    new_w, new_h = platform_size((w, h), prof, sensor_scale)
    watermark = prof.get("watermark")
    if data is not None and prof["keep_if_compliant"] and not watermark and (new_w, new_h) == (w, h):
        q = estimate_jpeg_quality(data)
        with Image.open(io.BytesIO(data)) as probe:
            orient = probe.getexif().get(0x0112, 1)
        if q is not None and q <= prof["quality"] and orient in (1, None):
            return strip_jpeg_metadata(data)
    img = Image.fromarray(np.ascontiguousarray(arr))
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), _RESAMPLE[prof["resample"]])
    if watermark:
        img = Image.fromarray(draw_watermark(np.asarray(img), watermark))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(prof["quality"]), subsampling=prof["subsampling"],
             progressive=bool(prof["progressive"]), optimize=False)  # fmt: skip
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------
# Dataset recipes
# ---------------------------------------------------------------------------------------------------------

RECIPES: tuple[str, ...] = ("our", "kaggle", "vision", "daxing")

#: Sensor (H, W) per scale; the same for every model of a recipe so fingerprints align.
SENSOR_SHAPES: dict[str, tuple[int, int]] = {"smoke": (240, 320), "cpu": (768, 1024), "paper": (1512, 2016)}

#: Per recipe and scale: counts and mixes. See docs/data.md for the reasons.
RECIPE_SCALES: dict[str, dict[str, dict[str, Any]]] = {
    "our": {
        "smoke": {"devices": 5, "images": 12},
        "cpu": {"devices": 5, "images": 80},
        "paper": {"devices": 5, "images": 1000},
    },
    "kaggle": {
        "smoke": {"devices": 10, "train": 6, "test": 4, "crop": 64},
        "cpu": {"devices": 10, "train": 30, "test": 12, "crop": 128},
        "paper": {"devices": 10, "train": 275, "test": 264, "crop": 256},
    },
    "vision": {
        "smoke": {"devices": 6, "flat": 4, "nat": 6},
        "cpu": {"devices": 35, "flat": 8, "nat": 10},
        "paper": {"devices": 35, "flat": 60, "nat": 140},
    },
    "daxing": {
        "smoke": {"devices": 6, "flat": 3, "nat": 5},
        "cpu": {"devices": 90, "flat": 5, "nat": 7},
        "paper": {"devices": 90, "flat": 160, "nat": 320},
    },
}

#: Scene mix of natural ("nat") images; flat images always use ``"flat"``.
NAT_MIX: dict[str, float] = {"dead_leaves": 0.5, "photo": 0.5}
#: Scene mix of the ``our`` recipe (no flat/nat folders; some sky/wall shots as in any photo collection).
OUR_MIX: dict[str, float] = {"dead_leaves": 0.45, "photo": 0.45, "flat": 0.10}

OUR_DEVICES: tuple[str, ...] = ("D01_Apple_iPhone6", "D02_Samsung_GalaxyS5", "D03_Nubia_Z17",
                                "D04_Xiaomi_RedmiNote8", "D05_Huawei_Honor10")  # fmt: skip

VISION_DEVICES: tuple[str, ...] = (
    "D01_Samsung_GalaxyS3Mini", "D02_Apple_iPhone4s", "D03_Huawei_P9", "D04_LG_D290", "D05_Apple_iPhone5c",
    "D06_Apple_iPhone6", "D07_Lenovo_P70A", "D08_Samsung_GalaxyTab3", "D09_Apple_iPhone4", "D10_Apple_iPhone4s",
    "D11_Samsung_GalaxyS3", "D12_Sony_XperiaZ1Compact", "D13_Apple_iPad2", "D14_Apple_iPhone5c",
    "D15_Apple_iPhone6", "D16_Huawei_P9Lite", "D17_Microsoft_Lumia640LTE", "D18_Apple_iPhone5c",
    "D19_Apple_iPhone6Plus", "D20_Apple_iPadMini", "D21_Wiko_Ridge4G", "D22_Samsung_GalaxyTrendPlus",
    "D23_Asus_Zenfone2Laser", "D24_Xiaomi_RedmiNote3", "D25_OnePlus_A3000", "D26_Samsung_GalaxyS3Mini",
    "D27_Samsung_GalaxyS5", "D28_Huawei_P8", "D29_Apple_iPhone5", "D30_Huawei_Honor5c", "D31_Samsung_GalaxyS4Mini",
    "D32_OnePlus_A3003", "D33_Huawei_Ascend", "D34_Apple_iPhone5", "D35_Samsung_GalaxyTabA",
)  # fmt: skip
#: smoke scale: two same-model pairs plus two singletons
VISION_SMOKE: tuple[str, ...] = ("D01_Samsung_GalaxyS3Mini", "D26_Samsung_GalaxyS3Mini", "D02_Apple_iPhone4s",
                                 "D10_Apple_iPhone4s", "D03_Huawei_P9", "D06_Apple_iPhone6")  # fmt: skip
#: VISION's shared-folder names -> platform
VISION_FOLDERS: dict[str, str] = {"flat": "original", "nat": "original", "natFBH": "facebook",
                                  "natFBL": "facebook_lq", "natWA": "whatsapp"}  # fmt: skip

#: Kaggle / SP Cup 2018 classes and the file-name abbreviations of their training images.
KAGGLE_CLASSES: dict[str, str] = {
    "HTC-1-M7": "HTC-1-M7", "iPhone-4s": "iP4s", "iPhone-6": "iP6", "LG-Nexus-5x": "LG5x",
    "Motorola-Droid-Maxx": "MotoMax", "Motorola-Nexus-6": "MotoNex6", "Motorola-X": "MotoX",
    "Samsung-Galaxy-Note3": "GalaxyN3", "Samsung-Galaxy-S4": "GalaxyS4", "Sony-NEX-7": "Nex7",
}  # fmt: skip
KAGGLE_MANIPULATIONS: tuple[str, ...] = ("jpg70", "jpg90", "resize0.5", "resize0.8", "resize1.5", "resize2.0",
                                         "gamma0.8", "gamma1.2")  # fmt: skip

#: Daxing stand-in: (brand, model, number of devices). Only "90 devices, 22 models, 5 brands, 23 iPhone 6S /
#: 6S Plus" is from the paper and Tian et al. (2019); the other models and counts are illustrative.
DAXING_MODELS: tuple[tuple[str, str, int], ...] = (
    ("Apple", "iPhone6S", 13), ("Apple", "iPhone6SPlus", 10), ("Apple", "iPhone7", 4), ("Apple", "iPhone7Plus", 4),
    ("Apple", "iPhone8", 3), ("Apple", "iPhoneX", 3),
    ("Huawei", "P9", 4), ("Huawei", "P10", 4), ("Huawei", "Mate9", 4), ("Huawei", "Honor8", 4), ("Huawei", "Nova2", 3),
    ("Xiaomi", "Mi5", 4), ("Xiaomi", "Mi6", 4), ("Xiaomi", "RedmiNote4X", 4), ("Xiaomi", "Mi5X", 3),
    ("Oppo", "R9", 4), ("Oppo", "R11", 4), ("Oppo", "A57", 3),
    ("Vivo", "X9", 3), ("Vivo", "X9Plus", 2), ("Vivo", "Y67", 2), ("Vivo", "X20", 1),
)  # fmt: skip


def _daxing_devices() -> list[str]:
    return [f"{b}_{m}_{i:02d}" for b, m, n in DAXING_MODELS for i in range(1, n + 1)]


DAXING_SMOKE: tuple[str, ...] = ("Apple_iPhone6S_01", "Apple_iPhone6S_02", "Apple_iPhone6SPlus_01",
                                 "Huawei_P9_01", "Xiaomi_Mi6_01", "Oppo_R9_01")  # fmt: skip


def _model_of(device: str) -> str:
    """``D01_Apple_iPhone6`` -> ``Apple_iPhone6``; ``Apple_iPhone6S_03`` -> ``Apple_iPhone6S``."""
    parts = device.split("_")
    if parts[0][:1] == "D" and parts[0][1:].isdigit():
        parts = parts[1:]
    if len(parts) > 2 and parts[-1].isdigit():
        parts = parts[:-1]
    return "_".join(parts)


def _recipe_devices(recipe: str, scale: str) -> list[str]:
    """The recipe's device list (Kaggle: ``<class>_1`` and ``<class>_2`` per class)."""
    if recipe == "our":
        return list(OUR_DEVICES)
    if recipe == "vision":
        return list(VISION_SMOKE if scale == "smoke" else VISION_DEVICES)
    if recipe == "daxing":
        return list(DAXING_SMOKE if scale == "smoke" else _daxing_devices())
    return [f"{c}_{d}" for c in KAGGLE_CLASSES for d in (1, 2)]


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)


def _check_override(recipe: str, scale: str, key: str, value):
    """One validated, JSON-normalised override value (int, float or list); raises ValueError."""
    bad = f"override {key!r} of recipe {recipe!r}"
    if key in RECIPE_SCALES[recipe][scale]:  # counts
        if not _is_int(value) or value < 1:
            raise ValueError(f"{bad} must be a positive int, got {value!r}")
        value = int(value)
        if key == "crop" and not 8 <= value <= min(SENSOR_SHAPES[scale]):
            raise ValueError(f"{bad} must be in 8..{min(SENSOR_SHAPES[scale])} (the sensor's short side), got {value}")
        if key == "devices":
            n = len(_recipe_devices(recipe, scale)) // (2 if recipe == "kaggle" else 1)
            if value > n:
                what = "classes" if recipe == "kaggle" else "devices"
                raise ValueError(f"{bad} must be at most {n} (the recipe's {what}), got {value}")
        return value
    if key in ("exposure", "camera_quality"):
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"{bad} must be a pair (lo, hi), got {value!r}")
        lo, hi = value
        if key == "exposure":
            if not (_is_real(lo) and _is_real(hi) and 0 < lo <= hi <= 1):
                raise ValueError(f"{bad} must be (lo, hi) with 0 < lo <= hi <= 1, got {value!r}")
            return [float(lo), float(hi)]
        if not (_is_int(lo) and _is_int(hi) and 1 <= lo <= hi <= 100):
            raise ValueError(f"{bad} must be (lo, hi) ints with 1 <= lo <= hi <= 100, got {value!r}")
        return [int(lo), int(hi)]
    if key == "adc_bits":
        if not _is_int(value) or not 1 <= value <= 16:
            raise ValueError(f"{bad} must be an int in 1..16, got {value!r}")
        return int(value)
    limits = {"prnu_std": (0.0, 0.25), "full_well": (1e-6, None), "read_noise": (0.0, None)}[key]
    if not _is_real(value) or value < limits[0] or (limits[1] is not None and value > limits[1]):
        raise ValueError(f"{bad} must be a number in [{limits[0]}, {limits[1] or 'inf'}], got {value!r}")
    return float(value)


def _normalise_overrides(recipe: str, scale: str, overrides: Mapping | None) -> dict:
    """Validated overrides that differ from the recipe's defaults (no-op overrides are dropped), sorted."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise TypeError(f"overrides must be a dict, got {type(overrides).__name__}")
    counts = RECIPE_SCALES[recipe][scale]
    check_keys(f"overrides of recipe {recipe!r} at scale {scale!r}", overrides, [*counts, *SENSOR_DEFAULTS])
    out = {}
    for key in sorted(overrides):
        value = _check_override(recipe, scale, key, overrides[key])
        default = counts[key] if key in counts else SENSOR_DEFAULTS[key]
        if json.dumps(value) != json.dumps(_check_override(recipe, scale, key, default)):
            out[key] = value
    return out


@functools.cache
def simulator_digest() -> str:
    """Digest of the code that renders the data: this module, the decoder it uses, and library versions.

    Part of every dataset's cache key (:func:`build_dataset`), so an edit of ``csi/simulate.py`` (or an
    upgrade of NumPy, SciPy or Pillow, whose random streams and JPEG codec make the bytes) rebuilds the
    datasets, while an unchanged rerun reuses them. Computed once per process.

    Returns
    -------
    str
        16 hexadecimal characters (:func:`csi.cache.code_digest`).

    Examples
    --------
    >>> len(simulator_digest())
    16
    """
    import PIL
    import scipy

    from csi import cache

    return cache.code_digest(sys.modules[__name__], decode_rgb, estimate_jpeg_quality, f"numpy {np.__version__}",
                             f"scipy {scipy.__version__}", f"Pillow {PIL.__version__}")  # fmt: skip


def recipe_plan(recipe: str, scale: str = "cpu", seed: int = 0, overrides: Mapping[str, Any] | None = None) -> dict:
    """Everything that determines a recipe's output (the cache key): devices, models, counts, parameters, code.

    Parameters
    ----------
    recipe : {"our", "kaggle", "vision", "daxing"}
    scale : {"smoke", "cpu", "paper"}
    seed : int
    overrides : dict, optional
        Changes to the recipe's counts (keys of ``RECIPE_SCALES[recipe][scale]``, e.g. ``{"images": 200}``;
        ``"devices": n`` keeps the first ``n`` devices of the recipe, or the first ``n`` classes for Kaggle)
        and to the sensor (keys of :data:`SENSOR_DEFAULTS`, e.g. ``{"prnu_std": 0.0075}`` for a realistic PRNU
        strength of 0.5-1 %). Unknown keys and invalid values raise ``ValueError``. Overrides equal to the
        default are dropped.

    Returns
    -------
    dict
        JSON-serialisable plan: ``recipe, scale, seed, sensor_shape, sensor_scale, counts, devices`` (device ->
        model), ``processing`` (model -> processing), ``sensor``, ``mix``, ``platforms`` (profiles used),
        ``overrides`` (the effective ones), ``simulator_version`` and ``code`` (:func:`simulator_digest`).

    Examples
    --------
    >>> recipe_plan("our", "smoke")["sensor_shape"]
    [240, 320]
    >>> recipe_plan("our", "smoke", overrides={"images": 3, "prnu_std": 0.0075})["counts"]["images"]
    3
    """
    check_choice("recipe", recipe, RECIPES)
    check_scale(scale)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    ov = _normalise_overrides(recipe, scale, overrides)
    counts = dict(RECIPE_SCALES[recipe][scale])
    sensor = dict(SENSOR_DEFAULTS)
    for key, value in ov.items():
        (counts if key in counts else sensor)[key] = tuple(value) if isinstance(value, list) else value
    devices = _recipe_devices(recipe, scale)
    if "devices" in ov:
        devices = devices[: ov["devices"] * (2 if recipe == "kaggle" else 1)]
    device_models = {d: (d.rsplit("_", 1)[0] if recipe == "kaggle" else _model_of(d)) for d in devices}
    processing = {m: model_processing(m, sensor["camera_quality"]) for m in sorted(set(device_models.values()))}
    shape = SENSOR_SHAPES[scale]
    plan = {
        "recipe": recipe,
        "scale": scale,
        "seed": int(seed),
        "sensor_shape": list(shape),
        "sensor_scale": max(shape) / REAL_LONG_SIDE,
        "counts": counts,
        "devices": device_models,
        "processing": processing,
        "sensor": {k: list(v) if isinstance(v, tuple) else v for k, v in sensor.items()},
        "mix": {"nat": NAT_MIX, "our": OUR_MIX},
        "platforms": {k: PLATFORMS[k] for k in ("facebook", "facebook_lq", "whatsapp")} if recipe == "vision" else {},
        "overrides": ov,
        "simulator_version": SIMULATOR_VERSION,
        "code": simulator_digest(),
    }
    return json.loads(json.dumps(plan))  # normalise tuples -> lists


def _plan_hash(plan: Mapping, twins: bool = False) -> str:
    """The dataset cache key: the plan (which holds the code digest) and the twins flag."""
    return hashlib.sha256(json.dumps({"plan": plan, "twins": bool(twins)}, sort_keys=True).encode()).hexdigest()[:16]


def _tasks(plan: Mapping) -> list[dict]:
    """One task per camera shot; each task writes one or more files."""
    recipe, c = plan["recipe"], plan["counts"]
    tasks = []
    for d in plan["devices"]:
        if recipe == "our":
            for i in range(c["images"]):
                tasks.append({"device": d, "index": i, "kind": "our", "rel": [f"{d}/{d}_{i + 1:04d}.jpg"]})
        elif recipe == "vision":
            num = d.split("_")[0]
            base = f"{d}/images"
            for i in range(c["flat"]):
                tasks.append({"device": d, "index": i, "kind": "flat",
                              "rel": [f"{base}/flat/{num}_I_flat_{i + 1:04d}.jpg"]})  # fmt: skip
            for i in range(c["nat"]):
                rel = [f"{base}/{f}/{num}_I_{f}_{i + 1:04d}.jpg" for f in VISION_FOLDERS if f != "flat"]
                tasks.append({"device": d, "index": 1000 + i, "kind": "nat", "rel": rel})
        elif recipe == "daxing":
            for i in range(c["flat"]):
                tasks.append({"device": d, "index": i, "kind": "flat", "rel": [f"{d}/flat/{d}_flat_{i + 1:04d}.jpg"]})
            for i in range(c["nat"]):
                tasks.append({"device": d, "index": 1000 + i, "kind": "nat",
                              "rel": [f"{d}/nat/{d}_nat_{i + 1:04d}.jpg"]})  # fmt: skip
        else:  # kaggle: device _1 -> train, _2 -> test
            cls, which = d.rsplit("_", 1)
            if which == "1":
                for i in range(c["train"]):
                    tasks.append({"device": d, "index": i, "kind": "nat",
                                  "rel": [f"train/{cls}/({KAGGLE_CLASSES[cls]}){i + 1}.jpg"]})  # fmt: skip
            else:
                r = _rng(plan["seed"], "kaggle-test", cls)
                for i in range(c["test"]):
                    hexid = f"{int(r.integers(0, 16**7)):07x}"
                    manip = "unalt" if i % 2 == 0 else KAGGLE_MANIPULATIONS[int(r.integers(len(KAGGLE_MANIPULATIONS)))]
                    tag = "unalt" if manip == "unalt" else "manip"
                    tasks.append({"device": d, "index": i, "kind": "nat", "manip": manip,
                                  "rel": [f"test/img_{hexid}_{tag}.tif"]})  # fmt: skip
    return tasks


def _manipulate(img: np.ndarray, manip: str) -> np.ndarray:
    if manip == "unalt":
        return img
    if manip.startswith("jpg"):
        return decode_rgb(encode_jpeg(img, int(manip[3:]), "4:2:0"))
    if manip.startswith("resize"):
        f = float(manip[6:])
        size = (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f)))
        return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))
    g = float(manip[5:])
    return np.round(255.0 * (img.astype(np.float32) / 255.0) ** g).astype(np.uint8)


def _center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ValueError(f"image {img.shape} smaller than the crop {size}")
    y0, x0 = (h - size) // 2, (w - size) // 2
    return img[y0 : y0 + size, x0 : x0 + size]


def _kaggle_test_tiff(jpeg: bytes, manip: str, crop: int) -> bytes:
    """Kaggle test image: manipulate the camera JPEG, centre crop, uncompressed TIFF."""
    img = _center_crop(_manipulate(decode_rgb(jpeg), manip), crop)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="TIFF")
    return buf.getvalue()


#: Folder of a dataset that holds the oracle twins (same relative paths as the camera images).
TWINS_DIR = "twins"


def _run_task(args) -> list[tuple[str, str, int]]:
    plan, task, out_dir, twins = args
    shape = tuple(plan["sensor_shape"])
    d = task["device"]
    model = plan["devices"][d]
    proc = plan["processing"][model]
    sensor = {k: tuple(v) if isinstance(v, list) else v for k, v in plan["sensor"].items()}
    K = device_prnu(shape, plan["seed"], plan["recipe"], d, sensor["prnu_std"])
    rng = _rng(plan["seed"], plan["recipe"], d, task["index"], "shot")
    kind = task["kind"]
    if kind == "flat":
        scene_kind = "flat"
    else:
        scene_kind = _choose_kind(plan["mix"]["our" if kind == "our" else "nat"], rng)
    scene = make_scene(scene_kind, shape, rng)
    sensor.pop("camera_quality")
    if twins:  # same draws: the camera JPEG is byte-identical to the one made without twins
        jpeg, twin_jpeg = render_jpeg(scene, K, proc, rng, sensor, twin=True)
    else:
        jpeg, twin_jpeg = render_jpeg(scene, K, proc, rng, sensor), None
    outputs: list[tuple[str, bytes]] = []
    if "manip" in task:  # Kaggle test: manipulate, centre crop, uncompressed TIFF
        outputs.append((task["rel"][0], _kaggle_test_tiff(jpeg, task["manip"], plan["counts"]["crop"])))
        if twin_jpeg is not None:
            outputs.append((f"{TWINS_DIR}/{task['rel'][0]}",
                            _kaggle_test_tiff(twin_jpeg, task["manip"], plan["counts"]["crop"])))  # fmt: skip
    else:
        outputs.append((task["rel"][0], jpeg))
        if twin_jpeg is not None:
            outputs.append((f"{TWINS_DIR}/{task['rel'][0]}", twin_jpeg))
        if plan["recipe"] == "vision" and kind == "nat":
            for rel, plat in zip(task["rel"][1:], ("facebook", "facebook_lq", "whatsapp"), strict=True):
                outputs.append((rel, apply_platform(jpeg, plat, plan["sensor_scale"])))
    result = []
    for rel, data in outputs:
        path = Path(out_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        result.append((rel, hashlib.sha256(data).hexdigest(), len(data)))
    return result


def _manifest_ok(out: Path, plan_hash: str) -> bool:
    mf = out / "manifest.json"
    if not mf.is_file():
        return False
    try:
        man = json.loads(mf.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if man.get("plan_hash") != plan_hash:
        return False
    for rel, info in man.get("files", {}).items():
        p = out / rel
        if not p.is_file() or p.stat().st_size != info["bytes"]:
            return False
    return all((out / "ground_truth" / f"{d}.npy").is_file() for d in man.get("devices", {}))


def dataset_dir(recipe: str, scale: str = "cpu", seed: int = 0, root: str | os.PathLike = "data/synthetic",
                overrides: Mapping[str, Any] | None = None, twins: bool = False) -> Path:  # fmt: skip
    """Folder of a built recipe: ``<root>/<recipe>-<scale>-seed<seed>``, plus ``-<8 hex>`` for overrides or twins.

    The suffix is a digest of the effective overrides (see :func:`recipe_plan`; overrides equal to the
    defaults are dropped) and the twins flag, so each variant gets its own folder while a plain recipe keeps
    its folder. The code version is not part of the name: an edit of the simulator rebuilds in place.

    Examples
    --------
    >>> dataset_dir("our", "smoke", 0, "data/synthetic").as_posix()
    'data/synthetic/our-smoke-seed0'
    >>> dataset_dir("our", "smoke", 0, "data/synthetic", overrides={"prnu_std": 0.0075}).name  # doctest: +SKIP
    'our-smoke-seed0-1a2b3c4d'
    """
    check_choice("recipe", recipe, RECIPES)
    check_scale(scale)
    name = f"{recipe}-{scale}-seed{int(seed)}"
    ov = _normalise_overrides(recipe, scale, overrides)
    if ov or twins:
        tag = json.dumps({"overrides": ov, "twins": bool(twins)}, sort_keys=True)
        name += "-" + hashlib.sha256(tag.encode()).hexdigest()[:8]
    return Path(root) / name


def build_dataset(recipe: str, scale: str = "cpu", seed: int = 0, root: str | os.PathLike = "data/synthetic",
                  progress: bool = True, workers: int | None = None, force: bool = False,
                  overrides: Mapping[str, Any] | None = None, twins: bool = False) -> Path:  # fmt: skip
    """Build (or reuse) a synthetic dataset in the real dataset's on-disk layout.

    Layouts (under the returned folder):

    - ``our``: ``<device>/<device>_NNNN.jpg`` ("folder" layout, originals only);
    - ``kaggle``: ``train/<class>/(<abbr>)<n>.jpg`` (device 1 of each model), ``test/img_<hex>_{unalt,manip}.tif``
      (device 2, centre crops, half manipulated) and ``test_labels.csv``;
    - ``vision``: ``DXX_Brand_Model/images/{flat,nat,natFBH,natFBL,natWA}/DXX_I_<type>_NNNN.jpg``;
    - ``daxing``: ``<Brand>_<Model>_<NN>/{flat,nat}/<device>_<type>_NNNN.jpg``;

    plus ``manifest.json`` (plan, checksums, sensor size, sensor_scale) and ``ground_truth/<device>.npy``
    (``K``, ``(H, W) float32``); with ``twins``, also ``twins/<same relative path>`` for every camera image
    (the oracle twin, :func:`render_pair`; Kaggle test images: the twin manipulated and cropped alike). The
    output depends only on ``(recipe, scale, seed, overrides, twins)`` and the code (:func:`simulator_digest`);
    it is rebuilt in place when the plan (:func:`recipe_plan`) or the code changes or files are missing, and
    reused otherwise. The camera images do not depend on ``twins`` (byte-identical).

    Parameters
    ----------
    recipe : {"our", "kaggle", "vision", "daxing"}
    scale : {"smoke", "cpu", "paper"}
    seed : int
    root : path
        Cache root (default ``data/synthetic``, relative to the working directory).
    progress : bool
        progress bar (:mod:`csi.progress`).
    workers : int, optional
        Processes (default: 1 for fewer than 64 shots, else ``min(8, cpu_count)``, i.e. 2 on a 2-core
        laptop). The output does not depend on it: every shot has its own seeded generator.
    force : bool
        Rebuild even if the cache is valid.
    overrides : dict, optional
        Counts and sensor parameters (:func:`recipe_plan`), e.g. ``{"prnu_std": 0.0075}``; the dataset then
        lives in its own folder (:func:`dataset_dir`).
    twins : bool
        Also write each camera image's oracle twin under ``twins/`` (own folder too).

    Returns
    -------
    pathlib.Path
        The dataset folder.

    References
    ----------
    Sec. 4.1 of the paper (the four datasets).

    Examples
    --------
    >>> path = build_dataset("our", "smoke", seed=0, root="data/synthetic", progress=False)  # doctest: +SKIP
    >>> sorted(p.name for p in path.iterdir())[:2]                                        # doctest: +SKIP
    ['D01_Apple_iPhone6', 'D02_Samsung_GalaxyS5']
    """
    from csi.progress import bar as progress_bar

    plan = recipe_plan(recipe, scale, seed, overrides)
    twins = bool(twins)
    phash = _plan_hash(plan, twins)
    out = dataset_dir(recipe, scale, seed, root, overrides, twins)
    if not force and _manifest_ok(out, phash):
        log.info("using cached %s (%s)", out, phash)
        return out
    if out.exists():
        log.info("rebuilding %s", out)
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    tasks = _tasks(plan)
    if workers is None:
        workers = 1 if len(tasks) < 64 else max(1, min(8, os.cpu_count() or 1))
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    args = [(plan, t, str(out), twins) for t in tasks]
    files: dict[str, dict] = {}
    bar = progress_bar(total=len(tasks), desc=f"building {recipe}/{scale}", enabled=progress, unit="shot")
    if workers == 1:
        results = map(_run_task, args)
        pool = None
    else:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        pool = ctx.Pool(int(workers))
        results = pool.imap(_run_task, args, chunksize=4)
    try:
        for res in results:
            for rel, sha, n in res:
                files[rel] = {"sha256": sha, "bytes": n}
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    gt = out / "ground_truth"
    gt.mkdir()
    for d in plan["devices"]:
        np.save(gt / f"{d}.npy", device_prnu(tuple(plan["sensor_shape"]), seed, recipe, d, plan["sensor"]["prnu_std"]))
    if recipe == "kaggle":
        lines = ["fname,camera,device,manipulation"]
        for t in tasks:
            if "manip" in t:
                lines.append(f"{Path(t['rel'][0]).name},{t['device'].rsplit('_', 1)[0]},{t['device']},{t['manip']}")
        (out / "test_labels.csv").write_text("\n".join(lines) + "\n")
        files["test_labels.csv"] = {"sha256": hashlib.sha256((out / "test_labels.csv").read_bytes()).hexdigest(),
                                    "bytes": (out / "test_labels.csv").stat().st_size}  # fmt: skip
    elapsed = time.perf_counter() - t0
    manifest = {
        "recipe": recipe, "seed": int(seed), "scale": scale, "plan_hash": phash, "twins": twins,
        "overrides": plan["overrides"],
        "sensor_shape": plan["sensor_shape"], "sensor_scale": plan["sensor_scale"],
        "parameters": plan, "devices": plan["devices"], "n_files": len(files),
        "files": dict(sorted(files.items())), "build_seconds": round(elapsed, 2), "workers": int(workers),
    }  # fmt: skip
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(out / "manifest.json")
    log.info("built %s: %d files in %.1f s", out, len(files), elapsed)
    return out


def read_manifest(path: str | os.PathLike) -> dict:
    """The ``manifest.json`` of a built dataset folder.

    Examples
    --------
    >>> read_manifest(build_dataset("our", "smoke"))["sensor_scale"]   # doctest: +SKIP
    0.07936507936507936
    """
    mf = Path(path) / "manifest.json"
    if not mf.is_file():
        raise ValueError(f"{path} has no manifest.json (not a dataset built by csi.simulate.build_dataset)")
    return json.loads(mf.read_text())


def ground_truth(root: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ground-truth PRNU factors of a built dataset.

    Parameters
    ----------
    root : path
        Folder returned by :func:`build_dataset`.

    Returns
    -------
    dict
        ``{device: K}``, each ``K`` ``(H, W)`` ``float32`` (zero-mean, std ~ ``prnu_std``).

    Examples
    --------
    >>> K = ground_truth(build_dataset("our", "smoke"))   # doctest: +SKIP
    >>> K["D01_Apple_iPhone6"].shape                      # doctest: +SKIP
    (240, 320)
    """
    gt = Path(root) / "ground_truth"
    if not gt.is_dir():
        raise ValueError(f"{root} has no ground_truth/ folder (not a dataset built by csi.simulate.build_dataset)")
    return {p.stem: np.load(p) for p in sorted(gt.glob("*.npy"))}
