"""Reading images as ``(H, W, 3) uint8`` RGB in the sensor's (landscape) orientation, with skip reports."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from csi.progress import bar

log = logging.getLogger(__name__)

#: File suffixes treated as images by the loaders (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_CONVERTIBLE_MODES = ("RGB", "P", "CMYK", "YCbCr", "LAB", "HSV")  # converted to RGB
_ALPHA_MODES = ("RGBA", "RGBa", "PA")  # converted only when every pixel is opaque
_EIGHT_BIT = "only 8-bit RGB is supported, convert it to 8-bit yourself so the scaling is explicit"


class ImageReadError(ValueError):
    """An image file could not be used; ``.path`` and ``.reason`` (in words) name the file and why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = str(path), str(reason)
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self):  # keep picklable across process pools
        return (type(self), (self.path, self.reason))


def _check_landscape(landscape) -> bool:
    if not isinstance(landscape, (bool, np.bool_)):
        raise TypeError(f"landscape must be a bool, got {type(landscape).__name__}")
    return bool(landscape)


def _check_file(p: Path) -> None:
    if not p.is_file():
        raise ImageReadError(p, "file not found" if not p.exists() else "not a regular file")
    if p.stat().st_size == 0:
        raise ImageReadError(p, "empty file (0 bytes)")


def _check_bit_depth(img: Image.Image, path: str) -> None:
    """Reject 16 bits per sample that Pillow would silently reduce to 8-bit RGB (e.g. 16-bit PNG)."""
    for tile in getattr(img, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args and
                                                  isinstance(args[0], str) else "")  # fmt: skip
        if ";16" in raw or raw.startswith("I;16"):
            raise ImageReadError(path, f"16-bit image (raw mode {raw}); {_EIGHT_BIT}")


def _check_mode(mode: str, path: str) -> None:
    """Raise :class:`ImageReadError` for a mode :func:`read_rgb` rejects whatever the pixels."""
    if mode in ("L", "1", "LA", "La"):
        raise ImageReadError(path, f"grayscale image (mode {mode}); camera identification needs the camera's RGB output")
    if mode.startswith("I;16") or mode in ("I", "F") or mode.startswith("RGB;16") or mode == "RGBA;16B":
        kind = "16-bit" if "16" in mode or mode == "I" else "floating-point"
        raise ImageReadError(path, f"{kind} image (mode {mode}); {_EIGHT_BIT}")
    if mode not in _CONVERTIBLE_MODES and mode not in _ALPHA_MODES:
        raise ImageReadError(path, f"unsupported image mode {mode}")


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)


def _check_opaque(rgba: Image.Image, mode: str, path: str) -> None:
    if np.asarray(rgba.getchannel("A")).min() < 255:
        raise ImageReadError(path, f"image with a transparent alpha channel (mode {mode}); not a camera picture")


def _to_rgb_array(img: Image.Image, path: str) -> np.ndarray:
    """A decoded PIL image as ``(H, W, 3) uint8``, or :class:`ImageReadError`."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    _check_mode(mode, path)
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        _check_opaque(rgba, mode, path)
        return np.asarray(rgba.convert("RGB"), dtype=np.uint8)
    log.info("%s: converted from mode %s to RGB", path, mode)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _decode(fp, name, landscape: bool, what: str) -> np.ndarray:
    """Decode ``fp`` (a path or a file object) as :func:`read_rgb` does; ``what`` ("file"/"data") for messages."""
    try:
        with Image.open(fp) as img:
            _check_bit_depth(img, str(name))
            img.load()
            arr = _to_rgb_array(ImageOps.exif_transpose(img), str(name))
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(name, f"cannot identify image {what} (not an image or corrupt header)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated / broken data streams
        raise ImageReadError(name, f"corrupt or truncated image data ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(name, f"image too large ({exc})") from None
    if landscape and arr.shape[0] > arr.shape[1]:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def read_rgb(path: str | os.PathLike, landscape: bool = True) -> np.ndarray:
    """Read an image file as 8-bit RGB with the EXIF orientation applied.

    >>> img = read_rgb("photo.jpg")           # doctest: +SKIP
    >>> img.shape, img.dtype                  # doctest: +SKIP
    ((3024, 4032, 3), dtype('uint8'))
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    landscape = _check_landscape(landscape)
    p = Path(path)
    _check_file(p)
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow to silently pad truncated files
        raise ImageReadError(p, "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; refusing to read silently padded data")
    return _decode(p, p, landscape, "file")


def decode_rgb(data: bytes, name: str = "<bytes>", landscape: bool = False) -> np.ndarray:
    """Decode encoded image bytes like :func:`read_rgb`; ``name`` stands for the path in errors.

    >>> decode_rgb(open("photo.jpg", "rb").read()).dtype   # doctest: +SKIP
    dtype('uint8')
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    landscape = _check_landscape(landscape)
    if len(data) == 0:
        raise ImageReadError(name, "empty data (0 bytes)")
    return _decode(io.BytesIO(bytes(data)), name, landscape, "data")


def image_size(path: str | os.PathLike, landscape: bool = True) -> tuple[int, int]:
    """``(width, height)`` of an image from its header only, as :func:`read_rgb` returns it.

    >>> image_size("photo.jpg")                # doctest: +SKIP
    (4032, 3024)
    """
    p = Path(path)
    _check_file(p)
    try:
        with Image.open(p) as img:
            w, h = img.size
            try:
                orientation = img.getexif().get(0x0112, 1)
            except Exception:  # a broken EXIF block must not hide the image
                orientation = 1
    except UnidentifiedImageError:
        raise ImageReadError(p, "cannot identify image file (not an image or corrupt header)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(p, f"unreadable image header ({exc})") from None
    if orientation in _TRANSPOSING_ORIENTATIONS:
        w, h = h, w
    return (int(max(w, h)), int(min(w, h))) if landscape else (int(w), int(h))


def check_image(path: str | os.PathLike, min_size: int = 0, landscape: bool = True,
                decode: bool = False) -> tuple[int, int]:
    """``(width, height)`` of an image :func:`read_rgb` will accept, checked from its header.

    >>> check_image("photo.jpg", min_size=512)    # doctest: +SKIP
    (4032, 3024)
    """
    p = Path(path)
    w, h = image_size(p, landscape=landscape)
    try:
        with Image.open(p) as img:
            _check_bit_depth(img, str(p))
            _check_mode(img.mode, str(p))
            if _has_alpha(img):
                _check_opaque(img.convert("RGBA"), img.mode, str(p))
            elif decode:
                if img.format == "JPEG":
                    img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(p, f"corrupt or truncated image data ({exc})") from None
    if min(w, h) < int(min_size):
        raise ImageReadError(p, f"smaller than the crop ({w}x{h} px, crop {int(min_size)} px)")
    return w, h


# libjpeg's standard luminance and chrominance tables (ITU-T T.81 Annex K.1, K.2), natural (row-major) order.
_STD_TABLES = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
     47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32], dtype=np.int64)  # fmt: skip


def libjpeg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's luminance and chrominance tables for ``quality`` 1-100: ``(64,) int64`` in 1-255.

    >>> int(libjpeg_tables(50)[0][0])
    16
    """
    if not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in 1..100, got {quality!r}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    luma, chroma = np.clip((_STD_TABLES * scale + 50) // 100, 1, 255)
    return luma, chroma


def estimate_jpeg_quality(source) -> int | None:
    """libjpeg quality (1-100) whose tables are nearest (mean absolute difference) to a JPEG's; None if no JPEG.

    >>> estimate_jpeg_quality("photo.jpg")   # doctest: +SKIP
    92
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp, name = io.BytesIO(bytes(source)), "<bytes>"
    elif isinstance(source, (str, os.PathLike)):
        fp, name = source, str(source)
    else:
        raise TypeError(f"source must be bytes or a path, got {type(source).__name__}")
    try:
        with Image.open(fp) as img:
            if img.format != "JPEG":
                return None
            tables = {k: np.asarray(v, dtype=np.int64) for k, v in img.quantization.items()}
    except UnidentifiedImageError:
        raise ImageReadError(name, "cannot identify image data") from None
    except OSError as exc:
        raise ImageReadError(name, f"unreadable ({exc})") from None
    luma, chroma = tables.get(0), tables.get(1)
    errors = [np.abs(luma - tl).mean() + (0.0 if chroma is None else np.abs(chroma - tc).mean())
              for tl, tc in map(libjpeg_tables, range(1, 101))]  # fmt: skip
    return int(np.argmin(errors)) + 1  # the first (lowest) quality of the smallest error


class RGBIterator(Iterator):
    """Yields ``(path, image)``; ``.skipped`` lists ``(path, reason)`` of unreadable files, ``.n_read`` counts."""

    def __init__(self, paths: Iterable, errors: str = "skip", progress: bool = False, landscape: bool = True):
        if errors not in ("skip", "raise"):
            raise ValueError(f"errors must be 'skip' or 'raise', got {errors!r}")
        if isinstance(paths, (str, os.PathLike)):
            raise TypeError("paths must be an iterable of paths, not a single path")
        self._paths = list(paths)
        self.errors = errors
        self.landscape = _check_landscape(landscape)
        self.skipped: list[tuple[str, str]] = []
        self.n_read = 0
        self._gen = self._run(progress)

    def _run(self, progress: bool):
        for path in bar(self._paths, desc="reading images", enabled=progress, unit="img"):
            try:
                img = read_rgb(path, landscape=self.landscape)
            except ImageReadError as exc:
                if self.errors == "raise":
                    raise
                self.skipped.append((exc.path, exc.reason))
                log.warning("skipped %s", exc)
                continue
            self.n_read += 1
            yield str(path), img
        if self.skipped:
            log.warning("iter_rgb: read %d image(s), skipped %d:\n%s", self.n_read, len(self.skipped), self.report)
        else:
            log.info("iter_rgb: read %d image(s), skipped none", self.n_read)

    def __next__(self):
        return next(self._gen)

    @property
    def report(self) -> str:
        """One line per skipped file, ``path: reason`` (empty string when nothing was skipped)."""
        return "\n".join(f"{p}: {r}" for p, r in self.skipped)


def iter_rgb(paths: Iterable, errors: str = "skip", progress: bool = False, landscape: bool = True) -> RGBIterator:
    """Read many images one at a time (memory of one image), recording the ones that fail.

    >>> it = iter_rgb(["a.jpg", "broken.jpg"])     # doctest: +SKIP
    >>> images = [img for _, img in it]            # doctest: +SKIP
    >>> it.skipped                                 # doctest: +SKIP
    [('broken.jpg', 'cannot identify image file (not an image or corrupt header)')]
    """
    return RGBIterator(paths, errors=errors, progress=progress, landscape=landscape)
