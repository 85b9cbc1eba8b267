"""The numbered notebooks: paired with their percent scripts, stored clean, one parameters cell, and a
smoke-scale papermill run of each whose artefacts are checked for substance.

The papermill runs share one session-scoped fixture (``smoke_run`` in conftest.py: all notebooks in numeric
order, one data root, so later notebooks reuse the data and models earlier ones built). Deselect them with
``-m "not notebooks"``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbcheck
import numpy as np
import pandas as pd
import pytest

from csi import experiments, paper, stats

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
ALL = NOTEBOOKS + sorted(NB_DIR.glob("workshop*.ipynb"))
#: Smoke runs of all notebooks together must fit in this many seconds on a 2-core machine.
#: Stream outputs (stdout/stderr messages) one executed cell may hold at smoke scale.
MAX_STREAMS_PER_CELL = 6


# ------------------------------------------------------------------------------------------------------------
# storage and pairing (fast, always run)
# ------------------------------------------------------------------------------------------------------------


def test_the_numbered_set_is_complete():
    assert [p.stem for p in NOTEBOOKS] == list(experiments.NOTEBOOKS)


def test_no_generator_is_left():
    assert not (ROOT / "tools" / "make_notebooks.py").exists()


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebook_is_paired_and_in_sync(path):
    import jupytext

    script = path.with_suffix(".py")
    assert script.is_file(), f"{path.name} has no paired percent script {script.name} (run: make notebooks)"
    a, b = jupytext.read(path), jupytext.read(script)
    cells = lambda nb: [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]  # noqa: E731
    assert cells(a) == cells(b), f"{path.name} and {script.name} differ; run: make notebooks"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebook_is_stored_clean(path):
    import nbformat

    raw = json.loads(path.read_text())
    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))
    assert set(raw["metadata"]) <= {"kernelspec", "language_info", "jupytext"}
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(raw["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {i} has outputs (run: make notebooks)"
            assert cell["execution_count"] is None, f"cell {i} has an execution count"
        # tags, jupyter.source_hidden (collapsed solutions), and jupytext's blank-line record
        assert set(cell.get("metadata", {})) <= {"tags", "lines_to_next_cell", "jupyter"}, f"cell {i} has extra metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_and_setup_cells(path):
    raw = json.loads(path.read_text())
    params = [i for i, c in enumerate(raw["cells"]) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"expected exactly one cell tagged 'parameters', found {len(params)}"
    src = "".join(raw["cells"][params[0]]["source"])
    values = {}
    for node in ast.parse(src).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, "parameters cell: plain assignments only"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    base = {k: v for k, v in values.items() if k in experiments.PARAMETERS}
    assert base == experiments.DEFAULTS, "the shared parameters must have the shared defaults"
    assert list(base) == list(experiments.PARAMETERS)
    nxt = "".join(raw["cells"][params[0] + 1]["source"])
    assert "experiments.setup(" in nxt and f'notebook="{path.stem}"' in nxt
    for name in experiments.PARAMETERS:
        assert f"{name}={name}" in nxt
    first = "".join(raw["cells"][0]["source"])
    assert raw["cells"][0]["cell_type"] == "markdown" and first.startswith(f"# {path.stem[:2]}")
    assert any(tok in first for tok in ("§", "Eq.", "Table", "Fig."))


def _own_code_lines(path: Path) -> int:
    """Code lines of a notebook besides imports, parameters and setup (blank lines and comments excluded)."""
    raw = json.loads(path.read_text())
    n = 0
    for c in raw["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] != "code" or "parameters" in c.get("metadata", {}).get("tags", []):
            continue
        if "experiments.setup(" in src or re.match(r"^(import|from) ", src.strip()):
            continue
        n += sum(1 for line in src.splitlines() if line.strip() and not line.strip().startswith("#"))
    return n


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "02" <= p.stem[:2] <= "08"], ids=lambda p: p.stem)
def test_notebooks_carry_their_computation(path):
    n = _own_code_lines(path)
    assert n >= 40, f"{path.stem} has {n} lines of its own code; the science belongs in the notebook"
    text = path.read_text()
    assert "experiments.plot_" not in text and "plt." in text or "sns." in text, "plots are drawn in the notebook"


def test_csi_holds_no_single_use_plot_helpers():
    defs = [m.group(1) for f in (ROOT / "csi").glob("*.py")
            for m in re.finditer(r"^def (plot_\w+)", f.read_text(), re.M)]
    for name in defs:
        users = [p.stem for p in NOTEBOOKS if f"{name}(" in p.read_text()]
        assert len(users) >= 2, f"csi.{name} is used by {users}; plot code lives in the notebook unless shared"


# ------------------------------------------------------------------------------------------------------------
# smoke-scale papermill runs
# ------------------------------------------------------------------------------------------------------------








@pytest.mark.notebooks
@pytest.mark.slow
def test_executed_notebooks_stay_readable(smoke_run):
    for nb in sorted(smoke_run["executed"].glob("*.ipynb")):
        raw = json.loads(nb.read_text())
        for i, cell in enumerate(raw["cells"]):
            streams = [o for o in cell.get("outputs", []) if o["output_type"] == "stream"]
            assert len(streams) <= MAX_STREAMS_PER_CELL, (
                f"{nb.name} cell {i} has {len(streams)} stream outputs (progress must not flood the notebook)")


@pytest.mark.notebooks
@pytest.mark.slow
def test_06_table3(smoke_run):
    f = nbcheck.ok(smoke_run, "06_table3_accuracy")
    nbcheck.artefacts_paired(f)
    t = pd.read_csv(f / "table3.csv")
    names = experiments.table_datasets(experiments.setup(scale="smoke", notebook="06_table3_accuracy"))
    assert len(t) == len(names) * len(experiments.CONDITIONS)
    assert set(t.platform) == set(experiments.CONDITIONS) and set(t.dataset) == set(names)
    merged = t.merge(paper.table3(), on=["dataset", "platform"])
    assert len(merged) == 20  # every published cell has ours beside it
    for m, tag in (("csi-cnn", "csi_cnn"), ("wavelet", "wavelet"), ("dncnn", "dncnn")):
        assert merged[f"ours_{tag}"].between(0, 1).all()
        assert np.allclose(merged[f"paper_{tag}"], merged[m])
        assert np.allclose(merged[f"delta_{tag}"], merged[f"ours_{tag}"] - merged[m])
        assert (t[f"ci_low_{tag}"] <= t[f"ours_{tag}"] + 1e-12).all()
        assert (t[f"ours_{tag}"] <= t[f"ci_high_{tag}"] + 1e-12).all()
    assert t.loc[t.platform == "original", "paper_csi_cnn"].isna().all()
    assert (t.n_images > 0).all() and t.chance.between(0, 1).all()
    acc = pd.read_csv(f / "accuracy_long.csv")
    assert list(acc.columns[:5]) == ["dataset", "platform", "method", "correct", "n_images"]
    assert {"acc", "ci_low", "ci_high", "chance"} <= set(acc.columns)
    assert (acc.platform == "original").any()
    assert np.allclose(acc.acc, acc.correct / acc.n_images)
    d = pd.read_csv(f / "csicnn_minus_wavelet.csv")
    assert (d.ci_low <= d["diff"] + 1e-12).all() and (d["diff"] <= d.ci_high + 1e-12).all()
    assert d.mcnemar_p.between(0, 1).all()
    # the notebook's inline Eq. 9 (accuracy_long) equals the library's (stats.paired_bootstrap -> metrics)
    wide = acc.pivot_table(index=["dataset", "platform"], columns="method", values="acc")
    lib = d.set_index(["dataset", "platform"])
    for m, col in (("csi-cnn", "csi_cnn"), ("wavelet", "wavelet")):
        np.testing.assert_allclose(wide[m].reindex(lib.index), lib[col], atol=1e-12, err_msg=m)
    assert list(d.verdict) == [stats.verdict_category(lo, hi) for lo, hi in zip(d.ci_low, d.ci_high, strict=True)]
    split = pd.read_csv(f / "split_per_device.csv")
    assert {"fingerprint", "train", "val", "test", "tested"} <= set(split.columns)
    nbcheck.image_ok(f / "table3.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_07_fig4_fig5(smoke_run):
    f = nbcheck.ok(smoke_run, "07_fig4_fig5_roc_auc")
    nbcheck.artefacts_paired(f)
    auc = pd.read_csv(f / "fig4_auc.csv")
    assert auc.auc.between(0, 1).all() and (auc.ci_low <= auc.auc + 1e-12).all()
    assert (auc.n_pos == auc.n_images).all() and (auc.n_neg > 0).all()
    assert set(auc.platform) == set(experiments.CONDITIONS)
    roc = pd.read_csv(f / "fig5_roc_points.csv")
    assert roc[["fpr", "tpr"]].stack().between(0, 1).all()
    for _, g in roc.groupby(["dataset", "platform", "method"]):
        assert len(g) <= 202
        assert (np.diff(g.fpr.to_numpy()) >= -1e-12).all() and (np.diff(g.tpr.to_numpy()) >= -1e-12).all()
        assert g.fpr.iloc[-1] == pytest.approx(1) and g.tpr.iloc[-1] == pytest.approx(1)
    diff = pd.read_csv(f / "fig4_auc_csicnn_minus_wavelet.csv")
    assert np.allclose(diff["diff"], diff.csi_cnn - diff.wavelet, rtol=0, atol=2e-6)  # 6 significant digits
    assert list(diff.verdict) == [stats.verdict_category(lo, hi) for lo, hi in zip(diff.ci_low, diff.ci_high, strict=True)]
    # the AUC of Fig. 4 and the paired comparison's are the same Eq. 12
    wide = auc.pivot_table(index=["dataset", "platform"], columns="method", values="auc")
    lib = diff.set_index(["dataset", "platform"])
    np.testing.assert_allclose(wide["csi-cnn"].reindex(lib.index), lib.csi_cnn, atol=1e-12)
    nbcheck.image_ok(f / "fig4_auc_per_platform.png")
    nbcheck.image_ok(f / "fig5_roc.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_03_training(smoke_run):
    f = nbcheck.ok(smoke_run, "03_training")
    nbcheck.artefacts_paired(f)
    h = pd.read_csv(f / "training_history.csv")
    cnn = h[h.model == "CSI-CNN"]
    assert set(cnn.loss) == {"cosine"} and cnn.pairs_seen.is_monotonic_increasing and cnn.pairs_seen.iloc[0] == 0
    assert cnn.val_auc.between(0, 1).all() and np.isfinite(cnn.train_loss.iloc[1:]).all()
    assert {f"val_auc_{p}" for p in ("original", "facebook")} <= set(cnn.columns)  # judged on platform copies
    assert (h.model == "DnCNN").any()
    nbcheck.image_ok(f / "training_curves.png")
    nbcheck.image_ok(f / "training_pairs.jpg")


@pytest.mark.notebooks
@pytest.mark.slow
def test_08_fig6(smoke_run):
    f = nbcheck.ok(smoke_run, "08_fig6_loss_curves")
    nbcheck.artefacts_paired(f)
    c = pd.read_csv(f / "fig6_auc_per_point.csv")
    points = experiments.SCALES["smoke"]["notebooks"]["fig6_points"]
    assert set(c.loss) == {"cosine", "mse-std", "mse"} and set(c.platform) == set(experiments.PLATFORMS)
    assert len(c) == 3 * (points + 1) * 5 and c.auc.between(0, 1).all()
    conv = pd.read_csv(f / "fig6_convergence.csv")
    assert len(conv) == 2 * 5 and set(conv.loss) == {"cosine", "mse-std"}
    nbcheck.image_ok(f / "fig6_auc_per_training_pairs.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_09_claim_check(smoke_run):
    f = nbcheck.ok(smoke_run, "09_claim_check")
    nbcheck.artefacts_paired(f)
    cc = pd.read_csv(f / "claim_check.csv")
    assert list(cc.columns[:7]) == ["platform", "method", "pairs", "seed", "acc", "auc", "n_images"]
    grid = experiments.SCALES["smoke"]["claim_grids"]["full"]  # the smoke run runs make claim-check's grid
    assert (pd.read_csv(f / "split_per_device.csv").reserve == experiments.SCALES["smoke"]["claim"]["reserve"]).all()
    for m, budgets in grid["budgets"].items():  # both learned extractors, every budget and seed
        rows = cc[(cc.method == m) & (cc.target == "fingerprint") & (cc.regime == "originals")]
        assert set(rows.pairs) == set(budgets) and set(rows.seed) == set(grid["seeds"]), m
    abl = cc[(cc.method == "csi-cnn") & (cc.pairs == grid["target_budget"]) & (cc.regime == "originals")]
    assert set(abl.target) == {"fingerprint", *grid["targets"]}
    assert set(cc[cc.regime == "augmented"].pairs) == set(grid["augmented"])
    assert {"wavelet", "oracle", "dncnn"} <= set(cc.method) and set(cc.platform) == set(experiments.CONDITIONS)
    assert cc[["acc", "auc"]].stack().between(0, 1).all() and (cc.n_images == cc.n_images.iloc[0]).all()
    d = pd.read_csv(f / "differences.csv")
    assert {"platform", "metric", "method", "pairs", "diff", "ci_low", "ci_high", "closed", "oracle"} <= set(d.columns)
    assert set(d.method) == set(grid["budgets"])
    assert (d.ci_low <= d["diff"] + 1e-12).all() and (d["diff"] <= d.ci_high + 1e-12).all()
    assert (d.learned_low <= d.learned + 1e-12).all() and (d.learned <= d.learned_high + 1e-12).all()
    assert list(d.verdict) == [stats.verdict_category(lo, hi) for lo, hi in zip(d.ci_low, d.ci_high, strict=True)]
    room = d.oracle - d.wavelet  # the share of the headroom closed, from the columns beside it
    np.testing.assert_allclose((d["closed"] * room)[room != 0], d["diff"][room != 0], atol=1e-5)
    cal = pd.read_csv(f / "calibration.csv")
    claim_sizes = experiments.SCALES["smoke"]["claim"]
    assert set(cal.crop) == set(claim_sizes["calibration_crops"]) and set(cal.reading) == {"originals", "copies"}
    assert set(cal[cal.reading == "copies"].platform) == set(experiments.PLATFORMS)
    assert (cal.acc_low <= cal.acc + 1e-12).all() and (cal.n_images == cc.n_images.iloc[0]).all()
    primary = cal[(cal.crop == claim_sizes["crop"]) & (cal.reading == "originals") & (cal.method == "wavelet")]
    scored = cc[cc.method == "wavelet"].set_index("platform").acc  # the calibration is the claim check's wavelet
    np.testing.assert_allclose(primary.set_index("platform").acc.reindex(scored.index), scored, atol=1e-5)
    assert set(pd.read_csv(f / "curve_end.csv").curve) <= {"rising", "flat", "falling"}
    cost = pd.read_csv(f / "training_time.csv").merge(pd.read_csv(f / "training_time_timings.csv"))
    assert len(cost) == len(cc[cc.pairs > 0].groupby(["method", "regime", "target", "pairs"])) and (cost.pairs_per_s > 0).all()
    assert set(pd.read_csv(f / "target_ablation.csv").target) == {"fingerprint", *grid["targets"]}
    head = pd.read_csv(f / "headroom.csv").set_index(["platform", "method"])
    # the oracle residual holds the PRNU term and nothing else: far more of it than the wavelet's residual
    assert head.loc[("original", "oracle"), "ncc_true"] > head.loc[("original", "wavelet"), "ncc_true"]
    for name in ("calibration", "headroom", "budget_curve_acc", "budget_curve_auc", "validation_curves"):
        nbcheck.image_ok(f / f"{name}.png")
