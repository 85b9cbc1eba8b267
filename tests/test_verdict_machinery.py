"""The machinery behind every "beats": the paired bootstrap, Eq. 9, Eq. 5, failed fingerprints, detector scales.

Each test is independent of the code it checks: exact distributions enumerated by hand, plain numpy versions of
the equations, and the committed tables cross-checked against each other.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi import metrics, prnu, stats

#: The committed CSVs hold 6 significant digits (csi.figures.save_table): two rounded values differ by < 2e-6.
CSV_ATOL = 2e-6
ROOT = Path(__file__).resolve().parents[1]


def _table(correct_by_seed: dict[tuple[str, int], np.ndarray]) -> pd.DataFrame:
    """Scores of two candidate cameras per image: the true one "x" scores 1 when the method is right, else 0."""
    rows = []
    for (method, seed), ok in correct_by_seed.items():
        for i, good in enumerate(ok):
            rows += [(method, seed, f"i{i}", "x", "x", float(good)), (method, seed, f"i{i}", "x", "y", 1.0 - good)]
    return pd.DataFrame(rows, columns=["method", "seed", "image", "true_device", "candidate_device", "ncc"])


def _exact_quantile(values: np.ndarray, probs: np.ndarray, q: float) -> float:
    """Smallest value whose cumulative probability reaches ``q`` (a discrete distribution)."""
    order = np.argsort(values)
    cdf = np.cumsum(probs[order])
    return float(values[order][np.searchsorted(cdf, q - 1e-12)])


# ------------------------------------------------------------------------------------------ paired bootstrap


def test_paired_bootstrap_interval_matches_the_exact_resampling_distribution():
    # per-image difference okA - okB takes -1, 0, 1; the resampled mean of n draws has an exact lattice
    # distribution (n-fold convolution). The interval's tails must sit at its 2.5 % and 97.5 % points.
    n = 1000
    rng = np.random.default_rng(3)
    kinds = rng.choice(3, size=n, p=[0.15, 0.55, 0.30])  # 0: only B right, 1: both or neither, 2: only A right
    ok_a = (kinds == 2) | ((kinds == 1) & (np.arange(n) % 2 == 0))
    ok_b = (kinds == 0) | ((kinds == 1) & (np.arange(n) % 2 == 0))
    t = _table({("A", 0): ok_a, ("B", 0): ok_b})
    r = stats.paired_bootstrap(t, "acc", "A", "B", n_boot=8000, seed=5)
    step = np.bincount(kinds, minlength=3) / n  # P(-1), P(0), P(+1)
    pmf = np.array([1.0])
    for _ in range(n):
        pmf = np.convolve(pmf, step)
    values = np.arange(-n, n + 1) / n  # the mean difference
    cdf = np.cumsum(pmf)
    below = lambda x: float(cdf[np.searchsorted(values, x - 1e-12) - 1])  # noqa: E731  P(D < x)
    at = lambda x: float(cdf[np.searchsorted(values, x + 1e-12) - 1])  # noqa: E731  P(D <= x)
    assert r["diff"] == pytest.approx(ok_a.mean() - ok_b.mean(), abs=1e-12)
    # ci_low is a 2.5 % point: P(D < lo) <= 2.5 % <= P(D <= lo), up to the Monte Carlo error of 8000 draws
    assert below(r["ci_low"]) <= 0.025 + 0.006 and at(r["ci_low"]) >= 0.025 - 0.006
    assert below(r["ci_high"]) <= 0.975 + 0.006 and at(r["ci_high"]) >= 0.975 - 0.006


def test_paired_bootstrap_tiny_case_by_enumerating_every_resample():
    # three images, method A right on two, B on none: 27 equally likely resamples of the images
    ok_a, ok_b = np.array([1, 1, 0], bool), np.zeros(3, bool)
    diffs = np.array([ok_a[list(c)].mean() - ok_b[list(c)].mean() for c in itertools.product(range(3), repeat=3)])
    probs = np.full(diffs.size, 1 / diffs.size)
    r = stats.paired_bootstrap(_table({("A", 0): ok_a, ("B", 0): ok_b}), "acc", "A", "B", n_boot=4000, seed=0)
    assert r["ci_low"] == _exact_quantile(diffs, probs, 0.025) == 0.0  # P(D = 0) = 1/27 > 2.5 %
    assert r["ci_high"] == _exact_quantile(diffs, probs, 0.975) == 1.0  # P(D = 1) = 8/27
    assert r["verdict"] == "no difference"


def test_paired_bootstrap_resamples_seeds_when_their_spread_dominates():
    # five seeds of A, each right on every image or on none: image resampling changes nothing, so the whole
    # interval comes from resampling the seeds (5**5 equally likely draws, enumerated here).
    n = 40
    seeds = [1, 1, 0, 0, 0]
    t = _table({**{("A", s): np.full(n, bool(v)) for s, v in enumerate(seeds)}, ("B", -1): np.ones(n, bool)})
    r = stats.paired_bootstrap(t, "acc", "A", "B", n_boot=4000, seed=1)
    means = np.array([np.mean([seeds[i] for i in c]) for c in itertools.product(range(5), repeat=5)]) - 1.0
    probs = np.full(means.size, 1 / means.size)
    assert r["diff"] == pytest.approx(np.mean(seeds) - 1.0)
    assert r["n_seeds_a"] == 5 and r["n_seeds_b"] == 1
    assert r["ci_low"] == pytest.approx(_exact_quantile(means, probs, 0.025))  # -1.0: P = 0.6**5 = 7.8 %
    assert r["ci_high"] == pytest.approx(_exact_quantile(means, probs, 0.975))  # -0.2: P(D <= -0.2) = 99 %
    assert r["ci_high"] - r["ci_low"] > 0.5


def test_paired_bootstrap_has_nominal_coverage_on_simulated_data():
    # 200 replications of 80 images; true accuracies 0.75 and 0.60, so the true difference is 0.15
    rng = np.random.default_rng(11)
    reps, n, truth = 200, 80, 0.15
    hits = 0
    for k in range(reps):
        ok_a, ok_b = rng.random(n) < 0.75, rng.random(n) < 0.60
        r = stats.paired_bootstrap(_table({("A", 0): ok_a, ("B", 0): ok_b}), "acc", "A", "B", n_boot=400, seed=k)
        hits += r["ci_low"] <= truth <= r["ci_high"]
    tol = 3 * np.sqrt(0.95 * 0.05 / reps)  # three binomial standard errors
    assert abs(hits / reps - 0.95) <= tol, f"coverage {hits / reps:.3f}"


@pytest.mark.parametrize("lo, hi, want", [(0.01, 0.2, "beats"), (-0.2, -0.01, "loses"), (-0.1, 0.1, "no difference"),
                                          (0.0, 0.3, "no difference"), (np.nan, np.nan, "no difference")])
def test_verdict_category_from_the_interval(lo, hi, want):
    assert stats.verdict_category(lo, hi) == want
    assert want in stats.VERDICTS


def test_verdict_category_rejects_a_reversed_interval():
    with pytest.raises(ValueError, match="ci_low"):
        stats.verdict_category(0.2, 0.1)


# ------------------------------------------------------------------------------------------------ Eq. 9 and 12


def test_closed_set_accuracy_is_the_argmax_rule_against_a_loop():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(60, 5))
    true = rng.integers(0, 5, 60)
    scores[np.arange(60), true] += 1.0  # the true camera usually, not always, scores highest
    loop = np.mean([max(range(5), key=lambda c, row=row: row[c]) == t for row, t in zip(scores, true, strict=True)])
    assert metrics.closed_set_accuracy(scores, true) == loop
    assert 0.5 < loop < 1.0  # informative: the inverted rule would give a low value
    w = rng.integers(0, 3, (4, 60)).astype(float)
    ok = np.array([max(range(5), key=lambda c, row=row: row[c]) == t for row, t in zip(scores, true, strict=True)])
    np.testing.assert_allclose(metrics.closed_set_accuracy(scores, true, weights=w), (w * ok).sum(1) / w.sum(1))


def test_weighted_and_rank_auc_agree():
    rng = np.random.default_rng(4)
    s = np.round(rng.normal(size=200), 1)  # many ties
    lab = rng.random(200) < 0.3
    assert metrics.auc_mann_whitney(s, lab, weights=np.ones(200)) == pytest.approx(metrics.auc_mann_whitney(s, lab),
                                                                                    abs=1e-12)
    pairs = [(p, q) for p in s[lab] for q in s[~lab]]
    assert metrics.auc_mann_whitney(s, lab) == pytest.approx(np.mean([(p > q) + 0.5 * (p == q) for p, q in pairs]))


# ------------------------------------------------------------------------------------------------------ Eq. 5


def test_estimate_fingerprint_is_eq5_with_the_intensity_weight():
    # K = sum W_k I_k / (sum I_k^2 + 1) per channel, I_k = I / 252 below saturation, then gray and postprocess
    rng = np.random.default_rng(8)
    K_true = rng.normal(0, 0.02, (48, 64, 1))
    imgs = [np.clip(rng.uniform(30, 240, (48, 64, 3)) * (1 + K_true) + rng.normal(0, 1, (48, 64, 3)), 0, 240)
            .astype(np.uint8) for _ in range(5)]
    num = sum(prnu.wavelet_residual(im, shifts=1).astype(np.float64) * (im / 252.0) for im in imgs)
    den = sum((im / 252.0) ** 2 for im in imgs)
    want = prnu.postprocess(prnu.rgb_to_gray(num / (den + 1.0)))
    got = prnu.estimate_fingerprint(imgs)
    assert prnu.ncc(got, want) > 1 - 1e-6
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_black_and_saturated_flats_are_skipped_with_a_reason(caplog):
    rng = np.random.default_rng(9)
    good = [rng.integers(40, 200, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    black, white = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    with caplog.at_level("WARNING"):
        K, info = prnu.estimate_fingerprint([good[0], black, white, good[1]], return_info=True, name="cam-7")
    assert info["n_images"] == 2 and [i for i, _, _ in info["skipped"]] == [1, 2]
    assert all("no usable pixel" in reason for _, _, reason in info["skipped"])
    assert "cam-7" in caplog.text
    np.testing.assert_array_equal(K, prnu.estimate_fingerprint(good))  # the skipped flats added nothing


def test_a_fingerprint_with_no_usable_pixel_raises_naming_the_camera():
    with pytest.raises(ValueError, match="cam-3.*no usable image"):
        prnu.estimate_fingerprint([np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)],
                                  name="cam-3")
    with pytest.raises(ValueError, match="cam-4 is all zero"):
        prnu.fingerprint_from_sums(np.zeros((3, 16, 16)), np.ones((3, 16, 16)), name="cam-4")


# -------------------------------------------------------------------------------------------- detector scales


@pytest.mark.parametrize("scale", [1e-200, 1e200, 2.0**-700, 2.0**700])
def test_ncc_and_pce_at_any_input_scale(scale):
    rng = np.random.default_rng(12)
    a = rng.standard_normal((32, 40))
    b = a + rng.standard_normal((32, 40))
    refs = np.stack([b, rng.standard_normal((32, 40))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = (prnu.ncc(a * scale, b * scale), prnu.pce(a * scale, b, search=2),
               prnu.ncc_matrix((a * scale)[None], refs * scale))
    want = (prnu.ncc(a, b), prnu.pce(a, b, search=2), prnu.ncc_matrix(a[None], refs))
    assert got[0] == pytest.approx(want[0], rel=1e-12) and 0.5 < want[0] < 1
    assert got[1] == pytest.approx(want[1], rel=1e-9) and want[1] > 50
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12)


def test_ncc_matrix_is_ncc_for_every_pair():
    rng = np.random.default_rng(13)
    res, refs = rng.standard_normal((4, 16, 24)).astype(np.float32), rng.standard_normal((3, 16, 24))
    refs[2] = 5.0  # a constant reference scores 0
    m = prnu.ncc_matrix(res, refs)
    assert m.shape == (4, 3) and m.dtype == np.float64
    np.testing.assert_allclose(m, [[prnu.ncc(r, k) for k in refs] for r in res], atol=1e-14)
    np.testing.assert_array_equal(prnu.ncc_matrix(res, prnu.unit_rows(refs), normalised=True), m)


# ------------------------------------------------------------------------------- the committed Table 3 agrees


def test_committed_table3_accuracy_and_paired_differences_agree():
    # accuracy_long.csv (notebook 06's inline argmax) and csicnn_minus_wavelet.csv (stats.paired_bootstrap, the
    # library's Eq. 9) are computed by two routes from the same scores: their CSI-CNN - wavelet must agree.
    f = ROOT / "figures" / "06_table3_accuracy"
    acc = pd.read_csv(f / "accuracy_long.csv")
    paired = pd.read_csv(f / "csicnn_minus_wavelet.csv").set_index(["dataset", "platform"])
    wide = acc.pivot_table(index=["dataset", "platform"], columns="method", values="acc").reindex(paired.index)
    np.testing.assert_allclose(paired["diff"], wide["csi-cnn"] - wide["wavelet"], rtol=0, atol=CSV_ATOL)
    assert ((paired.ci_low <= paired["diff"] + 1e-12) & (paired["diff"] <= paired.ci_high + 1e-12)).all()
    want = [stats.verdict_category(lo, hi) for lo, hi in zip(paired.ci_low, paired.ci_high, strict=True)]
    # categories once notebook 06 has rerun; the sentence of the same category before
    got = [v if v in stats.VERDICTS else next(c for c in stats.VERDICTS if stats.verdict(*_example(c)) == v)
           for v in paired.verdict]
    assert got == want


def _example(category: str) -> tuple[float, float]:
    return {"beats": (0.1, 0.2), "loses": (-0.2, -0.1), "no difference": (-0.1, 0.1)}[category]


def test_committed_fig4_auc_and_paired_differences_agree():
    f = ROOT / "figures" / "07_fig4_fig5_roc_auc"
    auc = pd.read_csv(f / "fig4_auc.csv").pivot_table(index=["dataset", "platform"], columns="method", values="auc")
    paired = pd.read_csv(f / "fig4_auc_csicnn_minus_wavelet.csv").set_index(["dataset", "platform"])
    for m, col in (("csi-cnn", "csi_cnn"), ("wavelet", "wavelet")):
        np.testing.assert_allclose(auc[m].reindex(paired.index), paired[col], rtol=0, atol=CSV_ATOL)


def test_committed_claim_check_and_its_differences_agree():
    # differences.csv (stats.paired_bootstrap, seeds averaged) against claim_check.csv (one row per seed); the
    # reference from before issue 16 has one learned extractor (column csi_cnn), the newer one a method column
    f = ROOT / "figures" / "09_claim_check"
    cc, diffs = pd.read_csv(f / "claim_check.csv"), pd.read_csv(f / "differences.csv")
    if "learned" not in diffs.columns:
        diffs = diffs.rename(columns={"csi_cnn": "learned"}).assign(method="csi-cnn", target="fingerprint")
        cc = cc.assign(target="fingerprint")
    keys = ["method", "platform", "regime", "target", "pairs"]
    learned = cc[cc.method.isin(set(diffs.method))].groupby(keys)[["acc", "auc"]].mean()
    wav = cc[cc.method == "wavelet"].set_index("platform")[["acc", "auc"]]
    for metric in ("acc", "auc"):
        d = diffs[diffs.metric == metric].set_index(keys)
        np.testing.assert_allclose(d.learned, learned[metric].reindex(d.index), rtol=0, atol=CSV_ATOL)
        np.testing.assert_allclose(d.wavelet, wav[metric].reindex(d.index.get_level_values("platform")), rtol=0,
                                   atol=CSV_ATOL)
        np.testing.assert_allclose(d["diff"], d.learned - d.wavelet, rtol=0, atol=CSV_ATOL)
