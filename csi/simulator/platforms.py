"""Social-platform profiles and the upload transform: size rule, watermark, JPEG re-encode."""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from csi.config import check_choice, check_keys
from csi.io import decode_rgb, estimate_jpeg_quality

from .camera import JPEG_SUBSAMPLINGS, encode_jpeg

#: Long side of a real phone sensor (12 MP, 4032 x 3024); ``sensor_scale = simulated long side / this``.
REAL_LONG_SIDE = 4032

#: Keys of a profile and the defaults of omitted keys (user profiles, :func:`load_profiles`).
_PROFILE_DEFAULTS: dict[str, Any] = {
    "long_side": None, "short_side": None, "max_width": None, "aspect_short_cap": None, "quality": 75,
    "subsampling": "4:2:0", "progressive": False, "keep_if_compliant": False, "passthrough": False,
    "resample": "lanczos", "watermark": None, "source": "user profile",
}  # fmt: skip


def _profile(source: str, **values) -> dict[str, Any]:
    return {**_PROFILE_DEFAULTS, **values, "source": source}


#: Platform profiles. Caps in px for a real 4032-px sensor (scaled by ``sensor_scale``): ``long_side``,
#: ``short_side``, ``max_width`` (width whatever the orientation); ``aspect_short_cap``: above this aspect ratio
#: the long-side cap applies to the short side; ``keep_if_compliant``: a JPEG within the cap and at or below
#: ``quality`` is kept (metadata stripped); ``passthrough``: camera files unchanged; ``watermark``: text drawn
#: bottom-right or None; ``source``: where each number comes from ("estimate": not a measured fact).
PLATFORMS: dict[str, dict[str, Any]] = {
    "original": _profile(
        "camera file unchanged; an array is encoded at QF 95 4:2:0 (a typical phone setting; estimate)",
        quality=95, passthrough=True),
    "twitter": _profile(
        "long side 4096 (current cap; older 2048/1024); QF ~85 (estimate); since 2019 small compliant "
        "JPEGs are kept as encoded; EXIF removed (estimate); progressive (estimate)",
        long_side=4096, quality=85, progressive=True, keep_if_compliant=True),
    "facebook": _profile(
        "HQ upload: long side 2048; QF 71-85, 85 from ImageMagick identify on downloads (estimate); "
        "progressive; EXIF removed; always recompressed (blog measurements 2010-2021; Moltisanti et "
        "al. 2015). The FBMD IPTC block and ICC profile it adds are not simulated",
        long_side=2048, quality=85, progressive=True),
    "facebook_lq": _profile(
        "older low-quality default: long side 960; QF 75 from a DCT-based thesis estimate (estimate)",
        long_side=960, quality=75, progressive=True),
    "instagram": _profile(
        "width/long side 1080; QF ~75-85, low end taken (estimate); EXIF removed (estimate)",
        long_side=1080, quality=75),
    "wechat": _profile(
        "Moments: long side 1280 (2016 reverse engineering); aspect > 2 caps the short side; iOS "
        "quality 0.5 ~ libjpeg QF 50-70, 60 taken (estimate); metadata stripped (Yang et al. 2022)",
        long_side=1280, aspect_short_cap=2.0, quality=60),
    "weibo": _profile(
        "large view: width capped at 2000 px whatever the height (web client 'mw2000' size; the number "
        "is the width: dataabc/weibo-crawler#621, 2026); older 'large' view capped the width at 2048 "
        "(2016 user measurement 2560x300 -> 2048x240; suxiaogang/WeiboPicBed#49, 2016). Always "
        "recompressed, 'close to Photoshop Save-for-Web quality ~80' (2016 user measurement); libjpeg "
        "QF 85 taken (estimate; Photoshop's scale is finer than libjpeg's at equal numbers). Default "
        "watermark drawn into the pixels bottom-right: served images carry it (dataabc/weibo-crawler"
        "#196 and #225, 2021; hupo376787/WeiboAlbumDownloader#10, 2024), content is a user setting "
        "(nickname, logo or 'weibo.com/<user>' address), simulated as small semi-transparent white "
        "text 'weibo.com/csi' (text, size, opacity: estimates). Progressive and subsampling: estimates",
        max_width=2000, quality=85, watermark="weibo.com/csi"),
    "whatsapp": _profile(
        "long side 1600 (1280 in 2015; HD mode ~4096); QF ~75-80, 77 taken (estimate)",
        long_side=1600, quality=77),
    "telegram": _profile(
        "long side 1280 (desktop and Android; web 2560); QF 80 Android (desktop 87); re-encoded from a "
        "bitmap so EXIF is lost",
        long_side=1280, quality=80),
}  # fmt: skip

#: The five platforms of the paper (Table 3).
PAPER_PLATFORMS: tuple[str, ...] = ("twitter", "facebook", "instagram", "wechat", "weibo")

_RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
             "bilinear": Image.Resampling.BILINEAR, "area": Image.Resampling.BOX}  # fmt: skip


def _validate_profile(name: str, prof: Mapping) -> dict:
    check_keys(f"keys in platform profile {name!r}", prof, _PROFILE_DEFAULTS)
    out = {**_PROFILE_DEFAULTS, **prof}
    for key in ("long_side", "short_side", "max_width"):
        v = out[key]
        if v is not None and (not isinstance(v, (int, np.integer)) or v < 16):
            raise ValueError(f"platform profile {name!r}: {key} must be None or an int >= 16, got {v!r}")
    q = out["quality"]
    if not isinstance(q, (int, np.integer)) or not 1 <= q <= 100:
        raise ValueError(f"platform profile {name!r}: quality must be an int in 1..100, got {q!r}")
    check_choice(f"subsampling of platform profile {name!r}", out["subsampling"], JPEG_SUBSAMPLINGS)
    check_choice(f"resample of platform profile {name!r}", out["resample"], _RESAMPLE)
    if out["aspect_short_cap"] is not None and float(out["aspect_short_cap"]) < 1:
        raise ValueError(f"platform profile {name!r}: aspect_short_cap must be None or >= 1")
    wm = out["watermark"]
    if wm is not None and not (isinstance(wm, str) and 1 <= len(wm) <= 64 and wm.isascii() and wm.isprintable()):
        raise ValueError(f"platform profile {name!r}: watermark must be None or 1-64 printable ASCII characters, "
                         f"got {wm!r}")  # fmt: skip
    return out


def load_profiles(path: str | os.PathLike) -> dict[str, dict]:
    """Extra or overriding profiles from a JSON file ``{"name": {profile keys...}}``, validated.

    >>> prof = load_profiles("profiles.json")  # {"myapp": {"long_side": 1000, "quality": 70}}  # doctest: +SKIP
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
    """Output ``(width, height)`` of a profile's size rule for an input ``(width, height)``; never upscales.

    >>> platform_size((4032, 3024), PLATFORMS["instagram"])
    (1080, 810)
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


#: Watermark geometry (estimates): text height and margins as fractions of the width; text opacity.
WATERMARK_STYLE: dict[str, float] = {"height": 0.025, "margin": 0.012, "opacity": 0.6}


@functools.cache
def _watermark_mask(text: str) -> np.ndarray:
    """The text rendered with Pillow's built-in bitmap font: ``(11, w) uint8`` in {0, 255}, read-only."""
    font = ImageFont.load_default_imagefont()  # bitmap font embedded in Pillow: no file, no FreeType
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, right), max(1, bottom)))
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    arr = np.asarray(mask, dtype=np.uint8).copy()
    arr.setflags(write=False)
    return arr


def draw_watermark(image: np.ndarray, text: str) -> np.ndarray:
    """Blend white text (Pillow's bitmap font) into the bottom-right corner of ``(H, W, 3) uint8`` RGB.

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
    """JPEG bytes without APPn (except APP0 JFIF and APP14 Adobe) and COM segments; pixels unchanged.

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
    """Simulate an upload and download: the JPEG bytes a platform serves for an image.

    >>> out = apply_platform(np.zeros((300, 400, 3), np.uint8), "instagram", sensor_scale=0.25)
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
    return encode_jpeg(np.asarray(img), int(prof["quality"]), prof["subsampling"], bool(prof["progressive"]))
