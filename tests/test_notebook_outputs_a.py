"""Artefacts of notebooks 00, 01, 02, 04 and 05 after the shared smoke-scale run (``smoke_run`` in conftest.py).

Each test checks one notebook's saved tables and figures for substance: table shapes, values in range, Table 1's
47,628 parameters, Table 2's rows paired by phone model in the paper's order, Fig. 3's six conditions x two
pictures x five cameras, and figures that are not blank. Only these notebooks' outputs are read, so a failure of
another notebook in the shared run does not fail these tests. Deselect with ``-m "not notebooks"``.
"""

from __future__ import annotations

import re

import nbcheck
import numpy as np
import pandas as pd
import pytest

from csi import experiments, models, paper, simulate

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

#: Figures of photographs, saved once as JPEG (``paper.save_figure(..., formats=("jpg",))``).
JPG_ONLY = {"samples", "platform_views", "prnu_steps", "simulator_chain"}
#: The datasets of the default run, Kaggle in both readings (notebook 00's rows).
DATASETS = [r for d in experiments.RECIPES for r in (experiments.KAGGLE_READINGS if d == "kaggle" else (d,))]








def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def test_00_data(smoke_run):
    f = nbcheck.ok(smoke_run, "00_data")
    nbcheck.artefacts_paired(f)
    for name in ("simulator_chain", "samples", "platform_views"):
        nbcheck.image_ok(f / f"{name}.{'jpg' if name in JPG_ONLY else 'png'}")
    d = pd.read_csv(f / "datasets.csv")
    assert list(d.dataset) == DATASETS
    assert (d.devices >= 2).all() and (d.cameras >= 2).all()
    assert (d.fingerprint > 0).all() and (d.tested > 0).all()
    assert (d[["val", "fingerprint", "train", "test"]].sum(axis=1) <= d.originals).all()
    pub = paper.datasets()
    assert int(d.set_index("dataset").loc["our", "paper_devices"]) == int(pub.loc["our", "devices"])
    # the split per device adds up to the per-dataset table
    s = pd.read_csv(f / "split_per_device.csv")
    sums = s.groupby("dataset", sort=False)[["fingerprint", "train", "val", "test", "tested"]].sum()
    assert list(sums.index) == DATASETS
    assert (sums.to_numpy() == d.set_index("dataset")[list(sums.columns)].to_numpy()).all()
    prof = pd.read_csv(f / "platform_profiles.csv")
    assert list(prof.platform[:5]) == list(experiments.PLATFORMS) and prof.in_paper[:5].all()
    assert set(prof.platform) == set(simulate.PLATFORMS) and prof.quality.between(1, 100).all()
    if simulate.PLATFORMS["weibo"].get("watermark"):
        assert prof.set_index("platform").loc["weibo", "watermark"] == simulate.PLATFORMS["weibo"]["watermark"]
    views = pd.read_csv(f / "platform_views.csv")
    assert list(views.platform) == list(experiments.CONDITIONS)
    orig = views.iloc[0]
    assert (views.width <= orig.width).all() and (views.height <= orig.height).all() and (views.bytes > 0).all()
    for v in views.itertuples():
        if v.platform not in ("original", "twitter"):  # Twitter may keep a compliant camera JPEG as it is
            assert v.jpeg_quality == simulate.get_profile(v.platform)["quality"], v.platform


def test_01_table1(smoke_run):
    f = nbcheck.ok(smoke_run, "01_table1_architecture")
    nbcheck.artefacts_paired(f)
    t = pd.read_csv(f / "table1.csv")
    assert len(t) == 30 and list(t.row) == list(range(1, 31))
    assert int(t.ours_parameters.sum()) == 47_628 == int(t.paper_parameters.sum())
    assert t["match"].all()
    assert (t.ours_parameters == t.paper_parameters).all()
    names = [m for m, _, n in models.TABLE1_ROWS if n > 0]
    assert list(t.module.dropna()) == names
    sizes = pd.read_csv(f / "model_sizes.csv").set_index("model")
    assert int(sizes.loc["CSI-CNN", "parameters"]) == 47_628
    assert int(sizes.loc["DnCNN", "parameters"]) == models.count_parameters(models.DnCNN())
    assert (sizes.flops_per_pixel > 0).all()
    nbcheck.image_ok(f / "table1_parameters.png")


def test_02_fingerprints(smoke_run):
    f = nbcheck.ok(smoke_run, "02_fingerprints")
    nbcheck.artefacts_paired(f)
    fps = pd.read_csv(f / "fingerprints.csv")
    assert set(fps.dataset) == set(experiments.RECIPES)
    assert np.isfinite(fps.ncc_truth).all() and (fps["std"] > 0).all() and (fps.images >= 1).all()
    assert fps[["ncc_truth", "ncc_truth_other"]].stack().between(-1, 1).all()
    # an estimate matches its own camera's true K better than the others' (in every dataset, on average)
    by = fps.groupby("dataset")[["ncc_truth", "ncc_truth_other"]].mean()
    assert (by.ncc_truth > by.ncc_truth_other + 0.02).all(), by
    q = pd.read_csv(f / "fingerprint_quality.csv")
    assert set(q.estimator) == {"csi.prnu", "Eq. 5 as printed"}
    assert set(q.n_images) <= set(experiments.SCALES["smoke"]["notebooks"]["fp_counts"]) and q.camera.nunique() == 5
    assert np.isfinite(q[["ncc_truth", "ncc_other"]].to_numpy()).all()
    assert q[["ncc_truth", "ncc_other"]].stack().between(-1, 1).all()
    m = q[q.estimator == "csi.prnu"].groupby("n_images").ncc_truth.mean()
    assert m.iloc[-1] > m.iloc[0], m  # more images, a better estimate (averaged over the cameras)
    for name in ("fingerprints", "fingerprint_quality", "prnu_steps"):
        nbcheck.image_ok(f / f"{name}.{'jpg' if name in JPG_ONLY else 'png'}")


def test_04_table2(smoke_run):
    f = nbcheck.ok(smoke_run, "04_table2_correlation")
    nbcheck.artefacts_paired(f)
    ours = pd.read_csv(f / "table2_ours.csv", index_col=0)
    assert ours.shape == (5, 7) and list(ours.columns[-2:]) == ["Wavelet", "n_images"]
    v = ours.drop(columns="n_images").to_numpy(float)
    assert np.isfinite(v).all() and (np.abs(v) <= 1).all() and (ours.n_images >= 1).all()
    assert list(ours.columns[:5]) == list(ours.index)  # fingerprints in the same order as the rows
    pub = paper.table2()
    stored = pd.read_csv(f / "table2_paper.csv", index_col=0)
    assert np.allclose(stored.to_numpy(), pub.to_numpy()) and list(stored.index) == list(paper.CAMERAS)
    s = pd.read_csv(f / "table2_side_by_side.csv")
    assert len(s) == 5 and list(s.paper_camera) == list(paper.CAMERAS)
    # rows paired by phone model, in the paper's order
    assert list(s.ours_camera) == list(ours.index)
    for p, o in zip(s.paper_camera, s.ours_camera, strict=True):
        assert _norm(p) in _norm(o), (p, o)
    assert np.allclose(s.paper_own, np.diag(pub[list(paper.CAMERAS)].to_numpy()))
    assert np.allclose(s.ours_own, [ours.loc[c, c] for c in s.ours_camera])
    assert np.allclose(s.ours_wavelet, ours.Wavelet.to_numpy())
    assert (s.n_images == ours.n_images.to_numpy()).all()
    assert s.rate_own_largest.between(0, 1).all()
    assert ((s.rate_ci_low <= s.rate_own_largest + 1e-12) & (s.rate_own_largest <= s.rate_ci_high + 1e-12)).all()
    nbcheck.image_ok(f / "table2_heatmaps.png")


def test_05_fig3(smoke_run):
    f = nbcheck.ok(smoke_run, "05_fig3_heatmaps")
    nbcheck.artefacts_paired(f)
    t = pd.read_csv(f / "fig3_ncc.csv")
    assert list(dict.fromkeys(t.platform)) == list(experiments.CONDITIONS)
    per = t.groupby("platform").size()
    assert (per == 2 * 5 * 5).all(), per  # two pictures x five cameras x five fingerprints
    pics = t.groupby("platform").picture.nunique()
    assert (pics == 2 * 5).all(), pics
    assert (t.groupby(["platform", "true_device"]).picture.nunique() == 2).all()
    # the same pictures (scenes) in every panel, each with one true camera
    scenes = t.groupby("platform").scene_id.apply(frozenset)
    assert scenes.nunique() == 1
    assert (t.groupby("picture").true_device.nunique() == 1).all()
    assert np.isfinite(t.ncc).all() and t.ncc.between(-1, 1).all()
    n = pd.read_csv(f / "mean_true_camera_ncc.csv")
    assert len(n) == len(experiments.CONDITIONS) * len(experiments.METHODS)
    assert set(n.method) == set(experiments.METHODS) and (n.n_images > 0).all()
    assert np.isfinite(n.mean_ncc).all() and ((n.ci_low <= n.mean_ncc) & (n.mean_ncc <= n.ci_high)).all()
    d = pd.read_csv(f / "fig3_csicnn_minus_baselines.csv")
    assert len(d) == len(experiments.CONDITIONS) * 2
    assert set(d.verdict) <= {"higher", "lower", "not significant"}
    for name in ("fig3_heatmaps", "mean_true_camera_ncc"):
        nbcheck.image_ok(f / f"{name}.{'jpg' if name in JPG_ONLY else 'png'}")
