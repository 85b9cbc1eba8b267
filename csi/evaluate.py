"""The one evaluation API: residual extractors, the evaluation table (:func:`evaluate`, one row per image and
candidate camera) and the metrics computed from it (Table 2-3, Fig. 3-5), the same for every method."""

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
from .models import CSICNN, DnCNN, RGBToGray, export_inference_model, predict_tiled, receptive_radius
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

METHODS: tuple[str, ...] = ("wavelet", "dncnn", "csi-cnn", "dncnn-cosine")
REFERENCES: tuple[str, ...] = ("K", "IK")
_CACHE_VERSION = "2"
#: Noise level (0-255) the wavelet filter assumes for a query (fingerprint images: 5; docs/residual.md).
QUERY_SIGMA: float = 3.0
EXTRACTOR_OPTIONS: tuple[str, ...] = ("sigma", "levels", "wavelet", "zero_mean", "wiener", "tile", "boundary",
                                      "shifts")


class Extractor:
    """A residual extractor: ``(H, W, 3)`` 0-255 image -> ``(H, W)`` float32, with a cache :attr:`key` (None: off).

    ``halo``: pixels of context on each side of a crop the extractor runs on (a CNN's receptive radius; 0 wavelet).
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
    """Residual extractor for ``"wavelet"`` (Eq. 3-4), ``"dncnn"``, ``"csi-cnn"`` or a callable (Sec. 4.2.1).

    ``sigma`` None is :data:`QUERY_SIGMA`; ``tile``: CNN tile side on CPU (None: one pass). ``"dncnn-cosine"``
    (a gray DnCNN of ``get_or_train("dncnn-cosine")``): ``postprocess(model(gray(image)))`` as CSI-CNN's.

    Examples
    --------
    >>> ex = get_extractor(lambda im: im[..., 1] - im[..., 1].mean())
    >>> ex(np.zeros((8, 8, 3), np.uint8)).shape
    (8, 8)
    """
    if callable(method) and not isinstance(method, str):
        name = getattr(method, "__name__", type(method).__name__)
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
    run = _cnn_runner(torch.nn.Sequential(RGBToGray(), model) if method == "dncnn-cosine" else model, dev, tile)
    key = f"{method}:{_file_digest(checkpoint)}:" + json.dumps(post, sort_keys=True)

    def to_tensor(img: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
        return t.div_(255.0).unsqueeze(0)

    if method != "dncnn":  # csi-cnn, dncnn-cosine: RGB in, one residual channel out
        def csicnn(img: np.ndarray) -> np.ndarray:
            r = run(to_tensor(img))[0, 0].numpy()
            return postprocess(r, **post)

        return Extractor(csicnn, key, method, halo=receptive_radius(model))

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
    """Score every test image (``path, device``) against every ``(H, W)`` fingerprint (Sec. 4.2-4.3).

    Returns one row per image and candidate: ``image, true_device, candidate_device, ncc, pce, method``
    (+ ``platform``); ``attrs["skipped"]`` lists unreadable files. ``reference``: ``"K"`` (paper) or ``"IK"``.

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
    """Scores ``(n_images, n_cameras)`` float64, true camera's column (-1: none), cameras (sorted), images.

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
    """Closed-set accuracy (Eq. 9, Table 3): columns ``*by, acc, n_images`` (default ``by``: method, platform)."""
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
    """AUC (Eq. 12, Fig. 4) over every (image, candidate) row: columns ``*by, auc, n_pos, n_neg``."""
    _check_table(table, score)
    out = []
    for key, sub in _groups(table, by):
        lab = _labels(sub)
        auc = float(auc_mann_whitney(sub[score].to_numpy(np.float64), lab)) if 0 < lab.sum() < len(lab) else float("nan")
        out.append((*key, auc, int(lab.sum()), int((~lab).sum())))
    return pd.DataFrame(out, columns=[*_by_names(table, by), "auc", "n_pos", "n_neg"])
