"""Which wavelet residual survives downscaling? Variants of csi.prnu.noise_residual on simulated queries.

Run from the repository root::

    .venv/bin/python benchmarks/residual_downscale.py            # full run (about 3 minutes on one core)
    .venv/bin/python benchmarks/residual_downscale.py --quick    # 3 queries per camera, for a smoke test

Set-up (everything from ``csi.simulator`` as it is, deterministic for a given ``--seed``):

* ``--cameras`` devices (default 6; the first two share a camera model, so they share its processing)
  with a ``--sensor`` of 768x1024 and a realistic PRNU strength ``--prnu-std`` (0.75 %; the simulator's
  default of 1.5 % makes every variant look perfect);
* a fingerprint per camera from ``--flats`` flat images (:func:`csi.prnu.estimate_fingerprint`, default
  settings), and ``--queries`` natural images per camera (dead leaves and photographs, alternating);
* six query conditions: the camera JPEG (``original``), re-encoded at JPEG 75 (``jpeg75``), a plain x0.5
  resize (Pillow bicubic) + JPEG 85 (``half_jpeg85``), and the simulator's ``facebook``, ``instagram`` and
  ``wechat`` platforms (size caps scaled to the sensor, i.e. the real resize ratios);
* queries of at least 512 pixels on both sides are centre-cropped to 512x512; smaller (downscaled) copies
  are used whole, and the fingerprint is resampled to the query's size
  (:func:`csi.evaluate.align_fingerprint`) and cropped like the query;
* score ``rho = ncc(W, I * K)`` (:func:`csi.prnu.ncc`; ``I`` the gray query, the established detector) of
  every query against every camera.

Printed per condition and variant: ``n`` (queries; scores = n x cameras), closed-set accuracy (argmax
over the cameras), AUC over all query-camera pairs (:func:`csi.metrics.auc_mann_whitney`), the mean
``rho`` of the true camera (x 1e3), and ``d' = (mean true - mean false) / std false``, which resolves
differences that ACC and AUC round away at this sample size.

Variants (all of the query residual; ``docs/residual.md`` has the discussion):

* ``before``: the residual and fingerprint as they were (``boundary="periodic", shifts=1``);
* ``periodic/1``, ``symmetric/1``, ``periodic/2``, ``symmetric/2`` (the default), ``symmetric/4``: DWT
  boundary handling x number of cycle-spinning shifts, against the default fingerprint;
* ``periodic/1 sigma=3``, ``sym/2 sigma=3``: the former and the new default with the query-image sigma of
  the MATLAB code (3 instead of 5);
* ``sym/2 W->K size``: resample the query residual (and ``I``) up to the fingerprint's size instead of
  the fingerprint down to the query's (downscaled conditions only).
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread: on a shared 2-core machine multi-threaded BLAS makes every ncc() call several
# times slower (threads spin while they wait for a core).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from csi import prnu, simulator  # noqa: E402
from csi.evaluate import align_fingerprint  # noqa: E402
from csi.io import decode_rgb  # noqa: E402
from csi.metrics import auc_mann_whitney  # noqa: E402

#: Camera models of the simulated devices (the first two are one model: same processing, different K).
MODELS = ("Apple_iPhone6", "Apple_iPhone6", "Samsung_GalaxyS5", "Huawei_P9", "Xiaomi_RedmiNote8",
          "Nubia_Z17", "LG_D290", "Sony_XperiaZ1Compact")  # fmt: skip
CONDITIONS = ("original", "jpeg75", "half_jpeg85", "facebook", "instagram", "wechat")
RESIZED = ("half_jpeg85", "facebook", "instagram", "wechat")
CROP = 512
#: name -> (fingerprint set, noise_residual keyword arguments, resample the residual to K's size)
VARIANTS: dict[str, tuple[str, dict, bool]] = {
    "before": ("before", {"boundary": "periodic", "shifts": 1}, False),
    "periodic/1": ("default", {"boundary": "periodic", "shifts": 1}, False),
    "symmetric/1": ("default", {"boundary": "symmetric", "shifts": 1}, False),
    "periodic/2": ("default", {"boundary": "periodic", "shifts": 2}, False),
    "symmetric/2": ("default", {"boundary": "symmetric", "shifts": 2}, False),
    "symmetric/4": ("default", {"boundary": "symmetric", "shifts": 4}, False),
    "periodic/1 sigma=3": ("default", {"boundary": "periodic", "shifts": 1, "sigma": 3.0}, False),
    "sym/2 sigma=3": ("default", {"boundary": "symmetric", "shifts": 2, "sigma": 3.0}, False),
    "sym/2 W->K size": ("default", {"boundary": "symmetric", "shifts": 2}, True),
}
GRAY = np.asarray(prnu.GRAY_WEIGHTS, np.float32)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return decode_rgb(buf.getvalue())


def make_condition(camera_jpeg: bytes, condition: str, sensor_scale: float) -> np.ndarray:
    """The query image of one condition, ``(h, w, 3)`` uint8."""
    if condition in ("facebook", "instagram", "wechat"):
        return decode_rgb(simulator.apply_platform(camera_jpeg, condition, sensor_scale=sensor_scale))
    image = decode_rgb(camera_jpeg)
    if condition == "original":
        return image
    if condition == "jpeg75":
        return _jpeg(image, 75)
    if condition == "half_jpeg85":
        half = Image.fromarray(image).resize((image.shape[1] // 2, image.shape[0] // 2), Image.Resampling.BICUBIC)
        return _jpeg(np.asarray(half), 85)
    raise ValueError(f"unknown condition {condition!r}")


def query_box(shape) -> tuple[slice, slice]:
    """Centre 512x512 crop when both sides allow it, else the whole image."""
    h, w = shape[:2]
    if min(h, w) < CROP:
        return slice(0, h), slice(0, w)
    y0, x0 = (h - CROP) // 2, (w - CROP) // 2
    return slice(y0, y0 + CROP), slice(x0, x0 + CROP)


def simulate_cameras(args) -> tuple[list[str], dict[str, list[np.ndarray]], list[tuple[int, bytes]]]:
    """Devices, their flat images (decoded) and the natural queries (camera JPEG bytes, camera index)."""
    shape = tuple(args.sensor)
    sensor = {"prnu_std": args.prnu_std}
    devices, flats, queries = [], {}, []
    for i in tqdm(range(args.cameras), desc="render cameras", unit="cam"):
        model = MODELS[i % len(MODELS)]
        device = f"D{i + 1:02d}_{model}"
        devices.append(device)
        K = simulator.device_prnu(shape, args.seed, "residual-downscale", device, args.prnu_std)
        proc = simulator.model_processing(model)
        rng = np.random.default_rng([args.seed, i, 0])
        flats[device] = [decode_rgb(simulator.render_jpeg(simulator.make_scene("flat", shape, rng), K, proc, rng,
                                                         sensor=sensor)) for _ in range(args.flats)]  # fmt: skip
        rng = np.random.default_rng([args.seed, i, 1])
        for j in range(args.queries):
            kind = "dead_leaves" if j % 2 == 0 else "photo"
            queries.append((i, simulator.render_jpeg(simulator.make_scene(kind, shape, rng), K, proc, rng, sensor=sensor)))
    return devices, flats, queries


def summarise(scores: np.ndarray, true: np.ndarray) -> dict:
    """ACC, AUC, mean true rho and d' of an ``(n, cameras)`` score matrix."""
    labels = np.zeros(scores.shape, bool)
    labels[np.arange(len(true)), true] = True
    pos, neg = scores[labels], scores[~labels]
    return {
        "n": len(true),
        "acc": float(np.mean(scores.argmax(axis=1) == true)),
        "auc": auc_mann_whitney(scores.ravel(), labels.ravel()),
        "rho": float(pos.mean()),
        "dprime": float((pos.mean() - neg.mean()) / neg.std()),
    }


def score_condition(condition, images, true, fingerprints, variants, bar) -> dict[str, dict]:
    """Scores of every variant on the query images of one condition."""
    results = {}
    aligned: dict[tuple, np.ndarray] = {}
    for name in variants:
        fp_set, kwargs, upsample = VARIANTS[name]
        Ks = fingerprints[fp_set]
        if upsample and condition not in RESIZED:
            bar.update(len(images))
            continue
        rows = []
        for image in images:
            ys, xs = query_box(image.shape)
            part = image[ys, xs]
            W = prnu.noise_residual(part, **kwargs)
            intensity = part.astype(np.float32) @ GRAY
            if upsample:  # the residual (and I) to the fingerprint's size instead of K to the query's
                W = prnu.resample_fingerprint(W, Ks[0].shape)
                intensity = prnu.resample_fingerprint(intensity, Ks[0].shape)
                rows.append([prnu.ncc(W, K * intensity) for K in Ks])
            else:
                row = []
                for c, K in enumerate(Ks):
                    key = (fp_set, c, image.shape[:2])
                    if key not in aligned:
                        aligned[key] = align_fingerprint(K, image.shape[:2])[ys, xs]
                    row.append(prnu.ncc(W, aligned[key] * intensity))
                rows.append(row)
            bar.update(1)
        results[name] = summarise(np.asarray(rows), true)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=6)
    parser.add_argument("--flats", type=int, default=25, help="flat images per fingerprint")
    parser.add_argument("--queries", type=int, default=20, help="natural query images per camera")
    parser.add_argument("--prnu-std", type=float, default=0.0075, help="std of K (0.005-0.01 is realistic)")
    parser.add_argument("--sensor", type=int, nargs=2, default=(768, 1024), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="V",
                        help="subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS, metavar="C")
    parser.add_argument("--quick", action="store_true", help="3 queries and 8 flats per camera")
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.flats = 3, 8
    if not 2 <= args.cameras <= len(MODELS):
        parser.error(f"--cameras must be in 2..{len(MODELS)}")
    if args.queries < 1 or args.flats < 1 or min(args.sensor) < CROP:
        parser.error(f"--queries and --flats must be >= 1 and the sensor at least {CROP} on both sides")

    t0 = time.perf_counter()
    devices, flats, queries = simulate_cameras(args)
    fingerprints = {"default": [], "before": []}
    for device in tqdm(devices, desc="fingerprints", unit="cam"):
        fingerprints["default"].append(prnu.estimate_fingerprint(flats[device]))
        if "before" in args.variants:
            fingerprints["before"].append(prnu.estimate_fingerprint(flats[device], boundary="periodic", shifts=1))
    del flats
    true = np.array([c for c, _ in queries])
    scale = args.sensor[1] / simulator.REAL_LONG_SIDE

    table = {}
    total = len(args.conditions) * len(args.variants) * len(queries)
    with tqdm(total=total, desc="residuals", unit="img") as bar:
        for condition in args.conditions:
            images = [make_condition(jpeg, condition, scale) for _, jpeg in queries]
            table[condition] = (images[0].shape[:2], score_condition(condition, images, true, fingerprints,
                                                                     args.variants, bar))  # fmt: skip

    print(f"\nsimulator v{simulator.SIMULATOR_VERSION}, seed {args.seed}: {args.cameras} cameras "
          f"({', '.join(devices)}), sensor {args.sensor[0]}x{args.sensor[1]}, PRNU std {args.prnu_std:g}, "
          f"{args.flats} flat images per fingerprint, {args.queries} queries per camera; "
          f"score ncc(W, I*K); {time.perf_counter() - t0:.0f} s")  # fmt: skip
    print("\n| condition | query size | variant | n | ACC | AUC | mean rho true (x1e3) | d' |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for condition, (size, results) in table.items():
        for name, r in results.items():
            print(f"| {condition} | {size[0]}x{size[1]} | {name} | {r['n']} | {r['acc']:.3f} | {r['auc']:.3f} "
                  f"| {r['rho'] * 1e3:.2f} | {r['dprime']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
