"""Intervals and paired tests for the paper's metrics: every ACC and AUC with its n and a 95 % interval.

* :func:`wilson_interval`: the interval of a proportion (closed-set accuracy, Eq. 9 / Table 3).
* :func:`auc_interval`: a bootstrap interval of the AUC (Eq. 12) that resamples *images*, since every image
  contributes one score per candidate camera and those scores are not independent.
* :func:`mcnemar`: the exact McNemar test of two methods' per-image correctness on the same images.
* :func:`paired_bootstrap`: the interval of a difference between two methods (ACC or AUC), resampling images
  and, when several training seeds exist, seeds as well. A method "beats" another only when the whole
  interval of the difference lies above 0.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference. JASA 22, 209-212.
McNemar, Q. (1947). Note on the sampling error of the difference between correlated proportions.
Efron, B. and Tibshirani, R. (1993). An Introduction to the Bootstrap (percentile intervals).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["wilson_interval", "weighted_auc", "auc_interval", "mcnemar", "paired_bootstrap", "verdict",
           "format_ci"]

_Z95 = 1.959963984540054


def wilson_interval(k: int | np.ndarray, n: int | np.ndarray, z: float = _Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``k / n`` (95 % by default).

    Parameters
    ----------
    k, n : int or array of int
        Successes and trials (``0 <= k <= n``); ``n == 0`` gives NaN.
    z : float
        Normal quantile (1.96 for 95 %).

    Returns
    -------
    (low, high) : float or arrays of float in [0, 1]

    Examples
    --------
    >>> lo, hi = wilson_interval(45, 50)
    >>> round(float(lo), 3), round(float(hi), 3)
    (0.786, 0.957)
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("wilson_interval needs 0 <= k <= n")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    lo = np.where(n > 0, lo, np.nan)
    hi = np.where(n > 0, hi, np.nan)
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC (Mann-Whitney, Eq. 12, ties count 1/2) for one or many weightings of the same samples.

    Parameters
    ----------
    scores : (n,) float
    labels : (n,) bool
        True for positive samples.
    weights : (n,) or (B, n) float
        Non-negative sample weights (bootstrap counts); one AUC per row.

    Returns
    -------
    float or (B,) float64 in [0, 1]; NaN where a row has no positive or no negative weight.

    Examples
    --------
    >>> float(weighted_auc(np.array([0.9, 0.1, 0.5]), np.array([True, False, False]), np.ones(3)))
    1.0
    """
    s = np.asarray(scores, np.float64)
    lab = np.asarray(labels, bool)
    w = np.atleast_2d(np.asarray(weights, np.float64))
    order = np.argsort(s, kind="stable")
    s, lab, w = s[order], lab[order], w[:, order]
    # groups of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    wneg = np.where(lab, 0.0, w)
    wpos = np.where(lab, w, 0.0)
    neg_group = np.add.reduceat(wneg, starts, axis=1)
    pos_group = np.add.reduceat(wpos, starts, axis=1)
    neg_below = np.cumsum(neg_group, axis=1) - neg_group
    num = (pos_group * (neg_below + 0.5 * neg_group)).sum(1)
    den = pos_group.sum(1) * neg_group.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return float(out[0]) if np.ndim(weights) == 1 else out


def _image_weights(groups: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap counts per sample: images (groups) drawn with replacement, ``(n_boot, n_samples)``."""
    uniq, inv = np.unique(groups, return_inverse=True)
    draws = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
    counts = np.zeros((n_boot, len(uniq)))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, inv]


def auc_interval(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """AUC with a percentile bootstrap interval that resamples images (``groups``), not single scores.

    Parameters
    ----------
    scores, labels : (n,) arrays
        One sample per image x candidate camera; label True when the candidate is the source.
    groups : (n,) array
        The image each sample belongs to.
    n_boot : int
    seed : int
    level : float

    Returns
    -------
    (auc, low, high) : floats

    References
    ----------
    Wang et al. (2021), Eq. 12 and Fig. 4.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(40), 5); lab = np.tile([True, False, False, False, False], 40)
    >>> s = rng.normal(size=200) + 2 * lab
    >>> a, lo, hi = auc_interval(s, lab, g, n_boot=200)
    >>> lo < a < hi
    True
    """
    rng = np.random.default_rng(seed)
    full = weighted_auc(scores, labels, np.ones(len(scores)))
    boots = weighted_auc(scores, labels, _image_weights(np.asarray(groups), n_boot, rng))
    a = (1 - level) / 2
    lo, hi = np.nanquantile(boots, [a, 1 - a])
    return float(full), float(lo), float(hi)


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float]:
    """Exact McNemar test: do methods A and B differ in per-image correctness on the same images?

    Parameters
    ----------
    correct_a, correct_b : (n,) bool
        Whether each method attributed each image to its true camera (same images, same order).

    Returns
    -------
    dict
        ``n``, ``a_only`` (A right, B wrong), ``b_only``, ``p_value`` (two-sided exact binomial on the
        discordant pairs; 1.0 when there are none).

    Examples
    --------
    >>> r = mcnemar(np.array([1, 1, 1, 1, 1, 1, 1, 0], bool), np.array([0, 0, 0, 0, 0, 0, 0, 0], bool))
    >>> r["a_only"], r["b_only"], round(r["p_value"], 4)
    (7, 0, 0.0156)
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a, bool)
    b = np.asarray(correct_b, bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"correct_a and correct_b must be 1-D and of the same length, got {a.shape}, {b.shape}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"n": int(a.size), "a_only": a_only, "b_only": b_only, "p_value": p}


def paired_bootstrap(table: pd.DataFrame, metric: str, a: str, b: str, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """Interval of ``metric(a) - metric(b)`` over the same images, resampling images and seeds.

    Parameters
    ----------
    table : pandas.DataFrame
        Long scores: ``method``, ``image``, ``true_device``, ``candidate_device``, ``ncc`` and optionally
        ``seed`` (a method trained with several seeds has one block per seed; a method without seeds, such
        as the wavelet, has one block that every seed draw reuses).
    metric : {"acc", "auc"}
        Closed-set accuracy (argmax, Table 3) or verification AUC (Eq. 12, Fig. 4).
    a, b : str
        The two methods.
    n_boot, seed, level

    Returns
    -------
    dict
        ``a``, ``b`` (metric of each on all data, averaged over seeds), ``diff``, ``ci_low``, ``ci_high``,
        ``n_images``, ``n_seeds_a``, ``n_seeds_b``.

    Examples
    --------
    >>> rows = [(m, f"i{i}", "x", c, v) for i in range(30) for m, good in (("A", 1.0), ("B", 0.0))
    ...         for c, v in (("x", good), ("y", 0.5))]
    >>> t = pd.DataFrame(rows, columns=["method", "image", "true_device", "candidate_device", "ncc"])
    >>> r = paired_bootstrap(t, "acc", "A", "B", n_boot=100)
    >>> r["diff"], r["ci_low"] > 0
    (1.0, True)
    """
    if metric not in ("acc", "auc"):
        raise ValueError(f"metric must be 'acc' or 'auc', got {metric!r}")
    # a method without seeds (the wavelet) may have no seed column, or NaN in a stacked table
    t = table.assign(seed=table["seed"].fillna(-1)) if "seed" in table.columns else table.assign(seed=0)
    blocks = {m: _blocks(t[t["method"] == m], metric) for m in (a, b)}
    for m, blk in blocks.items():
        if not blk:
            raise ValueError(f"no scores for method {m!r}")
    images = sorted(set.intersection(*(set(v["images"]) for blk in blocks.values() for v in blk.values())))
    if not images:
        raise ValueError("the two methods share no image")
    rng = np.random.default_rng(seed)
    n = len(images)
    draws = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    vals = {}
    point = {}
    for m, blk in blocks.items():
        seeds = sorted(blk)
        per_seed_full, per_seed_boot = [], []
        for s in seeds:
            full, boot = _metric_with_weights(blk[s], images, counts, metric)
            per_seed_full.append(full)
            per_seed_boot.append(boot)
        point[m] = float(np.mean(per_seed_full))
        boot = np.stack(per_seed_boot)  # (n_seeds, n_boot)
        pick = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
        vals[m] = boot[pick, np.arange(n_boot)[:, None]].mean(1)  # seeds resampled per replicate
    d = vals[a] - vals[b]
    q = (1 - level) / 2
    lo, hi = np.nanquantile(d, [q, 1 - q])
    return {"a": point[a], "b": point[b], "diff": point[a] - point[b], "ci_low": float(lo), "ci_high": float(hi),
            "n_images": n, "n_seeds_a": len(blocks[a]), "n_seeds_b": len(blocks[b])}


def _blocks(t: pd.DataFrame, metric: str) -> dict:
    out = {}
    for s, g in t.groupby("seed", sort=True):
        piv = g.pivot_table(index="image", columns="candidate_device", values="ncc", aggfunc="first")
        true = g.drop_duplicates("image").set_index("image")["true_device"].reindex(piv.index).astype(str)
        cams = [str(c) for c in piv.columns]
        out[s] = {"images": list(piv.index), "scores": piv.to_numpy(np.float64),
                  "true": np.array([cams.index(x) if x in cams else -1 for x in true]), "cams": cams}
    return out


def _metric_with_weights(blk: dict, images: Sequence, counts: np.ndarray, metric: str):
    idx = {im: i for i, im in enumerate(blk["images"])}
    rows = np.array([idx[im] for im in images])
    s, ti = blk["scores"][rows], blk["true"][rows]
    if metric == "acc":
        ok = (ti >= 0) & (s.argmax(1) == ti)
        full = float(ok.mean())
        boot = counts @ ok / counts.sum(1)
        return full, boot
    n_img, n_cam = s.shape
    lab = np.zeros_like(s, dtype=bool)
    lab[np.arange(n_img)[ti >= 0], ti[ti >= 0]] = True
    flat_s, flat_l = s.ravel(), lab.ravel()
    w = np.repeat(counts, n_cam, axis=1)
    return weighted_auc(flat_s, flat_l, np.ones(flat_s.size)), weighted_auc(flat_s, flat_l, w)


def verdict(ci_low: float, ci_high: float, a: str = "CSI-CNN", b: str = "the wavelet") -> str:
    """The sentence for a difference interval: "beats" only when the whole 95 % interval lies above 0.

    Examples
    --------
    >>> verdict(0.01, 0.08)
    'CSI-CNN beats the wavelet'
    >>> verdict(-0.05, 0.02)
    'no significant difference between CSI-CNN and the wavelet'
    """
    if ci_low > 0:
        return f"{a} beats {b}"
    if ci_high < 0:
        return f"{a} loses to {b}"
    return f"no significant difference between {a} and {b}"


def format_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.812 [0.750, 0.866]"``.

    Examples
    --------
    >>> format_ci(0.5, 0.25, 0.75, 2)
    '0.50 [0.25, 0.75]'
    """
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
