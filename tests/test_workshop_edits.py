"""The three workshop edits, each made by changing one notebook cell (docs/notebooks.md).

Each test copies a notebook, appends one line to its tagged cell and runs it at smoke scale on the data root of
the shared smoke run (so only what the edit changes is recomputed), then checks that the edit took effect.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from csi import io

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _run_edited(smoke_run, tmp_path, notebook: str, tag: str, line: str, replace: str | None = None) -> Path:
    import papermill

    nb = json.loads((NB_DIR / f"{notebook}.ipynb").read_text())
    cells = [c for c in nb["cells"] if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{notebook} must have exactly one cell tagged {tag!r}"
    text = "".join(cells[0]["source"])
    if replace is not None:  # the edit changes a line of the cell
        assert replace in text, f"{replace!r} not in the {tag} cell"
        cells[0]["source"] = text.replace(replace, line)
    else:  # the edit is a new line before the cell's last line, which shows the result
        src = text.rstrip("\n").split("\n")
        cells[0]["source"] = "\n".join(src[:-1] + [line] + src[-1:])
    edited = tmp_path / f"{notebook}.ipynb"
    edited.write_text(json.dumps(nb))
    out = tmp_path / "figs"
    papermill.execute_notebook(str(edited), str(tmp_path / "executed.ipynb"), kernel_name="python3",
                               cwd=str(NB_DIR), progress_bar=False,
                               parameters={"scale": "smoke", "out_dir": str(out), "data_root": str(smoke_run["data"])})
    return out / notebook


def _count(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


@pytest.mark.notebooks
@pytest.mark.slow
def test_replace_the_residual_extractor_with_any_callable(smoke_run, tmp_path):
    scores = smoke_run["data"] / "cache" / "scores"
    before = _count(scores, "*.csv")
    out = _run_edited(smoke_run, tmp_path, "06_table3_accuracy", "edit-extractor",
                      'methods["wavelet"] = lambda img: img[..., 1].astype("float32") - img[..., 1].mean()')
    assert _count(scores, "*.csv") > before  # the new extractor's scores were computed, not read from the cache
    acc = pd.read_csv(out / "accuracy_long.csv")
    assert set(acc.method) == {"csi-cnn", "wavelet", "dncnn"} and acc.acc.between(0, 1).all()


@pytest.mark.notebooks
@pytest.mark.slow
def test_change_one_platform_jpeg_quality(smoke_run, tmp_path):
    out = _run_edited(smoke_run, tmp_path, "06_table3_accuracy", "edit-platform",
                      'profiles["wechat"]["quality"] = 20')
    copies = [p for p in (smoke_run["data"] / "cache" / "platforms").glob("*/wechat-*/*/*.jpg")]
    assert {io.estimate_jpeg_quality(p) for p in copies} >= {20}  # new WeChat copies at quality 20
    acc = pd.read_csv(out / "accuracy_long.csv")
    assert (acc.platform == "wechat").any()


@pytest.mark.notebooks
@pytest.mark.slow
def test_train_csi_cnn_with_the_mse_loss(smoke_run, tmp_path):
    models = smoke_run["data"] / "cache" / "models"
    out = _run_edited(smoke_run, tmp_path, "03_training", "edit-loss", 'loss = "mse"', replace='loss = "cosine"')
    assert _count(models, "csi-cnn-*mse*.pt") >= 1  # a model trained with the MSE loss
    hist = pd.read_csv(out / "training_history.csv")
    assert set(hist.loc[hist.model == "CSI-CNN", "loss"]) == {"mse"}
