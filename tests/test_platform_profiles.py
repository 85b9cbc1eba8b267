"""Each platform profile pinned to its documented values: docs/data.md §3 ("Platform profiles").

The expected values are written out below from that section (not read from the simulator), and checked three
ways: against the rows of docs/data.md itself, against ``csi.simulator.PLATFORMS``, and against what
``apply_platform`` does to an upload: output size, JPEG quality read back from the file's quantisation
tables (libjpeg's scaling of the standard tables, written out here), chroma subsampling, progressive flag,
metadata and the watermark.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from csi import simulator as S

DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"

# docs/data.md §3. cap: (rule, px for a 4032-px sensor); long side of the copy of a 1024x768 camera image
# (sensor_scale 1024/4032) and of a 4032x3024 one, both as listed under the table.
DOCUMENTED = {
    #  platform      cap                   QF  subsampling progressive watermark        1024  4032
    "original":    (None,                  95, "4:2:0",    False,      None,            1024, 4032),
    "twitter":     (("long_side", 4096),   85, "4:2:0",    True,       None,            1024, 4032),
    "facebook":    (("long_side", 2048),   85, "4:2:0",    True,       None,            520,  2048),
    "facebook_lq": (("long_side", 960),    75, "4:2:0",    True,       None,            244,  960),
    "instagram":   (("long_side", 1080),   75, "4:2:0",    False,      None,            274,  1080),
    "wechat":      (("long_side", 1280),   60, "4:2:0",    False,      None,            325,  1280),
    "weibo":       (("max_width", 2000),   85, "4:2:0",    False,      "weibo.com/csi", 508,  2000),
    "whatsapp":    (("long_side", 1600),   77, "4:2:0",    False,      None,            406,  1600),
    "telegram":    (("long_side", 1280),   80, "4:2:0",    False,      None,            325,  1280),
}  # fmt: skip
CPU_SCALE = 1024 / 4032
SAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}  # JpegImagePlugin.get_sampling codes

# ITU-T T.81 Annex K standard quantisation tables (natural order) and libjpeg's quality scaling
LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]  # fmt: skip
CHROMA = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
          47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32  # fmt: skip


def _scaled(table, quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (v * scale + 50) // 100)) for v in table]


def _qualities(im):
    """Every libjpeg quality whose scaled standard tables equal the file's luma and chroma tables."""
    q = im.quantization
    return [k for k in range(1, 101) if list(q[0]) == _scaled(LUMA, k) and list(q[1]) == _scaled(CHROMA, k)]


def _camera_jpeg(width, height, exif=True):
    """A textured camera-like JPEG (QF 98, 4:4:4, EXIF make tag), made with Pillow directly."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = 128 + 60 * np.sin(xx / 37.0)[:, :, None] * np.cos(yy[:, :, None] / 23.0 + np.arange(3))
    rgb += np.random.default_rng(0).normal(0, 4, (height, width, 1))
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    ex = Image.Exif()
    ex[0x010F] = "Acme"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=98, subsampling=0, **({"exif": ex.tobytes()} if exif else {}))
    return buf.getvalue()


def _doc_rows():
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] in DOCUMENTED:
            rows[cells[0]] = cells
    return rows


def test_the_test_table_is_the_documented_one():
    rows = _doc_rows()
    assert sorted(rows) == sorted(DOCUMENTED)
    for name, (cap, quality, sub, progressive, watermark, _, _) in DOCUMENTED.items():
        _, cap_cell, q_cell, sub_cell, prog_cell, other, _ = rows[name]
        first_int = re.search(r"\d+", cap_cell)
        assert (int(first_int.group()) if first_int else None) == (cap[1] if cap else None), name
        assert ("width" in cap_cell) == (cap is not None and cap[0] == "max_width"), name
        assert int(re.search(r"\d+", q_cell).group()) == quality, name
        assert sub_cell.startswith(sub) and prog_cell.startswith("yes" if progressive else "no"), name
        assert (watermark in other) if watermark else ("watermark" not in other), name


@pytest.mark.parametrize("name", DOCUMENTED)
def test_profile_holds_the_documented_values(name):
    cap, quality, sub, progressive, watermark, _, _ = DOCUMENTED[name]
    prof = S.PLATFORMS[name]
    caps = {k: prof[k] for k in ("long_side", "short_side", "max_width") if prof[k] is not None}
    assert caps == (dict([cap]) if cap else {})
    assert (prof["quality"], prof["subsampling"], bool(prof["progressive"])) == (quality, sub, progressive)
    assert prof["watermark"] == watermark
    assert prof["passthrough"] == (name == "original") and prof["keep_if_compliant"] == (name == "twitter")
    assert prof["aspect_short_cap"] == (2 if name == "wechat" else None)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_upload_gives_the_documented_size_quality_and_format(name):
    _, quality, sub, progressive, _, long_cpu, long_real = DOCUMENTED[name]
    data = _camera_jpeg(1024, 768)
    out = S.apply_platform(data, name, sensor_scale=CPU_SCALE)
    if name == "original":  # camera bytes unchanged; an array is encoded at the documented QF
        assert out == data
        out = S.apply_platform(np.asarray(Image.open(io.BytesIO(data))), name, sensor_scale=CPU_SCALE)
    im = Image.open(io.BytesIO(out))
    assert im.size[0] == long_cpu and abs(im.size[1] - 768 * long_cpu / 1024) <= 1  # aspect kept
    assert _qualities(im) == [quality]
    assert JpegImagePlugin.get_sampling(im) == SAMPLING[sub]
    assert bool(im.info.get("progressive") or im.info.get("progression")) == progressive
    assert len(im.getexif()) == 0
    real_w, real_h = S.platform_size((4032, 3024), S.PLATFORMS[name])
    assert real_w == long_real and abs(real_h - 3024 * long_real / 4032) <= 1


def test_weibo_caps_the_width_whatever_the_orientation():
    portrait = np.zeros((1024, 768, 3), np.uint8)
    sizes = {p: Image.open(io.BytesIO(S.apply_platform(portrait, p, CPU_SCALE))).size for p in ("weibo", "facebook")}
    assert sizes["weibo"][0] == round(2000 * CPU_SCALE) and abs(sizes["weibo"][1] - 1024 * 2000 * CPU_SCALE / 768) <= 1
    assert sizes["facebook"][1] == round(2048 * CPU_SCALE)  # a long-side cap: the height of a portrait


def test_wechat_caps_the_short_side_of_long_images():
    long_image = np.zeros((200, 600, 3), np.uint8)  # aspect 3 > 2
    out = Image.open(io.BytesIO(S.apply_platform(long_image, "wechat", sensor_scale=0.1)))
    assert out.size == (384, 128)  # short side 1280 * 0.1
    out = Image.open(io.BytesIO(S.apply_platform(long_image[:, :380], "wechat", sensor_scale=0.1)))
    assert out.size == (128, 67)  # aspect 1.9: the long side is capped


def test_twitter_keeps_a_compliant_jpeg_and_strips_its_metadata():
    buf = io.BytesIO()
    ex = Image.Exif()
    ex[0x010F] = "Acme"
    Image.open(io.BytesIO(_camera_jpeg(320, 240, exif=False))).save(buf, format="JPEG", quality=80,
                                                                       exif=ex.tobytes())  # fmt: skip
    small = buf.getvalue()
    kept = Image.open(io.BytesIO(S.apply_platform(small, "twitter", sensor_scale=1.0)))
    assert _qualities(kept) == [80] and len(kept.getexif()) == 0
    np.testing.assert_array_equal(np.asarray(kept), np.asarray(Image.open(io.BytesIO(small))))


@pytest.mark.parametrize("name", [p for p in DOCUMENTED if p != "original"])
def test_only_the_documented_platforms_draw_a_watermark(name):
    gray = np.full((768, 1024, 3), 100, np.uint8)
    out = np.asarray(Image.open(io.BytesIO(S.apply_platform(gray, name, CPU_SCALE)))).astype(int)
    h, w = out.shape[:2]
    bright = out.max(2) > 100 + 0.5 * 0.6 * 155  # white text at 60 % opacity over gray 100, JPEG-blurred
    if DOCUMENTED[name][4] is None:
        assert not bright.any()
        return
    ys, xs = np.nonzero(bright)
    assert ys.min() > h / 2 and xs.min() > w / 2  # bottom right
    assert w - xs.max() <= 2 * 0.012 * w and h - ys.max() <= 2 * 0.012 * w  # margin 1.2 % of the width
    assert 0.4 * 0.025 * w <= ys.max() - ys.min() + 1 <= 0.025 * w  # text height up to 2.5 % of the width
