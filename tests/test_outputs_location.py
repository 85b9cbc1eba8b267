"""Reference outputs are written only on purpose: where each kind of run writes (issue 17, deliverable 1).

Only the reference run of ``csi.reproduce`` (every notebook, every setting at its default) writes the committed
``figures/``; every other run goes to the gitignored ``runs/<source>-<scale>/``, and a notebook run with its
own defaults (JupyterLab, papermill) changes no tracked file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csi import experiments, reproduce

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"


@pytest.mark.parametrize(("kwargs", "where"), [
    ({}, "figures"),
    ({"source": "folder"}, "runs/folder-cpu"),
    ({"scale": "smoke"}, "runs/synthetic-smoke"),
    ({"only": "06"}, "runs/synthetic-cpu"),                   # make figure NB=06
    ({"only": "09", "params": {"grid": "full"}}, "runs/synthetic-cpu"),  # make claim-check
    ({"seed": 1}, "runs/synthetic-cpu"),
    ({"datasets": "our"}, "runs/synthetic-cpu"),
])
def test_only_the_reference_run_defaults_to_figures(kwargs, where):
    assert reproduce.default_out(**kwargs).relative_to(ROOT).as_posix() == where


def test_runs_is_ignored_and_a_notebook_defaults_to_it():
    assert subprocess.run(["git", "check-ignore", "-q", "runs/folder-cpu/x.csv"], cwd=ROOT).returncode == 0
    cfg = experiments.setup(scale="smoke", source="synthetic", notebook="06_table3_accuracy")
    assert cfg.out_dir == Path("../runs/synthetic-smoke")
    assert experiments.setup(scale="smoke", out_dir="x", notebook="00_data").out_dir == Path("x")


def _git_state() -> tuple[str, str]:
    """Tracked changes (a diff of the work tree) and untracked files that are not ignored."""
    diff = subprocess.run(["git", "diff", "HEAD", "--no-color", "--binary"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return diff, status


def _photos(root: Path) -> None:
    """Two phones, each with two flat and one natural 8-bit JPEG of random content (the fewest that run)."""
    rng = np.random.default_rng(0)
    for phone in ("A_One", "B_Two"):
        for kind, n in (("flat", 2), ("nat", 1)):
            (root / phone / kind).mkdir(parents=True)
            for j in range(n):
                img = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
                Image.fromarray(img).save(root / phone / kind / f"IMG_{j:04d}.jpg", quality=92)


@pytest.mark.notebooks
@pytest.mark.slow
def test_notebook_06_on_a_folder_with_its_defaults_changes_no_tracked_file(tmp_path):
    import papermill

    if subprocess.run(["git", "rev-parse"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    photos = tmp_path / "photos"
    _photos(photos)
    before = _git_state()
    papermill.execute_notebook(str(NB_DIR / "06_table3_accuracy.ipynb"), str(tmp_path / "06.ipynb"),
                               kernel_name="python3", cwd=str(NB_DIR), progress_bar=False,
                               parameters={"scale": "smoke", "source": "folder", "data_path": str(photos)})
    assert _git_state() == before
    assert (ROOT / "runs" / "folder-smoke" / "06_table3_accuracy" / "table3.csv").is_file()
