"""CSI-CNN training throughput on this machine: pairs/s, GFLOP/s and % of peak, per speed avenue.

Run: ``.venv/bin/python benchmarks/bench_train.py [--patch 64] [--batch 64] [--rounds 4] [--quiet 2] [--compile]``

What is timed: one Adam step of the cosine loss (Eq. 6-8) on a batch of ``batch`` pairs of ``patch x patch``
(paper: 64 and 64), batch assembly included. One pair costs ``3 x 92,672 x patch^2`` FLOP (forward + backward
counted as 3 x forward; 1.14 GFLOP at patch 64). The peak is the best time of a 2048^3 float32 matmul with all
threads (measured at the start and the end), the practical dense-math ceiling here.

The machine is shared: a neighbour that takes one of the two cores slows a 2-thread OpenMP step by 2-5x
(every parallel region waits for the descheduled thread). Each timed step therefore records how much CPU
*other* processes used meanwhile (``/proc/stat`` minus this process's time); the table reports the best
*quiet* step (others < 10 % of the machine), the number of quiet steps, and the best step of any kind.
Rounds are added (up to ``--max-minutes``) until every variant has ``--quiet`` quiet steps.

Variants are timed round-robin, one step of every variant per round, after two untimed warm-up steps each.
They live in two worker processes that differ only in the C allocator: one keeps glibc's defaults (blocks
of 32 MB and more are mmap'ed and unmapped on free, so each 134 MB activation is page-faulted afresh every
step, as before), the other runs inside :func:`csi.runtime.torch_runtime` (heap kept, as :func:`csi.train.fit`
does). Only one worker computes at a time.

* ``before``: the previous default - eager, all cores, channels-last, glibc's default allocator,
  out-of-place ReLU/ADD, the Python-loop pair sampler.
* single changes against ``before``: 1 thread, contiguous (NCHW) memory format;
* cumulative avenues: ``+ keep heap`` (:func:`csi.runtime.torch_runtime`), ``+ in-place ReLU/ADD``
  (the current :class:`csi.models.CSICNN`), ``+ vectorised sampler`` (:meth:`csi.train.PairSampler.arrays_at`),
  ``+ fused Adam``, ``+ torch.compile`` (with ``--compile``; compile time reported separately);
* ``fit()``: the real loop with its defaults (background prefetch included), per-step times of short runs
  (in the parent process after the variants, so not round-robin).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from csi.losses import cosine_loss
from csi.models import CSICNN, flops_per_pixel
from csi.runtime import torch_runtime
from csi.train import PairSampler, TrainingRecipe, fit

#: A step counts as quiet when other processes used less than this share of the machine meanwhile.
QUIET = 0.10


class CpuMonitor:
    """Share of the machine's CPU time used by *other* processes between two readings (Linux ``/proc``).

    ``others = (busy jiffies of all CPUs - this process's user + system jiffies) / (elapsed x cores)``.
    """

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    @staticmethod
    def read() -> tuple[float, int, int] | None:
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:9]]
            with open("/proc/self/stat") as f:
                own = f.read().rsplit(")", 1)[1].split()
            return time.perf_counter(), sum(v) - v[3] - v[4], int(own[11]) + int(own[12])
        except (OSError, ValueError, IndexError):
            return None

    @classmethod
    def others(cls, a, b) -> float:
        """Others' share of the machine between readings ``a`` and ``b`` (NaN without /proc)."""
        if a is None or b is None:
            return float("nan")
        dt = b[0] - a[0]
        return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / (dt * cls.HZ * cls.CORES)) if dt > 0 else float("nan")


class Timing:
    """Step times of one variant: best of all steps and best of the quiet ones."""

    def __init__(self):
        self.best, self.best_quiet, self.n, self.n_quiet = float("inf"), float("inf"), 0, 0

    def add(self, seconds: float, others: float) -> None:
        self.n += 1
        self.best = min(self.best, seconds)
        if not others >= QUIET:  # NaN (no /proc) counts as quiet
            self.n_quiet += 1
            self.best_quiet = min(self.best_quiet, seconds)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Run ``fn`` once: (seconds, others' share of the machine meanwhile)."""
    a = CpuMonitor.read()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    return seconds, CpuMonitor.others(a, CpuMonitor.read())


def out_of_place_forward(net: CSICNN, x: torch.Tensor) -> torch.Tensor:
    """CSI-CNN's forward as it was before the in-place ReLU/ADD change (same maths, new tensors)."""
    relu = torch.relu
    h = relu(net.bn1(net.conv1(x)))
    b = relu(net.bn2(net.conv2(h)))
    b = relu(net.bn3(net.conv3(b)))
    h = net.bn4(net.conv4(b) + h)
    s = relu(net.bn5(net.conv5(h)))
    r = relu(x - s)
    h = relu(net.bn6(net.conv6(r)))
    b = relu(net.bn7(net.conv7(h)))
    b = relu(net.bn8(net.conv8(b)))
    h = net.conv9(b) + h
    return net.bn10(net.conv10(h))


def loop_batch(s: PairSampler, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The previous batch assembly: a Python loop over the pairs (same distribution, other draws)."""
    rng = np.random.default_rng([s.seed, 0, step])
    p, n = s.patch, s.batch
    x = np.empty((n, p, p, 3), np.uint8)
    y = np.empty((n, 1, p, p), np.float32)
    label = rng.integers(0, 2, n)
    idx = rng.integers(0, len(s.images), n)
    for k in range(n):
        i = int(idx[k])
        img = s.images[i]
        h, w = img.shape[:2]
        r, c = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        x[k] = img[r:r + p, c:c + p]
        if label[k] == 1:
            y[k, 0] = s.fingerprint_views[i][r:r + p, c:c + p]
        else:
            others = [d for d in s.device_names if d != s.devices[i]]
            K = s._other_view(i, others[int(rng.integers(0, len(others)))])
            r, c = int(rng.integers(0, K.shape[0] - p + 1)), int(rng.integers(0, K.shape[1] - p + 1))
            y[k, 0] = K[r:r + p, c:c + p]
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)
    return xt.contiguous(), torch.from_numpy(y), torch.from_numpy(label.astype(np.float32))


def vector_batch(s: PairSampler, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The current assembly: vectorised gathers, uint8 NHWC -> float channels-last without a copy."""
    x, y, lab = s.arrays_at(0, step)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)
    return xt, torch.from_numpy(y), torch.from_numpy(lab.astype(np.float32))


def make_data(patch: int, batch: int) -> tuple[PairSampler, CSICNN]:
    """Forty 512x512 images of five cameras (content does not change the speed) and a seeded CSI-CNN."""
    rng = np.random.default_rng(0)
    n_cams, side = 5, 512
    K = {f"cam{c}": rng.normal(0, 0.01, (side, side)).astype(np.float32) for c in range(n_cams)}
    images = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(8 * n_cams)]
    devices = [f"cam{i % n_cams}" for i in range(len(images))]
    torch.manual_seed(0)
    return PairSampler(images, devices, K, patch=patch, batch=batch, seed=0), CSICNN()


#: The variants: name -> options. ``keep_heap`` selects the worker process.
VARIANTS: dict[str, dict] = {
    "before (eager, 2 thr, channels_last, loop sampler)": {},
    "  before, 1 thread": {"threads": 1},
    "  before, contiguous NCHW": {"channels_last": False},
    "+ keep heap (no mmap page faults)": {"keep_heap": True},
    "+ in-place ReLU/ADD": {"keep_heap": True, "inplace": True},
    "  same, 1 thread": {"keep_heap": True, "inplace": True, "threads": 1},
    "+ vectorised sampler": {"keep_heap": True, "inplace": True, "vectorised": True},
    "+ fused Adam": {"keep_heap": True, "inplace": True, "vectorised": True, "fused_adam": True},
    "+ torch.compile": {"keep_heap": True, "inplace": True, "vectorised": True, "compiled": True},
}


class Variant:
    """One training configuration with its own model copy and optimiser."""

    def __init__(self, base: CSICNN, sampler: PairSampler, *, threads: int | None = None,
                 channels_last: bool = True, keep_heap: bool = False, inplace: bool = False,
                 vectorised: bool = False, fused_adam: bool = False, compiled: bool = False):
        self.sampler, self.threads = sampler, threads
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.model = copy.deepcopy(base).to(memory_format=self.fmt).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=True if fused_adam else None)
        if compiled:
            self.forward: Callable = torch.compile(self.model)
        elif inplace:
            self.forward = self.model
        else:
            self.forward = lambda x: out_of_place_forward(self.model, x)
        self.batch = vector_batch if vectorised else loop_batch
        self.step_no = 0

    def step(self) -> None:
        torch.set_num_threads(self.threads or CpuMonitor.CORES)
        x, y, lab = self.batch(self.sampler, self.step_no)
        self.step_no += 1
        x = x.contiguous(memory_format=self.fmt)
        self.opt.zero_grad(set_to_none=True)
        cosine_loss(self.forward(x), y, lab).backward()
        self.opt.step()


def worker(conn, keep_heap: bool, names: list[str], patch: int, batch: int) -> None:
    """Holds the variants of one allocator mode; answers ``name`` with one timed step, None to stop."""
    with torch_runtime(None, keep_heap=keep_heap):
        sampler, base = make_data(patch, batch)
        variants = {}
        for name in names:
            opts = {k: v for k, v in VARIANTS[name].items() if k != "keep_heap"}
            variants[name] = Variant(base, sampler, **opts)
        first = {}
        for name, var in variants.items():
            first[name] = timed(var.step)[0]  # warm-up: first touch of memory, compilation
            var.step()
        conn.send(first)
        while (name := conn.recv()) is not None:
            conn.send(timed(variants[name].step))
        conn.send((sampler_rate(sampler, loop_batch), sampler_rate(sampler, vector_batch)))


def sampler_rate(s: PairSampler, fn: Callable, n: int = 20) -> float:
    best = float("inf")
    for k in range(n):
        t0 = time.perf_counter()
        fn(s, k)
        best = min(best, time.perf_counter() - t0)
    return s.batch / best


class _StepClock:
    """A duck-typed validation for :func:`csi.train.fit`: called once per history row, it times each step."""

    def __init__(self, timing: Timing, skip: int = 2):
        self.timing, self.skip, self.last = timing, skip, None

    def auc(self, model, device="cpu") -> float:
        now = CpuMonitor.read()
        if self.last is not None:
            if self.skip <= 0:
                self.timing.add(now[0] - self.last[0], CpuMonitor.others(self.last, now))
            self.skip -= 1
        self.last = CpuMonitor.read()
        return 0.5


def fit_timing(s: PairSampler, base: CSICNN, steps: int, timing: Timing) -> None:
    """Per-step times of :func:`csi.train.fit` with its defaults (a history row per step; the first two
    steps, allocation and compilation, are not counted)."""
    fit(copy.deepcopy(base), s, TrainingRecipe(pairs=(steps + 2) * s.batch, evals=steps + 2), device="cpu",
        progress=False, val=_StepClock(timing))


def quiet_peak(timing: Timing, n: int = 2048, repeats: int = 5) -> None:
    """Time a ``n^3`` float32 matmul (all threads) ``repeats`` times into ``timing``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    for _ in range(repeats):
        timing.add(*timed(lambda: torch.mm(a, b)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4, help="minimum rounds (one timed step per variant each)")
    ap.add_argument("--quiet", type=int, default=2, help="quiet steps wanted per variant before stopping")
    ap.add_argument("--max-minutes", type=float, default=15.0, help="stop adding rounds after this long")
    ap.add_argument("--fit-steps", type=int, default=6, help="timed steps per fit() run")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = ap.parse_args()
    t_start = time.perf_counter()

    def out_of_time() -> bool:
        return time.perf_counter() - t_start > 60 * args.max_minutes

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {CpuMonitor.CORES} cores, "
          f"load average {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} (1 / 5 min); a step is quiet when "
          f"other processes used < {100 * QUIET:.0f} % of the machine meanwhile", flush=True)
    peak_t = Timing()
    with torch_runtime(None):
        quiet_peak(peak_t)
    names = [n for n in VARIANTS if args.compile or "compile" not in n]
    ctx = mp.get_context("spawn")
    workers, first = {}, {}
    for keep in (False, True):  # one after the other: warm-ups do not overlap
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, keep, [n for n in names if VARIANTS[n].get("keep_heap", False)
                                                              == keep], args.patch, args.batch), daemon=True)
        proc.start()
        first.update(parent.recv())
        workers[keep] = (parent, proc)
    timings = {n: Timing() for n in names}
    r = 0
    while r < args.rounds or (any(t.n_quiet < args.quiet for t in timings.values()) and not out_of_time()):
        for n in names:
            conn = workers[VARIANTS[n].get("keep_heap", False)][0]
            conn.send(n)
            timings[n].add(*conn.recv())
        r += 1
        print(f"  round {r}: quiet steps {[t.n_quiet for t in timings.values()]}, load {os.getloadavg()[0]:.2f}",
              flush=True)
    rates = None
    for conn, proc in workers.values():
        conn.send(None)
        rates = conn.recv()
        proc.join()
    sampler, base = make_data(args.patch, args.batch)
    fits = {"fit() defaults (prefetch 2)": (False, Timing())}
    for _, timing in fits.values():
        fit_timing(sampler, base, args.fit_steps, timing)
        while timing.n_quiet < args.quiet and not out_of_time():
            fit_timing(sampler, base, args.fit_steps, timing)
    with torch_runtime(None):
        quiet_peak(peak_t)
    peak = 2 * 2048**3 / (peak_t.best_quiet if peak_t.n_quiet else peak_t.best) / 1e9
    flop_pair = 3 * flops_per_pixel(base) * args.patch**2

    print(f"\npatch {args.patch}, batch {args.batch}: {flop_pair / 1e9:.3f} GFLOP per pair; peak (2048^3 matmul, "
          f"{'quiet' if peak_t.n_quiet else 'NOT quiet'}) {peak:.0f} GFLOP/s")
    print(f"{'variant':54s} {'quiet: s/step':>13s} {'pairs/s':>8s} {'GFLOP/s':>8s} {'% peak':>7s} {'n':>6s}"
          f" | {'any step: pairs/s':>17s}")
    rows = [(n, timings[n]) for n in names] + [(k, t) for k, (_, t) in fits.items()]
    for name, t in rows:
        any_rate = args.batch / t.best
        if t.n_quiet:
            rate = args.batch / t.best_quiet
            gf = rate * flop_pair / 1e9
            q = f"{t.best_quiet:13.3f} {rate:8.1f} {gf:8.1f} {100 * gf / peak:6.1f}%"
        else:
            q = f"{'-':>13s} {'-':>8s} {'-':>8s} {'-':>7s}"
        print(f"{name:54s} {q} {t.n_quiet:>2d}/{t.n:<3d} | {any_rate:17.1f}")
    if args.compile:
        print(f"torch.compile: first step (compilation included) {first['+ torch.compile']:.1f} s")
    if rates is not None:
        print(f"pair sampler alone (best of 20 batches): Python loop {rates[0]:,.0f} pairs/s, "
              f"vectorised {rates[1]:,.0f} pairs/s")
    print(f"load average at the end {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f}; "
          f"{(time.perf_counter() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
