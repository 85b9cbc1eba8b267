"""Time the synthetic dataset builds (issue 3, requirement 9: cpu-scale `our` in <= 2 minutes on 2 cores).

Usage: ``python benchmarks/bench_simulate.py [--recipes our,kaggle,vision,daxing] [--scales smoke,cpu]
[--repeat 1] [--workers N]``. Each build goes into a fresh temporary folder (no cache hit), with the default
worker count; the best of ``--repeat`` runs is printed.

``--calibrate`` instead runs the calibration protocol of docs/data.md section 7 (wavelet pipeline of
:mod:`csi.prnu` on the cpu-scale ``our`` recipe, cached under ``data/synthetic``; platform copies under
``data/cache/platforms/calibration``) and prints closed-set accuracy per platform.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from csi.simulator import PLATFORMS, RECIPES, build_dataset, read_manifest


def calibrate(scale: str = "cpu", seed: int = 0, root: str = "data/synthetic",
              cache: str = "data/cache/platforms/calibration", platforms=tuple(PLATFORMS)) -> dict:  # fmt: skip
    """Closed-set accuracy of the wavelet pipeline per platform on the ``our`` recipe (docs/data.md sec. 7)."""
    from csi import datasets, prnu
    from csi.io import iter_rgb, read_rgb

    df = datasets.split(datasets.load_synthetic("our", scale, seed, root=root, progress=False), seed=seed)
    devices = sorted(df["device"].unique())
    fps = {}
    for d in devices:
        paths = df[(df["device"] == d) & (df["split"] == "fingerprint")]["path"].tolist()
        fps[d] = prnu.estimate_fingerprint((img for _, img in iter_rgb(paths)))
    test = df[df["split"] == "test"]
    result = {}
    for plat in platforms:
        view = datasets.platform_view(test, plat, cache, sensor_scale=df.attrs["sensor_scale"], seed=seed)
        hits = 0
        for path, dev in zip(view["path"], view["device"], strict=True):
            img = read_rgb(path)
            h, w = img.shape[:2]
            c = min(256, h, w)
            res = prnu.center_crop(prnu.noise_residual(img), c)
            scores = [prnu.ncc(res, prnu.center_crop(
                fps[d] if fps[d].shape == (h, w) else prnu.resample_fingerprint(fps[d], (h, w)), c)) for d in devices]
            hits += devices[int(np.argmax(scores))] == dev
        result[plat] = round(hits / len(view), 4)
        print(f"{plat:12} n={len(view):4d} accuracy={result[plat]:.3f}", flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recipes", default="our", help="comma-separated recipes (default: our)")
    ap.add_argument("--scales", default="smoke,cpu", help="comma-separated scales (default: smoke,cpu)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--calibrate", action="store_true", help="run the calibration protocol instead")
    args = ap.parse_args()
    if args.calibrate:
        print(json.dumps(calibrate()))
        return
    print(f"{'recipe':8} {'scale':6} {'files':>6} {'best s':>8}  (all runs)")
    for recipe in args.recipes.split(","):
        if recipe not in RECIPES:
            raise SystemExit(f"unknown recipe {recipe!r}; expected one of {RECIPES}")
        for scale in args.scales.split(","):
            times = []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    path = build_dataset(recipe, scale, seed=0, root=tmp, progress=False, workers=args.workers)
                    times.append(time.perf_counter() - t0)
                    n = read_manifest(path)["n_files"]
            print(f"{recipe:8} {scale:6} {n:6d} {min(times):8.1f}  {' '.join(f'{t:.1f}' for t in times)}")


if __name__ == "__main__":
    main()
