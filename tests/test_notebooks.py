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

import numpy as np
import pandas as pd
import pytest

from csi import experiments, paper

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
ALL = NOTEBOOKS + sorted(NB_DIR.glob("workshop*.ipynb"))
#: Smoke runs of all notebooks together must fit in this many seconds on a 2-core machine.
SMOKE_BUDGET_S = 420
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


def _ok(run, name) -> Path:
    seconds, err = run["results"][name]
    if err is not None:
        pytest.fail(f"papermill failed for {name} after {seconds:.1f} s:\n{err}")
    folder = run["out"] / name
    assert folder.is_dir(), f"{name} wrote no output folder"
    return folder


def _png_ok(path: Path, pdf: bool = True) -> None:
    from PIL import Image

    assert path.is_file(), f"missing figure {path.name}"
    assert path.stat().st_size > 5_000, f"{path.name} is suspiciously small"
    if pdf:
        assert path.with_suffix(".pdf").is_file(), f"{path.name} has no PDF copy"
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    assert img.std() > 5, f"{path.name} looks blank"
    vals, counts = np.unique(img.astype(np.uint8), return_counts=True)
    assert counts.max() < 0.99 * img.size, f"{path.name} is almost uniform"


def _every_artefact_paired(folder: Path) -> None:
    for png in folder.glob("*.png"):
        _png_ok(png, pdf=False)
    csvs = list(folder.glob("*.csv"))
    assert csvs or list(folder.glob("*.png")), f"{folder.name} wrote nothing"
    for csv in csvs:
        md = csv.with_suffix(".md")
        assert md.is_file(), f"{csv.name} has no Markdown copy"
        assert md.read_text().startswith("|"), f"{md.name} is not a Markdown table"
        assert md.stat().st_size <= paper.MAX_MARKDOWN_BYTES + 5_000, f"{md.name} is too large to read"


@pytest.mark.notebooks
@pytest.mark.slow
def test_smoke_budget(smoke_run):
    times = {k: round(v[0], 1) for k, v in smoke_run["results"].items()}
    total = sum(times.values())
    print("smoke notebook times (s):", times, "total", round(total, 1))
    assert total <= SMOKE_BUDGET_S, f"smoke notebooks took {total:.0f} s > {SMOKE_BUDGET_S} s: {times}"


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
    f = _ok(smoke_run, "06_table3_accuracy")
    _every_artefact_paired(f)
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
    split = pd.read_csv(f / "split_per_device.csv")
    assert {"fingerprint", "train", "val", "test", "tested"} <= set(split.columns)
    _png_ok(f / "table3.png")


@pytest.mark.notebooks
@pytest.mark.slow
def test_07_fig4_fig5(smoke_run):
    f = _ok(smoke_run, "07_fig4_fig5_roc_auc")
    _every_artefact_paired(f)
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
    assert np.allclose(diff["diff"], diff.csi_cnn - diff.wavelet)
    _png_ok(f / "fig4_auc_bars.png")
    _png_ok(f / "fig5_roc.png")
