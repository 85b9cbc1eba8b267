"""False alarms and misses of the PCE > 60 decision on the simulator, for originals and each platform.

Run from the repository root (about 2 minutes per PRNU level on 2 busy cores with the defaults)::

    .venv/bin/python benchmarks/pce_decisions.py                 # prints the table, updates docs/cli.md
    .venv/bin/python benchmarks/pce_decisions.py --prnu 0.005 --merge r.json   # one level per call,
    .venv/bin/python benchmarks/pce_decisions.py --prnu 0.01 --merge r.json    # tabulated together
    .venv/bin/python benchmarks/pce_decisions.py --photos 2 --size 768 1024 --no-docs   # quick look

For each PRNU strength (``--prnu``, realistic phone sensors: 0.5-1 %) the simulator (:mod:`csi.simulator`)
makes ``--devices`` cameras (pairs of one model share all processing, so only the PRNU tells them apart),
``--flat`` flat images each for the fingerprints and ``--photos`` natural photos each, and uploads every
photo to each platform of the paper (:data:`csi.simulator.PLATFORMS`: resized and re-encoded as the platform
does, caps scaled to the simulated sensor). Fingerprints and decisions come from :mod:`csi.batch`, the
engine of ``csi fingerprint`` and ``csi identify`` with their defaults (threshold 60; downscaled copies
matched against the resampled fingerprint).

Per PRNU strength and condition:

* **miss rate**: matching pairs (photo, its own camera) with PCE <= 60;
* **false-alarm rate**: non-matching pairs (photo, another camera) with PCE > 60;
* **wrong**: photos attributed to another camera (decision = a wrong device).

Each rate has its 95 % Wilson interval (:func:`csi.stats.wilson_interval`). The simulated sensor is small
(``--size``, default 2048x1536 px, 3.1 MP, the paper scale's sensor): PCE grows with the number of pixels, so a 12 MP photo of a real
camera with the same PRNU gives far larger PCEs and fewer misses; the false-alarm rate at PCE 60 does not
depend on the size. The table goes into docs/cli.md between the ``pce-table`` markers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from csi import batch, simulator, stats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"
START, END = "<!-- pce-table:start -->", "<!-- pce-table:end -->"
MODELS = ("Apple_iPhone6", "Samsung_GalaxyS5", "Huawei_P9")
CONDITIONS = ("original", *simulator.PAPER_PLATFORMS)


def make_cameras(root: Path, prnu: float, n_dev: int, n_flat: int, n_nat: int, shape, seed: int):
    """Flat and natural JPEGs per device, plus every platform's copy of each natural photo."""
    scale = max(shape) / simulator.REAL_LONG_SIDE
    conditions = list(CONDITIONS)
    photos = {c: [] for c in conditions}
    for d in range(n_dev):
        model = MODELS[d // 2 % len(MODELS)]
        dev = f"D{d + 1:02d}_{model}"
        K = simulator.device_prnu(shape, seed, f"pce-{prnu}", dev, prnu)
        proc = simulator.model_processing(model)
        rng = np.random.default_rng([seed, d, int(prnu * 1e4)])
        flat = root / f"p{prnu}" / dev / "flat"
        flat.mkdir(parents=True)
        for j in range(n_flat):
            scene = simulator.make_scene("flat", shape, rng)
            (flat / f"flat{j:03d}.jpg").write_bytes(simulator.render_jpeg(scene, K, proc, rng))
        for c in conditions:
            (root / f"p{prnu}" / dev / c).mkdir()
        for j in range(n_nat):
            kind = "photo" if j % 2 else "dead_leaves"
            jpeg = simulator.render_jpeg(simulator.make_scene(kind, shape, rng), K, proc, rng)
            for c in conditions:
                data = jpeg if c == "original" else simulator.apply_platform(jpeg, c, sensor_scale=scale)
                path = root / f"p{prnu}" / dev / c / f"nat{j:03d}.jpg"
                path.write_bytes(data)
                photos[c].append((str(path), dev))
    return root / f"p{prnu}", photos


def rates(rows: list[dict], truth: dict[str, str], threshold: float) -> dict:
    match = [r["candidates"][truth[r["photo"]]]["pce"] for r in rows]
    other = [c["pce"] for r in rows for name, c in r["candidates"].items() if name != truth[r["photo"]]]
    miss = int(sum(1 for v in match if not v > threshold))
    fa = int(sum(1 for v in other if v > threshold))
    wrong = int(sum(1 for r in rows if r["decision"] not in ("unknown", truth[r["photo"]])))
    out = {"photos": len(rows), "miss": miss, "match pairs": len(match), "false alarms": fa,
           "other pairs": len(other), "wrong": wrong,
           "median PCE (match)": float(np.median(match)), "max PCE (other)": float(np.max(other))}
    for key, k, n in (("miss rate", miss, len(match)), ("false-alarm rate", fa, len(other)),
                      ("wrong rate", wrong, len(rows))):
        lo, hi = stats.wilson_interval(k, n)
        out[key] = [k / n, float(lo), float(hi)]
    return out


def fmt(rate) -> str:
    p, lo, hi = rate
    return f"{100 * p:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prnu", type=float, nargs="+", default=[0.005, 0.01], help="PRNU std (0.005 = 0.5 %%)")
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--flat", type=int, default=12, help="flat images per fingerprint")
    ap.add_argument("--photos", type=int, default=5, help="natural photos per device")
    ap.add_argument("--size", type=int, nargs=2, default=[1536, 2048], metavar=("H", "W"))
    ap.add_argument("--threshold", type=float, default=batch.THRESHOLD)
    ap.add_argument("--workers", type=int, default=0, help="0 = every core")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/cli.md")
    ap.add_argument("--merge", type=Path, default=None,
                    help="JSON file of earlier results: add this run's PRNU levels (replacing the same levels) "
                         "and tabulate them all, so long runs can be split, one PRNU level per call")
    ap.add_argument("--render-only", action="store_true", help="only tabulate the --merge file (no simulation)")
    args = ap.parse_args(argv)
    if args.render_only:
        if args.merge is None:
            ap.error("--render-only needs --merge")
        args.prnu = []
    workers = batch.resolve_workers(args.workers)
    shape = tuple(args.size)
    t0 = time.perf_counter()
    table = []
    with tempfile.TemporaryDirectory(prefix="csi-pce-") as tmp:
        for prnu in args.prnu:
            root, photos = make_cameras(Path(tmp), prnu, args.devices, args.flat, args.photos, shape, args.seed)
            devices = [batch.scan_device(d / "flat") for d in sorted(root.iterdir())]
            fp = root / "fp"
            for dev, K, info in batch.compute_fingerprints(devices, workers=workers, progress=False):
                batch.save_fingerprint(fp / f"{dev.name}.npz", K, dev, info)
            fps = batch.find_fingerprints([fp])
            opts = batch.MatchOptions(threshold=args.threshold)
            for cond, items in photos.items():
                truth = dict(items)
                rows = list(batch.identify([p for p, _ in items], fps, opts, workers=workers, progress=False))
                r = rates(rows, truth, args.threshold)
                table.append({"PRNU": f"{100 * prnu:g} %", "condition": cond, **r})
                print(f"PRNU {100 * prnu:g} % {cond:<9} miss {fmt(r['miss rate'])}  false alarm "
                      f"{fmt(r['false-alarm rate'])}  wrong {r['wrong']}/{r['photos']}  "
                      f"median PCE match {r['median PCE (match)']:.0f}, max other {r['max PCE (other)']:.1f}",
                      flush=True)
    minutes = (time.perf_counter() - t0) / 60
    for row in table:
        row["minutes"] = minutes / len(table)  # a share of the run, so merged tables add up
    if args.merge is not None:
        old = json.loads(args.merge.read_text()) if args.merge.is_file() else []
        levels = {r["PRNU"] for r in table}
        table = [r for r in old if r["PRNU"] not in levels] + table
        table.sort(key=lambda r: (float(r["PRNU"].split()[0]), CONDITIONS.index(r["condition"])))
        args.merge.write_text(json.dumps(table, indent=1))
    df = pd.DataFrame(table)
    md = markdown(df, args, shape, sum(r["minutes"] for r in table))
    print()
    print(md)
    if not args.no_docs:
        text = DOC.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            DOC.write_text(head + START + "\n" + md + "\n" + END + rest.split(END, 1)[1])
            print(f"updated {DOC.relative_to(ROOT)}")
        else:
            print(f"{DOC.relative_to(ROOT)} has no {START} ... {END} markers; not updated")


def markdown(df: pd.DataFrame, args, shape, seconds: float) -> str:
    lines = [
        f"Simulated: {args.devices} cameras ({min(len(MODELS), (args.devices + 1) // 2)} models, two devices per "
        f"model: only the PRNU tells them apart), sensor "
        f"{shape[1]}x{shape[0]} px, fingerprints from {args.flat} flat images, {args.photos} natural photos per "
        f"camera, each also through every platform; threshold PCE {args.threshold:g}; rates with 95 % Wilson "
        f"intervals (`benchmarks/pce_decisions.py`, {seconds:.1f} min on 2 shared cores).",
        "",
        "| PRNU | condition | miss rate | false-alarm rate | wrong device | median PCE, own camera | max PCE, other cameras |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in df.to_dict("records"):
        lines.append(f"| {r['PRNU']} | {r['condition']} | {fmt(r['miss rate'])} ({r['miss']}/{r['match pairs']}) | "
                     f"{fmt(r['false-alarm rate'])} ({r['false alarms']}/{r['other pairs']}) | "
                     f"{r['wrong']}/{r['photos']} | {r['median PCE (match)']:.0f} | {r['max PCE (other)']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
