"""Tests of csi.metrics against brute-force definitions and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from csi import metrics

# Scores from a small integer set, so that ties are frequent; labels with both classes.
pairs = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(min_value=-3, max_value=3), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
    )
)
float_pairs = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
    )
)


def brute_auc(scores, labels):
    """P(score of a positive > score of a negative) + 0.5 P(tie), over all pairs."""
    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    pos, neg = s[y], s[~y]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


@settings(max_examples=150, deadline=None)
@given(pairs)
def test_auc_equals_sklearn_with_ties(data):
    scores, labels = data
    auc = metrics.auc_mann_whitney(scores, labels)
    assert auc == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert auc == pytest.approx(brute_auc(scores, labels), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(float_pairs)
def test_auc_equals_sklearn_and_trapezoid_of_roc(data):
    scores, labels = data
    auc = metrics.auc_mann_whitney(scores, labels)
    assert auc == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(scores, labels)
    assert auc == pytest.approx(float(np.trapezoid(tpr, fpr)), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(pairs)
def test_roc_curve_equals_sklearn(data):
    scores, labels = data
    fpr, tpr, thr = metrics.roc_curve(scores, labels)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_array_equal(thr[1:], sk_thr[1:])
    assert thr[0] == np.inf
    # Each point is the Eq. 10-11 rates of verification_counts at that threshold.
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:], strict=True):
        c = metrics.verification_counts(scores, labels, th)
        assert f == pytest.approx(c["FP"] / (c["FP"] + c["TN"]))
        assert t == pytest.approx(c["TP"] / (c["TP"] + c["FN"]))


@settings(max_examples=100, deadline=None)
@given(pairs, st.integers(-4, 4))
def test_verification_counts_match_definitions(data, threshold):
    scores, labels = data
    counts = metrics.verification_counts(scores, labels, threshold)
    expect = {"TP": 0, "FP": 0, "TN": 0, "FN": 0}
    for s, y in zip(scores, labels, strict=True):
        accepted = s >= threshold
        key = ("T" if accepted == y else "F") + ("P" if accepted else "N")
        expect[key] += 1
    assert counts == expect
    assert metrics.accuracy(counts) == pytest.approx((expect["TP"] + expect["TN"]) / len(scores))


def test_verification_counts_example_and_accuracy():
    counts = metrics.verification_counts([0.9, 0.8, 0.3, 0.7, 0.2], [1, 1, 1, 0, 0], 0.5)
    assert counts == {"TP": 2, "FP": 1, "TN": 1, "FN": 1}
    assert metrics.accuracy(counts) == pytest.approx(3 / 5)


def test_auc_known_values():
    assert metrics.auc_mann_whitney([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert metrics.auc_mann_whitney([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert metrics.auc_mann_whitney([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5


def test_closed_set_accuracy_against_loop():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((50, 6))
    true = rng.integers(0, 6, 50)
    scores[np.arange(50)[:25], true[:25]] += 3  # half of them clearly right
    expect = np.mean([int(np.argmax(row)) == t for row, t in zip(scores, true, strict=True)])
    assert metrics.closed_set_accuracy(scores, true) == pytest.approx(expect)
    assert metrics.closed_set_accuracy([[1.0, 1.0]], [0]) == 1.0  # ties go to the first camera
    np.testing.assert_array_equal(metrics.closed_set_predictions(scores), scores.argmax(axis=1))


def test_inputs_are_not_modified():
    scores = np.array([0.3, 0.1, 0.9, 0.5])
    labels = np.array([1, 0, 1, 0])
    grid = np.array([[0.1, 0.3], [0.5, 0.2]])
    copies = scores.copy(), labels.copy(), grid.copy()
    metrics.auc_mann_whitney(scores, labels)
    metrics.roc_curve(scores, labels)
    metrics.verification_counts(scores, labels, 0.4)
    metrics.closed_set_accuracy(grid, np.array([1, 0]))
    for a, b in zip((scores, labels, grid), copies, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: metrics.auc_mann_whitney([0.1, 0.2], [1, 1]), "single class"),
        (lambda: metrics.roc_curve([0.1, 0.2], [0, 0]), "single class"),
        (lambda: metrics.auc_mann_whitney([0.1, np.nan], [1, 0]), "NaN"),
        (lambda: metrics.roc_curve([0.1, np.nan, 0.3], [1, 0, 1]), "NaN"),
        (lambda: metrics.auc_mann_whitney([0.1, 0.2, 0.3], [1, 0]), "different lengths"),
        (lambda: metrics.verification_counts([0.1, 0.2], [1, 0, 1], 0.5), "different lengths"),
        (lambda: metrics.verification_counts([0.1, 0.2], [1, 2], 0.5), "0/1"),
        (lambda: metrics.verification_counts([0.1, 0.2], [1, 0], float("nan")), "threshold"),
        (lambda: metrics.auc_mann_whitney([], []), "empty"),
        (lambda: metrics.auc_mann_whitney([[0.1, 0.2]], [1, 0]), "1-D"),
        (lambda: metrics.closed_set_accuracy([[0.1, np.nan]], [0]), "NaN"),
        (lambda: metrics.closed_set_accuracy([0.1, 0.2], [0]), "n_images, n_cameras"),
        (lambda: metrics.closed_set_accuracy([[0.1, 0.2]], [2]), r"\[0, 2\)"),
        (lambda: metrics.closed_set_accuracy([[0.1, 0.2]], [0, 1]), "shape"),
        (lambda: metrics.accuracy({"TP": 1}), "keys"),
        (lambda: metrics.accuracy({"TP": 0, "FP": 0, "TN": 0, "FN": 0}), "zero"),
    ],
)
def test_bad_input_gives_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
