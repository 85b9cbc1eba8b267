"""Pair cutting throughput: the host sampler against the same batches cut on a device (no training).

Run: ``.venv/bin/python benchmarks/bench_pairs.py [--images 200] [--size 512] [--patch 64] [--batch 64] [--steps 200]``

What is timed: making training batch ``t`` (Fig. 2's pairs ``(label, I', K')``) for ``steps`` consecutive ``t``:

* ``host``: :meth:`csi.pairs.PairSampler.arrays_at` plus the copy to the device (what :func:`csi.train.fit`
  did on every device before issue 16, and still does on the CPU);
* ``device``: :meth:`csi.pairs.DevicePairs.batch`, which holds the images and fingerprint windows on the device
  and receives only the draws (what ``fit`` does on CUDA).

Both give the same batches bit for bit (tests/test_train.py). On a GPU a CSI-CNN step at batch 64 takes well under
a millisecond, so pair cutting has to reach tens of thousands of pairs/s not to be the bottleneck
(docs/training.md, "GPU").
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from csi.pairs import DevicePairs, PairSampler


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cameras", type=int, default=5)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (a.size, a.size, 3), dtype=np.uint8) for _ in range(a.images)]
    cams = [f"cam{k}" for k in range(a.cameras)]
    K = {c: rng.normal(0, 0.01, (a.size, a.size)).astype(np.float32) for c in cams}
    sampler = PairSampler(images, [cams[i % a.cameras] for i in range(a.images)], K, patch=a.patch, batch=a.batch)
    device = torch.device(a.device)
    t0 = time.perf_counter()
    on_device = DevicePairs(sampler, device)
    _sync(device)
    load = time.perf_counter() - t0
    print(f"{a.images} images {a.size}x{a.size}, {a.cameras} cameras, patch {a.patch}, batch {a.batch}, "
          f"{a.steps} steps on {device} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"loading the images and fingerprints onto {device}: {load:.2f} s")

    def host(t: int) -> None:
        x, y, lab = sampler.arrays_at(0, t)
        for arr in (x, y, lab):
            torch.from_numpy(arr).to(device, non_blocking=True)

    for name, fn in (("host", host), ("device", lambda t: on_device.batch(0, t))):
        for t in range(5):  # warm-up
            fn(t)
        _sync(device)
        t0 = time.perf_counter()
        for t in range(a.steps):
            fn(t)
        _sync(device)
        sec = time.perf_counter() - t0
        print(f"{name:>7}: {a.steps * a.batch / sec:10,.0f} pairs/s ({1e3 * sec / a.steps:.2f} ms per batch)")


if __name__ == "__main__":
    main()
