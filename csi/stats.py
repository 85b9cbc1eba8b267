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
from scipy.stats import binomtest

from .metrics import auc_mann_whitney, closed_set_accuracy

__all__ = ["wilson_interval", "auc_interval", "mcnemar", "paired_bootstrap", "VERDICTS", "verdict_category",
           "verdict", "format_ci"]

#: The categories of a comparison's ``verdict`` column: A beats B, A loses to B, or no difference.
VERDICTS: tuple[str, ...] = ("beats", "loses", "no difference")

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
    full = auc_mann_whitney(scores, labels, weights=np.ones(len(scores)))
    boots = auc_mann_whitney(scores, labels, weights=_image_weights(np.asarray(groups), n_boot, rng))
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
    a = np.asarray(correct_a, bool)
    b = np.asarray(correct_b, bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"correct_a and correct_b must be 1-D and of the same length, got {a.shape}, {b.shape}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"n": int(a.size), "a_only": a_only, "b_only": b_only, "p_value": p}


def paired_bootstrap(table: pd.DataFrame, metric: str, a: str, b: str, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95, ceiling: str | None = None) -> dict[str, float]:
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
    ceiling : str, optional
        A third method (the oracle): adds its metric ``ceiling`` (``ceiling_low``, ``ceiling_high``: its interval)
        and the share of the headroom ``a`` closes,
        ``(a - b) / (ceiling - b)``, as ``closed``, ``closed_low``, ``closed_high`` (same replicates; NaN where
        the headroom is 0).

    Returns
    -------
    dict
        ``a``, ``b`` (metric of each on all data, averaged over seeds), ``diff``, ``ci_low``, ``ci_high``,
        ``verdict`` (:func:`verdict_category`), ``n_images``, ``n_seeds_a``, ``n_seeds_b``, and each method's own
        interval from the same replicates, ``a_low, a_high, b_low, b_high``.

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
    blocks = {m: _blocks(t[t["method"] == m], metric) for m in (a, b, *([ceiling] if ceiling else []))}
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
    out = {"a": point[a], "b": point[b], "diff": point[a] - point[b], "ci_low": float(lo), "ci_high": float(hi),
           "verdict": verdict_category(lo, hi), "n_images": n, "n_seeds_a": len(blocks[a]),
           "n_seeds_b": len(blocks[b])}
    for k, m in (("a", a), ("b", b)):  # each method's own interval, from the same replicates
        out[f"{k}_low"], out[f"{k}_high"] = (float(v) for v in np.nanquantile(vals[m], [q, 1 - q]))
    if ceiling:
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(vals[ceiling] != vals[b], d / (vals[ceiling] - vals[b]), np.nan)
            room = point[ceiling] - point[b]
        flo, fhi = np.nanquantile(f, [q, 1 - q]) if np.isfinite(f).any() else (np.nan, np.nan)
        clo, chi = np.nanquantile(vals[ceiling], [q, 1 - q])
        out |= {"ceiling": point[ceiling], "ceiling_low": float(clo), "ceiling_high": float(chi),
                "closed": out["diff"] / room if room else np.nan, "closed_low": float(flo), "closed_high": float(fhi)}
    return out


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
        return closed_set_accuracy(s, ti), closed_set_accuracy(s, ti, weights=counts)
    n_img, n_cam = s.shape
    lab = np.zeros_like(s, dtype=bool)
    lab[np.arange(n_img)[ti >= 0], ti[ti >= 0]] = True
    flat_s, flat_l = s.ravel(), lab.ravel()
    w = np.repeat(counts, n_cam, axis=1)
    return (auc_mann_whitney(flat_s, flat_l, weights=np.ones(flat_s.size)),
            auc_mann_whitney(flat_s, flat_l, weights=w))


def verdict_category(ci_low: float, ci_high: float) -> str:
    """The verdict of a difference ``A - B`` from its interval: "beats" when the whole interval lies above 0,
    "loses" when it lies below, else "no difference" (:data:`VERDICTS`; also for an undefined, NaN, interval).

    Examples
    --------
    >>> verdict_category(0.01, 0.08), verdict_category(-0.05, 0.02), verdict_category(-0.2, -0.1)
    ('beats', 'no difference', 'loses')
    """
    lo, hi = float(ci_low), float(ci_high)
    if lo > hi:
        raise ValueError(f"ci_low must be <= ci_high, got [{ci_low}, {ci_high}]")
    return "beats" if lo > 0 else "loses" if hi < 0 else "no difference"


def verdict(ci_low: float, ci_high: float, a: str = "CSI-CNN", b: str = "the wavelet") -> str:
    """The sentence of :func:`verdict_category` for reading.

    Examples
    --------
    >>> verdict(0.01, 0.08)
    'CSI-CNN beats the wavelet'
    """
    return {"beats": f"{a} beats {b}", "loses": f"{a} loses to {b}",
            "no difference": f"no significant difference between {a} and {b}"}[verdict_category(ci_low, ci_high)]


def format_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.812 [0.750, 0.866]"``.

    Examples
    --------
    >>> format_ci(0.5, 0.25, 0.75, 2)
    '0.50 [0.25, 0.75]'
    """
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
