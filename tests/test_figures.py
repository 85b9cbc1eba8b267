"""csi.figures: tables and figures written to disk, and the notebooks' style."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi import figures, paper


def test_to_markdown_and_save_table(tmp_path):
    df = pd.DataFrame({"name": ["a|b", "c"], "x": [0.12345, np.nan], "n": [1, 2]})
    md = figures.to_markdown(df, floatfmt=".2f")
    lines = md.strip().split("\n")
    assert lines[0] == "| name | x | n |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| a\\|b | 0.12 | 1 |"
    assert lines[3] == "| c |  | 2 |"
    paths = figures.save_table(df, tmp_path / "sub", "t1")
    back = pd.read_csv(paths["csv"])
    assert back["x"].iloc[0] == pytest.approx(0.12345)
    assert paths["md"].read_text().count("\n") == 4
    with pytest.raises(ValueError, match="file stem"):
        figures.save_table(df, tmp_path, "../evil")
    with pytest.raises(TypeError, match="DataFrame"):
        figures.save_table([1, 2], tmp_path, "x")


def test_save_figure_writes_nonblank_png_and_pdf(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, 1, 0])
    paths = figures.save_figure(fig, tmp_path, "line")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[1].read_bytes()[:4] == b"%PDF"
    img = np.asarray(Image.open(paths[0]).convert("L"))
    assert img.std() > 1  # not blank
    assert not plt.fignum_exists(fig.number)  # closed after saving
    with pytest.raises(ValueError, match="formats"):
        figures.save_figure(plt.figure(), tmp_path, "x", formats=("gif",))
    with pytest.raises(TypeError, match="Figure"):
        figures.save_figure("not a figure", tmp_path, "x")


def test_saved_tables_carry_no_machine_paths(tmp_path):
    from pathlib import Path

    import pandas as pd

    import csi
    from csi import figures as F

    root = Path(csi.__file__).resolve().parents[1]
    df = pd.DataFrame({"path": [str(root / "data" / "a.jpg"), "/elsewhere/b.jpg"], "v": [1, 2]})
    before = df.copy()
    F.save_table(df, tmp_path, "t")
    text = (tmp_path / "t.csv").read_text()
    assert str(root) not in text and "data/a.jpg" in text and "/elsewhere/b.jpg" in text
    pd.testing.assert_frame_equal(df, before)  # input not modified


def test_figures_under_use_style_are_at_least_1000_px_wide_inline():
    """What an executed notebook stores (and the book shows), in a real kernel: pyplot's import comes first and the
    inline backend loads with the first figure, as in every notebook."""
    import base64
    import io

    import nbformat
    from nbclient import NotebookClient
    from PIL import Image

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nimport pandas as pd\nfrom csi import figures\n"
                                          "figures.use_style()"),
                nbformat.v4.new_code_cell("fig, ax = plt.subplots(figsize=(6.5, 3.4))\n_ = ax.plot([0, 1], [0, 1])\n"
                                          "_ = ax.set(title='a title', xlabel='x', ylabel='y')"),
                nbformat.v4.new_code_cell("pd.DataFrame({'acc': [0.58512345, 0.99]})")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    pngs = [o["data"]["image/png"] for o in nb.cells[1].outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1
    with Image.open(io.BytesIO(base64.b64decode(pngs[0]))) as im:
        assert im.size[0] >= figures.MIN_FIGURE_PX, im.size
    html = nb.cells[2].outputs[0]["data"]["text/html"]
    assert "0.585" in html and "0.58512" not in html and "<th>0</th>" not in html  # 3 decimals, no index


def test_method_style_is_one_style_per_method():
    styles = {m: figures.method_style(m) for m in (*paper.METHODS, "oracle")}
    assert len({s["color"] for s in styles.values()}) == len(styles)  # no two methods share a colour
    for key, label in paper.METHOD_LABELS.items():  # key, label and variants read the same
        assert figures.method_style(label) == figures.method_style(key) == figures.METHOD_STYLE[key]
        assert figures.method_style(f"{label} 8,000 pairs") == figures.METHOD_STYLE[key]
    assert figures.method_style("csi-cnn augmented") != figures.method_style("csi-cnn")
    assert figures.method_style("something else")["color"] not in {s["color"] for s in styles.values()}
    figures.method_style("wavelet")["color"] = "red"  # a copy: the shared style cannot be changed by accident
    assert figures.METHOD_STYLE["wavelet"]["color"] != "red"


def test_displayed_tables_drop_only_row_numbers():
    df = pd.DataFrame({"platform": ["a", "b", "c"], "acc": [0.5, 0.25, 0.125]})
    assert "<th>1</th>" not in figures._frame_html(df[df.acc < 0.5])  # row numbers left by a filter: hidden
    assert "<th>b</th>" in figures._frame_html(df.set_index("platform"))  # a meaningful index: shown
    assert "<th>platform</th>" in figures._frame_html(df.set_index("platform").rename_axis("platform"))


def test_displayed_floats_have_three_decimals_or_three_significant_digits():
    df = pd.DataFrame({"auc": [0.97612, 0.5], "diff": [0.0898, -0.0000735], "ncc": [0.00065173, 0.0]})
    html = figures._frame_html(df)
    for shown in ("0.976", "0.500", "0.0898", "-7.35e-05", "0.000652", "0.000"):
        assert f"<td>{shown}</td>" in html, shown
    assert "8.980e-02" not in html and "0.97612" not in html  # no column-wide switch to e-notation


def test_pairs_axis_writes_budgets_short_and_only_at_the_budgets():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([2_000, 3_200_000], [0, 1])
    ax.set_xscale("log")
    figures.pairs_axis(ax, [500, 2_000, 128_000, 3_200_000])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["500", "2k", "128k", "3.2M"]
    assert not ax.xaxis.get_minorticklocs().size
    plt.close(fig)
