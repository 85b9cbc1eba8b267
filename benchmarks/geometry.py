"""Evaluation geometry at realistic PRNU strength: how large must the compared crop and the fingerprint be?

The synthetic stand-ins are calibrated with a strong PRNU (1.5 %), which hides how much a small crop costs on real
photos (0.5-1 %). This script rebuilds the VISION stand-in with a realistic PRNU and measures the wavelet
pipeline's closed-set accuracy (Eq. 9, with n and a 95 % Wilson interval) for several query crops and fingerprint
sizes, on the camera originals and on two downscaling platforms. Its table is in docs/data.md ("Evaluation
geometry"); it chose the default geometry of a real source (``csi.experiments.SCALES[scale]["real_crop"]``).

Usage: ``python benchmarks/geometry.py [--prnu 0.0075] [--devices 12] [--data-root data]`` (a few minutes on a
2-core laptop; the dataset build is cached).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import pandas as pd

from csi import experiments, pipeline, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prnu", type=float, nargs="+", default=[0.0075])
    ap.add_argument("--devices", type=int, default=12)
    ap.add_argument("--crops", default="128,256,512,full")
    ap.add_argument("--fingerprint-sizes", default="full,512")
    ap.add_argument("--conditions", default="original,facebook,instagram")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    base = experiments.setup(scale="cpu", notebook="06_table3_accuracy", data_root=args.data_root,
                             out_dir="runs/bench", seed=args.seed)
    base = dataclasses.replace(base, settings={**base.settings, "max_test": None, "max_test_total": None})
    rows = []
    t0 = time.perf_counter()
    for strength in args.prnu:
        ds = pipeline.load(base, "vision", overrides={"prnu_std": strength, "devices": args.devices})
        for fp in args.fingerprint_sizes.split(","):
            for crop in args.crops.split(","):
                cfg = dataclasses.replace(base, crop=None if crop == "full" else int(crop),
                                          fingerprint_size=fp if fp == "full" else int(fp))
                for cond in args.conditions.split(","):
                    t = pipeline.score(cfg, ds, cond, "wavelet", progress=False)
                    S = t.pivot_table(index="image", columns="candidate_device", values="ncc")
                    true = t.groupby("image")["true_device"].first().reindex(S.index)
                    k, n = int((S.idxmax(axis=1) == true).sum()), len(S)
                    lo, hi = stats.wilson_interval(k, n)
                    rows.append({"prnu_std": strength, "fingerprint": fp, "crop": crop, "condition": cond,
                                 "acc": k / n, "ci": f"{lo:.2f}-{hi:.2f}", "n_images": n, "cameras": S.shape[1]})
                    print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["prnu_std", "fingerprint", "crop"], columns="condition", values="acc",
                             sort=False)
    print(f"\nwavelet closed-set ACC, VISION stand-in, {args.devices} cameras "
          f"(n = {table.n_images.iloc[0]} test images each; {time.perf_counter() - t0:.0f} s)")
    print(wide.round(3).to_string())
    print("\n95 % intervals:\n" + table.pivot_table(index=["prnu_std", "fingerprint", "crop"], columns="condition",
                                                    values="ci", aggfunc="first", sort=False).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
