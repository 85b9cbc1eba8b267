"""Speed of CSI-CNN / DnCNN on this machine: training pairs/s, inference MP/s, GFLOP/s against the peak.

Run: ``.venv/bin/python benchmarks/bench_models.py [--size 512] [--repeats 5] [--compile]``

* Peak: best time of a large float32 matmul (``2 n^3`` flops, n = 2048) with all torch threads; the
  practical dense-math ceiling of this CPU, not a datasheet figure.
* Inference: one ``size x size`` RGB crop through (a) plain eager float32 (``model.eval()`` under
  ``torch.no_grad``), (b) the project's fast path (:func:`csi.models.export_inference_model`: BatchNorm
  folded into the convolutions, channels-last, ``torch.inference_mode``; images larger than 512 px in
  exact halo tiles via :func:`csi.models.predict_tiled`; smaller 128 px tiles are timed too), and
  optionally (c) ``torch.compile`` of the fused model. Every
  variant is measured in the same run, best of ``--repeats``, and checked against (a) (max relative
  difference, must stay below 1e-4).
* Training: Adam steps of 64 pairs (paper: 64x64 patches; cpu scale: the patch of ``SCALES['cpu']['csi_cnn']``),
  pairs/s and GFLOP/s (forward + backward counted as 3 x forward).

Timings on a shared machine are noisy; each number is the best of several repeats.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from csi.experiments import sizes
from csi.losses import cosine_loss
from csi.models import CSICNN, DnCNN, export_inference_model, flops_per_pixel, predict_tiled


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t, _ = best_of(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / t / 1e9


def randomise_bn(model: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def bench_inference(name: str, model: torch.nn.Module, x: torch.Tensor, repeats: int, peak: float,
                    use_compile: bool) -> list[dict]:
    """Time every variant round-robin (one call of each per round, best of ``repeats`` rounds).

    Round-robin keeps the comparison fair on a shared machine: a busy spell slows every variant of a
    round, not just one.
    """
    fpp = flops_per_pixel(model)
    pixels = x.shape[-2] * x.shape[-1]
    fused = export_inference_model(model)
    fast = export_inference_model(model).to(memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)

    def eager():
        with torch.no_grad():
            return model(x)

    def run(fn, inp):
        def call():
            with torch.inference_mode():
                return fn(inp)
        return call

    variants = {
        "eager float32": eager,
        "BN folded": run(fused, x),
        "BN folded + channels_last": run(fast, xc),
        "folded + channels_last + tiles 128": lambda: run(lambda t: predict_tiled(fast, t, tile=128), xc)(),
        "fast path (extractor default): folded + channels_last, tile 512": lambda: run(
            lambda t: predict_tiled(fast, t, tile=512), xc)(),
    }
    if use_compile:
        try:
            comp = torch.compile(fused)
            t0 = time.perf_counter()
            run(comp, x)()
            variants[f"torch.compile(folded) [compile {time.perf_counter() - t0:.0f} s]"] = run(comp, x)
        except Exception as exc:  # inductor needs a C++ toolchain; report and go on
            print(f"torch.compile unavailable: {type(exc).__name__}: {str(exc)[:200]}")
    best = {k: float("inf") for k in variants}
    outs = {}
    for k, fn in variants.items():  # warm-up (oneDNN primitive creation)
        outs[k] = fn()
    for _ in range(repeats):
        for k, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    ref = outs["eager float32"]
    rows = []
    for k in variants:
        t = best[k]
        rows.append({"model": name, "variant": k, "seconds": t, "MP/s": pixels / t / 1e6,
                     "GFLOP/s": fpp * pixels / t / 1e9, "% peak": 100 * fpp * pixels / t / 1e9 / peak,
                     "rel. diff": rel_diff(outs[k], ref)})
    return rows


def bench_training(patch: int, batch: int, repeats: int, peak: float) -> dict:
    torch.manual_seed(0)
    net = CSICNN().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(batch, 3, patch, patch).contiguous(memory_format=torch.channels_last)
    y = torch.randn(batch, 1, patch, patch)
    lab = torch.randint(0, 2, (batch,)).float()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = cosine_loss(net(x), y, lab)
        loss.backward()
        opt.step()

    step()
    t, _ = best_of(step, repeats)
    gflops = 3 * flops_per_pixel(net) * batch * patch * patch / t / 1e9
    return {"patch": patch, "batch": batch, "s/step": t, "pairs/s": batch / t, "GFLOP/s": gflops,
            "% peak": 100 * gflops / peak}


def table(rows: list[dict]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="inference crop side (default 512)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also try torch.compile (slow to compile on CPU)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    peak = peak_gflops(repeats=args.repeats)
    print(f"peak (2048^3 float32 matmul, best of {args.repeats}): {peak:.1f} GFLOP/s")
    x = torch.rand(1, 3, args.size, args.size)
    torch.manual_seed(0)
    rows = bench_inference("CSI-CNN", randomise_bn(CSICNN()), x, args.repeats, peak, args.compile)
    rows += bench_inference("DnCNN 17x64 (1 channel)", randomise_bn(DnCNN()), x[:, :1], max(2, args.repeats // 2),
                            peak, False)
    print(f"## Inference, one {args.size}x{args.size} crop\n")
    print(table(rows))
    eager = rows[0]["seconds"]
    fastest = min(r["seconds"] for r in rows if r["model"] == "CSI-CNN" and r["rel. diff"] < 1e-4)
    print(f"\nCSI-CNN speed-up over eager float32 (results within 1e-4 relative): {eager / fastest:.2f}x")
    print("\n## Training (Adam step, cosine loss)\n")
    cpu_patch = int(sizes("cpu", "csi_cnn")["patch"])
    train_rows = [bench_training(p, 64, max(2, args.repeats // 2), peak) for p in sorted({64, cpu_patch, 32})]
    print(table(train_rows))
    peak2 = peak_gflops(repeats=args.repeats)
    print(f"\npeak measured again at the end: {peak2:.1f} GFLOP/s (the tables use the first, {peak:.1f})")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    try:
        from csi.prnu import noise_residual

        noise_residual(img)
        t, _ = best_of(lambda: noise_residual(img), args.repeats)
        print(f"\nwavelet noise_residual (baseline) on the same crop: {t:.3f} s, {args.size**2 / t / 1e6:.2f} MP/s")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
