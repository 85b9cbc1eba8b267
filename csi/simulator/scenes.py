"""Scene content ``Y`` of Eq. 1-2 (linear light), with no downloads: dead leaves, flat scenes, bundled photos."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from scipy import fft

from csi.config import check_choice

SCENE_KINDS = ("dead_leaves", "flat", "photo")

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
    """Path of a bundled photo, found without importing the (slow to import) package."""
    root = Path(importlib.util.find_spec(package).origin).parent
    return root / "data" / name if package == "skimage" else root / "datasets" / "images" / name


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
    """Inverse sRGB transfer curve (IEC 61966-2-1): sRGB in [0, 1] -> ``float32`` linear light, same shape.

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
    """A scene ``Y`` of Eq. 1-2: ``(H, W, 3) float32`` linear light in [0, 1] (``H, W >= 8``).

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


def choose_kind(mix: Mapping[str, float], rng: np.random.Generator) -> str:
    """One scene kind drawn from ``mix`` (``{kind: weight}``; weights normalised, kinds in sorted order)."""
    kinds = sorted(mix)
    p = np.array([mix[k] for k in kinds], dtype=float)
    return kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
