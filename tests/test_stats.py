"""csi.stats: intervals and paired tests, against hand computations and the metrics module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi import metrics, stats


def test_wilson_interval_hand_values_and_edges():
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = stats.wilson_interval(10, 10)
    assert hi == pytest.approx(1) and lo == pytest.approx(0.7225, abs=1e-4)
    lo, hi = stats.wilson_interval(np.array([5, 50]), np.array([10, 100]))
    assert (hi - lo)[1] < (hi - lo)[0]  # more images, narrower
    assert np.isnan(stats.wilson_interval(0, 0)[0])
    with pytest.raises(ValueError):
        stats.wilson_interval(3, 2)


def test_weighted_auc_equals_rank_auc_with_ties_and_duplicates():
    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=300), 1)
    lab = rng.random(300) < 0.25
    assert metrics.auc_mann_whitney(s, lab, weights=np.ones(300)) == pytest.approx(metrics.auc_mann_whitney(s, lab))
    w = rng.integers(0, 3, 300).astype(float)  # integer weights = repeated samples
    rep = np.repeat(np.arange(300), w.astype(int))
    assert metrics.auc_mann_whitney(s, lab, weights=w) == pytest.approx(metrics.auc_mann_whitney(s[rep], lab[rep]))


def test_auc_interval_covers_and_narrows():
    rng = np.random.default_rng(1)
    n_img, n_cam = 60, 5
    lab = np.tile(np.eye(n_cam, dtype=bool)[0], n_img)
    g = np.repeat(np.arange(n_img), n_cam)
    s = rng.normal(size=lab.size) + 1.0 * lab
    a, lo, hi = stats.auc_interval(s, lab, g, n_boot=500, seed=0)
    assert lo < a < hi and 0.5 < lo
    assert stats.auc_interval(s, lab, g, n_boot=500, seed=0) == (a, lo, hi)  # seeded


def test_mcnemar_counts_discordant_pairs():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 0, 0], bool)
    r = stats.mcnemar(a, b)
    assert (r["a_only"], r["b_only"], r["n"]) == (2, 1, 5)
    assert r["p_value"] == pytest.approx(1.0)
    assert stats.mcnemar(a, a)["p_value"] == 1.0
    with pytest.raises(ValueError):
        stats.mcnemar(a, b[:3])


def _table(method, good, n=40, seed=None, rng=None):
    rows = []
    for i in range(n):
        ok = rng.random() < good
        rows += [(method, f"i{i}", "x", "x", 0.9 if ok else 0.1), (method, f"i{i}", "x", "y", 0.5)]
    t = pd.DataFrame(rows, columns=["method", "image", "true_device", "candidate_device", "ncc"])
    return t if seed is None else t.assign(seed=seed)


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(3)
    t = pd.concat([_table("A", 0.9, rng=rng), _table("B", 0.3, rng=rng)])
    r = stats.paired_bootstrap(t, "acc", "A", "B", n_boot=400)
    assert r["ci_low"] > 0 and r["diff"] == pytest.approx(r["a"] - r["b"]) and r["n_images"] == 40
    same = pd.concat([t[t.method == "A"], t[t.method == "A"].assign(method="C")])
    r0 = stats.paired_bootstrap(same, "acc", "A", "C", n_boot=400)
    assert r0["diff"] == 0 and r0["ci_low"] == 0 == r0["ci_high"]
    ra = stats.paired_bootstrap(t, "auc", "A", "B", n_boot=400)
    assert ra["ci_low"] > 0
    assert r["verdict"] == "beats" and stats.verdict(r["ci_low"], r["ci_high"]).startswith("CSI-CNN beats")


def test_paired_bootstrap_uses_every_seed():
    rng = np.random.default_rng(4)
    seeds = pd.concat([_table("A", p, seed=s, rng=rng) for s, p in enumerate((0.2, 0.9, 0.5))])
    base = _table("B", 0.5, rng=rng)
    r = stats.paired_bootstrap(pd.concat([seeds, base]), "acc", "A", "B", n_boot=300)
    assert r["n_seeds_a"] == 3 and r["n_seeds_b"] == 1
    assert r["a"] == pytest.approx(np.mean([((g[g.candidate_device == "x"].ncc > 0.5).mean())
                                            for _, g in seeds.groupby("seed")]))


def test_paired_bootstrap_share_of_the_headroom_closed():
    # A halfway between the wavelet-like B and the oracle-like O closes half the headroom; the same replicates
    # give each method its own interval and the share's interval
    rng = np.random.default_rng(5)
    n = 200
    b_ok = rng.random(n) < 0.4
    o_ok = b_ok | (rng.random(n) < 0.9)  # the ceiling: right wherever B is, and on most others
    a_ok = b_ok | (o_ok & ~b_ok & (np.arange(n) % 2 == 0))  # half of the images only O gets right

    def table(method, ok):
        rows = [(method, f"i{i}", "x", c, (0.9 if k else 0.1) if c == "x" else 0.5)
                for i, k in enumerate(ok) for c in ("x", "y")]
        return pd.DataFrame(rows, columns=["method", "image", "true_device", "candidate_device", "ncc"])

    t = pd.concat([table("A", a_ok), table("B", b_ok), table("O", o_ok)])
    r = stats.paired_bootstrap(t, "acc", "A", "B", n_boot=500, ceiling="O")
    assert r["ceiling"] == pytest.approx(o_ok.mean())
    expected = (a_ok.mean() - b_ok.mean()) / (o_ok.mean() - b_ok.mean())
    assert r["closed"] == pytest.approx(expected) and 0.4 < expected < 0.6
    assert r["closed_low"] < r["closed"] < r["closed_high"] and r["closed_high"] - r["closed_low"] < 0.3
    assert r["a_low"] < r["a"] < r["a_high"] and r["b_low"] < r["b"] < r["b_high"]
    assert r["ceiling_low"] < r["ceiling"] < r["ceiling_high"]
    plain = stats.paired_bootstrap(t, "acc", "A", "B", n_boot=500)
    assert "closed" not in plain and plain["ci_low"] == r["ci_low"]  # the ceiling changes nothing else
