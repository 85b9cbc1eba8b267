"""Dataset recipes: the paper's datasets (Sec. 4.1) as synthetic stand-ins in their real on-disk layouts."""

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import scipy
from PIL import Image

from csi import cache
from csi.config import check_choice, check_keys, check_scale
from csi.io import decode_rgb, estimate_jpeg_quality
from csi.prnu import center_crop
from csi.progress import bar as progress_bar
from csi.scales import SCALES

from . import camera, platforms, scenes
from .camera import SENSOR_DEFAULTS, _rng, device_prnu, encode_jpeg, model_processing, render_jpeg
from .platforms import PLATFORMS, REAL_LONG_SIDE, apply_platform
from .scenes import choose_kind, make_scene

log = logging.getLogger(__name__)

#: A readable tag of the rendering code, recorded in every plan (the cache key holds the code itself).
SIMULATOR_VERSION = "3"

RECIPES: tuple[str, ...] = ("our", "kaggle", "vision", "daxing")

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

#: Daxing stand-in (brand, model, devices); only the totals (90/22/5, 23 iPhone 6S/6S Plus) are real.
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


def recipe_counts(recipe: str, scale: str) -> dict[str, Any]:
    """The default counts of a recipe at a scale (``csi.scales.SCALES[scale]["recipes"]``).

    >>> recipe_counts("our", "smoke")
    {'devices': 5, 'images': 12}
    """
    return dict(SCALES[scale]["recipes"][recipe])


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)


def _check_override(recipe: str, scale: str, counts: Mapping, key: str, value):
    """One validated, JSON-normalised override value (int, float or list); raises ValueError."""
    bad = f"override {key!r} of recipe {recipe!r}"
    if key in counts:
        if not _is_int(value) or value < 1:
            raise ValueError(f"{bad} must be a positive int, got {value!r}")
        value = int(value)
        if key == "crop" and not 8 <= value <= min(SCALES[scale]["sensor_shape"]):
            raise ValueError(f"{bad} must be in 8..{min(SCALES[scale]['sensor_shape'])} (the sensor's short side), got {value}")
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


def _normalise_overrides(recipe: str, scale: str, counts: Mapping, overrides: Mapping | None) -> dict:
    """Validated overrides of ``counts`` and the sensor that differ from the defaults, sorted by key."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise TypeError(f"overrides must be a dict, got {type(overrides).__name__}")
    check_keys(f"overrides of recipe {recipe!r} at scale {scale!r}", overrides, [*counts, *SENSOR_DEFAULTS])
    out = {}
    for key in sorted(overrides):
        value = _check_override(recipe, scale, counts, key, overrides[key])
        default = counts[key] if key in counts else SENSOR_DEFAULTS[key]
        if json.dumps(value) != json.dumps(_check_override(recipe, scale, counts, key, default)):
            out[key] = value
    return out


@functools.cache
def simulator_digest() -> str:
    """Digest (16 hex) of the simulator's modules, the decoder and crop they use, and NumPy/SciPy/Pillow."""
    return cache.code_digest(camera, scenes, platforms, sys.modules[__name__], decode_rgb, estimate_jpeg_quality,
                             center_crop, f"numpy {np.__version__}", f"scipy {scipy.__version__}",
                             f"Pillow {PIL.__version__}")  # fmt: skip


def recipe_plan(recipe: str, scale: str = "cpu", seed: int = 0, overrides: Mapping[str, Any] | None = None) -> dict:
    """Everything that determines a recipe's output: devices, models, counts, parameters, code.

    >>> recipe_plan("our", "smoke")["sensor_shape"]
    [240, 320]
    """
    check_choice("recipe", recipe, RECIPES)
    check_scale(scale)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    counts = recipe_counts(recipe, scale)
    ov = _normalise_overrides(recipe, scale, counts, overrides)
    sensor = dict(SENSOR_DEFAULTS)
    for key, value in ov.items():
        (counts if key in counts else sensor)[key] = tuple(value) if isinstance(value, list) else value
    devices = _recipe_devices(recipe, scale)
    if "devices" in ov:
        devices = devices[: ov["devices"] * (2 if recipe == "kaggle" else 1)]
    device_models = {d: (d.rsplit("_", 1)[0] if recipe == "kaggle" else _model_of(d)) for d in devices}
    processing = {m: model_processing(m, sensor["camera_quality"]) for m in sorted(set(device_models.values()))}
    shape = SCALES[scale]["sensor_shape"]
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
    """The dataset cache key (:func:`csi.cache.key`): the plan (which holds the code digest) and the twins flag."""
    return cache.key("dataset", {"plan": plan, "twins": bool(twins)})


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


def _kaggle_test_tiff(jpeg: bytes, manip: str, crop: int) -> bytes:
    """Kaggle test image: manipulate the camera JPEG, centre crop, uncompressed TIFF."""
    img = center_crop(_manipulate(decode_rgb(jpeg), manip), crop)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="TIFF")
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
        scene_kind = choose_kind(plan["mix"]["our" if kind == "our" else "nat"], rng)
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
    """``<root>/<recipe>-<scale>-seed<seed>``, plus ``-<8 hex>`` (digest of the effective overrides and twins).

    >>> dataset_dir("our", "smoke", 0, "data/synthetic").as_posix()
    'data/synthetic/our-smoke-seed0'
    """
    check_choice("recipe", recipe, RECIPES)
    check_scale(scale)
    name = f"{recipe}-{scale}-seed{int(seed)}"
    ov = _normalise_overrides(recipe, scale, recipe_counts(recipe, scale), overrides)
    if ov or twins:
        name += "-" + cache.params_digest({"overrides": ov, "twins": bool(twins)})[:8]
    return Path(root) / name


def build_dataset(recipe: str, scale: str = "cpu", seed: int = 0, root: str | os.PathLike = "data/synthetic",
                  progress: bool = True, workers: int | None = None, force: bool = False,
                  overrides: Mapping[str, Any] | None = None, twins: bool = False) -> Path:  # fmt: skip
    """Build (or reuse) a recipe in the real dataset's on-disk layout (Sec. 4.1; layouts: docs/data.md §4).

    >>> path = build_dataset("our", "smoke", seed=0, progress=False)  # doctest: +SKIP
    >>> sorted(p.name for p in path.iterdir())[:2]                    # doctest: +SKIP
    ['D01_Apple_iPhone6', 'D02_Samsung_GalaxyS5']
    """
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
        labels = ("\n".join(lines) + "\n").encode()
        (out / "test_labels.csv").write_bytes(labels)
        files["test_labels.csv"] = {"sha256": hashlib.sha256(labels).hexdigest(), "bytes": len(labels)}
    elapsed = time.perf_counter() - t0
    manifest = {
        "recipe": recipe, "seed": int(seed), "scale": scale, "plan_hash": phash, "twins": twins,
        "overrides": plan["overrides"],
        "sensor_shape": plan["sensor_shape"], "sensor_scale": plan["sensor_scale"],
        "parameters": plan, "devices": plan["devices"], "n_files": len(files),
        "files": dict(sorted(files.items())), "build_seconds": round(elapsed, 2), "workers": int(workers),
    }  # fmt: skip
    cache.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    log.info("built %s: %d files in %.1f s", out, len(files), elapsed)
    return out


def read_manifest(path: str | os.PathLike) -> dict:
    """The ``manifest.json`` of a dataset folder made by :func:`build_dataset`."""
    mf = Path(path) / "manifest.json"
    if not mf.is_file():
        raise ValueError(f"{path} has no manifest.json (not a dataset built by csi.simulator.build_dataset)")
    return json.loads(mf.read_text())


def ground_truth(root: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ground-truth PRNU factors of a built dataset: ``{device: K}``, each ``(H, W) float32``."""
    gt = Path(root) / "ground_truth"
    if not gt.is_dir():
        raise ValueError(f"{root} has no ground_truth/ folder (not a dataset built by csi.simulator.build_dataset)")
    return {p.stem: np.load(p) for p in sorted(gt.glob("*.npy"))}
