"""The committed reference outputs (``figures/``) stay lean and traceable (issue 8, item 8).

These tests read what ``make reproduce`` wrote and the repository committed: at most 8 MB in all, no Markdown
table over 100 kB, ROC curves stored downsampled, executed notebooks without repeated base64 images of the figures
they also saved, and a manifest that names a clean commit. They skip when ``figures/`` holds no reference run
(a fresh checkout before the first ``make reproduce`` on a branch without committed outputs).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
MB = 1_000_000


def committed_files() -> list[Path]:
    """The files under figures/ that git tracks (the reference outputs), or every file when git is absent."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "figures"], cwd=ROOT, capture_output=True, check=True)
        names = [n for n in out.stdout.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
    files = [ROOT / n for n in names if (ROOT / n).is_file()]
    if not files:
        files = [p for p in FIGURES.rglob("*") if p.is_file()]
    return files


@pytest.fixture(scope="module")
def files() -> list[Path]:
    found = committed_files()
    if not (FIGURES / "manifest.json").is_file() or not found:
        pytest.skip("no reference outputs in figures/")
    return found


def test_reference_outputs_weigh_at_most_8_mb(files):
    total = sum(p.stat().st_size for p in files)
    biggest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:5]
    assert total <= 8 * MB, f"figures/ weighs {total / MB:.1f} MB; biggest: " + ", ".join(
        f"{p.relative_to(ROOT)} ({p.stat().st_size / MB:.2f} MB)" for p in biggest)


def test_no_markdown_table_over_100_kb(files):
    big = [f"{p.relative_to(ROOT)} ({p.stat().st_size // 1000} kB)" for p in files
           if p.suffix == ".md" and p.stat().st_size > 100_000]
    assert not big, big


def test_roc_curves_are_stored_downsampled(files):
    roc = [p for p in files if p.name == "fig5_roc_points.csv"]
    if not roc:
        pytest.skip("notebook 07 has no outputs here")
    points = pd.read_csv(roc[0]).groupby(["dataset", "platform", "method"]).size()
    assert len(points) > 0
    assert points.max() <= 210, points.sort_values().tail()


def test_manifest_names_a_clean_commit_and_every_notebook(files):
    manifest = json.loads((FIGURES / "manifest.json").read_text())
    assert manifest["git"]["dirty"] is False, "the reference outputs were made from uncommitted code"
    assert len(manifest["git"]["commit"]) == 40
    for name, entry in manifest["notebooks"].items():
        assert entry.get("status", "ok") == "ok", (name, entry)
        assert (FIGURES / "executed" / f"{name}.ipynb").is_file(), name


def test_executed_notebooks_are_lean(files):
    """Progress goes to the log, not to hundreds of outputs; figures are JPEG/PNG files, not repeated base64."""
    for nb in (FIGURES / "executed").glob("*.ipynb"):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            streams = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
            lines = sum("".join(o.get("text", "")).count("\n") for o in streams)
            # at cpu scale a long stage logs one line per minute (csi.progress), so a training cell has a few
            assert len(streams) <= 12 and lines <= 30, f"{nb.name} cell {i}: {len(streams)} streams, {lines} lines"
        assert nb.stat().st_size <= 1.5 * MB, f"{nb.name} weighs {nb.stat().st_size / MB:.1f} MB"
