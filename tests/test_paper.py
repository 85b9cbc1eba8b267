"""The transcribed paper tables (data/paper/*.csv) and the side-by-side / writing helpers of csi.paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi import paper


def test_table1_rows_and_total():
    t = paper.table1()
    assert len(t) == 30
    assert list(t.row) == list(range(1, 31))
    assert int(t.parameters.sum()) == 47_628
    assert (t.parameters >= 0).all()
    # the stage-1 part (rows 1-15) and the stage-2 part (rows 18-30) as summed by hand from the printed rows
    assert int(t[t.stage == "1"].parameters.sum()) == 25_097
    assert int(t[t.stage == "2"].parameters.sum()) == 22_531
    assert int(t[t.stage == "sub"].parameters.sum()) == 0


def _eval_formula(text: str) -> int:
    # "128 x 3 x 3 x 3 + 128" -> 3584; written independently of the CSV's parameters column
    total = 0
    for term in text.split("+"):
        prod = 1
        for f in term.split("x"):
            prod *= int(f.strip())
        total += prod
    return total


def test_table1_formulas_match_counts():
    t = paper.table1()
    for _, r in t.iterrows():
        if r.formula:
            assert _eval_formula(r.formula) == r.parameters, r.layer
        else:
            assert r.parameters == 0, r.layer
    convs = t[t.layer.str.startswith("Convolution")]
    bns = t[t.layer.str.startswith("BatchNorm")]
    assert len(convs) == 10 and len(bns) == 9


def test_table2_shape_values_and_paper_claim():
    t = paper.table2()
    assert list(t.index) == list(paper.CAMERAS)
    assert list(t.columns) == [*paper.CAMERAS, "Wavelet"]
    v = t.to_numpy(float)
    assert np.isfinite(v).all() and (np.abs(v) <= 1).all()
    m = t[list(paper.CAMERAS)].to_numpy(float)
    # as printed: each row's own camera is its largest entry, and above the wavelet column
    assert (m.argmax(axis=1) == np.arange(5)).all()
    assert (np.diag(m) > t["Wavelet"].to_numpy()).all()
    assert t.loc["Galaxy S5", "Galaxy S5"] == pytest.approx(0.2610)
    assert t.loc["Honor 10", "iPhone 6"] == pytest.approx(-0.0068)


def test_table3_twenty_rows_in_unit_interval():
    t = paper.table3()
    assert len(t) == 20
    assert set(t.dataset) == {"our", "kaggle", "vision", "daxing"}
    assert set(t.platform) == {"twitter", "facebook", "instagram", "wechat", "weibo"}
    assert not t.duplicated(["dataset", "platform"]).any()
    vals = t[list(paper.METHODS)].to_numpy(float)
    assert ((vals >= 0) & (vals <= 1)).all()
    # spot checks against the printed table
    row = t[(t.dataset == "daxing") & (t.platform == "facebook")].iloc[0]
    assert (row["csi-cnn"], row["wavelet"], row["dncnn"]) == (0.836, 0.880, 0.524)
    row = t[(t.dataset == "our") & (t.platform == "twitter")].iloc[0]
    assert (row["csi-cnn"], row["wavelet"], row["dncnn"]) == (0.950, 0.887, 0.453)
    # the paper's ranges quoted in the reference notes
    assert t["csi-cnn"].min() == 0.648 and t["csi-cnn"].max() == 0.950
    assert t["dncnn"].min() == 0.352 and t["dncnn"].max() == 0.580


def test_table3_long_matches_wide():
    wide = paper.table3()
    long = paper.table3(long=True)
    assert long.shape == (60, 4)
    for _, r in long.sample(10, random_state=0).iterrows():
        w = wide[(wide.dataset == r.dataset) & (wide.platform == r.platform)].iloc[0]
        assert w[r.method] == r.acc


def test_claims_cover_figures():
    c = paper.claims()
    assert {"fig3", "fig4", "fig5", "fig6", "table2", "table3"} <= set(c.index)
    assert c["claim"].str.len().min() > 20


def test_load_table_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown paper table"):
        paper.load_table("table9")
    with pytest.raises(ValueError, match="does not exist"):
        paper.load_table("table1", folder=tmp_path)


def test_unknown_label_in_table3_is_an_error(tmp_path):
    (tmp_path / "table3.csv").write_text("dataset,platform,csi_cnn,wavelet,dncnn\nOur,MySpace,0.5,0.5,0.5\n")
    with pytest.raises(ValueError, match="unknown platform 'MySpace'"):
        paper.table3(folder=tmp_path)


def test_side_by_side_delta_and_outer_join():
    pub = paper.table3(long=True)
    rng = np.random.default_rng(0)
    ours = pub.assign(acc=rng.uniform(0, 1, len(pub)))
    ours = ours[ours.dataset != "vision"]  # a dataset this run did not do
    before = ours.copy()
    s = paper.side_by_side(ours, pub, ["dataset", "platform"])
    pd.testing.assert_frame_equal(ours, before)  # input unchanged
    assert len(s) == 20
    assert list(s.columns[:5]) == ["dataset", "platform", "paper_csi_cnn", "ours_csi_cnn", "delta_csi_cnn"]
    merged = ours.merge(pub, on=["dataset", "platform", "method"], suffixes=("_o", "_p"))
    for _, r in merged.iterrows():
        row = s[(s.dataset == r.dataset) & (s.platform == r.platform)].iloc[0]
        tag = r.method.replace("-", "_")
        assert row[f"delta_{tag}"] == pytest.approx(r.acc_o - r.acc_p)
    assert s[s.dataset == "vision"]["ours_wavelet"].isna().all()
    assert s[s.dataset == "vision"]["paper_wavelet"].notna().all()


def test_side_by_side_rejects_duplicates_and_missing_columns():
    pub = paper.table3(long=True)
    with pytest.raises(ValueError, match="duplicate"):
        paper.side_by_side(pd.concat([pub, pub.iloc[:1]]), pub, ["dataset", "platform"])
    with pytest.raises(ValueError, match="lacks column"):
        paper.side_by_side(pub.drop(columns="acc"), pub, ["dataset", "platform"])


def test_count_wins_and_sentences():
    assert paper.count_wins([0.9, 0.5, np.nan], [0.8, 0.6, 0.1]) == {
        "wins": 1, "ties": 0, "losses": 1, "missing": 1, "n": 2}
    s = paper.wins_sentence([0.9, 0.8, 0.7], [0.1, 0.9, 0.7], "CSI-CNN", "Wavelet", "platforms")
    assert s == "CSI-CNN beats Wavelet on 1 of 3 platforms in this run (1 tie, 1 loss)."
    d = paper.delta_sentence([0.6, 0.6], [0.5, 0.8], "accuracies")
    assert "-0.050 on average" in d and "1 of 2 are higher" in d
    with pytest.raises(ValueError, match="same length"):
        paper.count_wins([1, 2], [1])


def test_to_markdown_and_save_table(tmp_path):
    df = pd.DataFrame({"name": ["a|b", "c"], "x": [0.12345, np.nan], "n": [1, 2]})
    md = paper.to_markdown(df, floatfmt=".2f")
    lines = md.strip().split("\n")
    assert lines[0] == "| name | x | n |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| a\\|b | 0.12 | 1 |"
    assert lines[3] == "| c |  | 2 |"
    paths = paper.save_table(df, tmp_path / "sub", "t1")
    back = pd.read_csv(paths["csv"])
    assert back["x"].iloc[0] == pytest.approx(0.12345)
    assert paths["md"].read_text().count("\n") == 4
    with pytest.raises(ValueError, match="file stem"):
        paper.save_table(df, tmp_path, "../evil")
    with pytest.raises(TypeError, match="DataFrame"):
        paper.save_table([1, 2], tmp_path, "x")


def test_save_figure_writes_nonblank_png_and_pdf(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, 1, 0])
    paths = paper.save_figure(fig, tmp_path, "line")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[1].read_bytes()[:4] == b"%PDF"
    img = np.asarray(Image.open(paths[0]).convert("L"))
    assert img.std() > 1  # not blank
    assert not plt.fignum_exists(fig.number)  # closed after saving
    with pytest.raises(ValueError, match="formats"):
        paper.save_figure(plt.figure(), tmp_path, "x", formats=("gif",))
    with pytest.raises(TypeError, match="Figure"):
        paper.save_figure("not a figure", tmp_path, "x")


def test_datasets_table():
    d = paper.datasets()
    assert list(d.index) == ["our", "kaggle", "vision", "daxing"]
    assert d.loc["our", "images"] == 5000 and d.loc["daxing", "devices"] == 90
    assert d.loc["kaggle", "images"] == 2750 + 2640
    assert pd.isna(d.loc["vision", "images"])


def test_saved_tables_carry_no_machine_paths(tmp_path):
    from pathlib import Path

    import pandas as pd

    import csi
    from csi import paper as P

    root = Path(csi.__file__).resolve().parents[1]
    df = pd.DataFrame({"path": [str(root / "data" / "a.jpg"), "/elsewhere/b.jpg"], "v": [1, 2]})
    before = df.copy()
    P.save_table(df, tmp_path, "t")
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
    nb.cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nimport pandas as pd\nfrom csi import paper\n"
                                          "paper.use_style()"),
                nbformat.v4.new_code_cell("fig, ax = plt.subplots(figsize=(6.5, 3.4))\n_ = ax.plot([0, 1], [0, 1])\n"
                                          "_ = ax.set(title='a title', xlabel='x', ylabel='y')"),
                nbformat.v4.new_code_cell("pd.DataFrame({'acc': [0.58512345, 0.99]})")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    pngs = [o["data"]["image/png"] for o in nb.cells[1].outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1
    with Image.open(io.BytesIO(base64.b64decode(pngs[0]))) as im:
        assert im.size[0] >= paper.MIN_FIGURE_PX, im.size
    html = nb.cells[2].outputs[0]["data"]["text/html"]
    assert "0.585" in html and "0.58512" not in html and "<th>0</th>" not in html  # 3 decimals, no index


def test_method_style_is_one_style_per_method():
    styles = {m: paper.method_style(m) for m in (*paper.METHODS, "oracle")}
    assert len({s["color"] for s in styles.values()}) == len(styles)  # no two methods share a colour
    for key, label in paper.METHOD_LABELS.items():  # key, label and variants read the same
        assert paper.method_style(label) == paper.method_style(key) == paper.METHOD_STYLE[key]
        assert paper.method_style(f"{label} 8,000 pairs") == paper.METHOD_STYLE[key]
    assert paper.method_style("csi-cnn augmented") != paper.method_style("csi-cnn")
    assert paper.method_style("something else")["color"] not in {s["color"] for s in styles.values()}
    paper.method_style("wavelet")["color"] = "red"  # a copy: the shared style cannot be changed by accident
    assert paper.METHOD_STYLE["wavelet"]["color"] != "red"


def test_device_names_follow_the_paper_and_table2_order():
    ours = ["D01_Apple_iPhone6", "D02_Samsung_GalaxyS5", "D03_Nubia_Z17", "D04_Xiaomi_RedmiNote8",
            "D05_Huawei_Honor10"]
    assert [paper.device_label(d) for d in paper.device_order(ours)] == list(paper.CAMERAS)
    vision = ["D01_Samsung_GalaxyS3Mini", "D26_Samsung_GalaxyS3Mini", "D03_Huawei_P9"]
    assert paper.device_order(vision) == sorted(vision)
    labels = paper.device_labels(vision)
    assert len(set(labels.values())) == 3 and labels["D03_Huawei_P9"] == "Huawei P9"


def test_displayed_tables_drop_only_row_numbers():
    df = pd.DataFrame({"platform": ["a", "b", "c"], "acc": [0.5, 0.25, 0.125]})
    assert "<th>1</th>" not in paper._frame_html(df[df.acc < 0.5])  # row numbers left by a filter: hidden
    assert "<th>b</th>" in paper._frame_html(df.set_index("platform"))  # a meaningful index: shown
    assert "<th>platform</th>" in paper._frame_html(df.set_index("platform").rename_axis("platform"))
