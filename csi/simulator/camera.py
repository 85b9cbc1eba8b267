"""The sensor and the camera pipeline (Eq. 1-2): ``I = g^gamma [(1 + K) Y + xi]^gamma + Theta``."""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from csi.config import check_choice, check_keys
from csi.io import decode_rgb

#: Sensor and noise parameters shared by all simulated cameras (reasons: docs/data.md §1).
SENSOR_DEFAULTS: dict[str, Any] = {
    "prnu_std": 0.015,  # std of K (calibrated; real phones 0.5-1 %)
    "full_well": 4000.0,  # photo-electrons at raw value 1 for the reference exposure
    "read_noise": 3.0,  # read noise std in electrons
    "adc_bits": 10,  # ADC bit depth
    "exposure": (0.3, 1.0),  # log-uniform fraction of the full well at scene value 1 (gain undoes it)
    "camera_quality": (90, 96),  # in-camera JPEG QF range; each model draws one value
}

#: Bayer patterns (2x2 tile, channel index 0=R, 1=G, 2=B).
CFA_PATTERNS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "RGGB": ((0, 1), (1, 2)),
    "BGGR": ((2, 1), (1, 0)),
    "GRBG": ((1, 0), (2, 1)),
    "GBRG": ((1, 2), (0, 1)),
}
DEMOSAIC_METHODS = ("bilinear", "malvar")
JPEG_SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")


def _rng(*parts) -> np.random.Generator:
    """A generator seeded from ints and strings (strings by CRC-32: the same in every process and version)."""
    ints = [p if isinstance(p, (int, np.integer)) else zlib.crc32(str(p).encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence([int(i) for i in ints]))


def model_processing(model: str, camera_quality: tuple[int, int] = SENSOR_DEFAULTS["camera_quality"]) -> dict:
    """The in-camera processing of a model, drawn deterministically from its name (ranges: docs/data.md §1).

    >>> sorted(model_processing("Apple_iPhone6"))[:3]
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
    """The ground-truth PRNU factor ``K`` of Eq. 1-2 for one device (same ``(seed, recipe, device)``, same ``K``).

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


def mosaic(rgb: np.ndarray, cfa: str = "RGGB") -> np.ndarray:
    """Sample an ``(H, W, 3)`` RGB plane with a Bayer CFA (2x2 pattern read row by row): ``(H, W) float32``.

    >>> mosaic(np.ones((2, 2, 3)) * [1, 2, 3], "RGGB").tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    check_choice("cfa", cfa, CFA_PATTERNS)
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    out = np.empty(rgb.shape[:2], dtype=np.float32)
    for a in (0, 1):
        for b in (0, 1):
            out[a::2, b::2] = rgb[a::2, b::2, CFA_PATTERNS[cfa][a][b]]
    return out


def _embed5(k) -> np.ndarray:
    k = np.asarray(k, dtype=np.float32)
    out = np.zeros((5, 5), np.float32)
    o = (5 - k.shape[0]) // 2
    out[o : o + k.shape[0], o : o + k.shape[1]] = k
    return out


# 5x5 correlation kernels: "g" green at R/B; "row"/"col" R (B) at G with R (B) in its row/column; "diag" R<->B.
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
    """Interpolate an ``(H, W)`` Bayer mosaic (``H, W >= 5``) to ``(H, W, 3) float32`` RGB, not clipped.

    >>> rgb = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    >>> bool(np.allclose(mosaic(demosaic(mosaic(rgb, "GRBG"), "GRBG"), "GRBG"), mosaic(rgb, "GRBG")))
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
    """Encode ``(H, W, 3) uint8`` RGB as JPEG with Pillow's libjpeg (standard tables at QF 1-100, no metadata).

    >>> encode_jpeg(np.zeros((16, 16, 3), np.uint8), 90)[:2] == b"\\xff\\xd8"
    True
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in 1..100, got {quality!r}")
    check_choice("subsampling", subsampling, JPEG_SUBSAMPLINGS)
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
    """Steps up to the photo-electrons: ``(electrons, twin electrons or None, exposure)``, ``(H, W) float32``."""
    raw = mosaic(scene * np.asarray(processing["sensitivity"], dtype=np.float32), processing["cfa"])
    lo, hi = p["exposure"]
    exposure = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    gain = np.float32(float(p["full_well"]) * exposure)
    lam = raw * (1.0 + K) * gain  # PRNU
    electrons = rng.poisson(np.clip(lam, 0, None)).astype(np.float32)  # shot noise
    electrons += rng.standard_normal(K.shape, dtype=np.float32) * np.float32(p["read_noise"])
    twin_electrons = electrons - (raw * gain) * K if twin else None
    return electrons, twin_electrons, exposure


def _develop(electrons: np.ndarray, exposure: float, processing: Mapping, p: Mapping) -> np.ndarray:
    """Full well and ADC to 8-bit quantisation of one electron mosaic; ``(H, W, 3) uint8``."""
    full_well = float(p["full_well"])
    sens = np.asarray(processing["sensitivity"], dtype=np.float32)
    levels = float(2 ** int(p["adc_bits"]) - 1)
    v = np.round(np.clip(electrons / full_well, 0.0, 1.0) * levels) / np.float32(levels)
    v = v.astype(np.float32) / np.float32(exposure)  # digital gain undoes the exposure
    rgb = demosaic(v, processing["cfa"], processing["demosaic"])
    rgb /= sens  # white balance
    np.clip(rgb, 0.0, 1.0, out=rgb)
    y = rgb ** np.float32(1.0 / processing["gamma"])  # tone curve: gamma + S-curve
    c = np.float32(processing["contrast"])
    y += c * (y * y * (3.0 - 2.0 * y) - y)
    return np.round(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


def render_raw(scene: np.ndarray, K: np.ndarray, processing: Mapping, rng: np.random.Generator,
               sensor: Mapping | None = None,
               twin: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Eq. 1-2 up to the camera's 8-bit output: ``(H, W, 3) uint8``; with ``twin``, ``(image, twin)``.

    >>> from csi.simulator import make_scene
    >>> rng = np.random.default_rng(0)
    >>> render_raw(make_scene("flat", (32, 32), rng), np.zeros((32, 32), np.float32), model_processing("X_Y"),
    ...            rng).shape
    (32, 32, 3)
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
    """:func:`render_raw` then the in-camera JPEG (model QF and subsampling): JPEG bytes, or ``(jpeg, twin)``."""
    out = render_raw(scene, K, processing, rng, sensor, twin=twin)
    if not twin:
        return encode_jpeg(out, processing["quality"], processing["subsampling"])
    return tuple(encode_jpeg(x, processing["quality"], processing["subsampling"]) for x in out)


def render_pair(scene: np.ndarray, K: np.ndarray, processing: Mapping, rng: np.random.Generator,
                sensor: Mapping | None = None, jpeg: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A photo and its oracle twin: the same shot with ``K = 0`` and the same noise draws (docs/data.md §1).

    ``e_twin = e - lambda0 K`` with ``e = Poisson(lambda0 (1 + K)) + read noise``; both are developed alike, so
    ``image - twin`` is the PRNU term ``~ I K`` of Eq. 1-2 as the camera delivers it. ``jpeg=True``: the decoded
    in-camera JPEGs; ``False``: the 8-bit output before the JPEG. Returns two ``(H, W, 3) uint8`` arrays.

    >>> from csi.simulator import make_scene
    >>> rng = np.random.default_rng(0)
    >>> img, twin = render_pair(make_scene("flat", (32, 32), rng), np.zeros((32, 32), np.float32),
    ...                         model_processing("X_Y"), rng)
    >>> bool((img == twin).all())
    True
    """
    if jpeg:
        data, twin_data = render_jpeg(scene, K, processing, rng, sensor, twin=True)
        return decode_rgb(data), decode_rgb(twin_data)
    return render_raw(scene, K, processing, rng, sensor, twin=True)
