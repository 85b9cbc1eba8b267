"""Reading images as 8-bit RGB in the sensor's orientation, with clear errors and skip reports.

Every image that enters the pipeline goes through :func:`read_rgb`. It

1. decodes the file with Pillow (``Image.open`` + ``load``), so a corrupt or truncated file raises
   :class:`ImageReadError` naming the path instead of returning a partly grey image;
2. applies the EXIF orientation tag, so the array is the picture as a viewer displays it;
3. rotates a portrait picture back to landscape (``W >= H``), because camera sensors are read out in
   landscape and a fingerprint ``K`` is stored that way (see *Orientation* below);
4. returns ``(H, W, 3) uint8`` RGB. 8-bit RGB and palette images are converted; grayscale, images with a
   transparent alpha channel, 16-bit and float images are rejected with the reason, because converting them
   would invent or destroy the sensor noise that camera identification measures.

Orientation
-----------
Phones store the sensor read-out in landscape and set EXIF ``Orientation=6`` ("rotate 90 degrees clockwise
to display") for the usual upright portrait shot. ``read_rgb`` first applies the tag (the picture as
displayed, portrait) and then rotates portrait pictures 90 degrees counter-clockwise
(``numpy.rot90(image, 1)``). For a camera original with ``Orientation=6`` the two steps cancel and the array
is exactly the sensor read-out. Platform copies lose the tag (platforms apply it and strip EXIF), so their
pixels are rotated back the same way; a picture taken with the phone turned the other way
(``Orientation=8``) ends up rotated by 180 degrees relative to the sensor. Matching code should try both
orientations where that matters (``csi.prnu.match_orientation``).

Examples
--------
>>> from csi.io import iter_rgb                                   # doctest: +SKIP
>>> it = iter_rgb(["a.jpg", "broken.jpg"], errors="skip")         # doctest: +SKIP
>>> images = [img for _, img in it]                               # doctest: +SKIP
>>> it.skipped                                                    # doctest: +SKIP
[('broken.jpg', 'cannot identify image file (not an image or corrupt header)')]
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

#: File suffixes treated as images by the loaders (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

# EXIF orientations that swap width and height.
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


class ImageReadError(ValueError):
    """An image file could not be used; the message names the file and the reason.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        What is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self):  # keep picklable across process pools
        return (type(self), (self.path, self.reason))


def _check_landscape(landscape) -> bool:
    if not isinstance(landscape, (bool, np.bool_)):
        raise TypeError(f"landscape must be a bool, got {type(landscape).__name__}")
    return bool(landscape)


def _check_bit_depth(img: Image.Image, path: str) -> None:
    """Reject files with 16 bits per sample that Pillow would silently reduce to 8-bit RGB (e.g. 16-bit PNG)."""
    for tile in getattr(img, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args and
                                                  isinstance(args[0], str) else "")  # fmt: skip
        if ";16" in raw or raw.startswith("I;16"):
            raise ImageReadError(
                path, f"16-bit image (raw mode {raw}); only 8-bit RGB is supported, convert it to 8-bit yourself "
                "so the scaling is explicit")


# modes read_rgb converts to RGB (alpha modes only when every pixel is opaque)
_CONVERTIBLE_MODES = ("RGB", "P", "CMYK", "YCbCr", "LAB", "HSV")
_ALPHA_MODES = ("RGBA", "RGBa", "PA")


def _check_mode(mode: str, path: str) -> None:
    """Raise :class:`ImageReadError` for a mode :func:`read_rgb` rejects whatever the pixels (known from the header)."""
    if mode in ("L", "1", "LA", "La"):
        raise ImageReadError(
            path, f"grayscale image (mode {mode}); camera identification needs the camera's RGB output"
        )
    if mode.startswith("I;16") or mode in ("I", "F") or mode.startswith("RGB;16") or mode == "RGBA;16B":
        raise ImageReadError(
            path,
            f"{'16-bit' if '16' in mode or mode == 'I' else 'floating-point'} image (mode {mode}); "
            "only 8-bit RGB is supported, convert it to 8-bit yourself so the scaling is explicit",
        )
    if mode not in _CONVERTIBLE_MODES and mode not in _ALPHA_MODES:
        raise ImageReadError(path, f"unsupported image mode {mode}")


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)


def _check_opaque(rgba: Image.Image, mode: str, path: str) -> None:
    """Raise :class:`ImageReadError` if any pixel of an ``RGBA`` image is not fully opaque."""
    if np.asarray(rgba.getchannel("A")).min() < 255:
        raise ImageReadError(path, f"image with a transparent alpha channel (mode {mode}); not a camera picture")


def _to_rgb_array(img: Image.Image, path: str) -> np.ndarray:
    """Convert a decoded PIL image to ``(H, W, 3) uint8`` or raise :class:`ImageReadError`."""
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


def read_rgb(path: str | os.PathLike, landscape: bool = True) -> np.ndarray:
    """Read an image file as 8-bit RGB with the EXIF orientation applied.

    Parameters
    ----------
    path : str or os.PathLike
        Image file (JPEG, PNG, TIFF, ...).
    landscape : bool
        If true (default), a portrait picture (``H > W`` after the EXIF orientation) is rotated 90 degrees
        counter-clockwise to the sensor's landscape orientation (see the module notes).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` ``uint8`` RGB, values 0-255, ``W >= H`` when ``landscape`` is true. A new array.

    Raises
    ------
    ImageReadError
        Missing, empty, corrupt or truncated file; grayscale, transparent, 16-bit or float image.
    TypeError
        ``path`` is not a path or ``landscape`` not a bool.

    Examples
    --------
    >>> img = read_rgb("photo.jpg")           # doctest: +SKIP
    >>> img.shape, img.dtype                  # doctest: +SKIP
    ((3024, 4032, 3), dtype('uint8'))
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    landscape = _check_landscape(landscape)
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(p, "file not found" if not p.exists() else "not a regular file")
    if p.stat().st_size == 0:
        raise ImageReadError(p, "empty file (0 bytes)")
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow to silently pad truncated files
        raise ImageReadError(p, "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; refusing to read silently padded data")
    try:
        with Image.open(p) as img:
            _check_bit_depth(img, str(p))
            img.load()
            img = ImageOps.exif_transpose(img)
            arr = _to_rgb_array(img, str(p))
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(p, "cannot identify image file (not an image or corrupt header)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated / broken data streams
        raise ImageReadError(p, f"corrupt or truncated image data ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(p, f"image too large ({exc})") from None
    if landscape and arr.shape[0] > arr.shape[1]:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def decode_rgb(data: bytes, name: str = "<bytes>", landscape: bool = False) -> np.ndarray:
    """Decode encoded image bytes like :func:`read_rgb` (EXIF orientation applied).

    Parameters
    ----------
    data : bytes
        Encoded image (JPEG, PNG, TIFF ...).
    name : str
        Used in error messages in place of a path.
    landscape : bool
        Rotate portrait pictures to landscape (default false: keep the displayed orientation).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` ``uint8`` RGB.

    Examples
    --------
    >>> decode_rgb(open("photo.jpg", "rb").read()).dtype   # doctest: +SKIP
    dtype('uint8')
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    landscape = _check_landscape(landscape)
    if len(data) == 0:
        raise ImageReadError(name, "empty data (0 bytes)")
    try:
        with Image.open(io.BytesIO(bytes(data))) as img:
            _check_bit_depth(img, name)
            img.load()
            img = ImageOps.exif_transpose(img)
            arr = _to_rgb_array(img, name)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(name, "cannot identify image data (not an image or corrupt header)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(name, f"corrupt or truncated image data ({exc})") from None
    if landscape and arr.shape[0] > arr.shape[1]:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def image_size(path: str | os.PathLike, landscape: bool = True) -> tuple[int, int]:
    """Width and height of an image from its header only (no pixel decoding).

    Parameters
    ----------
    path : str or os.PathLike
        Image file.
    landscape : bool
        If true, return the size :func:`read_rgb` will return (``width >= height``). Otherwise the size as
        displayed, EXIF orientation applied.

    Returns
    -------
    (int, int)
        ``(width, height)`` in pixels.

    Raises
    ------
    ImageReadError
        The file is empty or its header cannot be read.

    Examples
    --------
    >>> image_size("photo.jpg")                # doctest: +SKIP
    (4032, 3024)
    """
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(p, "file not found" if not p.exists() else "not a regular file")
    if p.stat().st_size == 0:
        raise ImageReadError(p, "empty file (0 bytes)")
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
    if landscape and h > w:
        w, h = h, w
    return int(w), int(h)


def check_image(path: str | os.PathLike, min_size: int = 0, landscape: bool = True,
                decode: bool = False) -> tuple[int, int]:
    """Size of an image that :func:`read_rgb` will accept, found (by default) without decoding its pixels.

    The checks a folder loader makes before an image is counted: the file is not empty, its header is an
    image's, its mode and bit depth (from the header) are 8-bit colour, it has no transparent pixel (only
    images with an alpha channel are decoded, to look at the alpha) and both sides are at least ``min_size``.
    Data truncated after a valid header are found only by decoding: ``decode=True`` decodes the whole stream
    (a JPEG at 1/8 scale, Pillow's ``draft``, about 2.5x faster than a full decode).

    Parameters
    ----------
    path : str or os.PathLike
        Image file.
    min_size : int
        Shortest side allowed, e.g. the evaluation crop (0: any size).
    landscape : bool
        As for :func:`image_size`.
    decode : bool
        Also decode the pixel data, to find a corrupt or truncated stream.

    Returns
    -------
    (int, int)
        ``(width, height)`` in pixels, as :func:`image_size` returns them.

    Raises
    ------
    ImageReadError
        With the reason: ``empty file (0 bytes)``, not an image, grayscale, 16-bit or float, transparent,
        unsupported mode, ``smaller than the crop``, or (``decode=True``) corrupt or truncated data.

    Examples
    --------
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
                mode = img.mode
                _check_opaque(img.convert("RGBA"), mode, str(p))
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


# --- JPEG quality estimation --------------------------------------------------------------------------

#: libjpeg's standard luminance table (ITU-T T.81 Annex K.1), natural (row-major) order.
STD_LUMA_TABLE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)  # fmt: skip
#: libjpeg's standard chrominance table (Annex K.2), natural order.
STD_CHROMA_TABLE = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
     47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=np.int64)  # fmt: skip


def libjpeg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's quantisation tables for a quality factor (``jpeg_quality_scaling`` + baseline clamp).

    Parameters
    ----------
    quality : int
        1-100.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Luminance and chrominance tables, each ``(64,)`` ``int64`` in 1-255, natural order.

    Examples
    --------
    >>> int(libjpeg_tables(50)[0][0])
    16
    """
    if not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in 1..100, got {quality!r}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    out = []
    for base in (STD_LUMA_TABLE, STD_CHROMA_TABLE):
        t = (base * scale + 50) // 100
        out.append(np.clip(t, 1, 255))
    return out[0], out[1]


def estimate_jpeg_quality(source) -> int | None:
    """Estimate the libjpeg quality factor of a JPEG from its quantisation tables.

    The tables read back with Pillow (``Image.quantization``) are compared with libjpeg's scaled standard
    tables for every quality 1-100; the quality with the smallest mean absolute difference wins (an exact
    match for files written by libjpeg, the nearest scaled table for custom camera tables).

    Parameters
    ----------
    source : bytes, str or os.PathLike
        JPEG data or a JPEG file.

    Returns
    -------
    int or None
        Estimated quality (1-100); ``None`` if the data is not a JPEG.

    Examples
    --------
    >>> estimate_jpeg_quality("photo.jpg")   # doctest: +SKIP
    92
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(bytes(source))
        name = "<bytes>"
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
    luma = tables.get(0)
    chroma = tables.get(1)
    best_q, best_err = None, np.inf
    for q in range(1, 101):
        tl, tc = libjpeg_tables(q)
        err = np.abs(luma - tl).mean()
        if chroma is not None:
            err += np.abs(chroma - tc).mean()
        if err < best_err:
            best_q, best_err = q, err
    return best_q


# --- iteration with skip reports ----------------------------------------------------------------------


class RGBIterator(Iterator):
    """Iterator over ``(path, image)`` that records what it skipped (see :func:`iter_rgb`).

    Attributes
    ----------
    skipped : list of (str, str)
        ``(path, reason)`` for every file that could not be read (``errors="skip"``).
    n_read : int
        Images yielded so far.
    """

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
        from csi.progress import bar

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

    def __iter__(self):
        return self

    @property
    def report(self) -> str:
        """One line per skipped file, ``path: reason`` (empty string when nothing was skipped)."""
        return "\n".join(f"{p}: {r}" for p, r in self.skipped)


def iter_rgb(paths: Iterable, errors: str = "skip", progress: bool = False, landscape: bool = True) -> RGBIterator:
    """Read many images one at a time (memory O(one image)), reporting the ones that fail.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Image files.
    errors : {"skip", "raise"}
        ``"skip"``: record ``(path, reason)`` in ``.skipped``, log a warning and go on; ``"raise"``: raise the
        first :class:`ImageReadError`.
    progress : bool
        Show a tqdm bar.
    landscape : bool
        Passed to :func:`read_rgb`.

    Returns
    -------
    RGBIterator
        Yields ``(path, image)`` with ``image`` ``(H, W, 3) uint8``; ``.skipped`` and ``.report`` list the
        skipped files, and a summary is logged when the iteration ends.

    Examples
    --------
    >>> it = iter_rgb(["a.jpg", "b.jpg"])   # doctest: +SKIP
    >>> for path, img in it: ...            # doctest: +SKIP
    >>> print(it.report)                    # doctest: +SKIP
    """
    return RGBIterator(paths, errors=errors, progress=progress, landscape=landscape)
