"""Loaders for the paper's datasets and a user's own photos, the 1:1:6:2 split, and platform views.

Every loader returns one table (:class:`pandas.DataFrame`) with the columns :data:`COLUMNS`:

``path`` (str), ``device``, ``model``, ``brand``, ``platform`` (``"original"`` for camera files, else the
platform name), ``scene_type`` (``flat``/``nat``/``unknown``), ``scene_id`` (same value for all versions of one
shot, unique across devices), ``width``, ``height`` (as :func:`csi.io.read_rgb` returns the image: landscape,
read from the header only), ``subset`` (a fixed subset from the layout, e.g. Kaggle ``train``/``test``, else
``""``). Rows are sorted by ``path``. Files that cannot be used (not an image, empty, unreadable header,
grayscale, 16-bit, transparent, smaller than the crop, empty device folder, unknown sub-folder) are never
dropped silently: they are listed once in ``df.attrs["skipped"]`` as ``(path, reason)`` and logged. The checks
read headers only (:func:`csi.io.check_image`; an image with an alpha channel has its alpha decoded); a file
truncated after its header is reported later, when :func:`csi.io.iter_rgb` decodes it.

Layouts
-------
``vision``  ``DXX_Brand_Model/images/{flat,nat,natFBH,natFBL,natWA}/DXX_I_<type>_NNNN.jpg`` (``videos/`` ignored).
``kaggle``  ``train/<class>/<name>.jpg`` and ``test/img_<hex>_{unalt,manip}.tif``; an optional
            ``test_labels.csv`` (``fname,camera[,device,manipulation]``) labels the test images.
``daxing``  ``<Brand>_<Model>_<NN>/[flat|nat/]<file>.jpg`` (one folder per device, optional flat/nat
            sub-folders). The real Daxing layout is not publicly documented; this is the companion's choice.
``dresden`` one flat folder of ``Brand_Model_Instance_Shot.JPG``.
``fodb``    ``DXX_Brand_Model_i/<version>/<file>`` with version in original, facebook, instagram, telegram,
            twitter, whatsapp (short aliases such as ``orig``, ``FB``, ``WA`` accepted); the scene id is the
            last number in the file name, shared by the versions of a scene.
``folder``  ``<device>/<file>`` for originals and ``<device>/<platform>/<file>`` for copies downloaded back
            from a platform (a copy keeps the original's file stem to share its scene id); ``flat``/``nat``
            sub-folders set the scene type. Device folders named ``DXX_Brand_Model`` or ``Brand_Model_NN``
            give brand and model; otherwise the brand is ``"unknown"`` and the model is the folder name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from csi.config import check_choice
from csi.io import IMAGE_SUFFIXES, ImageReadError, check_image, image_size

log = logging.getLogger(__name__)

LOADERS: tuple[str, ...] = ("vision", "kaggle", "daxing", "dresden", "fodb", "folder")
COLUMNS: tuple[str, ...] = ("path", "device", "model", "brand", "platform", "scene_type", "scene_id", "width",
                            "height", "subset")  # fmt: skip
SPLITS: tuple[str, ...] = ("val", "fingerprint", "train", "test")
#: Recipe -> loader of its layout.
RECIPE_LOADER: dict[str, str] = {"our": "folder", "kaggle": "kaggle", "vision": "vision", "daxing": "daxing"}

# Entries a synthetic dataset folder holds next to the data; loaders pass over them without a report.
_RESERVED = {"manifest.json", "ground_truth", "twins", "test_labels.csv", "manifest.json.tmp"}

_PLATFORM_ALIASES = {
    "original": "original", "orig": "original", "native": "original", "camera": "original",
    "facebook": "facebook", "fb": "facebook", "fbh": "facebook", "facebook_hq": "facebook",
    "facebook_lq": "facebook_lq", "fbl": "facebook_lq",
    "instagram": "instagram", "ig": "instagram", "insta": "instagram",
    "telegram": "telegram", "tg": "telegram",
    "twitter": "twitter", "tw": "twitter", "x": "twitter",
    "whatsapp": "whatsapp", "wa": "whatsapp",
    "wechat": "wechat", "wx": "wechat", "weibo": "weibo",
}  # fmt: skip

_KAGGLE_BRANDS = {"HTC": "HTC", "iPhone": "Apple", "LG": "LG", "Motorola": "Motorola", "Samsung": "Samsung",
                  "Sony": "Sony"}  # fmt: skip


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES


def parse_device_name(name: str) -> tuple[str, str]:
    """Brand and model from a device folder name.

    ``D01_Apple_iPhone6`` -> (Apple, iPhone6); ``Apple_iPhone6S_03`` -> (Apple, iPhone6S);
    ``D05_Huawei_P9_1`` -> (Huawei, P9); anything else -> (``"unknown"``, name).

    Examples
    --------
    >>> parse_device_name("D26_Samsung_GalaxyS3Mini")
    ('Samsung', 'GalaxyS3Mini')
    """
    parts = name.split("_")
    if parts and re.fullmatch(r"D\d+", parts[0]):
        parts = parts[1:]
    if len(parts) > 2 and parts[-1].isdigit():
        parts = parts[:-1]
    if len(parts) >= 2:
        return parts[0], "_".join(parts[1:])
    return "unknown", name


class _Collector:
    """Accumulates rows and skip reports of one loader run."""

    def __init__(self, name: str, root: Path, min_size: int = 0):
        self.name, self.root, self.min_size = name, root, int(min_size)
        self.rows: list[dict] = []
        self.skipped: list[tuple[str, str]] = []

    def skip(self, path, reason: str):
        self.skipped.append((str(path), reason))

    def add(self, path: Path, **fields):
        if not _is_image(path):
            self.skip(path, f"not an image file (suffix {path.suffix or 'none'})")
            return
        try:
            w, h = check_image(path, self.min_size)
        except ImageReadError as exc:
            self.skip(path, exc.reason)
            return
        row = {"path": str(path), "width": w, "height": h, "subset": "", "scene_type": "unknown"}
        row.update(fields)
        self.rows.append(row)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=list(COLUMNS) + sorted({k for r in self.rows for k in r} - set(COLUMNS)))
        df = df.sort_values("path", kind="stable").reset_index(drop=True)
        df["width"] = df["width"].astype("int64")
        df["height"] = df["height"].astype("int64")
        df.attrs["skipped"] = list(self.skipped)
        df.attrs["loader"] = self.name
        df.attrs["root"] = str(self.root)
        if self.skipped:
            log.warning("%s loader: %d file(s)/folder(s) skipped under %s:\n%s", self.name, len(self.skipped),
                        self.root, "\n".join(f"  {p}: {r}" for p, r in self.skipped))  # fmt: skip
        log.info("%s loader: %d images of %d devices", self.name, len(df), df["device"].nunique() if len(df) else 0)
        if df.empty:
            raise ValueError(f"no usable images found under {self.root} for the {self.name!r} layout")
        return df


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in _RESERVED and not p.name.startswith("."))


def _device_files(col: _Collector, dev_dir: Path, device: str, brand: str, model: str, *, platform_dirs: bool):
    """Files of a device folder: direct files, flat/nat sub-folders, platform sub-folders (if allowed)."""
    entries = _entries(dev_dir)
    if not entries:
        col.skip(dev_dir, "empty device folder")
        return
    for e in entries:
        if e.is_file():
            col.add(e, device=device, brand=brand, model=model, platform="original",
                    scene_id=f"{device}/{e.stem}")  # fmt: skip
            continue
        key = e.name.lower()
        if key in ("flat", "nat"):
            files = [f for f in _entries(e)]
            if not files:
                col.skip(e, "empty folder")
            for f in files:
                if f.is_dir():
                    col.skip(f, "unexpected sub-folder")
                    continue
                # flat shots get their own scene ids: cameras number files, so flat/IMG_0001 and nat/IMG_0001 are
                # different scenes (platform copies pair with the natural photos, device/stem)
                sid = f"{device}/flat/{f.stem}" if key == "flat" else f"{device}/{f.stem}"
                col.add(f, device=device, brand=brand, model=model, platform="original", scene_type=key,
                        scene_id=sid)  # fmt: skip
        elif platform_dirs and key in _PLATFORM_ALIASES:
            plat = _PLATFORM_ALIASES[key]
            files = _entries(e)
            if not files:
                col.skip(e, "empty platform folder")
            for f in files:
                if f.is_dir():
                    col.skip(f, "unexpected sub-folder")
                    continue
                col.add(f, device=device, brand=brand, model=model, platform=plat, scene_id=f"{device}/{f.stem}")
        else:
            col.skip(e, "unknown sub-folder (expected flat, nat or a platform name)")


def _load_folder(root: Path, name: str = "folder", min_size: int = 0) -> pd.DataFrame:
    col = _Collector(name, root, min_size)
    for dev_dir in _entries(root):
        if not dev_dir.is_dir():
            col.skip(dev_dir, "file at the top level (expected one folder per device)")
            continue
        brand, model = parse_device_name(dev_dir.name)
        _device_files(col, dev_dir, dev_dir.name, brand, model, platform_dirs=True)
    return col.frame()


def _load_vision(root: Path, min_size: int = 0) -> pd.DataFrame:
    from csi.simulate import VISION_FOLDERS

    col = _Collector("vision", root, min_size)
    pat = re.compile(r"^(D\d+)_I_(flat|nat|natFBH|natFBL|natWA)_(\d+)$")
    for dev_dir in _entries(root):
        if not dev_dir.is_dir():
            col.skip(dev_dir, "file at the top level (expected DXX_Brand_Model folders)")
            continue
        device = dev_dir.name
        brand, model = parse_device_name(device)
        img_dir = dev_dir / "images"
        if not img_dir.is_dir() or not _entries(img_dir):
            col.skip(dev_dir, "empty device folder (no images/ sub-folder with content)")
            continue
        for sub in _entries(img_dir):
            if not sub.is_dir() or sub.name not in VISION_FOLDERS:
                col.skip(sub, "unknown entry in images/ (expected flat, nat, natFBH, natFBL, natWA)")
                continue
            files = _entries(sub)
            if not files:
                col.skip(sub, "empty folder")
            for f in files:
                m = pat.match(f.stem)
                if not m or m.group(2) != sub.name:
                    col.skip(f, f"file name does not match DXX_I_{sub.name}_NNNN")
                    continue
                group = "flat" if sub.name == "flat" else "nat"
                col.add(f, device=device, brand=brand, model=model, platform=VISION_FOLDERS[sub.name],
                        scene_type=group, scene_id=f"{device}/{group}/{m.group(3)}")  # fmt: skip
    return col.frame()


def _kaggle_brand(cls: str) -> str:
    return _KAGGLE_BRANDS.get(cls.split("-")[0], cls.split("-")[0])


def _load_kaggle(root: Path, min_size: int = 0) -> pd.DataFrame:
    col = _Collector("kaggle", root, min_size)
    train, test = root / "train", root / "test"
    if not train.is_dir() and not test.is_dir():
        raise ValueError(f"{root} has neither train/ nor test/ (expected the SP Cup 2018 / Kaggle layout)")
    for e in _entries(root):
        if e.name not in ("train", "test") and e.name != "sample_submission.csv":
            col.skip(e, "unexpected entry (expected train/, test/, test_labels.csv)")
    if train.is_dir():
        for cls_dir in _entries(train):
            if not cls_dir.is_dir():
                col.skip(cls_dir, "file in train/ (expected one folder per class)")
                continue
            files = _entries(cls_dir)
            if not files:
                col.skip(cls_dir, "empty device folder")
            for f in files:
                col.add(f, device=cls_dir.name, brand=_kaggle_brand(cls_dir.name), model=cls_dir.name,
                        platform="original", scene_id=f"{cls_dir.name}/{f.stem}", subset="train",
                        manipulation="unalt")  # fmt: skip
    labels = {}
    lab = root / "test_labels.csv"
    if lab.is_file():
        tab = pd.read_csv(lab, dtype=str, keep_default_na=False)
        if not {"fname", "camera"} <= set(tab.columns):
            raise ValueError(f"{lab}: needs columns fname and camera, has {list(tab.columns)}")
        labels = {r["fname"]: r for r in tab.to_dict("records")}
    if test.is_dir():
        for f in _entries(test):
            if f.is_dir():
                col.skip(f, "unexpected sub-folder in test/")
                continue
            m = re.match(r"^img_([0-9a-fA-F]+)_(unalt|manip)$", f.stem)
            lab_row = labels.get(f.name)
            cls = lab_row["camera"] if lab_row else "unknown"
            device = lab_row.get("device") or f"{cls}_test" if lab_row else "unknown"
            manip = lab_row.get("manipulation", "") if lab_row else (m.group(2) if m else "")
            col.add(f, device=device, brand=_kaggle_brand(cls) if lab_row else "unknown", model=cls,
                    platform="original", scene_id=f"test/{f.stem}", subset="test",
                    manipulation=manip or (m.group(2) if m else "unknown"))  # fmt: skip
    return col.frame()


def _load_daxing(root: Path, min_size: int = 0) -> pd.DataFrame:
    col = _Collector("daxing", root, min_size)
    for dev_dir in _entries(root):
        if not dev_dir.is_dir():
            col.skip(dev_dir, "file at the top level (expected Brand_Model_NN device folders)")
            continue
        brand, model = parse_device_name(dev_dir.name)
        _device_files(col, dev_dir, dev_dir.name, brand, model, platform_dirs=False)
    return col.frame()


def _load_dresden(root: Path, min_size: int = 0) -> pd.DataFrame:
    col = _Collector("dresden", root, min_size)
    for f in _entries(root):
        if f.is_dir():
            col.skip(f, "sub-folder (Dresden is one flat folder of Brand_Model_Instance_Shot.JPG)")
            continue
        parts = f.stem.split("_")
        if len(parts) < 4 or not parts[-1].isdigit() or not parts[-2].isdigit():
            col.skip(f, "file name does not match Brand_Model_Instance_Shot")
            continue
        brand, model, inst = parts[0], "_".join(parts[1:-2]), parts[-2]
        device = f"{brand}_{model}_{inst}"
        col.add(f, device=device, brand=brand, model=model, platform="original", scene_id=f"{device}/{parts[-1]}")
    return col.frame()


def _load_fodb(root: Path, min_size: int = 0) -> pd.DataFrame:
    col = _Collector("fodb", root, min_size)
    for dev_dir in _entries(root):
        if not dev_dir.is_dir():
            col.skip(dev_dir, "file at the top level (expected DXX_Brand_Model_i folders)")
            continue
        device = dev_dir.name
        brand, model = parse_device_name(device)
        versions = _entries(dev_dir)
        if not versions:
            col.skip(dev_dir, "empty device folder")
            continue
        for v in versions:
            plat = _PLATFORM_ALIASES.get(v.name.lower())
            if not v.is_dir() or plat is None:
                col.skip(v, "unknown entry (expected a version folder: original, facebook, instagram, ...)")
                continue
            for f in sorted(p for p in v.rglob("*") if p.is_file() and not p.name.startswith(".")):
                nums = re.findall(r"\d+", f.stem)
                if not nums:
                    col.skip(f, "no scene number in the file name")
                    continue
                col.add(f, device=device, brand=brand, model=model, platform=plat,
                        scene_id=f"{device}/{int(nums[-1])}")  # fmt: skip
    return col.frame()


def load(name: str, root: str | os.PathLike, min_size: int = 0) -> pd.DataFrame:
    """Index a dataset on disk, checking each image from its header (:func:`csi.io.check_image`).

    Parameters
    ----------
    name : {"vision", "kaggle", "daxing", "dresden", "fodb", "folder"}
        The layout (see the module notes).
    root : str or os.PathLike
        The dataset's top folder.
    min_size : int
        Shortest side an image must have (the evaluation crop; 0: any); smaller ones are left out.

    Returns
    -------
    pandas.DataFrame
        One row per image with the columns :data:`COLUMNS` (Kaggle adds ``manipulation``).
        ``attrs["skipped"]``: ``(path, reason)`` of every entry that was not used: not an image, empty,
        grayscale, 16-bit, transparent, smaller than ``min_size``, or outside the layout.

    Raises
    ------
    ValueError
        Unknown name, missing root, or no usable image.

    Examples
    --------
    >>> df = load("vision", "data/VISION")      # doctest: +SKIP
    >>> df.groupby("platform").size()           # doctest: +SKIP
    """
    check_choice("loader name", name, LOADERS)
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path, got {type(root).__name__}")
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset root {root} is not an existing folder")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 0:
        raise ValueError(f"min_size must be a non-negative int, got {min_size!r}")
    fn = {"vision": _load_vision, "kaggle": _load_kaggle, "daxing": _load_daxing, "dresden": _load_dresden,
          "fodb": _load_fodb, "folder": _load_folder}[name]  # fmt: skip
    return fn(root, min_size=int(min_size))


# ---------------------------------------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------------------------------------


def _allocate(n: int, ratios: Sequence[float]) -> list[int]:
    """Split n units by ratios (largest remainder); every non-zero ratio gets >= 1 unit when n allows."""
    r = np.asarray(ratios, dtype=float)
    nz = r > 0
    counts = np.zeros(len(r), dtype=int)
    if n == 0:
        return counts.tolist()
    if n >= nz.sum():
        counts[nz] = 1
        rest = n - nz.sum()
        exact = r / r.sum() * n - counts
        exact = np.clip(exact, 0, None)
        if exact.sum() > 0:
            base = np.floor(exact / exact.sum() * rest).astype(int)
            counts += base
            left = rest - base.sum()
            frac = exact / exact.sum() * rest - base
            for i in np.argsort(-frac, kind="stable")[:left]:
                counts[i] += 1
        else:
            counts[np.argmax(r)] += rest
    else:  # fewer units than non-zero ratios: give them to the largest ratios first
        for i in np.argsort(-r, kind="stable")[:n]:
            counts[i] += 1
    return counts.tolist()


def split(df: pd.DataFrame, ratios: Sequence[float] = (1, 1, 6, 2), seed: int = 0, by: str | None = "scene_id",
          fingerprint_from: str = "auto", min_flat: int = 5) -> pd.DataFrame:  # fmt: skip
    """Assign every image to ``val``, ``fingerprint``, ``train`` or ``test``, per device (paper Sec. 3.2.2).

    Within each device the units (distinct ``by`` values: a scene with all its platform versions, or single
    rows if ``by`` is None) are shuffled with a generator seeded by ``(seed, device)`` and cut by ``ratios``
    (largest remainder; each non-zero ratio gets at least one unit when there are enough). So all versions of
    a scene share one split and no image is in two splits. The result does not depend on row order.

    - Rows whose ``subset`` is ``"test"`` (Kaggle's test set) keep ``test``; rows of subset ``"train"`` are
      cut into val/fingerprint/train only.
    - ``fingerprint_from="flat"``: a device's flat originals form its fingerprint split, its other units are
      cut by the val/train/test ratios. ``"auto"`` (default) does so when the device has at least
      ``min_flat`` flat originals, as is VISION practice (fingerprints from flat images); ``"any"`` ignores
      scene types.

    Parameters
    ----------
    df : pandas.DataFrame
        A loader table (needs ``device``, ``subset``, ``scene_type``, ``platform`` and the ``by`` column).
    ratios : sequence of 4 non-negative numbers
        val : fingerprint : train : test; the paper's 1:1:6:2 by default.
    seed : int
    by : str or None
        Grouping column (default ``scene_id``).
    fingerprint_from : {"auto", "flat", "any"}
    min_flat : int
        Flat images needed for ``"auto"`` to use them.

    Returns
    -------
    pandas.DataFrame
        A copy of ``df`` with a ``split`` column.

    References
    ----------
    Sec. 3.2.2: "divided into a verification dataset, a fingerprint estimation dataset, a training dataset,
    and a test dataset at a ratio of 1:1:6:2".

    Examples
    --------
    >>> out = split(df, seed=0)                          # doctest: +SKIP
    >>> out.groupby("split").size()                      # doctest: +SKIP
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    ratios = tuple(ratios)
    if len(ratios) != 4 or any((not isinstance(r, (int, float, np.integer, np.floating))) or r < 0 for r in ratios) \
            or sum(ratios) <= 0:  # fmt: skip
        raise ValueError(f"ratios must be 4 non-negative numbers with a positive sum, got {ratios!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    check_choice("fingerprint_from", fingerprint_from, ("auto", "flat", "any"))
    need = {"device"} | ({by} if by else set())
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"df lacks column(s) {sorted(missing)} needed by split")
    out = df.copy()
    n = len(out)
    unit = out[by].astype(str).to_numpy() if by else out["path"].astype(str).to_numpy()
    subset = out["subset"].astype(str).to_numpy() if "subset" in out else np.full(n, "")
    stype = out["scene_type"].astype(str).to_numpy() if "scene_type" in out else np.full(n, "unknown")
    plat = out["platform"].astype(str).to_numpy() if "platform" in out else np.full(n, "original")
    result = np.full(n, "", dtype=object)
    result[subset == "test"] = "test"
    devices = out["device"].astype(str).to_numpy()
    for dev in sorted(set(devices)):
        sel = (devices == dev) & (subset != "test")
        if not sel.any():
            continue
        rows = np.flatnonzero(sel)
        flat_units = sorted({unit[i] for i in rows if stype[i] == "flat" and plat[i] == "original"})
        use_flat = fingerprint_from == "flat" or (fingerprint_from == "auto" and len(flat_units) >= min_flat)
        if fingerprint_from == "flat" and not flat_units:
            raise ValueError(f"fingerprint_from='flat' but device {dev!r} has no flat original images")
        r = list(ratios)
        if (subset[rows] == "train").all():
            r[3] = 0  # a fixed test subset exists elsewhere
        assign: dict[str, str] = {}
        if use_flat:
            for u in flat_units:
                assign[u] = "fingerprint"
            r[1] = 0
        rest = sorted({unit[i] for i in rows} - set(assign))
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(dev.encode())]))
        order = [rest[i] for i in rng.permutation(len(rest))]
        counts = _allocate(len(order), r)
        pos = 0
        for name, c in zip(SPLITS, counts, strict=True):
            for u in order[pos : pos + c]:
                assign[u] = name
            pos += c
        for i in rows:
            result[i] = assign[unit[i]]
    out["split"] = result
    return out


# ---------------------------------------------------------------------------------------------------------
# platform views
# ---------------------------------------------------------------------------------------------------------


def platform_view(df: pd.DataFrame, platform: str, cache_dir: str | os.PathLike, sensor_scale: float = 1.0,
                  seed: int = 0, profiles: Mapping | None = None, progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """Rows pointing at the platform copies of ``df``'s original images.

    For each original (``platform == "original"``) row: if ``df`` already holds a real copy on ``platform``
    with the same ``device`` and ``scene_id`` (e.g. VISION's natFBH, FODB's versions), that row is used;
    otherwise the copy is made with :func:`csi.simulate.apply_platform` from the original file's bytes and
    cached as ``<cache_dir>/<platform>-<key>/<device>/<file stem>.jpg``, where ``key`` hashes the profile,
    ``sensor_scale`` and the code of :mod:`csi.simulate` and :mod:`csi.io` (a changed profile or simulator
    gets a new folder; missing files are rebuilt). The platform pipelines
    are deterministic, so ``seed`` only enters the cache key (kept for a future random platform).

    Parameters
    ----------
    df : pandas.DataFrame
        A loader table, possibly with a ``split`` column (kept).
    platform : str
        A platform of :data:`csi.simulate.PLATFORMS` or of ``profiles``; ``"original"`` returns the originals.
    cache_dir : str or os.PathLike
        Where generated copies go (e.g. ``data/cache/platforms/<dataset>``).
    sensor_scale : float
        Simulated long side / 4032 (``df.attrs["sensor_scale"]`` for synthetic data; 1 for real photos).
    seed : int
    profiles : dict, optional
        Extra/overriding profiles (:func:`csi.simulate.load_profiles`).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        One row per original, same columns, ``platform`` set, ``path``/``width``/``height`` of the copy,
        ``source_path`` the original. ``attrs["skipped"]`` lists originals whose copy could not be made.

    Examples
    --------
    >>> tw = platform_view(df, "twitter", "data/cache/platforms/our", sensor_scale=df.attrs["sensor_scale"])  # doctest: +SKIP
    """
    from csi.progress import bar
    from csi.simulate import apply_platform, get_profile

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    prof = get_profile(platform, profiles)
    missing = {"path", "device", "scene_id", "platform"} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks column(s) {sorted(missing)} needed by platform_view")
    orig = df[df["platform"] == "original"]
    if platform == "original":
        out = orig.copy()
        out["source_path"] = out["path"]
        out.attrs = dict(df.attrs)
        out.attrs["skipped"] = []
        return out.reset_index(drop=True)
    real = df[df["platform"] == platform]
    real_by_key = {(d, s): p for d, s, p in zip(real["device"], real["scene_id"], real["path"], strict=True)}
    import csi.io
    import csi.simulate
    from csi.cache import code_digest

    # the copies depend on the profile, the scale and the simulator's code (an edited platform recomputes them)
    key = hashlib.sha256(json.dumps([prof, float(sensor_scale), int(seed), code_digest(csi.simulate, csi.io)],
                                    sort_keys=True, default=str).encode()).hexdigest()[:8]  # fmt: skip
    base = Path(cache_dir) / f"{platform}-{key}"
    rows, skipped = [], []
    real_rows = {p: r for p, r in zip(real["path"], real.to_dict("records"), strict=True)}
    for rec in bar(orig.to_dict("records"), desc=f"platform {platform}", enabled=progress, unit="img"):
        rp = real_by_key.get((rec["device"], rec["scene_id"]))
        if rp is not None:
            new = dict(rec)
            new.update({k: real_rows[rp][k] for k in ("path", "width", "height", "platform")})
            new["source_path"] = rec["path"]
            rows.append(new)
            continue
        src = Path(rec["path"])
        dst = base / str(rec["device"]) / f"{src.stem}.jpg"
        # a copy older than its original is stale (the original was rebuilt): make it again
        if not dst.is_file() or (src.is_file() and dst.stat().st_mtime_ns < src.stat().st_mtime_ns):
            try:
                data = apply_platform(src.read_bytes(), platform, sensor_scale=sensor_scale, profiles=profiles)
            except (ImageReadError, OSError) as exc:
                skipped.append((str(src), str(getattr(exc, "reason", exc))))
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(dst)
        w, h = image_size(dst)
        new = dict(rec)
        new.update({"path": str(dst), "width": w, "height": h, "platform": platform, "source_path": str(src)})
        rows.append(new)
    if skipped:
        log.warning("platform_view(%s): %d original(s) skipped:\n%s", platform, len(skipped),
                    "\n".join(f"  {p}: {r}" for p, r in skipped))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(df.columns) + (["source_path"] if "source_path" not in df.columns else []))
    out.attrs = dict(df.attrs)
    out.attrs["skipped"] = skipped
    out.attrs["platform"] = platform
    return out.reset_index(drop=True)


def load_synthetic(recipe: str, scale: str = "cpu", seed: int = 0, root: str | os.PathLike = "data/synthetic",
                   progress: bool = True, overrides: Mapping | None = None, twins: bool = False) -> pd.DataFrame:  # fmt: skip
    """Build a synthetic recipe if needed (:func:`csi.simulate.build_dataset`) and load it with its loader.

    Parameters
    ----------
    recipe : {"our", "kaggle", "vision", "daxing"}
    scale : {"smoke", "cpu", "paper"}
    seed : int
    root : path
        Cache root of the synthetic datasets.
    progress : bool
    overrides : dict, optional
        Recipe counts or sensor parameters to change (:func:`csi.simulate.recipe_plan`).
    twins : bool
        Also build each original's PRNU-free twin (``twins/<same path>``, :func:`csi.simulate.render_pair`).

    Returns
    -------
    pandas.DataFrame
        The loader table; ``attrs`` holds ``sensor_scale``, ``sensor_shape``, ``recipe``, ``scale``, ``seed``,
        ``dataset_dir`` and ``ground_truth_dir``.

    Examples
    --------
    >>> df = load_synthetic("our", "smoke")     # doctest: +SKIP
    >>> df.attrs["sensor_scale"]                # doctest: +SKIP
    0.07936507936507936
    """
    from csi.simulate import RECIPES, build_dataset, read_manifest

    check_choice("recipe", recipe, RECIPES)
    path = build_dataset(recipe, scale=scale, seed=seed, root=root, progress=progress, overrides=overrides,
                         twins=twins)
    man = read_manifest(path)
    df = load(RECIPE_LOADER[recipe], path)
    df.attrs.update({"sensor_scale": man["sensor_scale"], "sensor_shape": tuple(man["sensor_shape"]),
                     "recipe": recipe, "scale": scale, "seed": int(seed), "dataset_dir": str(path),
                     "ground_truth_dir": str(path / "ground_truth")})  # fmt: skip
    return df
