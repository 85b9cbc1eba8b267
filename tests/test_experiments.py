"""csi.experiments: parameter validation and the pure table/sentence logic behind the notebooks (fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi import experiments as ex
from csi import paper


def _setup(**kw):
    args = {"scale": "smoke", "out_dir": "figs", "data_root": "data", "notebook": "00_data"}
    args.update(kw)
    return ex.setup(**args)


# ------------------------------------------------------------------------------------------------------------
# setup
# ------------------------------------------------------------------------------------------------------------


def test_setup_defaults_and_derived_paths(tmp_path):
    cfg = _setup(out_dir=tmp_path / "f", data_root=tmp_path / "d", notebook="06_table3_accuracy")
    assert cfg.datasets == ex.RECIPES
    assert cfg.torch_device == "cpu" or cfg.torch_device in ("cuda", "mps")
    assert cfg.out == tmp_path / "f" / "06_table3_accuracy" and cfg.out.is_dir()
    assert cfg.cache == tmp_path / "d" / "cache"
    assert cfg.settings == ex.SETTINGS["smoke"]
    assert cfg.key("our") == "synthetic_smoke_seed0_our"
    d = ex.describe(cfg)
    assert list(d.columns) == ["setting", "value"] and "scale" in set(d.setting)


def test_setup_parses_dataset_lists():
    assert _setup(datasets=" vision, our ,vision").datasets == ("vision", "our")
    assert _setup(datasets=["daxing"]).datasets == ("daxing",)


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"scale": "huge"}, ValueError, "unknown scale 'huge'"),
    ({"source": "flickr"}, ValueError, "unknown source 'flickr'"),
    ({"datasets": "our,dresden"}, ValueError, "unknown dataset 'dresden'"),
    ({"datasets": " , "}, ValueError, "datasets must name at least one"),
    ({"datasets": 3}, TypeError, "datasets must be"),
    ({"device": "tpu"}, ValueError, "unknown device 'tpu'"),
    ({"seed": -1}, ValueError, "seed must be a non-negative int"),
    ({"seed": True}, ValueError, "seed must be a non-negative int"),
    ({"seed": 1.5}, ValueError, "seed must be a non-negative int"),
    ({"notebook": "99_nope"}, ValueError, "unknown notebook"),
    ({"scale": 1}, TypeError, "scale must be a string"),
    ({"out_dir": ""}, ValueError, "out_dir must not be empty"),
    ({"data_root": 5}, TypeError, "data_root must be a str or Path"),
    ({"source": "vision"}, ValueError, "needs data_path"),
    ({"source": "vision", "data_path": "/nonexistent/dataset"}, ValueError, "is not an existing folder"),
    ({"new_names": {"scale", "scael"}}, ValueError, "unknown notebook parameter.*scael"),
])
def test_setup_rejects_bad_parameters(kw, exc, match):
    with pytest.raises(exc, match=match):
        _setup(**kw)


def test_setup_ignores_ipython_private_names_and_accepts_real_source(tmp_path):
    _setup(new_names={"scale", "_i3", "_", "__"})
    cfg = _setup(source="folder", data_path=tmp_path)
    assert cfg.datasets == ("folder",) and cfg.data_path == tmp_path
    assert cfg.key("folder").startswith("folder-")


# ------------------------------------------------------------------------------------------------------------
# test-image selection
# ------------------------------------------------------------------------------------------------------------


def test_select_test_caps_balances_and_is_deterministic():
    rng = np.random.default_rng(1)
    rows = [(d, f"{d}/{i:03d}.jpg") for d, n in (("a", 9), ("b", 3), ("c", 1), ("d", 6)) for i in range(n)]
    df = pd.DataFrame(rows, columns=["device", "path"]).sample(frac=1, random_state=3)
    before = df.copy()
    out = ex.select_test(df, per_device=4, total=9, seed=5)
    pd.testing.assert_frame_equal(df, before)
    sizes = out.groupby("device").size().to_dict()
    assert sum(sizes.values()) == 9
    assert max(sizes.values()) <= 4
    # round robin: every device's first image is in before any device's third
    assert sizes["c"] == 1 and sizes["b"] == 3 and min(sizes["a"], sizes["d"]) >= 2
    assert set(out.path) <= set(df.path) and not out.path.duplicated().any()
    # the same seed gives the same choice regardless of row order; another seed usually another
    again = ex.select_test(df.sample(frac=1, random_state=int(rng.integers(100))), 4, 9, seed=5)
    assert list(again.path) == list(out.path)
    other = ex.select_test(df, 4, 9, seed=6)
    assert list(other.path) != list(out.path)
    assert len(ex.select_test(df, None, None, 0)) == len(df)


# ------------------------------------------------------------------------------------------------------------
# tables, claims and sentences from numbers
# ------------------------------------------------------------------------------------------------------------


def test_table1_from_model_detects_a_different_model():
    from csi import models

    t = ex.table1_from_model()
    assert int(t.ours_parameters.sum()) == 47_628 and t["match"].all()
    narrow = ex.table1_from_model(models.CSICNN(width=64))
    assert not narrow["match"].all()
    assert int(narrow.ours_parameters.sum()) == models.count_parameters(models.CSICNN(width=64))
    assert "differ" in ex.table1_sentences(narrow)


def _fake_table(n_img=4, cams=("a", "b", "c"), good=True, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c in cams:
        for i in range(n_img):
            for k in cams:
                score = rng.normal(0, 0.01) + (0.1 if (good and k == c) else 0.0)
                rows.append((f"{c}_{i}.jpg", c, k, score, score * 100))
    return pd.DataFrame(rows, columns=["image", "true_device", "candidate_device", "ncc", "pce"])


def test_accuracy_auc_and_roc_long_from_stacked_tables():
    parts = []
    for plat, good in (("twitter", True), ("wechat", False)):
        parts.append(_fake_table(good=good).assign(dataset="our", platform=plat, method="wavelet"))
    sc = pd.concat(parts, ignore_index=True)
    acc = ex.accuracy_long(sc).set_index("platform")
    assert acc.loc["twitter", "acc"] == 1.0
    assert acc.loc["wechat", "acc"] < 0.9
    assert (acc.n_cameras == 3).all() and np.allclose(acc.chance, 1 / 3)
    auc = ex.auc_long(sc).set_index("platform")
    assert auc.loc["twitter", "auc"] == 1.0 and 0 <= auc.loc["wechat", "auc"] <= 1
    assert (auc.n_pos == 12).all() and (auc.n_neg == 24).all()
    roc = ex.roc_long(sc)
    assert set(roc.platform) == {"twitter", "wechat"} and roc[["fpr", "tpr"]].stack().between(0, 1).all()


def test_table3_side_by_side_and_sentences():
    pub = paper.table3(long=True)
    ours = pub.assign(acc=(pub.acc - 0.2).clip(0, 1), n_images=10, n_cameras=5, chance=0.2)
    t3 = ex.table3_side_by_side(ours)
    assert len(t3) == 20 and list(t3.dataset.unique()) == list(ex.RECIPES)
    assert np.allclose(t3.delta_wavelet, -0.2) and np.allclose(t3.chance, 0.2)
    text = ex.table3_sentences(t3)
    # ours is the paper shifted down, so the ranking (and the paper's own 19 of 20) carries over
    assert "CSI-CNN is strictly best in 19 of 20 conditions (the paper's own table: 19 of 20)" in text
    assert "differ from the paper by -0.200 on average" in text
    assert "CSI-CNN accuracies" in text and "csi_cnn" not in text


def test_claim_verdicts_follow_the_numbers():
    auc = pd.DataFrame([(d, p, m, 0.9 if m == "csi-cnn" else 0.85) for d in ("our", "kaggle")
                        for p in ex.PLATFORMS for m in ex.METHODS], columns=["dataset", "platform", "method", "auc"])
    text = ex.fig45_sentences(auc)
    assert "CSI-CNN has the highest AUC in 10 of 10 conditions → consistent" in text
    assert "30 of 30 ROC curves reach it" in text
    worse = auc.assign(auc=np.where(auc.method == "csi-cnn", 0.6, 0.7))
    text = ex.fig45_sentences(worse)
    assert "highest AUC in 0 of 10 conditions → **not** consistent" in text
    assert "0 of 30 ROC curves reach it, 30 are above chance" in text


def test_table2_summary_and_sentences():
    cams = ["c1", "c2", "c3", "c4", "c5"]
    m = pd.DataFrame(np.full((5, 5), -0.001) + np.eye(5) * 0.05, index=cams, columns=cams)
    m.iloc[0, 1] = 0.2  # camera 1's images correlate better with camera 2
    m["Wavelet"] = [0.01, 0.02, 0.2, 0.01, 0.01]  # wavelet beats CSI-CNN for camera 3
    summary = ex._table2_summary(m, paper.table2())
    assert list(summary.ours_own_is_max) == [False, True, True, True, True]
    assert list(summary.paper_own_is_max) == [True] * 5
    text = ex.table2_sentences({"summary": summary, "dataset": "our", "condition": "original"})
    assert "This run: the own camera has the largest mean correlation in 4 of 5 rows" in text
    assert "exceeds the wavelet column in 4 of 5 rows" in text
    assert "The paper: the own camera has the largest mean correlation in 5 of 5 rows" in text
    assert "paired by position only" in text


def test_table2_pairs_rows_by_phone_model():
    cams = ["D01_Apple_iPhone6", "D02_Samsung_GalaxyS5", "D03_Nubia_Z17", "D04_Xiaomi_RedmiNote8",
            "D05_Huawei_Honor10"]
    m = pd.DataFrame(np.eye(5) * np.arange(1, 6)[:, None] / 100, index=cams, columns=cams)
    m["Wavelet"] = 0.0
    summary = ex._table2_summary(m, paper.table2())
    # the paper's rows are Honor 10, iPhone 6, Nubia Z17, Redmi note8, Galaxy S5
    assert list(summary.ours_camera) == [cams[4], cams[0], cams[2], cams[3], cams[1]]
    assert list(summary.ours_own) == pytest.approx([0.05, 0.01, 0.03, 0.04, 0.02])
    text = ex.table2_sentences({"summary": summary, "dataset": "our", "condition": "original"})
    assert "paired by phone model" in text


def test_fig6_convergence_matches_hand_computation():
    rows = []
    auc = {"cosine": [0.5, 0.8, 0.9, 0.9, 0.9], "mse": [0.5, 0.6, 0.7, 0.9, 0.8]}
    for loss, vals in auc.items():
        for e, a in enumerate(vals):
            rows.append({"loss": loss, "epoch": e, "platform": "twitter", "auc": a, "train_loss": 1.0})
    conv = ex.fig6_convergence(pd.DataFrame(rows)).set_index("loss")
    # best over both runs is 0.9; 95 % of it is 0.855
    assert conv.loc["cosine", "epochs_to_95"] == 2 and conv.loc["mse", "epochs_to_95"] == 3
    assert conv.loc["cosine", "std_second_half"] == pytest.approx(0.0)
    assert conv.loc["mse", "std_second_half"] == pytest.approx(np.std([0.7, 0.9, 0.8]))
    assert conv.loc["mse", "final_auc"] == 0.8
    text = ex.fig6_sentences(conv.reset_index())
    assert "sooner on 1 of 1 platforms" in text and "→ consistent" in text


def test_platform_auc_records_every_call():
    class Fixed:
        def __init__(self, v):
            self.v = v

        def auc(self, model, device="cpu"):
            return self.v

    v = ex._PlatformAUC({"twitter": Fixed(0.6), "wechat": Fixed(0.8)})
    assert v.auc(None) == pytest.approx(0.7)
    assert v.auc(None) == pytest.approx(0.7)
    assert v.records == [{"twitter": 0.6, "wechat": 0.8}] * 2


def test_claim_markdown_uses_the_transcribed_claim():
    text = ex.claim_markdown("fig6", None, "not run")
    assert paper.claims().loc["fig6", "claim"] in text and "cannot be tested" in text


def test_table3_sentences_flag_platforms_with_identical_results():
    pub = paper.table3(long=True)
    fb = pub[pub.platform == "facebook"].set_index(["dataset", "method"])["acc"]
    ours = pub.copy()
    is_wb = ours.platform == "weibo"
    ours.loc[is_wb, "acc"] = [fb[(d, m)] for d, m in zip(ours[is_wb].dataset, ours[is_wb].method, strict=True)]
    text = ex.table3_sentences(ex.table3_side_by_side(ours.assign(chance=0.2)))
    assert "Facebook = WeiBo" in text
    assert "identical accuracies" not in ex.table3_sentences(ex.table3_side_by_side(pub.assign(chance=0.2)))
