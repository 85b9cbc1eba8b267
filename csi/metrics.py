"""Evaluation metrics of the paper (Eq. 9-12): closed-set accuracy, verification counts, ROC, AUC.

Definitions used throughout (the standard ones):

* a *positive* is a (image, camera) pair where the image was taken by the camera; ``labels`` is 1/True for
  positives and 0/False for negatives;
* a pair is *accepted* (predicted positive) when its ``score >= threshold``;
* TP = positives accepted, FN = positives rejected, FP = negatives accepted, TN = negatives rejected.

The paper's text (Sec. 4.2.2) swaps the wording of FN and TN: it calls "images that did not belong to the
camera and were classified as not belonging" FN, and "images taken by the camera but classified as not
taken by it" TN. With that wording Eq. 9-11 would not be accuracy, FPR and TPR; the formulas only make sense
with the standard definitions above, which this module uses.

References
----------
Wang et al. (2021), Eq. 9 (ACC), Eq. 10-11 (FPR, TPR), Eq. 12 (AUC by the Mann-Whitney rank formula),
Table 3 (closed-set accuracy), Fig. 4-5 (AUC, ROC).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "closed_set_accuracy",
    "closed_set_predictions",
    "verification_counts",
    "accuracy",
    "roc_curve",
    "auc_mann_whitney",
]


def _scores_1d(scores, name: str = "scores") -> np.ndarray:
    arr = np.asarray(scores)
    if arr.dtype == object or arr.dtype.kind not in "uifb":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN at index {int(np.flatnonzero(np.isnan(arr))[0])}")
    return arr


def _labels_1d(labels, n: int, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"scores and {name} have different lengths: {n} and {arr.shape[0]}")
    if arr.dtype == bool:
        return arr
    if arr.dtype == object or arr.dtype.kind not in "uif":
        raise TypeError(f"{name} must be bool or 0/1, got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        raise ValueError(f"{name} must be bool or 0/1, found {arr[bad][0]!r} at index {int(np.flatnonzero(bad)[0])}")
    return arr.astype(bool)


def _both_classes(labels: np.ndarray, name: str = "labels") -> tuple[int, int]:
    n_pos = int(labels.sum())
    n_neg = int(labels.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        only = "positives" if n_neg == 0 else "negatives"
        raise ValueError(f"{name} contains a single class (only {only}); ROC/AUC need both")
    return n_pos, n_neg


def closed_set_predictions(scores) -> np.ndarray:
    """Predicted camera of each image: the argmax of its row of ``(n_images, n_cameras)`` scores (Table 3's rule).

    Returns ``(n_images,)`` int64 column indices; ties go to the lowest index.

    Examples
    --------
    >>> closed_set_predictions([[0.1, 0.3], [0.5, 0.2]])
    array([1, 0])
    """
    arr = np.asarray(scores)
    if arr.dtype == object or arr.dtype.kind not in "uifb":
        raise TypeError(f"scores must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"scores must be a non-empty (n_images, n_cameras) array, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        row = int(np.flatnonzero(np.isnan(arr).any(axis=1))[0])
        raise ValueError(f"scores contains NaN (row {row})")
    return np.argmax(arr, axis=1).astype(np.int64)


def closed_set_accuracy(scores, true_index, weights=None):
    """Closed-set accuracy (Eq. 9 as Table 3 uses it): the share of images whose best-scoring camera is the true one.

    Parameters
    ----------
    scores : array_like
        ``(n_images, n_cameras)`` float scores; higher means more likely the source.
    true_index : array_like
        ``(n_images,)`` ints in ``[-1, n_cameras)``: column of each image's true camera; -1 when it is not a
        candidate (never correct).
    weights : array_like, optional
        ``(n_images,)`` or ``(B, n_images)`` non-negative image weights (bootstrap counts).

    Returns
    -------
    float, or ``(B,)`` float64 for 2-D ``weights``
        In ``[0, 1]``.

    Examples
    --------
    >>> closed_set_accuracy([[0.1, 0.3], [0.5, 0.2], [0.0, 0.1]], [1, 0, 0])
    0.6666666666666666
    >>> closed_set_accuracy([[0.1, 0.3], [0.5, 0.2]], [1, 1], weights=[[1, 1], [2, 0]]).tolist()
    [0.5, 1.0]
    """
    pred = closed_set_predictions(scores)
    n_cams = np.shape(scores)[1]
    true = np.asarray(true_index)
    if true.ndim != 1 or true.shape[0] != pred.shape[0]:
        raise ValueError(f"true_index must have shape ({pred.shape[0]},), got {true.shape}")
    if true.dtype.kind not in "ui" or true.dtype == bool:
        raise TypeError(f"true_index must hold ints, got dtype {true.dtype}")
    if (true < -1).any() or (true >= n_cams).any():
        raise ValueError(f"true_index values must be in [0, {n_cams}) or -1, got min {true.min()} max {true.max()}")
    correct = pred == true
    if weights is None:
        return float(np.mean(correct))
    w = np.asarray(weights, np.float64)
    if w.shape[-1] != correct.size or w.ndim > 2:
        raise ValueError(f"weights must have shape ({correct.size},) or (B, {correct.size}), got {w.shape}")
    out = w @ correct / w.sum(-1)
    return float(out) if w.ndim == 1 else out


def verification_counts(scores, labels, threshold: float) -> dict[str, int]:
    """TP/FP/TN/FN of the detector ``score >= threshold`` (standard definitions, see the module notes).

    ``scores``: ``(n,)`` float, no NaN; ``labels``: ``(n,)`` bool or 0/1, 1 when the image comes from the camera.

    Examples
    --------
    >>> verification_counts([0.9, 0.2, 0.6, 0.1], [1, 1, 0, 0], 0.5)
    {'TP': 1, 'FP': 1, 'TN': 1, 'FN': 1}
    """
    s = _scores_1d(scores)
    y = _labels_1d(labels, s.size)
    t = float(threshold)
    if np.isnan(t):
        raise ValueError("threshold is NaN")
    accept = s >= t
    return {"TP": int(np.sum(accept & y)), "FP": int(np.sum(accept & ~y)), "TN": int(np.sum(~accept & ~y)),
            "FN": int(np.sum(~accept & y))}


def accuracy(counts) -> float:
    """Eq. 9 as printed, for a thresholded detector: ``ACC = (TP + TN) / (TP + FN + TN + FP)``.

    Examples
    --------
    >>> accuracy({"TP": 3, "FP": 1, "TN": 4, "FN": 2})
    0.7
    """
    try:
        tp, fp, tn, fn = (counts[k] for k in ("TP", "FP", "TN", "FN"))
    except (KeyError, TypeError):
        raise ValueError(f"counts must be a mapping with keys TP, FP, TN, FN, got {counts!r}") from None
    values = (tp, fp, tn, fn)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in values):
        raise ValueError(f"counts must be non-negative ints, got {dict(zip(('TP', 'FP', 'TN', 'FN'), values, strict=True))}")
    total = tp + fp + tn + fn
    if total == 0:
        raise ValueError("counts are all zero; accuracy is undefined")
    return float((tp + tn) / total)


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve (Fig. 5): FPR (Eq. 10) and TPR (Eq. 11) at every distinct score used as threshold.

    ``scores``: ``(n,)`` float, no NaN; ``labels``: ``(n,)`` bool or 0/1, both classes present. Returns ``fpr,
    tpr, thresholds``, ``(m + 1,)`` float64 for the ``m`` distinct scores in decreasing order, from ``(0, 0)``
    (threshold ``+inf``) to ``(1, 1)``; point ``i`` accepts ``score >= thresholds[i]`` (as
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``).

    Examples
    --------
    >>> fpr, tpr, thr = roc_curve([0.9, 0.2, 0.6, 0.1], [1, 1, 0, 0])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    s = _scores_1d(scores)
    y = _labels_1d(labels, s.size)
    n_pos, n_neg = _both_classes(y)
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # Last index of each run of equal scores: all pairs with that score switch together.
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    fpr = np.r_[0.0, fp / n_neg]
    tpr = np.r_[0.0, tp / n_pos]
    thresholds = np.r_[np.inf, s_sorted[last]]
    return fpr, tpr, thresholds


def auc_mann_whitney(scores, labels, weights=None):
    """Area under the ROC curve (Eq. 12) by the Mann-Whitney formula, ties counting 1/2.

    ``AUC = (sum_{i in positives} rank_i - M (M + 1) / 2) / (M N)`` with ``M`` positives, ``N`` negatives and
    *ascending* ranks, ties averaged; it equals the trapezoidal area under :func:`roc_curve`. (The paper says
    "descending rank", which gives ``1 - AUC``.) With ``weights`` (bootstrap counts) the same statistic is
    ``sum_{pos, neg} w_p w_n [s_p > s_n] + 1/2 [s_p = s_n]`` over ``sum w_p sum w_n``.

    Parameters
    ----------
    scores : array_like
        ``(n,)`` float scores, no NaN.
    labels : array_like
        ``(n,)`` bool or 0/1, both classes present.
    weights : array_like, optional
        ``(n,)`` or ``(B, n)`` non-negative sample weights; one AUC per row.

    Returns
    -------
    float, or ``(B,)`` float64 for 2-D ``weights`` (NaN where a row weighs no positive or no negative)
        In ``[0, 1]``; 0.5 for a detector that cannot separate the classes.

    Examples
    --------
    >>> auc_mann_whitney([0.9, 0.2, 0.6, 0.1], [1, 1, 0, 0])
    0.75
    >>> auc_mann_whitney([0.9, 0.2, 0.6, 0.1], [1, 1, 0, 0], weights=[1, 1, 0, 1])
    1.0
    """
    s = _scores_1d(scores)
    y = _labels_1d(labels, s.size)
    if weights is not None:
        return _weighted_auc(s, y, weights)
    m, n = _both_classes(y)
    ranks = rankdata(s, method="average")
    return float((ranks[y].sum() - m * (m + 1) / 2.0) / (m * n))


def _weighted_auc(s: np.ndarray, lab: np.ndarray, weights) -> float | np.ndarray:
    """:func:`auc_mann_whitney` with ``(n,)`` or ``(B, n)`` weights: tie groups and cumulative negative weight."""
    w = np.atleast_2d(np.asarray(weights, np.float64))
    if w.shape[-1] != s.size or w.ndim > 2:
        raise ValueError(f"weights must have shape ({s.size},) or (B, {s.size}), got {np.shape(weights)}")
    order = np.argsort(s, kind="stable")
    s, lab, w = s[order], lab[order], w[:, order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]  # groups of tied scores
    neg_group = np.add.reduceat(np.where(lab, 0.0, w), starts, axis=1)
    pos_group = np.add.reduceat(np.where(lab, w, 0.0), starts, axis=1)
    neg_below = np.cumsum(neg_group, axis=1) - neg_group
    num = (pos_group * (neg_below + 0.5 * neg_group)).sum(1)
    den = pos_group.sum(1) * neg_group.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return float(out[0]) if np.ndim(weights) == 1 else out


def downsample_roc(fpr, tpr, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``n`` points of a ROC curve, for storing and drawing (compute the AUC on the full curve).

    The curve from :func:`roc_curve` is read at ``n + 1`` FPR values evenly spaced in [0, 1], keeping the
    largest TPR reached at each: the staircase from above, never a better detector than the data. Returns
    ``(fpr, tpr)`` float64 of length ``n + 1`` at most.

    Examples
    --------
    >>> f, t = downsample_roc(np.linspace(0, 1, 5001), np.sqrt(np.linspace(0, 1, 5001)), n=100)
    >>> len(f) <= 101, float(f[0]), float(f[-1]), float(t[-1])
    (True, 0.0, 1.0, 1.0)
    """
    f = np.asarray(fpr, np.float64)
    t = np.asarray(tpr, np.float64)
    if f.shape != t.shape or f.ndim != 1 or f.size == 0:
        raise ValueError(f"fpr and tpr must be 1-D arrays of the same length, got {f.shape} and {t.shape}")
    if int(n) < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    grid = np.linspace(0.0, 1.0, int(n) + 1)
    # largest TPR among the points with FPR <= g (the curve is non-decreasing in both)
    idx = np.searchsorted(f, grid, side="right") - 1
    out_t = np.where(idx >= 0, t[np.clip(idx, 0, None)], 0.0)
    keep = np.r_[True, np.diff(out_t) != 0]
    keep[-1] = True
    # keep both ends of every flat stretch so the staircase shape survives
    keep |= np.r_[np.diff(out_t) != 0, True]
    return grid[keep], out_t[keep]
