"""Notebook 06 on photo folders laid out as VISION, Dresden and a user's own folder: what it tests and how long it takes.

The photos are made by the simulator at a phone's full resolution (12 MP, 4032 x 3024) with a realistic PRNU
(0.75 %), then written in each real dataset's on-disk layout, so the run goes through exactly the loaders, split,
geometry (512-px crops, full-frame fingerprints) and notebook a user's photos would:

* ``folder``: ``<device>/flat/*.jpg`` and ``<device>/nat/*.jpg`` (the issue's 6-camera, ~80-photo case);
* ``vision``: ``DXX_Brand_Model/images/{flat,nat}/DXX_I_<type>_NNNN.jpg``;
* ``dresden``: one folder of ``Brand_Model_Instance_Shot.JPG`` (no flat images: 1/3 of the photos estimate the
  fingerprint).

Each run uses the networks trained on the synthetic default (run ``make reproduce`` or notebook 03 first, so they
are cached in ``--data-root``; otherwise their training time is added). Prints, per layout: the command, the photos
tested, the wavelet's ACC on the originals and a platform, and the wall time.

Usage: ``python benchmarks/real_layouts.py [--cameras 6 --flat 10 --nat 3] [--layouts folder,vision,dresden]``.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from csi import simulator
from csi.progress import bar

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("Apple_iPhone8", "Samsung_GalaxyS9", "Huawei_P20", "Xiaomi_Mi8", "Google_Pixel3", "Sony_XZ2",
          "OnePlus_6", "LG_G7")


def shoot(shape, cameras: int, flat: int, nat: int, prnu_std: float, seed: int) -> list[tuple[int, str, int, bytes]]:
    """(camera index, kind, number, JPEG bytes) of every simulated photo."""
    out = []
    jobs = [(c, kind, j) for c in range(cameras) for kind, n in (("flat", flat), ("nat", nat)) for j in range(n)]
    for c, kind, j in bar(jobs, desc="simulating 12 MP photos", unit="photo"):
        K = simulator.device_prnu(shape, seed, "layouts", f"cam{c}", prnu_std)
        rng = np.random.default_rng([seed, c, j, kind == "flat"])
        scene = simulator.make_scene("flat" if kind == "flat" else ("photo" if j % 2 else "dead_leaves"), shape, rng)
        out.append((c, kind, j, simulator.render_jpeg(scene, K, simulator.model_processing(MODELS[c % len(MODELS)]),
                                                     rng, sensor={"prnu_std": prnu_std})))
    return out


def write_layout(layout: str, photos, root: Path) -> Path:
    """Write the photos in a dataset's layout under ``root/layout``; returns the dataset folder."""
    base = root / layout
    for c, kind, j, data in photos:
        brand, model = MODELS[c % len(MODELS)].split("_")
        if layout == "folder":
            path = base / f"{brand}_{model}_{c}" / kind / f"IMG_{j + 1:04d}.jpg"
        elif layout == "vision":
            d = f"D{c + 1:02d}"
            path = base / f"{d}_{brand}_{model}" / "images" / kind / f"{d}_I_{kind}_{j + 1:04d}.jpg"
        else:  # dresden: one folder, Brand_Model_Instance_Shot.JPG, flat and natural shots alike
            shot = (0 if kind == "flat" else 1000) + j
            path = base / f"{brand}_{model}_{c}_{shot}.JPG"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.open(io.BytesIO(data)).save(path, quality=95)
    return base


def run(layout: str, path: Path, data_root: str, out: Path, scale: str = "cpu") -> dict:
    import papermill

    os.environ["CSI_PROGRESS"] = "terminal"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    papermill.execute_notebook(str(ROOT / "notebooks" / "06_table3_accuracy.ipynb"), str(out / f"{layout}.ipynb"),
                               kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
                               parameters={"source": layout, "data_path": str(path), "scale": scale,
                                           "data_root": str(Path(data_root).resolve()), "out_dir": str(out / layout)})
    seconds = time.perf_counter() - t0
    acc = pd.read_csv(out / layout / "06_table3_accuracy" / "accuracy_long.csv")
    wav = acc[acc.method == "wavelet"].set_index("platform")
    return {"layout": layout, "seconds": round(seconds, 1), "tested": int(wav.loc["original", "n_images"]),
            "cameras": int(wav.loc["original", "n_cameras"]),
            "wavelet ACC original": f"{wav.loc['original', 'acc']:.2f} [{wav.loc['original', 'ci_low']:.2f}, "
                                    f"{wav.loc['original', 'ci_high']:.2f}]",
            "wavelet ACC facebook": f"{wav.loc['facebook', 'acc']:.2f} [{wav.loc['facebook', 'ci_low']:.2f}, "
                                    f"{wav.loc['facebook', 'ci_high']:.2f}]"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=6)
    ap.add_argument("--flat", type=int, default=10)
    ap.add_argument("--nat", type=int, default=3)
    ap.add_argument("--size", default="3024x4032", help="H x W of the simulated sensor")
    ap.add_argument("--prnu", type=float, default=0.0075)
    ap.add_argument("--layouts", default="folder,vision,dresden")
    ap.add_argument("--data-root", default=str(ROOT / "data"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", default="cpu", help="notebook scale (smoke: a quick trial of the script)")
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    photos = shoot((h, w), args.cameras, args.flat, args.nat, args.prnu, args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for layout in args.layouts.split(","):
            path = write_layout(layout, photos, tmp / "photos")
            print(f"\n$ papermill notebooks/06_table3_accuracy.ipynb out.ipynb -p source {layout} "
                  f"-p data_path {path.name}/ -p scale {args.scale}", flush=True)
            rows.append(run(layout, path, args.data_root, tmp / "out", args.scale))
            print(rows[-1], flush=True)
    print(f"\n{args.cameras} cameras x ({args.flat} flat + {args.nat} natural) photos of {w}x{h} px, PRNU {args.prnu}:")
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
