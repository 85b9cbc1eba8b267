"""Checks shared by the notebook tests: a notebook ran, its figures are real pictures, its tables are paired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csi import figures


def ok(run: dict, name: str) -> Path:
    """The output folder of notebook ``name`` in a smoke run; fails the test with the error if it did not run."""
    seconds, err = run["results"][name]
    if err is not None:
        pytest.fail(f"papermill failed for {name} after {seconds:.1f} s:\n{err}")
    folder = run["out"] / name
    assert folder.is_dir(), f"{name} wrote no output folder"
    return folder


def image_ok(path: Path, pdf: bool | None = None) -> None:
    """A saved figure exists, is not blank or uniform, and (vector plots: ``.png``) has a PDF copy."""
    from PIL import Image

    assert path.is_file(), f"missing figure {path.name}"
    assert path.stat().st_size > 5_000, f"{path.name} is suspiciously small"
    if pdf if pdf is not None else path.suffix == ".png":
        assert path.with_suffix(".pdf").is_file(), f"{path.name} has no PDF copy"
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    assert img.std() > 5, f"{path.name} looks blank"
    # not one colour: at least 1 % of pixels differ from the most common value (line plots are mostly white)
    _, counts = np.unique(img.astype(np.uint8), return_counts=True)
    assert counts.max() < 0.99 * img.size, f"{path.name} is almost uniform"


def artefacts_paired(folder: Path) -> None:
    """Every figure is a real picture; every CSV table has a readable Markdown copy."""
    pictures = [*folder.glob("*.png"), *folder.glob("*.jpg")]
    for p in pictures:
        image_ok(p, pdf=False)
    csvs = list(folder.glob("*.csv"))
    assert csvs or pictures, f"{folder.name} wrote nothing"
    for csv in csvs:
        md = csv.with_suffix(".md")
        assert md.is_file(), f"{csv.name} has no Markdown copy"
        assert md.read_text().startswith("|"), f"{md.name} is not a Markdown table"
        assert md.stat().st_size <= figures.MAX_MARKDOWN_BYTES + 5_000, f"{md.name} is too large to read"
