"""Notebook 06 on a user's folder of photos, from a fresh clone: cold and warm wall time (issue 17).

Builds the folder a first-time user brings: 6 cameras, each with 10 flat images and 3 natural photos (78 photos
from the simulator, each camera with its own PRNU, written as JPEGs of ``--size``), plus the files a real folder
holds that cannot be used: a grayscale JPEG, an RGBA PNG with transparency, a 16-bit PNG, an empty file and a
photo smaller than the crop. Then runs notebook 06 on it twice with papermill at its defaults (``source=folder``;
the networks shipped in ``csi/weights/``), into a fresh ``data_root``: cold (no caches) and warm (the same
caches). Prints the times, the files left out with their reasons, and whether any tracked file changed.

    .venv/bin/python benchmarks/bench_folder_06.py                 # 4032 x 3024, as a phone takes them
    .venv/bin/python benchmarks/bench_folder_06.py --size 2016x1512 --work /tmp/bench06
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from csi import simulator

ROOT = Path(__file__).resolve().parents[1]
CAMERAS = ("Apple_iPhone8", "Huawei_P20", "Samsung_S9", "Xiaomi_Mi8", "OnePlus_6", "Sony_XZ2")
N_FLAT, N_NAT = 10, 3


def build_folder(root: Path, size: tuple[int, int], seed: int = 0) -> list[str]:
    """Write the folder; return the names of the files that must be left out."""
    w, h = size
    rng = np.random.default_rng(seed)
    for camera in CAMERAS:
        K = simulator.device_prnu((h, w), seed, "bench-folder", camera, 0.01)
        proc = simulator.model_processing(camera)
        for kind, n in (("flat", N_FLAT), ("nat", N_NAT)):
            d = root / camera / kind
            d.mkdir(parents=True, exist_ok=True)
            for j in range(n):
                scene = simulator.make_scene("flat" if kind == "flat" else "dead_leaves", (h, w), rng)
                (d / f"IMG_{j:04d}.jpg").write_bytes(simulator.render_jpeg(scene, K, proc, rng))
        print(f"  {camera}: {N_FLAT} flat + {N_NAT} natural", flush=True)
    nat = root / CAMERAS[0] / "nat"
    photo = Image.open(nat / "IMG_0000.jpg")
    photo.convert("L").save(nat / "gray.jpg", quality=90)
    rgba = photo.convert("RGBA")
    alpha = np.full((photo.height, photo.width), 255, np.uint8)
    alpha[: photo.height // 4] = 0  # a transparent band
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(nat / "transparent.png")
    sixteen = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(nat / "sixteen_bit.png")  # Pillow stores uint16 as mode I;16
    (nat / "empty.jpg").write_bytes(b"")
    photo.resize((40, 30)).save(nat / "tiny.jpg", quality=90)
    mode = Image.open(nat / "sixteen_bit.png").mode
    assert mode.startswith("I"), f"sixteen_bit.png was written as mode {mode}, not 16-bit"
    return ["gray.jpg", "transparent.png", "sixteen_bit.png", "empty.jpg", "tiny.jpg"]


def _tracked_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def run_06(photos: Path, data_root: Path, out_dir: Path, executed: Path) -> float:
    import papermill

    os.environ["CSI_PROGRESS"] = "terminal"
    t0 = time.perf_counter()
    papermill.execute_notebook(str(ROOT / "notebooks" / "06_table3_accuracy.ipynb"), str(executed),
                               kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
                               parameters={"source": "folder", "data_path": str(photos),
                                           "out_dir": str(out_dir), "data_root": str(data_root)})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="4032x3024", help="photo size WxH (default: a 12 MP phone photo)")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench06_"))
    if work.exists():
        shutil.rmtree(work)
    photos, data_root = work / "photos", work / "data"

    t0 = time.perf_counter()
    print(f"building {len(CAMERAS)} cameras x ({N_FLAT} flat + {N_NAT} natural) at {size[0]} x {size[1]} in {photos}")
    bad = build_folder(photos, size)
    print(f"built in {time.perf_counter() - t0:.0f} s (not part of the timings)")

    before = _tracked_state()
    times = {}
    for run in ("cold", "warm"):
        times[run] = run_06(photos, data_root, work / "out", work / f"06_{run}.ipynb")
        print(f"notebook 06 on the folder, {run}: {times[run]:.0f} s ({times[run] / 60:.1f} min)", flush=True)
    changed = _tracked_state() != before

    split = pd.read_csv(work / "out" / "06_table3_accuracy" / "split_per_device.csv", keep_default_na=False)
    left = split[split["status"] == "left out"]
    print(f"\nfiles left out ({len(left)}):")
    for r in left.itertuples():
        print(f"  {Path(r.file).name}: {r.reason}")
    missing = sorted(set(bad) - {Path(f).name for f in left["file"]})
    used = split[split["status"] == "used"]
    print(f"\ncameras used: {len(used)}; tested photos: {int(used['tested'].sum())}; "
          f"fingerprint images: {int(used['fingerprint'].sum())}")
    print(f"bad files not reported: {missing or 'none'}")
    print(f"tracked files changed: {'YES' if changed else 'no'}")
    print(f"\nsummary: size {size[0]}x{size[1]}, cold {times['cold']:.0f} s, warm {times['warm']:.0f} s")


if __name__ == "__main__":
    main()
