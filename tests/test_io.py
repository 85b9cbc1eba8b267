"""Tests for csi.io: orientation, conversions, clear errors, skip reports, JPEG quality estimation."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from PIL import Image

from csi.io import (
    ImageReadError,
    check_image,
    decode_rgb,
    estimate_jpeg_quality,
    image_size,
    iter_rgb,
    libjpeg_tables,
    read_rgb,
)


def _rand(h, w, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _png(path, arr, **kw):
    Image.fromarray(arr).save(path, format="PNG", **kw)
    return path


def _exif(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


def test_read_rgb_png_roundtrip(tmp_path):
    a = _rand(20, 30)
    out = read_rgb(_png(tmp_path / "a.png", a))
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out, a)


def test_exif_orientation_6_cancels_to_sensor_orientation(tmp_path):
    a = _rand(20, 30)  # stored landscape, as a phone sensor writes it
    p = _png(tmp_path / "o6.png", a, exif=_exif(6))
    displayed = read_rgb(p, landscape=False)
    np.testing.assert_array_equal(displayed, np.rot90(a, -1))  # orientation 6 = rotate 90 deg clockwise
    np.testing.assert_array_equal(read_rgb(p), a)  # portrait rotated back: the sensor read-out
    assert image_size(p) == (30, 20)
    assert image_size(p, landscape=False) == (20, 30)


def test_portrait_without_exif_is_rotated(tmp_path):
    a = _rand(30, 20)
    p = _png(tmp_path / "portrait.png", a)
    np.testing.assert_array_equal(read_rgb(p), np.rot90(a, 1))
    np.testing.assert_array_equal(read_rgb(p, landscape=False), a)
    assert image_size(p) == (30, 20)


def test_grayscale_rejected_with_path(tmp_path):
    p = _png(tmp_path / "gray.png", _rand(10, 10, 1)[:, :, 0])
    with pytest.raises(ImageReadError, match="grayscale") as ei:
        read_rgb(p)
    assert str(p) in str(ei.value) and ei.value.path == str(p)


def test_16bit_rejected(tmp_path):
    p = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 4000, np.uint16)).save(p)
    with pytest.raises(ImageReadError, match="16-bit"):
        read_rgb(p)


def _png16_rgb(path, arr):
    """Write a 16-bit RGB PNG by hand (Pillow cannot), from the PNG specification."""
    import struct
    import zlib

    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))  # fmt: skip
    return path


def test_16bit_rgb_png_not_silently_truncated(tmp_path):
    p = _png16_rgb(tmp_path / "deep_rgb.png", np.full((4, 5, 3), 4000, np.uint16))
    assert Image.open(p).mode == "RGB"  # Pillow alone would hand out 8-bit data
    with pytest.raises(ImageReadError, match="16-bit"):
        read_rgb(p)
    with pytest.raises(ImageReadError, match="16-bit"):
        decode_rgb(p.read_bytes())


def test_rgba_transparent_rejected_opaque_converted(tmp_path):
    rgba = np.dstack([_rand(8, 8), np.full((8, 8), 255, np.uint8)])
    np.testing.assert_array_equal(read_rgb(_png(tmp_path / "opaque.png", rgba)), rgba[:, :, :3])
    rgba[0, 0, 3] = 10
    with pytest.raises(ImageReadError, match="alpha"):
        read_rgb(_png(tmp_path / "transp.png", rgba))


def test_palette_converted(tmp_path):
    a = _rand(8, 8)
    p = tmp_path / "pal.png"
    Image.fromarray(a).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(p)
    expect = np.asarray(Image.open(p).convert("RGB"))
    np.testing.assert_array_equal(read_rgb(p), expect)


def test_corrupt_truncated_empty_missing(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_rand(64, 64)).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"this is not a jpeg" * 10)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match="truncated"):
        read_rgb(tmp_path / "trunc.jpg")
    with pytest.raises(ImageReadError, match="cannot identify"):
        read_rgb(tmp_path / "junk.jpg")
    with pytest.raises(ImageReadError, match="empty"):
        read_rgb(tmp_path / "empty.jpg")
    with pytest.raises(ImageReadError, match="not found"):
        read_rgb(tmp_path / "nope.jpg")
    with pytest.raises(TypeError):
        read_rgb(123)
    with pytest.raises(ImageReadError):
        decode_rgb(data[:100])


def test_check_image_rejects_what_read_rgb_rejects(tmp_path):
    jpg = io.BytesIO()
    Image.fromarray(_rand(64, 80)).save(jpg, format="JPEG", quality=90)
    data = jpg.getvalue()
    rgba = np.dstack([_rand(64, 80), np.full((64, 80), 255, np.uint8)])
    files = {"good.jpg": None, "opaque.png": None, "palette.png": None, "gray.png": "grayscale",
             "deep.png": "16-bit", "deep_rgb.png": "16-bit", "transparent.png": "alpha", "empty.jpg": "empty",
             "junk.jpg": "cannot identify", "trunc.jpg": "truncated"}
    (tmp_path / "good.jpg").write_bytes(data)
    _png(tmp_path / "opaque.png", rgba)
    Image.fromarray(_rand(64, 80)).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.png")
    _png(tmp_path / "gray.png", _rand(64, 80)[..., 0])
    Image.fromarray(np.full((64, 80), 4000, np.uint16)).save(tmp_path / "deep.png")
    _png16_rgb(tmp_path / "deep_rgb.png", np.full((64, 80, 3), 4000, np.uint16))
    rgba[3, 4, 3] = 0
    _png(tmp_path / "transparent.png", rgba)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"this is not a jpeg" * 10)
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    for name, why in files.items():
        p = tmp_path / name
        if why is None:
            assert check_image(p, decode=True) == image_size(p) == read_rgb(p).shape[1::-1], name
            continue
        with pytest.raises(ImageReadError, match=why):
            read_rgb(p)
        with pytest.raises(ImageReadError, match=why):
            check_image(p, decode=True)
        if why != "truncated":  # everything but a truncated stream is found from the header
            with pytest.raises(ImageReadError, match=why):
                check_image(p)
    assert check_image(tmp_path / "trunc.jpg") == (80, 64)
    assert check_image(tmp_path / "good.jpg", min_size=64) == (80, 64)
    with pytest.raises(ImageReadError, match="smaller than the crop"):
        check_image(tmp_path / "good.jpg", min_size=65)


def test_iter_rgb_skips_and_reports(tmp_path, caplog):
    good = [_png(tmp_path / f"g{i}.png", _rand(6, 8, seed=i)) for i in range(2)]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8garbage")
    gray = _png(tmp_path / "gray.png", _rand(6, 8, 1)[:, :, 0])
    with caplog.at_level(logging.WARNING, logger="csi.io"):
        it = iter_rgb([good[0], bad, gray, good[1]])
        got = list(it)
    assert [p for p, _ in got] == [str(good[0]), str(good[1])]
    assert [p for p, _ in it.skipped] == [str(bad), str(gray)]
    assert "grayscale" in it.skipped[1][1]
    assert str(bad) in it.report and "skipped 2" in caplog.text
    with pytest.raises(ImageReadError):
        list(iter_rgb([good[0], bad], errors="raise"))
    with pytest.raises(ValueError, match="errors"):
        iter_rgb(good, errors="ignore")


@pytest.mark.parametrize("quality", [30, 50, 75, 85, 92, 100])
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_estimate_jpeg_quality_exact_for_libjpeg(quality, subsampling):
    buf = io.BytesIO()
    Image.fromarray(_rand(32, 32)).save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    assert estimate_jpeg_quality(buf.getvalue()) == quality


def test_libjpeg_tables_formula():
    # quality 50 is the standard table; 100 is all ones; scaling per libjpeg (jcparam.c)
    luma50, chroma50 = libjpeg_tables(50)
    assert luma50[:8].tolist() == [16, 11, 10, 16, 24, 40, 51, 61]
    assert (libjpeg_tables(100)[0] == 1).all()
    assert libjpeg_tables(75)[0][0] == (16 * 50 + 50) // 100
    assert libjpeg_tables(10)[1][0] == min(255, (17 * 500 + 50) // 100)
    png = io.BytesIO()
    Image.fromarray(_rand(8, 8)).save(png, format="PNG")
    assert estimate_jpeg_quality(png.getvalue()) is None
    with pytest.raises(ImageReadError):
        estimate_jpeg_quality(b"not an image at all")
    with pytest.raises(ValueError):
        libjpeg_tables(0)
