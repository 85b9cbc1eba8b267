"""Loaders for the paper's datasets and a user's own photos, the 1:1:6:2 split, and platform views."""

from __future__ import annotations

import functools
import logging
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from csi import io, simulator
from csi.cache import atomic_write, key
from csi.config import check_choice
from csi.io import IMAGE_SUFFIXES, ImageReadError, check_image, image_size
from csi.progress import bar
from csi.simulator import RECIPES, VISION_FOLDERS, apply_platform, build_dataset, get_profile, read_manifest

log = logging.getLogger(__name__)

LOADERS: tuple[str, ...] = ("vision", "kaggle", "daxing", "dresden", "fodb", "folder")
COLUMNS: tuple[str, ...] = ("path", "device", "model", "brand", "platform", "scene_type", "scene_id", "width",
                            "height", "subset")  # fmt: skip
SPLITS: tuple[str, ...] = ("val", "fingerprint", "train", "test")
#: Recipe -> loader of its layout.
RECIPE_LOADER: dict[str, str] = {"our": "folder", "kaggle": "kaggle", "vision": "vision", "daxing": "daxing"}

# Entries a synthetic dataset folder holds next to the data; loaders pass over them without a report.
_RESERVED = {"manifest.json", "ground_truth", "twins", "test_labels.csv", "manifest.json.tmp"}

# folder name (lower case) -> platform
_PLATFORM_ALIASES = {alias: name for name, aliases in {
    "original": ("original", "orig", "native", "camera"), "facebook": ("facebook", "fb", "fbh", "facebook_hq"),
    "facebook_lq": ("facebook_lq", "fbl"), "instagram": ("instagram", "ig", "insta"), "telegram": ("telegram", "tg"),
    "twitter": ("twitter", "tw", "x"), "whatsapp": ("whatsapp", "wa"), "wechat": ("wechat", "wx"),
    "weibo": ("weibo",)}.items() for alias in aliases}  # fmt: skip

def parse_device_name(name: str) -> tuple[str, str]:
    """Brand and model from a device folder name (``DXX_Brand_Model``, ``Brand_Model_NN``; else unknown).

    >>> parse_device_name("D26_Samsung_GalaxyS3Mini"), parse_device_name("Apple_iPhone6S_03")
    (('Samsung', 'GalaxyS3Mini'), ('Apple', 'iPhone6S'))
    """
    parts = name.split("_")
    if parts and re.fullmatch(r"D\d+", parts[0]):
        parts = parts[1:]
    if len(parts) > 2 and parts[-1].isdigit():
        parts = parts[:-1]
    if len(parts) >= 2:
        return parts[0], "_".join(parts[1:])
    return "unknown", name


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in _RESERVED and not p.name.startswith("."))


class _Collector:
    """Rows and skip reports of one loader run."""

    def __init__(self, name: str, root: Path, min_size: int = 0):
        self.name, self.root, self.min_size = name, root, int(min_size)
        self.rows: list[dict] = []
        self.skipped: list[tuple[str, str]] = []

    def skip(self, path, reason: str):
        self.skipped.append((str(path), reason))

    def add(self, path: Path, **fields):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            self.skip(path, f"not an image file (suffix {path.suffix or 'none'})")
            return
        try:
            w, h = check_image(path, self.min_size)
        except ImageReadError as exc:
            self.skip(path, exc.reason)
            return
        self.rows.append({"path": str(path), "width": w, "height": h, "subset": "", "scene_type": "unknown",
                          **fields})  # fmt: skip

    def devices(self, reason: str, folder: Path | None = None):
        """``(folder, brand, model)`` of each device folder under ``folder`` (the root); a file is skipped."""
        for dev_dir in _entries(folder or self.root):
            if not dev_dir.is_dir():
                self.skip(dev_dir, reason)
                continue
            yield (dev_dir, *parse_device_name(dev_dir.name))

    def files(self, folder: Path, empty: str = "empty folder", dirs: bool = False):
        """Entries of ``folder`` in order (a sub-folder is skipped unless ``dirs``); an empty one is reported."""
        entries = _entries(folder)
        if not entries:
            self.skip(folder, empty)
        for f in entries:
            if not dirs and f.is_dir():
                self.skip(f, "unexpected sub-folder")
            else:
                yield f

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=list(COLUMNS) + sorted({k for r in self.rows for k in r} - set(COLUMNS)))
        df = df.sort_values("path", kind="stable").reset_index(drop=True)
        df = df.astype({"width": "int64", "height": "int64"})
        df.attrs.update(skipped=list(self.skipped), loader=self.name, root=str(self.root))
        if self.skipped:
            log.warning("%s loader: %d file(s)/folder(s) skipped under %s:\n%s", self.name, len(self.skipped),
                        self.root, "\n".join(f"  {p}: {r}" for p, r in self.skipped))  # fmt: skip
        log.info("%s loader: %d images of %d devices", self.name, len(df), df["device"].nunique() if len(df) else 0)
        if df.empty:
            raise ValueError(f"no usable images found under {self.root} for the {self.name!r} layout")
        return df


def _load_device_folders(root: Path, min_size: int = 0, *, name: str, platform_dirs: bool) -> pd.DataFrame:
    """``folder`` and ``daxing``: files of a device folder, its flat/nat and (``folder``) platform sub-folders."""
    col = _Collector(name, root, min_size)
    expected = "one folder per device" if platform_dirs else "Brand_Model_NN device folders"
    for dev_dir, brand, model in col.devices(f"file at the top level (expected {expected})"):
        device = dev_dir.name
        ids = {"device": device, "brand": brand, "model": model, "platform": "original"}
        for e in col.files(dev_dir, "empty device folder", dirs=True):
            kind = e.name.lower()
            if e.is_file():
                col.add(e, **ids, scene_id=f"{device}/{e.stem}")
            elif kind in ("flat", "nat"):
                for f in col.files(e):
                    # flat shots get their own scene ids: cameras number files, so flat/IMG_0001 and nat/IMG_0001
                    # are different scenes (platform copies pair with the natural photos, device/stem)
                    sid = f"{device}/flat/{f.stem}" if kind == "flat" else f"{device}/{f.stem}"
                    col.add(f, **ids, scene_type=kind, scene_id=sid)
            elif platform_dirs and kind in _PLATFORM_ALIASES:
                for f in col.files(e, "empty platform folder"):
                    col.add(f, **{**ids, "platform": _PLATFORM_ALIASES[kind]}, scene_id=f"{device}/{f.stem}")
            else:
                col.skip(e, "unknown sub-folder (expected flat, nat or a platform name)")
    return col.frame()


def _load_vision(root: Path, min_size: int = 0) -> pd.DataFrame:

    col = _Collector("vision", root, min_size)
    pat = re.compile(r"^(D\d+)_I_(flat|nat|natFBH|natFBL|natWA)_(\d+)$")
    for dev_dir, brand, model in col.devices("file at the top level (expected DXX_Brand_Model folders)"):
        device, img_dir = dev_dir.name, dev_dir / "images"
        if not img_dir.is_dir() or not _entries(img_dir):
            col.skip(dev_dir, "empty device folder (no images/ sub-folder with content)")
            continue
        for sub in _entries(img_dir):
            if not sub.is_dir() or sub.name not in VISION_FOLDERS:
                col.skip(sub, "unknown entry in images/ (expected flat, nat, natFBH, natFBL, natWA)")
                continue
            group = "flat" if sub.name == "flat" else "nat"
            for f in col.files(sub, dirs=True):
                m = pat.match(f.stem)
                if not m or m.group(2) != sub.name:
                    col.skip(f, f"file name does not match DXX_I_{sub.name}_NNNN")
                    continue
                col.add(f, device=device, brand=brand, model=model, platform=VISION_FOLDERS[sub.name],
                        scene_type=group, scene_id=f"{device}/{group}/{m.group(3)}")  # fmt: skip
    return col.frame()


def _kaggle_brand(cls: str) -> str:
    """The brand of a Kaggle class (``iPhone-6`` -> Apple; HTC, LG, Motorola, Samsung, Sony name themselves)."""
    prefix = cls.split("-")[0]
    return {"iPhone": "Apple"}.get(prefix, prefix)


def _load_kaggle(root: Path, min_size: int = 0) -> pd.DataFrame:
    col = _Collector("kaggle", root, min_size)
    train, test = root / "train", root / "test"
    if not train.is_dir() and not test.is_dir():
        raise ValueError(f"{root} has neither train/ nor test/ (expected the SP Cup 2018 / Kaggle layout)")
    for e in _entries(root):
        if e.name not in ("train", "test") and e.name != "sample_submission.csv":
            col.skip(e, "unexpected entry (expected train/, test/, test_labels.csv)")
    if train.is_dir():
        for cls_dir, _, _ in col.devices("file in train/ (expected one folder per class)", train):
            cls = cls_dir.name
            for f in col.files(cls_dir, "empty device folder", dirs=True):
                col.add(f, device=cls, brand=_kaggle_brand(cls), model=cls, platform="original",
                        scene_id=f"{cls}/{f.stem}", subset="train", manipulation="unalt")  # fmt: skip
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
    for dev_dir, brand, model in col.devices("file at the top level (expected DXX_Brand_Model_i folders)"):
        device = dev_dir.name
        for v in col.files(dev_dir, "empty device folder", dirs=True):
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


_LOAD = {"vision": _load_vision, "kaggle": _load_kaggle, "dresden": _load_dresden, "fodb": _load_fodb,
         "daxing": functools.partial(_load_device_folders, name="daxing", platform_dirs=False),
         "folder": functools.partial(_load_device_folders, name="folder", platform_dirs=True)}  # fmt: skip


def load(name: str, root: str | os.PathLike, min_size: int = 0) -> pd.DataFrame:
    """Index a dataset on disk in one of the :data:`LOADERS` layouts, checking each image from its header.

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
    return _LOAD[name](root, min_size=int(min_size))


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
        exact = np.clip(r / r.sum() * n - counts, 0, None)
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
    """A copy of ``df`` with a ``split`` column: ``val``, ``fingerprint``, ``train`` or ``test`` per device.

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
    missing = ({"device"} | ({by} if by else set())) - set(df.columns)
    if missing:
        raise ValueError(f"df lacks column(s) {sorted(missing)} needed by split")
    out = df.copy()

    def column(name: str, default: str) -> np.ndarray:
        return out[name].astype(str).to_numpy() if name in out else np.full(len(out), default)

    unit, devices = out[by or "path"].astype(str).to_numpy(), column("device", "")
    subset, stype, plat = column("subset", ""), column("scene_type", "unknown"), column("platform", "original")
    result = np.full(len(out), "", dtype=object)
    result[subset == "test"] = "test"
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
        assign = dict.fromkeys(flat_units if use_flat else (), "fingerprint")
        if use_flat:
            r[1] = 0
        rest = sorted({unit[i] for i in rows} - set(assign))
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(dev.encode())]))
        order = [rest[i] for i in rng.permutation(len(rest))]
        ends = np.cumsum(_allocate(len(order), r))
        for name, start, end in zip(SPLITS, [0, *ends[:-1]], ends, strict=True):
            assign.update(dict.fromkeys(order[start:end], name))
        result[rows] = np.array([assign[unit[i]] for i in rows], dtype=object)
    out["split"] = result
    return out


def platform_view(df: pd.DataFrame, platform: str, cache_dir: str | os.PathLike, sensor_scale: float = 1.0,
                  seed: int = 0, profiles: Mapping | None = None, progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """One row per original of ``df``, pointing at its copy on ``platform``: a real one or a cached simulated one.

    >>> tw = platform_view(df, "twitter", "data/cache/platforms/our", sensor_scale=df.attrs["sensor_scale"])  # doctest: +SKIP
    """

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    prof = get_profile(platform, profiles)
    missing = {"path", "device", "scene_id", "platform"} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks column(s) {sorted(missing)} needed by platform_view")
    orig = df[df["platform"] == "original"]
    if platform == "original":
        out = orig.assign(source_path=orig["path"]).reset_index(drop=True)
        out.attrs = {**df.attrs, "skipped": []}
        return out
    real = df[df["platform"] == platform]
    real_rows = {(r["device"], r["scene_id"]): r for r in real.to_dict("records")}
    # the copies depend on the profile, the scale and the simulator's code (an edited platform recomputes them)
    base = Path(cache_dir) / key(platform, {"profile": prof, "sensor_scale": float(sensor_scale), "seed": int(seed)},
                                 code=[simulator.camera, simulator.platforms, io])  # fmt: skip
    rows, skipped = [], []
    for rec in bar(orig.to_dict("records"), desc=f"platform {platform}", enabled=progress, unit="img"):
        src = Path(rec["path"])
        copy = real_rows.get((rec["device"], rec["scene_id"]))
        if copy is not None:
            rows.append({**rec, **{k: copy[k] for k in ("path", "width", "height", "platform")},
                         "source_path": rec["path"]})  # fmt: skip
            continue
        dst = base / str(rec["device"]) / f"{src.stem}.jpg"
        # a copy older than its original is stale (the original was rebuilt): make it again
        if not dst.is_file() or (src.is_file() and dst.stat().st_mtime_ns < src.stat().st_mtime_ns):
            try:
                data = apply_platform(src.read_bytes(), platform, sensor_scale=sensor_scale, profiles=profiles)
            except (ImageReadError, OSError) as exc:
                skipped.append((str(src), str(getattr(exc, "reason", exc))))
                continue
            atomic_write(dst, lambda f, data=data: f.write(data))
        w, h = image_size(dst)
        rows.append({**rec, "path": str(dst), "width": w, "height": h, "platform": platform,
                     "source_path": str(src)})  # fmt: skip
    if skipped:
        log.warning("platform_view(%s): %d original(s) skipped:\n%s", platform, len(skipped),
                    "\n".join(f"  {p}: {r}" for p, r in skipped))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(df.columns) + (["source_path"] if "source_path" not in df.columns else []))
    out.attrs = {**df.attrs, "skipped": skipped, "platform": platform}
    return out.reset_index(drop=True)


def load_synthetic(recipe: str, scale: str = "cpu", seed: int = 0, root: str | os.PathLike = "data/synthetic",
                   progress: bool = True, overrides: Mapping | None = None, twins: bool = False) -> pd.DataFrame:  # fmt: skip
    """Build a synthetic recipe if needed (:func:`csi.simulator.build_dataset`) and load it with its loader.

    >>> df = load_synthetic("our", "smoke")     # doctest: +SKIP
    >>> df.attrs["sensor_scale"]                # doctest: +SKIP
    0.07936507936507936
    """

    check_choice("recipe", recipe, RECIPES)
    path = build_dataset(recipe, scale=scale, seed=seed, root=root, progress=progress, overrides=overrides,
                         twins=twins)
    man = read_manifest(path)
    df = load(RECIPE_LOADER[recipe], path)
    df.attrs.update({"sensor_scale": man["sensor_scale"], "sensor_shape": tuple(man["sensor_shape"]),
                     "recipe": recipe, "scale": scale, "seed": int(seed), "dataset_dir": str(path),
                     "ground_truth_dir": str(path / "ground_truth")})  # fmt: skip
    return df
