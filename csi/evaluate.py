"""The one evaluation API: residual extractors, the evaluation table, and every metric from that table.

:func:`evaluate` turns a method (``"wavelet"``, ``"dncnn"``, ``"csi-cnn"`` or any callable
``image -> (H, W) residual``), a set of test images and the camera fingerprints into one tidy table
with a row per image and candidate camera (``image, true_device, candidate_device, ncc, pce``). Closed-set
accuracy (Table 3), ROC (Fig. 5), AUC (Fig. 4) and correlation matrices (Table 2, Fig. 3) are all computed
from that table by the functions below, so every notebook scores every method the same way.

One detector for all methods: the residual ``W`` of the (centre-cropped) query is correlated with the
camera fingerprint ``K`` (the paper's rho; ``reference="K"``) or with ``I * K`` (``reference="IK"``, the
established PRNU detector), resampled and cropped identically for every method. The same gray
conversion and post-processing options (CFA zero-mean, DFT Wiener) apply to every extractor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import models, prnu, wavelet
from .cache import code_digest
from .checkpoints import load_model
from .config import check_choice, check_keys, select_device
from .io import ImageReadError, read_rgb
from .metrics import auc_mann_whitney, closed_set_accuracy
from .models import CSICNN, DnCNN, export_inference_model, predict_tiled, receptive_radius
from .prnu import (
    GRAY_WEIGHTS,
    align_fingerprint,
    common_centre,
    crop_box,
    fingerprint_window,
    ncc,
    ncc_matrix,
    noise_residual,
    pce,
    postprocess,
    rgb_to_gray,
    unit_rows,
)
from .progress import bar
from .runtime import torch_runtime

log = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "REFERENCES",
    "Extractor",
    "align_fingerprint",
    "fingerprint_window",
    "get_extractor",
    "evaluate",
    "score_matrix",
    "accuracy_table",
    "auc_table",
]

METHODS: tuple[str, ...] = ("wavelet", "dncnn", "csi-cnn")
REFERENCES: tuple[str, ...] = ("K", "IK")
_CACHE_VERSION = "2"
#: Noise level (0-255 scale) the wavelet filter assumes for a *query*: 3, as the reference pipeline uses for test
#: images (fingerprint images: 5). It won on every condition of docs/residual.md's downscaling study.
QUERY_SIGMA: float = 3.0
#: Options of :func:`get_extractor` (besides method, checkpoint, device).
EXTRACTOR_OPTIONS: tuple[str, ...] = ("sigma", "levels", "wavelet", "zero_mean", "wiener", "tile", "boundary",
                                      "shifts")


class Extractor:
    """A residual extractor: ``extractor(image) -> (H, W) float32``, with a :attr:`key` for caching.

    Parameters
    ----------
    fn : callable
        ``(H, W, 3)`` uint8/float 0-255 image -> ``(H, W)`` residual.
    key : str or None
        Stable description of the method and its options; None disables on-disk caching. The residual
        cache adds the digest of the code of :mod:`csi.prnu` and :mod:`csi.models` to it.
    name : str
    halo : int
        Context in pixels the extractor needs on each side of a crop: :func:`evaluate` runs it on the crop
        enlarged by ``halo`` (clipped at the image border) and keeps the crop, so a CNN sees real pixels
        instead of its zero padding at the crop border. 0 for the wavelet filter (which, as in the
        established pipeline, works on the crop itself).
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], key: str | None, name: str, halo: int = 0):
        self.fn, self.key, self.name = fn, key, name
        if not isinstance(halo, (int, np.integer)) or halo < 0:
            raise ValueError(f"halo must be a non-negative int, got {halo!r}")
        self.halo = int(halo)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image must have shape (H, W, 3), got {img.shape}")
        out = np.asarray(self.fn(img), dtype=np.float32)
        if out.shape != img.shape[:2]:
            raise ValueError(f"extractor {self.name!r} returned shape {out.shape}, expected {img.shape[:2]}")
        return out

    def __repr__(self) -> str:
        return f"Extractor({self.name!r}, key={self.key!r})"


def _file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _cnn_runner(model: torch.nn.Module, dev: str, tile: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Fast inference: BN folded, channels-last, inference mode, tiles of ``tile`` pixels."""
    fast = export_inference_model(model).to(dev).to(memory_format=torch.channels_last)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = x.to(dev).contiguous(memory_format=torch.channels_last)
            return predict_tiled(fast, x, tile=tile if dev == "cpu" else None).float().cpu()

    return run


def get_extractor(method: str | Callable, checkpoint: str | os.PathLike | None = None, device: str = "auto",
                  *, sigma: float | None = None, levels: int = 4, wavelet: str = "db4", zero_mean: bool = True,
                  wiener: bool = True, tile: int | None = 512, boundary: str = "symmetric",
                  shifts: int = 2) -> Extractor:
    """Residual extractor for a method; every method gets the same gray conversion and post-processing.

    * ``"wavelet"``: :func:`csi.prnu.noise_residual` (Mihcak wavelet filter per channel, Eq. 3-4,
      then gray / zero-mean / DFT-Wiener).
    * ``"dncnn"``: the trained DnCNN's noise estimate per colour channel (x 255), then
      :func:`csi.prnu.rgb_to_gray` and :func:`csi.prnu.postprocess`.
    * ``"csi-cnn"``: CSI-CNN's one-channel output, then :func:`csi.prnu.postprocess`.
    * a callable ``image -> (H, W)``: used as is (its ``cache_key`` attribute, if any, enables caching).

    CNNs run through the fast path (BatchNorm folded into the convolutions, channels-last, inference
    mode; images larger than ``tile`` go in exact halo tiles so memory stays bounded); it equals plain
    eager float32 within 1e-4 (speed: docs/performance.md).

    Parameters
    ----------
    method : {"wavelet", "dncnn", "csi-cnn"} or callable
    checkpoint : path or None
        Checkpoint of the trained network (``"dncnn"`` and ``"csi-cnn"``), e.g. from
        :func:`csi.train.get_or_train`.
    device : {"auto", "cpu", "cuda", "mps"}
    sigma, levels, wavelet : wavelet filter options (``"wavelet"`` only); ``sigma`` None is
        :data:`QUERY_SIGMA` (3, the reference pipeline's value for test images).
    boundary, shifts : DWT boundary handling and cycle-spinning shifts of the wavelet filter (``"wavelet"``
        only; see :func:`csi.prnu.wavelet_residual` and ``docs/residual.md``).
    zero_mean, wiener : bool
        Post-processing applied to every method's gray residual.
    tile : int or None
        CNN tile side on CPU (None: always one pass); bounds the activations of large images.

    Returns
    -------
    Extractor
        ``(H, W, 3)`` image, uint8 or float on 0-255 -> ``(H, W)`` float32 residual.

    References
    ----------
    Wang et al. (2021), Eq. 3-4 and Sec. 4.2.1.

    Examples
    --------
    >>> ex = get_extractor(lambda im: im[..., 1] - im[..., 1].mean())
    >>> ex(np.zeros((8, 8, 3), np.uint8)).shape
    (8, 8)
    """
    if callable(method) and not isinstance(method, str):
        name = getattr(method, "__name__", type(method).__name__)
        # keyed by the callable's code (its source, bytecode, defaults and captured values), so editing a
        # residual extractor in a notebook cell recomputes its residuals
        return Extractor(method, f"callable:{name}:{code_digest(method)}", name, halo=int(getattr(method, "halo", 0)))
    check_choice("method", method, METHODS)
    post = {"zero_mean": bool(zero_mean), "wiener": bool(wiener)}
    if method == "wavelet":
        opts = {"sigma": float(QUERY_SIGMA if sigma is None else sigma), "levels": int(levels), "wavelet": str(wavelet), "boundary": str(boundary),
                "shifts": int(shifts), **post}

        def wav(img: np.ndarray) -> np.ndarray:
            return noise_residual(img, **opts)

        return Extractor(wav, "wavelet:" + json.dumps(opts, sort_keys=True), "wavelet")
    if checkpoint is None:
        raise ValueError(f"method {method!r} needs a checkpoint (see csi.train.get_or_train)")

    dev = select_device(device)
    model = load_model(checkpoint, device="cpu")
    want = CSICNN if method == "csi-cnn" else DnCNN
    if not isinstance(model, want):
        raise ValueError(f"checkpoint {checkpoint} holds a {type(model).__name__}, not a {want.__name__}")
    run = _cnn_runner(model, dev, tile)
    key = f"{method}:{_file_digest(checkpoint)}:" + json.dumps(post, sort_keys=True)

    def to_tensor(img: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
        return t.div_(255.0).unsqueeze(0)

    if method == "csi-cnn":
        def csicnn(img: np.ndarray) -> np.ndarray:
            r = run(to_tensor(img))[0, 0].numpy()
            return postprocess(r, **post)

        return Extractor(csicnn, key, "csi-cnn", halo=receptive_radius(model))

    def dncnn(img: np.ndarray) -> np.ndarray:
        x = to_tensor(img)
        noise = torch.cat([run(x[:, c:c + 1]) for c in range(3)], 1)[0]  # (3, H, W) on 0-1
        res = noise.permute(1, 2, 0).numpy() * 255.0
        return postprocess(rgb_to_gray(res), **post)

    return Extractor(dncnn, key, "dncnn", halo=receptive_radius(model))


def _check_crop(crop: Any) -> None:
    if crop is None:
        return
    vals = (crop,) if isinstance(crop, (int, np.integer)) else tuple(crop) if isinstance(crop, (tuple, list)) else None
    if vals is None or len(vals) not in (1, 2) or any(not isinstance(v, (int, np.integer)) or v < 8 for v in vals):
        raise ValueError(f"crop must be None, an int >= 8 or a pair (h, w) of such ints, got {crop!r}")


def _residual_cache_path(cache_dir: Path, key: str, path: str, box: tuple[int, ...]) -> Path:
    st = os.stat(path)
    ident = json.dumps([_CACHE_VERSION, os.path.abspath(path), st.st_mtime_ns, st.st_size, list(box)])
    method_dir = hashlib.sha1((key + "|" + _code_key()).encode()).hexdigest()[:16]
    return cache_dir / method_dir / (hashlib.sha1(ident.encode()).hexdigest()[:24] + ".npy")


def _code_key() -> str:
    """Digest of the code every residual depends on (filters, post-processing, networks, this module)."""
    return code_digest(prnu, wavelet, models, crop_box, _halo_box)


def _halo_box(shape: tuple[int, int], box: tuple[int, int, int, int], halo: int) -> tuple[int, int, int, int]:
    """``box`` enlarged by ``halo`` on every side, clipped to an image of ``shape``."""
    h, w = shape
    y0, y1, x0, x1 = box
    return max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)


def evaluate(method: str | Callable | Extractor, images_df: pd.DataFrame, fingerprints: Mapping[str, np.ndarray],
             crop: int | tuple[int, int] | None = 512, *, reference: str = "K",
             checkpoint: str | os.PathLike | None = None, device: str = "auto",
             cache_dir: str | os.PathLike | None = "data/cache/residuals",
             extractor_options: Mapping[str, Any] | None = None, pce_search: int = 0,
             with_pce: bool = True, progress: bool = True) -> pd.DataFrame:
    """Score every test image against every camera fingerprint: the one evaluation table.

    For each image (decoded once with :func:`csi.io.read_rgb`, landscape): the centre crop (``crop``,
    clamped to the image; ``None`` = whole image) is passed to the extractor; each fingerprint is aligned
    to the image (:func:`align_fingerprint`: rotated for portrait, resampled for a platform's downscaled
    copy) and cropped at the same place; then ``ncc`` (the paper's rho, :func:`csi.prnu.ncc`) and
    ``pce`` (:func:`csi.prnu.pce`) of the residual with the reference (``K``, or ``I * K`` with ``I`` the
    gray crop). An extractor with a ``halo`` (the CNNs: their receptive radius) runs on the crop enlarged
    by that many pixels and its residual is cut back to the crop, so the network never sees its own zero
    padding where the image goes on. Residuals are cached on disk per method configuration and code, file
    (path, mtime, size) and crop, so no notebook recomputes them. Unreadable images are skipped and listed
    in ``table.attrs["skipped"]``.

    Parameters
    ----------
    method : {"wavelet", "dncnn", "csi-cnn"}, callable or Extractor
    images_df : pandas.DataFrame
        Columns ``path`` and ``device`` (true camera); a ``platform`` column is carried into the table.
    fingerprints : dict str -> ndarray
        ``(H, W)`` float32 camera fingerprints.
    crop : int, (int, int) or None
        Centre crop (the paper uses centre crops); None evaluates the whole image (CNNs run in tiles).
    reference : {"K", "IK"}
        Correlate with K (paper) or with I*K; applied equally to every method.
    checkpoint : path or None
        For ``"dncnn"`` / ``"csi-cnn"``.
    device : {"auto", "cpu", "cuda", "mps"}
    cache_dir : path or None
        Residual cache; None disables it.
    extractor_options : dict or None
        Passed to :func:`get_extractor` (``sigma, levels, wavelet, zero_mean, wiener, tile``).
    pce_search : int
        PCE peak search radius (0: peak at zero shift).
    with_pce : bool
        Compute the PCE column (an FFT per image and camera); False fills it with NaN, which is much faster
        with many cameras when only the NCC is needed.
    progress : bool

    Returns
    -------
    pandas.DataFrame
        One row per (image, candidate camera): ``image`` (path str), ``true_device``,
        ``candidate_device``, ``ncc`` (float in [-1, 1]), ``pce`` (float), ``method`` and, if present in
        ``images_df``, ``platform``. ``attrs``: ``skipped`` (list of (path, reason)), ``method``,
        ``reference``, ``crop``.

    References
    ----------
    Wang et al. (2021), Sec. 4.2-4.3 (correlation with the Eq. 5 fingerprint, centre crops).

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> d = Path(tempfile.mkdtemp()); rng = np.random.default_rng(0)
    >>> PIL.Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / "a.png")
    >>> K = {"cam": rng.normal(size=(32, 32)).astype(np.float32), "other": rng.normal(size=(32, 32)).astype(np.float32)}
    >>> t = evaluate(lambda im: im[..., 0] - 128.0, pd.DataFrame({"path": [str(d / "a.png")], "device": ["cam"]}),
    ...              K, crop=None, cache_dir=None, progress=False)
    >>> list(t.columns[:5]), len(t)
    (['image', 'true_device', 'candidate_device', 'ncc', 'pce'], 2)
    """

    check_choice("reference", reference, REFERENCES)
    _check_crop(crop)
    if not isinstance(images_df, pd.DataFrame) or not {"path", "device"} <= set(images_df.columns):
        raise ValueError("images_df must be a DataFrame with columns 'path' and 'device'")
    if not isinstance(fingerprints, Mapping) or not fingerprints:
        raise ValueError("fingerprints must be a non-empty dict device -> (H, W) array")
    for dev, K in fingerprints.items():
        if np.ndim(K) != 2:
            raise ValueError(f"fingerprints[{dev!r}] must be 2-D (H, W), got shape {np.shape(K)}")
    opts = dict(extractor_options or {})
    check_keys("extractor_options", opts, EXTRACTOR_OPTIONS)
    if isinstance(method, Extractor):
        extractor = method
    else:
        extractor = get_extractor(method, checkpoint=checkpoint, device=device, **opts)
    cache = Path(cache_dir) if cache_dir is not None and extractor.key is not None else None
    cams = list(fingerprints)
    unknown = sorted(set(images_df["device"].astype(str)) - set(cams))
    if unknown:
        log.warning("images of cameras without a fingerprint (scored as negatives only): %s", ", ".join(unknown))
    has_platform = "platform" in images_df.columns
    # a CNN runs with every core and glibc's heap kept between images (docs/performance.md)

    stack = ExitStack()
    if extractor.halo > 0:
        stack.enter_context(torch_runtime())
    with stack:
        rows, skipped, hits = _score_images(images_df, extractor, fingerprints, cams, crop, cache, reference,
                                            with_pce, pce_search, progress, has_platform)
    if skipped:
        log.warning("evaluate skipped %d of %d images: %s", len(skipped), len(images_df),
                    "; ".join(f"{p}: {r}" for p, r in skipped[:5]))
    if cache is not None:
        log.info("residual cache: %d of %d images reused", hits, len(images_df) - len(skipped))
    cols = ["image", "true_device", "candidate_device", "ncc", "pce"]
    table = pd.DataFrame(rows, columns=cols + (["platform"] if has_platform else []))
    table.insert(5, "method", extractor.name)
    table.attrs.update({"skipped": skipped, "method": extractor.name, "reference": reference,
                        "crop": crop})
    return table


def _score_images(images_df, extractor, fingerprints, cams, crop, cache, reference, with_pce, pce_search, progress,
                  has_platform):
    """The image loop of :func:`evaluate`: rows of (image, candidate) scores, skipped files, cache hits."""
    aligned: dict[tuple, np.ndarray] = {}
    stacked: dict[tuple, np.ndarray | None] = {}
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    hits = 0
    for rec in bar(list(images_df.itertuples(index=False)), enabled=progress, desc=f"evaluate {extractor.name}",
                   unit="img"):
        path, true = str(rec.path), str(rec.device)
        try:
            img = read_rgb(path)
        except ImageReadError as exc:
            skipped.append((path, exc.reason if hasattr(exc, "reason") else str(exc)))
            continue
        box = crop_box(img.shape[:2], crop)
        y0, y1, x0, x1 = box
        part = img[y0:y1, x0:x1]
        outer = _halo_box(img.shape[:2], box, extractor.halo)
        W = None
        cfile = _residual_cache_path(cache, extractor.key, path, box + outer) if cache is not None else None
        if cfile is not None and cfile.exists():
            try:
                W = np.load(cfile)
                hits += 1
            except (OSError, ValueError):
                W = None
        if W is None:
            if outer == box:
                W = extractor(part)
            else:
                a0, a1, b0, b1 = outer
                W = np.ascontiguousarray(extractor(img[a0:a1, b0:b1])[y0 - a0:y1 - a0, x0 - b0:x1 - b0])
            if cfile is not None:
                cfile.parent.mkdir(parents=True, exist_ok=True)
                tmp = cfile.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, W)
                os.replace(tmp, cfile)
        intensity = None
        if reference == "IK":
            intensity = part.astype(np.float32) @ np.asarray(GRAY_WEIGHTS, np.float32)
        skey = (img.shape[:2], box)
        if intensity is None and not with_pce and skey not in stacked:
            wins = [fingerprint_window(fingerprints[c], img.shape[:2], box) for c in cams]
            stacked[skey] = unit_rows(wins) if all(w.shape == W.shape for w in wins) else None
        if intensity is None and not with_pce and stacked[skey] is not None:
            vals = ncc_matrix(W[None], stacked[skey], normalised=True)[0]  # every candidate at once
            for cam, v in zip(cams, vals, strict=True):
                rows.append({"image": path, "true_device": true, "candidate_device": cam, "ncc": float(v),
                             "pce": float("nan")})
            if has_platform:
                for r in rows[-len(cams):]:
                    r["platform"] = rec.platform
            continue
        for cam in cams:
            k = (cam, img.shape[:2], box)
            if k not in aligned:
                aligned[k] = fingerprint_window(fingerprints[cam], img.shape[:2], box)
                if aligned[k].shape != W.shape:
                    log.warning("%s: fingerprint of %r does not cover the image (sensor too small); "
                                "scored on the common centre %s", path, cam, aligned[k].shape)
            ref = aligned[k] if intensity is None else np.multiply(*common_centre(intensity, aligned[k]))
            Wc, refc = common_centre(W, ref)
            row = {"image": path, "true_device": true, "candidate_device": cam, "ncc": float(ncc(Wc, refc)),
                   "pce": float(pce(Wc, refc, search=pce_search)) if with_pce else float("nan")}
            rows.append(row)
        if has_platform:
            for r in rows[-len(cams):]:
                r["platform"] = rec.platform
    return rows, skipped, hits


def _check_table(table: pd.DataFrame, score: str) -> None:
    need = {"image", "true_device", "candidate_device", score}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise ValueError(f"table must be an evaluate() DataFrame with columns {sorted(need)}")
    check_choice("score", score, ("ncc", "pce"))


def score_matrix(table: pd.DataFrame, score: str = "ncc") -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Scores as a matrix.

    Returns
    -------
    scores : numpy.ndarray
        ``(n_images, n_cameras)`` float64.
    true_index : numpy.ndarray
        ``(n_images,)`` int, column of the true camera, -1 if it is not a candidate.
    cameras : list of str
        Column order (sorted).
    images : list of str
        Row order.

    Examples
    --------
    >>> t = pd.DataFrame({"image": ["a", "a"], "true_device": ["x", "x"], "candidate_device": ["x", "y"],
    ...                   "ncc": [0.3, 0.1]})
    >>> s, ti, cams, ims = score_matrix(t)
    >>> s.tolist(), ti.tolist(), cams
    ([[0.3, 0.1]], [0], ['x', 'y'])
    """
    _check_table(table, score)
    piv = table.pivot_table(index="image", columns="candidate_device", values=score, aggfunc="first", sort=True)
    if piv.isna().any().any():
        raise ValueError("table is incomplete: some image lacks a score for some candidate camera")
    true = table.drop_duplicates("image").set_index("image")["true_device"].reindex(piv.index)
    cams = [str(c) for c in piv.columns]
    pos = {c: i for i, c in enumerate(cams)}
    ti = np.array([pos.get(str(t), -1) for t in true], dtype=int)
    return piv.to_numpy(np.float64), ti, cams, [str(i) for i in piv.index]


def _groups(table: pd.DataFrame, by: Sequence[str] | str | None):
    if by is None:
        by = [c for c in ("method", "platform") if c in table.columns]
    elif isinstance(by, str):
        by = [by]
    by = list(by)
    if not by:
        yield (), table
        return
    for key, sub in table.groupby(by, sort=False):
        yield (key if isinstance(key, tuple) else (key,)), sub


def accuracy_table(table: pd.DataFrame, score: str = "ncc", by: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Closed-set accuracy (Table 3): an image counts as correct when its own camera scores highest.

    Parameters
    ----------
    table : DataFrame from :func:`evaluate` (several may be concatenated).
    score : {"ncc", "pce"}
    by : column name(s) to group by; default the ``method`` and ``platform`` columns present.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, acc, n_images``; images whose camera is not a candidate are left out (logged).

    References
    ----------
    Wang et al. (2021), Eq. 9 and Table 3 (argmax rule).
    """
    _check_table(table, score)
    out = []
    for key, sub in _groups(table, by):
        s, ti, _, _ = score_matrix(sub, score)
        keep = ti >= 0
        if not keep.all():
            log.warning("accuracy: %d images whose camera has no fingerprint are left out", int((~keep).sum()))
        acc = float(closed_set_accuracy(s[keep], ti[keep])) if keep.any() else float("nan")
        out.append((*key, acc, int(keep.sum())))
    return pd.DataFrame(out, columns=[*_by_names(table, by), "acc", "n_images"])


def _by_names(table: pd.DataFrame, by) -> list[str]:
    if by is None:
        return [c for c in ("method", "platform") if c in table.columns]
    return [by] if isinstance(by, str) else list(by)


def _labels(sub: pd.DataFrame) -> np.ndarray:
    return (sub["true_device"].astype(str) == sub["candidate_device"].astype(str)).to_numpy()


def auc_table(table: pd.DataFrame, score: str = "ncc", by: Sequence[str] | str | None = None) -> pd.DataFrame:
    """AUC (Fig. 4): every (image, candidate) row is a sample, positive when the candidate is the source.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, auc, n_pos, n_neg``.

    References
    ----------
    Wang et al. (2021), Eq. 12 (Mann-Whitney), Fig. 4.
    """
    _check_table(table, score)
    out = []
    for key, sub in _groups(table, by):
        lab = _labels(sub)
        auc = float(auc_mann_whitney(sub[score].to_numpy(np.float64), lab)) if 0 < lab.sum() < len(lab) else float("nan")
        out.append((*key, auc, int(lab.sum()), int((~lab).sum())))
    return pd.DataFrame(out, columns=[*_by_names(table, by), "auc", "n_pos", "n_neg"])
