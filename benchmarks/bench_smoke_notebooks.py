"""Wall-clock time of every notebook at smoke scale (what ``make test``'s notebook tests run), printed per notebook.

Speed is measured here, not asserted in a test (a loaded machine would fail a timed test). Run:
``python benchmarks/bench_smoke_notebooks.py [--only 00,06]``; outputs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated notebook numbers (default: all)")
    args = ap.parse_args()
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [n for n in notebooks if n[:2] in args.only.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        total = 0.0
        for nb in notebooks:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "csi.reproduce", "--scale", "smoke", "--only", nb[:2],
                            "--out", str(Path(tmp) / "figures"), "--data-root", str(Path(tmp) / "data")],
                           cwd=ROOT, check=True, capture_output=True)
            dt = time.perf_counter() - t0
            total += dt
            print(f"{nb:32s} {dt:7.1f} s", flush=True)
        print(f"{'total':32s} {total:7.1f} s")


if __name__ == "__main__":
    main()
