"""Throughput of ``csi fingerprint`` and ``csi identify``: images per second, end to end (JPEG files in, results out).

Run from the repository root::

    .venv/bin/python benchmarks/bench_cli.py                                   # 512x512, 32 images, CPU modes
    .venv/bin/python benchmarks/bench_cli.py --megapixels 12 --images 64 --device cuda   # a GPU machine

It writes ``--images`` synthetic camera-like JPEGs (quality 95) of the chosen size for two devices, then times
:mod:`csi.batch` (the engine of the ``csi`` command; click is not needed) in these modes:

* ``1 worker``      -- one process, the numpy residual (``--workers 1``);
* ``all cores``     -- a process pool with one worker per core (``--workers 0``);
* ``dask 2 workers``-- a ``dask.distributed`` LocalCluster of 2 single-threaded worker processes on loopback
  (``--scheduler``; skipped when dask is not installed; the cluster's start-up is timed separately);
* ``cuda``          -- the torch residual on the GPU (``--device cuda``), photos decoded and scored on one
  thread per core (only where ``torch.cuda.is_available()``; the GPU's name is printed).

Fingerprinting is Eq. 5 over all images of a device (read, residual with sigma 5, running sums); identification
is the query residual (notebook 06's settings) of each photo and its NCC and PCE against both fingerprints.
Slow CPU modes time a subset sized to take about ``--budget`` seconds (at least one image per worker), so
that 12-megapixel runs end within about a minute; the table says how many images each mode used.

Also printed: the residual alone on images already in memory (no decoding, no scoring), per core and on the
GPU. The usual public Python PRNU implementation (the ``prnu`` package of Politecnico di Milano) is timed
on the same images when it is importable; it is not installed in this project's environment, and the
script says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_NEEDED = {"numpy": "numpy", "scipy": "scipy", "PIL": "pillow", "pandas": "pandas", "torch": "torch",
           "pywt": "pywavelets"}
_missing = [pip for mod, pip in _NEEDED.items() if importlib.util.find_spec(mod) is None]
if _missing:
    raise SystemExit(f"bench_cli.py needs {', '.join(_missing)}: pip install {' '.join(_missing)} "
                     "(click, dask and tqdm are optional)")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from csi import batch, prnu  # noqa: E402


def camera_like(shape: tuple[int, int], seed: int, K: np.ndarray) -> np.ndarray:
    """A uint8 RGB image: smooth random shading (a scene), a planted PRNU ``K`` and a little noise."""
    rng = np.random.default_rng(seed)
    h, w = shape
    low = rng.uniform(40, 220, (6, 8, 3)).astype(np.float32)
    scene = np.stack([np.asarray(Image.fromarray(low[:, :, c]).resize((w, h), Image.Resampling.BICUBIC))
                      for c in range(3)], 2)
    scene *= (1.0 + K)[:, :, None]
    scene += rng.normal(0, 1.5, (h, w, 1)).astype(np.float32)
    return np.clip(scene, 0, 255).astype(np.uint8)


def make_data(root: Path, shape: tuple[int, int], n: int, threads: int) -> list[batch.DeviceImages]:
    """``n`` JPEGs split between two devices (``dev0/flat``, ``dev1/flat``); returns their scans."""
    Ks = [np.random.default_rng(100 + d).normal(0, 0.01, shape).astype(np.float32) for d in range(2)]

    def write(i: int) -> None:
        d = i % 2
        folder = root / f"dev{d}" / "flat"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(camera_like(shape, i, Ks[d])).save(folder / f"img{i:04d}.jpg", quality=95)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(n)))
    return [batch.scan_device(root / f"dev{d}" / "flat") for d in range(2)]


def subset(devices: list[batch.DeviceImages], n: int) -> list[batch.DeviceImages]:
    """The first ``n`` images, alternating between the devices."""
    out = []
    for d, dev in enumerate(devices):
        k = (n + 1 - d) // 2
        out.append(batch.DeviceImages(dev.name, dev.folder, dev.paths[:max(1, k)], dev.shape))
    return out


def time_fingerprint(devices, **kw) -> tuple[float, int, list]:
    n = sum(len(d.paths) for d in devices)
    t = time.perf_counter()
    results = list(batch.compute_fingerprints(devices, progress=False, **kw))
    return time.perf_counter() - t, n, results


def time_identify(photos, fps, opts, **kw) -> tuple[float, int]:
    t = time.perf_counter()
    rows = list(batch.identify(photos, fps, opts, progress=False, **kw))
    assert all(r["decision"] != "error" for r in rows), [r["error"] for r in rows if r["error"]]
    return time.perf_counter() - t, len(rows)


def count_for(budget: float, per_image_s: float, workers: int, total: int, chunked: bool = False) -> int:
    """Images a mode gets: about ``budget`` seconds of work, at least ``workers`` (and 2), at most ``total``.

    ``chunked`` (fingerprints, whose unit of work is a chunk of :data:`csi.batch.CHUNK` images of one device):
    with several workers, rounded up to whole chunks of both devices, so that no worker waits for a lone chunk.
    """
    n = max(2, workers, math.ceil(budget * workers / max(per_image_s, 1e-6)))
    if chunked and workers > 1:
        n = math.ceil(n / (2 * batch.CHUNK)) * 2 * batch.CHUNK
    return int(min(total, n))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--megapixels", type=float, default=None, help="image size in MP, 4:3 (e.g. 12 = 4000x3000)")
    ap.add_argument("--size", type=int, default=512, help="square side in px when --megapixels is not given")
    ap.add_argument("--images", type=int, default=32, help="images written (split between two devices)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="auto: add the cuda mode when a GPU is visible; cpu: never; cuda: require it")
    ap.add_argument("--budget", type=float, default=6.0, help="seconds of work per slow CPU mode and stage")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster mode")
    ap.add_argument("--keep", type=Path, default=None, help="write the images here and keep them")
    args = ap.parse_args(argv)

    if args.megapixels:
        w = int(round(math.sqrt(args.megapixels * 1e6 * 4 / 3) / 16) * 16)
        shape = (w * 3 // 4, w)
    else:
        shape = (args.size, args.size)
    cores = batch.resolve_workers(0)
    t0 = time.perf_counter()
    print(f"csi batch throughput: {shape[1]}x{shape[0]} px ({shape[0] * shape[1] / 1e6:.1f} MP) RGB JPEG q95, "
          f"{args.images} images, 2 devices; {cores} cores ({platform.processor() or platform.machine()}), "
          f"load {os.getloadavg()[0]:.2f}; python {platform.python_version()}, numpy {np.__version__}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="csi-bench-"))
    try:
        t = time.perf_counter()
        devices = make_data(root, shape, args.images, cores)
        print(f"wrote the images in {time.perf_counter() - t:.1f} s")
        run(args, shape, cores, devices, root)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"total {time.perf_counter() - t0:.0f} s")


def run(args, shape, cores, devices, root: Path) -> None:
    all_photos = [p for pair in zip(*(d.paths for d in devices), strict=False) for p in pair]
    cpu_opts = batch.MatchOptions(device="cpu")
    rows = []

    # residual alone, images in memory, one core (the numpy library path of notebook 06)
    img = camera_like(shape, 0, np.zeros(shape, np.float32))
    ex = batch._numpy_extractor()
    ex(img)
    t = time.perf_counter()
    ex(img)
    t_res = time.perf_counter() - t
    t = time.perf_counter()
    prnu.fingerprint_terms(img, **batch.FINGERPRINT_SETTINGS)
    t_terms = time.perf_counter() - t
    print(f"residual only, in memory, 1 process: query {1 / t_res:.2f} img/s ({t_res:.3f} s), "
          f"fingerprint terms {1 / t_terms:.2f} img/s ({t_terms:.3f} s)")

    # one worker first (its fingerprints are the ones every identification mode uses)
    per_fp = t_terms * 1.2  # decoding adds a little; only sizes the subsets
    n = count_for(args.budget, per_fp, 1, len(all_photos))
    s, k, results = time_fingerprint(subset(devices, max(n, 2)), workers=1)
    fp_dir = root / "fp"
    for dev, K, info in results:
        batch.save_fingerprint(fp_dir / f"{dev.name}.npz", K, dev, info)
    fps = batch.find_fingerprints([fp_dir])
    t = time.perf_counter()
    list(batch.identify(all_photos[:1], fps, cpu_opts, progress=False))
    per_id = time.perf_counter() - t
    m = count_for(args.budget, per_id, 1, len(all_photos))
    si, ki = time_identify(all_photos[:m], fps, cpu_opts, workers=1)
    rows.append(("1 worker (cpu)", k, s, ki, si))

    if cores > 1:
        n = count_for(args.budget, per_fp, cores, len(all_photos), chunked=True)
        s, k, _ = time_fingerprint(subset(devices, n), workers=cores)
        m = count_for(args.budget, per_id, cores, len(all_photos))
        si, ki = time_identify(all_photos[:m], fps, cpu_opts, workers=cores)
        rows.append((f"all cores ({cores} processes)", k, s, ki, si))

    if not args.no_dask and importlib.util.find_spec("distributed") is not None:
        from distributed import LocalCluster

        t = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            addr = cluster.scheduler_address
            time_identify(all_photos[:2], fps, cpu_opts, scheduler=addr)  # workers import csi (torch) once
            start = time.perf_counter() - t
            n = count_for(args.budget, per_fp, 2, len(all_photos), chunked=True)
            s, k, _ = time_fingerprint(subset(devices, n), scheduler=addr)
            m = count_for(args.budget, per_id, 2, len(all_photos))
            si, ki = time_identify(all_photos[:m], fps, cpu_opts, scheduler=addr)
        rows.append((f"dask LocalCluster, 2 workers (start {start:.1f} s, not counted)", k, s, ki, si))
    elif not args.no_dask:
        print("dask.distributed is not installed: no Dask mode (pip install 'dask[distributed]')")

    gpu = None
    if args.device != "cpu":
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
            from csi import prnu_torch

            prnu_torch.noise_residual(img, device="cuda", **batch.QUERY_SETTINGS)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(5):
                prnu_torch.noise_residual(img, device="cuda", **batch.QUERY_SETTINGS)
            torch.cuda.synchronize()
            t_gpu = (time.perf_counter() - t) / 5
            print(f"residual only, in memory, {gpu}: query {1 / t_gpu:.1f} img/s ({t_gpu * 1e3:.1f} ms, "
                  "including the copy back to the CPU)")
            gopts = batch.MatchOptions(device="cuda")
            list(batch.identify(all_photos[:2], fps, gopts, workers=cores, progress=False))  # warm-up
            s, k, _ = time_fingerprint(devices, workers=cores, device="cuda")
            si, ki = time_identify(all_photos, fps, gopts, workers=cores)
            rows.append((f"cuda: {gpu}, {cores} threads", k, s, ki, si))
        elif args.device == "cuda":
            raise SystemExit("--device cuda: torch sees no CUDA GPU")
        else:
            print("no CUDA GPU visible: no cuda mode")

    if importlib.util.find_spec("prnu") is not None:
        import prnu as public  # the public Python implementation (Politecnico di Milano), if installed

        imgs = [np.asarray(Image.open(p)) for p in all_photos[:2]]
        public.extract_single(imgs[0])
        t = time.perf_counter()
        public.extract_single(imgs[1])
        print(f"public 'prnu' package, residual only, in memory, 1 process: {1 / (time.perf_counter() - t):.2f} img/s")
    else:
        print("the usual public Python implementation (package 'prnu') is not installed here: no comparison "
              "run (its published figure: 0.11-0.12 s per 512x512 image on one core)")

    print()
    print(f"{'mode':<62} {'fingerprint img/s':>18} {'identify img/s':>15}")
    for name, k, s, ki, si in rows:
        print(f"{name:<62} {k / s:>10.2f} ({k:>3} img) {ki / si:>7.2f} ({ki:>3})")
    print("identify: each photo against 2 fingerprints (NCC and PCE); times include JPEG decoding and pool start")


if __name__ == "__main__":
    main()
