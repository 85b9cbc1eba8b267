"""The numbered notebooks: clean storage, one parameters cell, and a smoke-scale papermill run of each.

The papermill runs share one session-scoped fixture (all notebooks in numeric order, one data root in a temp
folder, so later notebooks reuse the smoke data and models that earlier ones built). Each test then checks one
notebook's artefacts for substance: table shapes, values in range, Table 1's 47,628 parameters, non-blank
figures. Deselect them with ``-m "not notebooks"``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi import experiments, paper

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
#: Smoke runs of all notebooks together must fit in this many seconds on a 2-core machine (issue 5).
SMOKE_BUDGET_S = 300


# ------------------------------------------------------------------------------------------------------------
# storage (fast, always run)
# ------------------------------------------------------------------------------------------------------------


def test_the_numbered_set_is_complete():
    assert [p.stem for p in NOTEBOOKS] == list(experiments.NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean(path):
    import nbformat

    raw = json.loads(path.read_text())
    nb = nbformat.reads(path.read_text(), as_version=4)
    nbformat.validate(nb)
    assert raw["metadata"] == {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    params = []
    for i, cell in enumerate(raw["cells"]):
        assert "id" not in cell, f"cell {i} has an id (store as nbformat 4.4 without ids)"
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {i} has outputs"
            assert cell["execution_count"] is None, f"cell {i} has an execution count"
        tags = cell.get("metadata", {}).get("tags", [])
        assert set(cell.get("metadata", {})) <= {"tags"}, f"cell {i} has extra metadata"
        if "parameters" in tags:
            params.append(i)
    assert len(params) == 1, f"expected exactly one cell tagged 'parameters', found {len(params)}"
    # the parameters cell assigns exactly the shared names, with the shared defaults
    src = "".join(raw["cells"][params[0]]["source"])
    tree = ast.parse(src)
    values = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, "parameters cell: plain assignments only"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    assert values == experiments.DEFAULTS
    assert list(values) == list(experiments.PARAMETERS)
    # the next code cell validates them through experiments.setup for this notebook
    nxt = "".join(raw["cells"][params[0] + 1]["source"])
    assert "experiments.setup(" in nxt and f'notebook="{path.stem}"' in nxt
    for name in experiments.PARAMETERS:
        assert f"{name}={name}" in nxt
    # the first cell is markdown citing the paper
    first = "".join(raw["cells"][0]["source"])
    assert raw["cells"][0]["cell_type"] == "markdown" and first.startswith(f"# {path.stem[:2]}")
    assert any(tok in first for tok in ("§", "Eq.", "Table", "Fig."))


def test_notebooks_match_their_generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    import nbformat

    for name, cells in gen.NOTEBOOKS.items():
        stored = nbformat.reads((NB_DIR / f"{name}.ipynb").read_text(), as_version=4)
        built = gen.build(name, cells)
        assert [c.source for c in stored.cells] == [c.source for c in built.cells], (
            f"{name}.ipynb differs from tools/make_notebooks.py; rerun the generator")


# ------------------------------------------------------------------------------------------------------------
# smoke-scale papermill runs
# ------------------------------------------------------------------------------------------------------------


def _ok(run, name) -> Path:
    seconds, err = run["results"][name]
    if err is not None:
        pytest.fail(f"papermill failed for {name} after {seconds:.1f} s:\n{err}")
    folder = run["out"] / name
    assert folder.is_dir(), f"{name} wrote no output folder"
    return folder


def _png_ok(path: Path) -> None:
    from PIL import Image

    assert path.is_file(), f"missing figure {path.name}"
    assert path.stat().st_size > 5_000, f"{path.name} is suspiciously small"
    assert path.with_suffix(".pdf").is_file(), f"{path.name} has no PDF copy"
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    assert img.std() > 5, f"{path.name} looks blank"
    # not one colour: at least 1 % of pixels differ from the most common value (line plots are mostly white)
    vals, counts = np.unique(img.astype(np.uint8), return_counts=True)
    assert counts.max() < 0.99 * img.size, f"{path.name} is almost uniform"


def _every_artefact_paired(folder: Path) -> None:
    for png in folder.glob("*.png"):
        _png_ok(png)
    csvs = list(folder.glob("*.csv"))
    assert csvs or list(folder.glob("*.png")), f"{folder.name} wrote nothing"
    for csv in csvs:
        md = csv.with_suffix(".md")
        assert md.is_file(), f"{csv.name} has no Markdown copy"
        assert md.read_text().startswith("|"), f"{md.name} is not a Markdown table"




@pytest.mark.notebooks
@pytest.mark.slow
def test_smoke_budget(smoke_run):
    times = {k: round(v[0], 1) for k, v in smoke_run["results"].items()}
    total = sum(times.values())
    print("smoke notebook times (s):", times, "total", round(total, 1))
    assert total <= SMOKE_BUDGET_S, f"smoke notebooks took {total:.0f} s > {SMOKE_BUDGET_S} s: {times}"


@pytest.mark.notebooks
@pytest.mark.slow
def test_00_data(smoke_run):
    f = _ok(smoke_run, "00_data")
    _every_artefact_paired(f)
    for name in ("simulator_chain", "samples", "platform_views"):
        _png_ok(f / f"{name}.png")
    d = pd.read_csv(f / "datasets.csv")
    assert list(d.dataset) == list(experiments.RECIPES)
    assert (d.devices >= 2).all() and (d.test > 0).all() and (d.fingerprint > 0).all()
    assert (d[["val", "fingerprint", "train", "test"]].sum(axis=1) <= d.originals).all()
    prof = pd.read_csv(f / "platform_profiles.csv")
    assert set(experiments.PLATFORMS) <= set(prof.platform)
    views = pd.read_csv(f / "platform_views.csv")
    assert list(views.platform) == list(experiments.CONDITIONS)
    orig = views.iloc[0]
    assert (views.width <= orig.width).all() and (views.bytes > 0).all()


@pytest.mark.notebooks
@pytest.mark.slow
def test_01_table1(smoke_run):
    f = _ok(smoke_run, "01_table1_architecture")
    _every_artefact_paired(f)
    t = pd.read_csv(f / "table1.csv")
    assert len(t) == 30
    assert int(t.ours_parameters.sum()) == 47_628 == int(t.paper_parameters.sum())
    assert t["match"].all()
    sizes = pd.read_csv(f / "model_sizes.csv", index_col=0)
    assert int(sizes.loc["CSI-CNN", "parameters"]) == 47_628
    _png_ok(f / "table1_parameters.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_02_fingerprints(smoke_run):
    f = _ok(smoke_run, "02_fingerprints")
    _every_artefact_paired(f)
    fps = pd.read_csv(f / "fingerprints.csv")
    assert set(fps.dataset) == set(experiments.RECIPES)
    assert np.isfinite(fps.ncc_truth).all() and (fps["std"] > 0).all()
    # an estimate matches its own camera's true K better than the others' (averaged over cameras)
    assert fps.ncc_truth.mean() > fps.ncc_truth_other.mean() + 0.05
    q = pd.read_csv(f / "fingerprint_quality.csv")
    assert len(q) > 0 and np.isfinite(q[["ncc_truth", "ncc_other"]].to_numpy()).all()
    assert ((q.ncc_truth >= -1) & (q.ncc_truth <= 1)).all()
    _png_ok(f / "fingerprint_quality.png")
    _png_ok(f / "prnu_steps.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_03_training(smoke_run):
    from csi import train

    f = _ok(smoke_run, "03_training")
    _every_artefact_paired(f)
    h = pd.read_csv(f / "training_history.csv")
    cnn = h[h.model == "CSI-CNN"]
    assert list(cnn.x) == list(range(train.TRAIN_SCALES["smoke"]["epochs"] + 1))
    assert cnn.val_auc.between(0, 1).all()
    assert np.isfinite(cnn.train_loss.iloc[1:]).all()
    dn = h[h.model == "DnCNN"]
    assert len(dn) > 0 and np.isfinite(dn.train_loss).all()
    _png_ok(f / "training_curves.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_04_table2(smoke_run):
    f = _ok(smoke_run, "04_table2_correlation")
    _every_artefact_paired(f)
    ours = pd.read_csv(f / "table2_ours.csv", index_col=0)
    assert ours.shape == (5, 6) and ours.columns[-1] == "Wavelet"
    v = ours.to_numpy(float)
    assert np.isfinite(v).all() and (np.abs(v) <= 1).all()
    s = pd.read_csv(f / "table2_side_by_side.csv")
    assert len(s) == 5
    pub = paper.table2()
    assert np.allclose(s.paper_own, np.diag(pub[list(paper.CAMERAS)].to_numpy()))
    # rows are paired by phone model: each row's own value is that camera's diagonal entry
    assert np.allclose(s.ours_own, [ours.loc[c, c] for c in s.ours_camera])
    assert sorted(s.ours_camera) == sorted(ours.index)
    _png_ok(f / "table2_heatmaps.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_05_fig3(smoke_run):
    f = _ok(smoke_run, "05_fig3_heatmaps")
    _every_artefact_paired(f)
    t = pd.read_csv(f / "fig3_ncc.csv")
    assert set(t.platform) == set(experiments.CONDITIONS)
    per = t.groupby("platform").size()
    assert (per == 2 * 5 * 5).all(), per  # two pictures x five cameras x five fingerprints
    assert np.isfinite(t.ncc).all() and t.ncc.between(-1, 1).all()
    n = pd.read_csv(f / "mean_true_camera_ncc.csv")
    assert len(n) == len(experiments.CONDITIONS) and np.isfinite(n[list(experiments.METHODS)].to_numpy()).all()
    _png_ok(f / "fig3_heatmaps.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_06_table3(smoke_run):
    f = _ok(smoke_run, "06_table3_accuracy")
    _every_artefact_paired(f)
    t = pd.read_csv(f / "table3.csv")
    assert len(t) == 4 * 5  # 4 datasets x the paper's 5 platforms
    pub = paper.table3()
    for m, tag in (("csi-cnn", "csi_cnn"), ("wavelet", "wavelet"), ("dncnn", "dncnn")):
        ours = t[f"ours_{tag}"]
        assert ours.between(0, 1).all(), m
        merged = t.merge(pub, on=["dataset", "platform"])
        assert len(merged) == 20
        assert np.allclose(merged[f"paper_{tag}"], merged[m])
        assert np.allclose(merged[f"delta_{tag}"], merged[f"ours_{tag}"] - merged[m])
    assert t.chance.between(0, 1).all()
    acc = pd.read_csv(f / "accuracy_long.csv")
    assert len(acc) == 4 * 5 * 3 and (acc.n_images > 0).all()
    _png_ok(f / "table3_paper_vs_ours.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_07_fig4_fig5(smoke_run):
    f = _ok(smoke_run, "07_fig4_fig5_roc_auc")
    _every_artefact_paired(f)
    auc = pd.read_csv(f / "fig4_auc.csv")
    assert len(auc) == 4 * 5 * 3 and auc.auc.between(0, 1).all()
    roc = pd.read_csv(f / "fig5_roc_points.csv")
    assert roc[["fpr", "tpr"]].stack().between(0, 1).all()
    for _, g in roc.groupby(["dataset", "platform", "method"]):
        assert (np.diff(g.fpr.to_numpy()) >= -1e-12).all() and (np.diff(g.tpr.to_numpy()) >= -1e-12).all()
        assert g.fpr.iloc[-1] == pytest.approx(1) and g.tpr.iloc[-1] == pytest.approx(1)
    _png_ok(f / "fig4_auc_bars.png")
    _png_ok(f / "fig5_roc.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_08_fig6(smoke_run):
    f = _ok(smoke_run, "08_fig6_loss_curves")
    _every_artefact_paired(f)
    c = pd.read_csv(f / "fig6_auc_per_epoch.csv")
    epochs = experiments.SETTINGS["smoke"]["fig6_epochs"]
    assert len(c) == 2 * (epochs + 1) * 5
    assert set(c.loss) == {"mse", "cosine"} and c.auc.between(0, 1).all()
    conv = pd.read_csv(f / "fig6_convergence.csv")
    assert len(conv) == 10
    _png_ok(f / "fig6_auc_per_epoch.png")
