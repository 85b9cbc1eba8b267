"""Single-thread speed of the PRNU core: residual extraction and fingerprint estimation.

Run from the repository root::

    .venv/bin/python benchmarks/bench_prnu.py            # full run (about a minute)
    .venv/bin/python benchmarks/bench_prnu.py --quick    # fewer repeats, no 50-image fingerprint

Prints, for 512x512 and 1024x1024 RGB images, the best and median time per image of
:func:`csi.prnu.noise_residual` (the complete residual: wavelet filter, gray, zero-mean, DFT Wiener) in
seconds and megapixels per second, with its default settings (symmetric boundary, 2 cycle-spinning
shifts; ``docs/residual.md``) and with the former ones (``boundary="periodic", shifts=1``); the speedup
over the public reference implementation's published figures (0.12 s and 0.48 s per image on one core);
and the same for a straightforward in-process implementation of the default algorithm
(``pywt.wavedec2`` + ``scipy.ndimage.uniform_filter`` + ``fft2``), measured here on the same machine.
Then the time to estimate a fingerprint from 50 images of 512x512.

Everything runs on ONE thread: the thread variables are set before NumPy is imported and the FFTs use
``workers=1``. Timings on a shared machine are noisy; the best of several repeats is the figure to quote.
The load average is printed, and the process CPU time next to the wall time: when other processes compete
for the cores the wall time grows, the CPU time much less.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pywt  # noqa: E402
from scipy.ndimage import uniform_filter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from csi import prnu  # noqa: E402

#: Published single-core times of the public reference implementation (seconds per RGB image).
REFERENCE_S = {512: 0.12, 1024: 0.48}


def synthetic_image(size: int, seed: int) -> np.ndarray:
    """A camera-like uint8 RGB test image: smooth shading, edges, and sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = 110 + 70 * np.sin(2 * np.pi * (1.3 * xx + 0.7 * yy)) + 40 * (xx > 0.5)
    img = base[:, :, None] * np.array([0.9, 1.0, 0.8], np.float32)
    img = img * (1 + rng.normal(0, 0.01, (size, size, 1))) + rng.normal(0, 2.0, (size, size, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def naive_residual(image: np.ndarray, sigma: float = 5.0, levels: int = 4, margin: int = 8,
                   shifts=((0, 0), (1, 1))) -> np.ndarray:  # fmt: skip
    """The default algorithm written plainly (per channel, per shift, per band), as a measured baseline.

    Mirror margin of ``margin`` pixels (8 = the db4 filter length; the sizes here are multiples of 16),
    periodic ``pywt.wavedec2`` per cycle-spinning shift, local Wiener shrinkage, average of the shifts.
    """
    img = np.pad(image.astype(np.float32), ((margin, margin), (margin, margin), (0, 0)), mode="symmetric")
    s2 = sigma * sigma
    chans = []
    for c in range(3):
        acc = 0.0
        for dy, dx in shifts:
            coeffs = pywt.wavedec2(np.roll(img[:, :, c], (dy, dx), axis=(0, 1)), "db4", mode="periodization",
                                   level=levels)  # fmt: skip
            new = [np.zeros_like(coeffs[0])]
            for bands in coeffs[1:]:
                out = []
                for b in bands:
                    v = np.min([np.maximum(uniform_filter(b * b, k, mode="constant") - s2, 0)
                                for k in (3, 5, 7, 9)], axis=0)  # fmt: skip
                    out.append(b * s2 / (v + s2))
                new.append(tuple(out))
            acc = acc + np.roll(pywt.waverec2(new, "db4", mode="periodization"), (-dy, -dx), axis=(0, 1))
        chans.append((acc / len(shifts))[margin:-margin, margin:-margin])
    gray = prnu.zero_mean_cfa(prnu.GRAY_WEIGHTS[0] * chans[0] + prnu.GRAY_WEIGHTS[1] * chans[1]
                              + prnu.GRAY_WEIGHTS[2] * chans[2])
    h, w = gray.shape
    spec = np.fft.fft2(gray)
    power = np.abs(spec) ** 2 / (h * w)
    s2 = float(gray.std()) ** 2
    v = np.min([np.maximum(uniform_filter(power, k, mode="wrap") - s2, 0) for k in (3, 5, 7, 9)], axis=0)
    return np.real(np.fft.ifft2(spec * s2 / (v + s2))).astype(np.float32)


def timeit(fn, repeat: int) -> tuple[float, float, float]:
    """Best and median wall time, and best CPU time of this process (not inflated by waiting for a core)."""
    fn()  # warm-up (imports, caches, page faults)
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), statistics.median(wall), min(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed repeats per figure (best is reported)")
    parser.add_argument("--quick", action="store_true", help="5 repeats, skip the 50-image fingerprint")
    parser.add_argument("--n-fingerprint", type=int, default=50, help="images in the fingerprint benchmark")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else args.repeat
    if repeat < 1 or args.n_fingerprint < 1:
        parser.error("--repeat and --n-fingerprint must be >= 1")

    print(f"numpy {np.__version__}, pywt {pywt.__version__}, one thread, best/median of {repeat} runs")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} cores (other work on the machine slows the wall times)")
    print(f"{'size':>9} {'method':<30} {'best s':>8} {'median s':>9} {'cpu s':>7} {'MP/s':>6} {'vs ref fig.':>11}")
    default, former, naive = "noise_residual (default)", "noise_residual (periodic, 1)", "naive (default algorithm)"
    for size in (512, 1024):
        img = synthetic_image(size, seed=size)
        agree = prnu.ncc(prnu.noise_residual(img), naive_residual(img))
        rows = [
            (default, lambda img=img: prnu.noise_residual(img), repeat),
            (former, lambda img=img: prnu.noise_residual(img, boundary="periodic", shifts=1), repeat),
            (naive, lambda img=img: naive_residual(img), max(3, repeat // 3)),
        ]
        results, cpus = {}, {}
        for name, fn, n in rows:
            best, med, cpu = timeit(fn, n)
            results[name], cpus[name] = best, cpu
            mps = size * size / 1e6 / best
            print(f"{size:>4}x{size:<4} {name:<30} {best:8.4f} {med:9.4f} {cpu:7.4f} {mps:6.1f} "
                  f"{REFERENCE_S[size] / best:10.1f}x")
        print(f"{'':>9} default vs naive: {results[naive] / results[default]:.1f}x faster, correlation of the "
              f"two residuals {agree:.6f}; cycle-spinning and margin cost {results[default] / results[former]:.2f}x "
              "the former default")
        target = REFERENCE_S[size] / 3
        verdict = {k: "met" if v[default] <= target else "MISSED" for k, v in (("wall", results), ("cpu", cpus))}
        print(f"{'':>9} target <= {target:.3f} s (3x faster than the reference figure): "
              f"wall time {verdict['wall']}, CPU time {verdict['cpu']}")

    if not args.quick:
        n = args.n_fingerprint
        images = [synthetic_image(512, seed=1000 + i) for i in range(n)]
        best, med, cpu = timeit(lambda: prnu.estimate_fingerprint(images), max(1, min(repeat, 3)))
        print(f"fingerprint of {n} images of 512x512: best {best:.2f} s, median {med:.2f} s, cpu {cpu:.2f} s "
              f"({best / n * 1e3:.1f} ms per image)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
