"""Training: CSI-CNN pairs (the paper's Fig. 2), the training loop, checkpoints, DnCNN denoiser training.

* :class:`PairSampler` cuts the paper's training pairs ``(label, I', K')`` from images held in memory
  (each image decoded once; originals and platform copies of any size may be mixed, with optional
  sampling weights, :func:`mix_weights`). Batches are assembled with vectorised gathers.
* :class:`ValidationSet` scores held-out images (typically platform copies) against every camera
  fingerprint the way the evaluation does (CNN on the crop plus a halo, post-processing, NCC) and
  reports the AUC and the mean true-camera correlation, overall and per platform.
* :func:`fit` trains CSI-CNN with Adam for a budget of training *pairs*, with the paper's step
  schedule scaled to the run length, a fixed number of evaluation points, CSV log and resumable
  checkpoints (state_dict + plain config, loadable with ``weights_only=True``).
* :func:`fit_denoiser` trains DnCNN as a blind Gaussian denoiser on the project's synthetic scenes.
* :func:`get_or_train` returns a cached checkpoint or trains it; the cache key covers the training
  parameters, the data (file lists, fingerprint contents) and the code.

Reading of the paper's schedule (Sec. 4.3): "iterates 100 epochs, and each iteration is 30 times, and
the learning rate becomes 0.2 times of the original" is read as lr x 0.2 after epochs 30, 60 and 90 of
100. A run of any length keeps the proportion: lr x 0.2 after 30 %, 60 % and 90 % of its optimiser
steps (:data:`MILESTONES`, :func:`lr_milestones`).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import ctypes.util
import json
import logging
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .config import check_choice, check_keys, check_scale, seed_everything, select_device
from .losses import (
    DEFAULT_PHI,
    LOSSES,
    cosine_loss,
    cosine_similarity,
    fingerprint_scale,
    mse_loss,
    mse_std_loss,
)
from .models import CSICNN, DnCNN, count_parameters, export_inference_model, receptive_radius
from .progress import bar as progress_bar

log = logging.getLogger(__name__)

__all__ = [
    "TRAIN_SCALES",
    "DNCNN_SCALES",
    "NEGATIVE_POSITIONS",
    "MILESTONES",
    "PairSampler",
    "ValidationSet",
    "mix_weights",
    "fit",
    "fit_denoiser",
    "lr_step_for",
    "lr_milestones",
    "steps_for",
    "training_runtime",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "load_history",
    "get_or_train",
    "training_key",
]

#: CSI-CNN training sizes per scale, as a budget of training pairs. ``pairs``: pairs drawn in the run
#: (steps = ceil(pairs / batch)); ``evals``: evaluation points after step 0 (history rows, validation,
#: checkpoints); ``batch``, ``patch``: pairs per step and patch side (paper: 64 and 64, Sec. 3.2.2);
#: ``crop``: the centre block every training image is cut to before patches are drawn (Sec. 4.1,
#: "cropped into blocks in the central area"; ``None`` keeps the whole image); ``val_crop``: centre
#: crop of the validation images. ``epochs`` x ``steps_per_epoch`` x ``batch`` = ``pairs`` is kept for
#: callers that still count in epochs. ``paper``: 100 epochs of 500 steps of 64 pairs = 3.2 M pairs.
#: ``cpu``: the earlier 3-minute recipe (3,840 pairs of 64x64 in steps of 16); budget studies pass
#: ``pairs`` explicitly. ``smoke``: seconds, for tests.
TRAIN_SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"pairs": 64, "evals": 2, "batch": 8, "patch": 32, "crop": 128, "val_crop": 64,
              "epochs": 2, "steps_per_epoch": 4},
    "cpu": {"pairs": 3840, "evals": 6, "batch": 16, "patch": 64, "crop": 512, "val_crop": 192,
            "epochs": 6, "steps_per_epoch": 40},
    "paper": {"pairs": 3_200_000, "evals": 100, "batch": 64, "patch": 64, "crop": 1024, "val_crop": 512,
              "epochs": 100, "steps_per_epoch": 500},
}

#: DnCNN training sizes per scale. ``paper``: 17 x 64 with 40x40 patches, batch 128, sigma blind in
#: [0, 55] (DnCNN-B of Zhang et al. 2017). ``cpu`` and ``smoke`` are smaller networks.
DNCNN_SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"depth": 4, "width": 8, "steps": 6, "batch": 4, "patch": 32, "scenes": 4, "scene_size": 64},
    "cpu": {"depth": 10, "width": 32, "steps": 600, "batch": 32, "patch": 40, "scenes": 96, "scene_size": 256},
    "paper": {"depth": 17, "width": 64, "steps": 30000, "batch": 128, "patch": 40, "scenes": 800,
              "scene_size": 256},
}

#: Where the label-0 patch K'' is cut: ``"random"`` (default; the paper "randomly select[s] a subgraph
#: K'' with the same size as I' from Kset - K") or ``"same"`` (I''s position in the other camera).
NEGATIVE_POSITIONS: tuple[str, ...] = ("random", "same")

#: Learning-rate decay points as fractions of a run's optimiser steps: lr x ``gamma`` (0.2) after 30 %,
#: 60 % and 90 % of the steps, the paper's "x 0.2 every 30 of 100 epochs" at any run length.
MILESTONES: tuple[float, ...] = (0.3, 0.6, 0.9)

def lr_step_for(epochs: int) -> int:
    """Epochs between lr x 0.2 decays: 30 of 100 in the paper, the same proportion otherwise.

    Kept for callers that count in epochs; :func:`fit` uses step milestones (:func:`lr_milestones`).

    Examples
    --------
    >>> lr_step_for(100), lr_step_for(10), lr_step_for(2)
    (30, 3, 1)
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return max(1, round(0.3 * epochs))


def steps_for(pairs: int, batch: int) -> int:
    """Optimiser steps that draw at least ``pairs`` training pairs in batches of ``batch``.

    Examples
    --------
    >>> steps_for(16_000, 64), steps_for(100, 64)
    (250, 2)
    """
    for name, v in (("pairs", pairs), ("batch", batch)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    return -(-int(pairs) // int(batch))


def lr_milestones(steps: int, fractions: Sequence[float] = MILESTONES) -> list[int]:
    """Optimiser steps after which the learning rate is multiplied by ``gamma``.

    Milestone ``m = max(1, round(f * steps))``: updates ``0 .. m-1`` use the rate before the decay, update
    ``m`` and later the decayed one (several equal milestones decay several times).

    Parameters
    ----------
    steps : int
        Optimiser steps of the whole run (>= 1).
    fractions : sequence of float
        Each in (0, 1]; default :data:`MILESTONES` (30 %, 60 %, 90 %).

    Returns
    -------
    list of int
        Non-decreasing.

    References
    ----------
    Wang et al. (2021), Sec. 4.3 (lr 0.001, x 0.2 every 30 of 100 epochs).

    Examples
    --------
    >>> lr_milestones(50_000)
    [15000, 30000, 45000]
    >>> lr_milestones(250)
    [75, 150, 225]
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    fr = [float(f) for f in fractions]
    if any(not (0.0 < f <= 1.0) for f in fr):
        raise ValueError(f"milestone fractions must lie in (0, 1], got {list(fractions)}")
    return sorted(max(1, round(f * steps)) for f in fr)


def _lr_at(step: int, lr: float, gamma: float, milestones: Sequence[int]) -> float:
    """Learning rate of update ``step`` (0-based)."""
    return lr * gamma ** sum(1 for m in milestones if m <= step)


def _eval_points(steps: int, evals: int) -> list[int]:
    """Steps after which the history gets a row: ``round(k * steps / evals)``, k = 1..evals, distinct."""
    evals = max(1, min(int(evals), steps))
    return sorted({max(1, round(k * steps / evals)) for k in range(1, evals + 1)})


# ------------------------------------------------------------------------------------------------------------
# CPU runtime: threads and the allocator


def _all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _glibc():
    """The process's glibc (for ``mallopt``), or None on other C libraries."""
    try:
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.mallopt  # noqa: B018
        return libc
    except (OSError, AttributeError, TypeError):
        return None


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
#: glibc defaults restored after training (128 KiB trim threshold, 65,536 mmap'ed chunks).
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_runtime_lock = threading.Lock()


@contextlib.contextmanager
def training_runtime(threads: int | None = None, keep_heap: bool = True) -> Iterator[int]:
    """Use ``threads`` torch threads and keep freed memory in the heap; restore both afterwards.

    * ``threads``: training uses every core (``None``, the default), while inference elsewhere in the
      project may run with one thread (:mod:`csi.experiments` sets one); the previous count is restored.
    * ``keep_heap``: with glibc, big blocks (a 64 x 128 x 64 x 64 float32 activation is 134 MB) are
      normally mmap'ed on allocation and unmapped on free, so every training step faults in about 3 GB
      of fresh zeroed pages (850,000 minor page faults per step at patch 64, batch 64). ``mallopt``
      (M_MMAP_MAX = 0, M_TRIM_THRESHOLD = 1 GiB) makes glibc serve them from its heap and reuse them:
      no page faults after the first step, 1.7-2.8x faster training here (docs/training.md). The glibc
      defaults are set back on exit and the heap trimmed. No effect on other C libraries.

    Parameters
    ----------
    threads : int or None
        Torch intra-op threads; None: all cores available to the process.
    keep_heap : bool

    Yields
    ------
    int
        The thread count in use.

    Examples
    --------
    >>> with training_runtime(threads=1) as n:
    ...     n == torch.get_num_threads() == 1
    True
    """
    if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be None or a positive int, got {threads!r}")
    old = torch.get_num_threads()
    n = int(threads) if threads is not None else _all_cores()
    libc = _glibc() if keep_heap else None
    with _runtime_lock:
        torch.set_num_threads(n)
        if libc is not None:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield n
    finally:
        with _runtime_lock:
            torch.set_num_threads(old)
            if libc is not None:
                for k, v in _GLIBC_DEFAULTS.items():
                    libc.mallopt(k, v)
                with contextlib.suppress(AttributeError):
                    libc.malloc_trim(0)


# ------------------------------------------------------------------------------------------------------------
# Images and fingerprints


def _as_image(item: Any, crop: int | None) -> np.ndarray:
    """Decode (path) or take (array) one image as (H, W, 3) uint8, centre-cropped to ``crop``."""
    if isinstance(item, (str, os.PathLike)):
        from .io import read_rgb

        img = read_rgb(item)
    else:
        img = np.asarray(item)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image must have shape (H, W, 3), got {img.shape}")
        if img.dtype != np.uint8:
            img = np.clip(np.rint(img.astype(np.float32)), 0, 255).astype(np.uint8)
    if crop is not None:
        y0, y1, x0, x1 = _crop_box(img.shape[:2], crop)
        img = img[y0:y1, x0:x1]
    return np.ascontiguousarray(img)


def _crop_box(full: tuple[int, int], crop: int | None) -> tuple[int, int, int, int]:
    h, w = full
    if crop is None:
        return 0, h, 0, w
    ch, cw = min(crop, h), min(crop, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return y0, y0 + ch, x0, x0 + cw


class _FingerprintCache:
    """Fingerprints aligned to an image size (resampled/rotated/cropped once per device and shape).

    ``get(device, shape, crop)`` is :func:`csi.evaluate.fingerprint_window` of the device's fingerprint for
    the centre ``crop`` box of an image of ``shape``: the fingerprint is resampled to a platform copy's size
    (same aspect ratio), rotated for a portrait image, centre-cropped for a sensor crop, exactly as at
    evaluation. Results are cached per ``(device, shape, crop)``, so copies of many sizes cost one
    resampling per size.
    """

    def __init__(self, fingerprints: Mapping[str, np.ndarray]):
        if not isinstance(fingerprints, Mapping) or not fingerprints:
            raise ValueError("fingerprints must be a non-empty dict device -> (H, W) array")
        self.raw = {}
        for dev, K in fingerprints.items():
            K = np.asarray(K)
            if K.ndim != 2:
                raise ValueError(f"fingerprints[{dev!r}] must be 2-D (H, W), got shape {K.shape}")
            self.raw[str(dev)] = K
        self._cache: dict[tuple, np.ndarray] = {}

    def get(self, device: str, shape: tuple[int, int], crop: int | None = None) -> np.ndarray:
        key = (device, tuple(shape), crop)
        if key not in self._cache:
            from .evaluate import fingerprint_window

            win = fingerprint_window(self.raw[device], shape, _crop_box(tuple(shape), crop))
            win = np.ascontiguousarray(win, dtype=np.float32)
            win.setflags(write=False)
            self._cache[key] = win
        return self._cache[key]


def _describe(item: Any, k: int) -> str:
    return str(item) if isinstance(item, (str, os.PathLike)) else f"array#{k}"


def _windows(a: np.ndarray, p: int) -> np.ndarray:
    """Read-only view of every ``p x p`` window of a stack ``(n, h, w, ...)``: ``(n, h-p+1, w-p+1, p, p, ...)``.

    Examples
    --------
    >>> a = np.arange(2 * 4 * 5).reshape(2, 4, 5)
    >>> w = _windows(a, 3)
    >>> w.shape, bool((w[1, 1, 2] == a[1, 1:4, 2:5]).all())
    ((2, 2, 3, 3, 3), True)
    """
    sh, st = a.shape, a.strides
    return np.lib.stride_tricks.as_strided(a, (sh[0], sh[1] - p + 1, sh[2] - p + 1, p, p, *sh[3:]),
                                           (*st[:3], st[1], st[2], *st[3:]), writeable=False)


def mix_weights(is_copy: Sequence[bool], copy_probability: float) -> np.ndarray:
    """Per-image sampling weights so that a drawn training image is a platform copy with a given probability.

    Originals share ``1 - copy_probability`` equally, copies share ``copy_probability`` equally; pass the
    result as ``PairSampler(weights=...)``. (Uniform drawing over a list of originals plus 5 platform copies
    of each draws a copy 5/6 of the time.)

    Parameters
    ----------
    is_copy : sequence of bool
        ``(n,)``, True for a platform copy (e.g. ``df["platform"] != "original"``).
    copy_probability : float
        In [0, 1]; must be 0 if there is no copy and 1 if there is no original.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 >= 0, summing to 1.

    Examples
    --------
    >>> mix_weights([False, False, True, True, True, True], 0.5).round(3).tolist()
    [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    """
    c = np.asarray(is_copy, dtype=bool).ravel()
    p = float(copy_probability)
    if c.size == 0:
        raise ValueError("is_copy is empty")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"copy_probability must lie in [0, 1], got {copy_probability}")
    n_copy, n_orig = int(c.sum()), int((~c).sum())
    if (n_copy == 0 and p > 0) or (n_orig == 0 and p < 1):
        raise ValueError(f"copy_probability {p} impossible with {n_orig} originals and {n_copy} copies")
    w = np.where(c, p / max(n_copy, 1), (1.0 - p) / max(n_orig, 1))
    return w / w.sum()


class PairSampler:
    """The paper's training pairs (Fig. 2, Sec. 3.2.2), deterministic per seed, assembled vectorised.

    A pair is ``(label, I', K')``: ``I'`` a random ``patch x patch`` window of a random training image;
    label 1 (probability 1/2): ``K'`` is the window at the same position of the source camera's
    fingerprint; label 0: ``K'`` is a same-size window of another camera's fingerprint (camera drawn
    uniformly from the others; position uniform at random, or the same position with
    ``negative_position="same"``).

    Each image is decoded once, centre-cropped to ``crop`` (the paper's "blocks in the central area")
    and kept in memory as uint8, stacked with the images of the same size; a batch is cut with one
    fancy-index gather per image size instead of a Python loop per pair. Originals and platform copies
    may be mixed: a copy smaller than its camera's fingerprint with the same aspect ratio gets the
    fingerprint resampled to its size (:func:`csi.evaluate.align_fingerprint`, cached per device and
    size), and its label-0 partners are the *other* cameras' fingerprints aligned the same way, exactly
    as the evaluation scores such a copy. ``weights`` sets how often each image is drawn (see
    :func:`mix_weights`). Unreadable or too-small images are skipped, listed in :attr:`skipped` and logged.

    Parameters
    ----------
    images : sequence of path or ndarray
        Paths (read with :func:`csi.io.read_rgb`) or ``(H, W, 3)`` uint8 / 0-255 float arrays; any sizes.
    devices : sequence of str
        Source camera of each image; every one must be a key of ``fingerprints``.
    fingerprints : dict str -> ndarray
        ``(H, W)`` float32 camera fingerprints (Eq. 5 output), at least two cameras. Not modified.
    patch, batch : int
        Patch side (paper 64) and pairs per batch (paper 64).
    seed : int
        Batches depend only on ``(seed, epoch, step)``, so training can resume exactly.
    crop : int or None
        Centre block kept of every image (``None``: whole image).
    negative_position : {"random", "same"}
    progress : bool
        progress bar while decoding (:mod:`csi.progress`).
    weights : sequence of float or None
        ``(len(images),)`` non-negative drawing weights (normalised here; skipped images drop out);
        None draws every image with the same probability.

    Attributes
    ----------
    images : list of ndarray
        The kept ``(h, w, 3)`` uint8 blocks (read-only views).
    fingerprint_views : list of ndarray
        The own camera's ``(h, w)`` float32 fingerprint window of each kept block.
    devices : list of str
    skipped : list of (str, str)
        ``(image, reason)``.

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2 and Fig. 2.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.integers(0, 256, (80, 96, 3), dtype=np.uint8) for _ in range(4)]
    >>> K = {"a": rng.normal(size=(80, 96)).astype(np.float32), "b": rng.normal(size=(80, 96)).astype(np.float32)}
    >>> s = PairSampler(imgs, ["a", "b", "a", "b"], K, patch=32, batch=8, seed=0, crop=None)
    >>> x, y, label = s.batch_at(0, 0)
    >>> tuple(x.shape), tuple(y.shape), tuple(label.shape)
    ((8, 3, 32, 32), (8, 1, 32, 32), (8,))
    """

    def __init__(self, images: Sequence[Any], devices: Sequence[str], fingerprints: Mapping[str, np.ndarray],
                 patch: int = 64, batch: int = 64, seed: int = 0, crop: int | None = None,
                 negative_position: str = "random", progress: bool = False,
                 weights: Sequence[float] | None = None):
        images, devices = list(images), [str(d) for d in devices]
        if len(images) != len(devices):
            raise ValueError(f"images and devices differ in length: {len(images)} != {len(devices)}")
        if not images:
            raise ValueError("images is empty")
        for name, v in (("patch", patch), ("batch", batch)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if crop is not None and (not isinstance(crop, (int, np.integer)) or crop < patch):
            raise ValueError(f"crop must be None or an int >= patch ({patch}), got {crop!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        check_choice("negative_position", negative_position, NEGATIVE_POSITIONS)
        w_in = None
        if weights is not None:
            w_in = np.asarray(weights, dtype=np.float64).ravel()
            if w_in.shape != (len(images),) or not np.isfinite(w_in).all() or (w_in < 0).any():
                raise ValueError(f"weights must be {len(images)} finite non-negative numbers")
        self.fp = _FingerprintCache(fingerprints)
        unknown = sorted(set(devices) - set(self.fp.raw))
        if unknown:
            raise ValueError(f"devices without a fingerprint: {', '.join(unknown)}")
        if len(self.fp.raw) < 2:
            raise ValueError("fingerprints must hold at least two cameras (label-0 pairs need another camera)")
        self.patch, self.batch, self.seed, self.crop = int(patch), int(batch), int(seed), crop
        self.negative_position = negative_position
        self.device_names = sorted(self.fp.raw)
        self.skipped: list[tuple[str, str]] = []
        kept: list[tuple[np.ndarray, str, tuple[int, int], float]] = []
        from .io import ImageReadError

        for k, (item, dev) in enumerate(progress_bar(list(zip(images, devices, strict=True)),
                                                     desc="decode training images", enabled=progress, unit="img")):
            name = _describe(item, k)
            try:
                img = _as_image(item, None)
                full_shape = tuple(img.shape[:2])
                y0, y1, x0, x1 = _crop_box(full_shape, crop)
                img = np.ascontiguousarray(img[y0:y1, x0:x1])
            except (ImageReadError, OSError, ValueError) as exc:
                self.skipped.append((name, str(exc)))
                continue
            if min(img.shape[:2]) < self.patch:
                self.skipped.append((name, f"smaller than the patch ({img.shape[:2]} < {self.patch})"))
                continue
            if self.fp.get(dev, full_shape, crop).shape != img.shape[:2]:
                self.skipped.append((name, f"larger than its camera's fingerprint {self.fp.raw[dev].shape}"))
                continue
            small = [d for d in self.device_names if min(self.fp.get(d, full_shape, crop).shape) < self.patch]
            if small:
                raise ValueError(f"fingerprints of {', '.join(small)} are smaller than the patch ({self.patch})")
            kept.append((img, dev, full_shape, 1.0 if w_in is None else float(w_in[k])))
        if self.skipped:
            log.warning("PairSampler skipped %d of %d images: %s", len(self.skipped), len(images),
                        "; ".join(f"{p}: {r}" for p, r in self.skipped[:5]))
        if not kept:
            raise ValueError("no usable training image (all skipped): " + "; ".join(r for _, r in self.skipped[:3]))
        self._build(kept, w_in is not None)
        log.info("PairSampler: %d images of %d cameras in %d sizes, patch %d, batch %d", len(self.images),
                 len(set(self.devices)), len(self._stacks), self.patch, self.batch)

    def _build(self, kept: list, weighted: bool) -> None:
        """Stack the kept blocks by size and index everything a batch needs as arrays."""
        cams = {d: j for j, d in enumerate(self.device_names)}
        groups: dict[tuple[int, int], list[int]] = {}  # full image shape -> kept indices
        for i, (_, _, full, _) in enumerate(kept):
            groups.setdefault(full, []).append(i)
        n = len(kept)
        self._group = np.empty(n, np.int64)
        self._member = np.empty(n, np.int64)
        self._stacks: list[np.ndarray] = []
        self._xwin: list[np.ndarray] = []  # per group: (n_g, h-p+1, w-p+1, p, p, 3) view of all windows
        self._kwin: list = []  # per group: (n_cams, h-p+1, w-p+1, p, p) view, or a list per camera if sizes differ
        self._kshape = np.empty((len(groups), len(cams), 2), np.int64)
        self.images, self.fingerprint_views, self.devices = [None] * n, [None] * n, [None] * n
        self._shapes: list[tuple[int, int]] = [None] * n
        for g, (full, members) in enumerate(groups.items()):
            stack = np.empty((len(members), *kept[members[0]][0].shape), np.uint8)
            for m, i in enumerate(members):  # copy and drop one by one: peak memory ~ one copy of the data
                stack[m] = kept[i][0]
                kept[i] = (None, *kept[i][1:])
            stack.setflags(write=False)
            self._stacks.append(stack)
            views = [self.fp.get(d, full, self.crop) for d in self.device_names]
            same = len({v.shape for v in views}) == 1
            self._xwin.append(_windows(stack, self.patch))
            self._kwin.append(_windows(np.stack(views), self.patch) if same
                              else [_windows(v[None], self.patch)[0] for v in views])
            for j, v in enumerate(views):
                self._kshape[g, j] = v.shape
            for m, i in enumerate(members):
                self._group[i], self._member[i] = g, m
                self.images[i] = stack[m]
                self.devices[i] = kept[i][1]
                self.fingerprint_views[i] = views[cams[kept[i][1]]]
                self._shapes[i] = full
        self._own = np.array([cams[d] for d in self.devices], np.int64)
        self._h = np.array([im.shape[0] for im in self.images], np.int64)
        self._w = np.array([im.shape[1] for im in self.images], np.int64)
        w = np.array([k[3] for k in kept], np.float64)
        if weighted:
            if w.sum() <= 0:
                raise ValueError("weights of the usable images are all zero")
            self.weights: np.ndarray | None = w / w.sum()
        else:
            self.weights = None

    def __len__(self) -> int:
        return len(self.images)

    def _other_view(self, i: int, other: str) -> np.ndarray:
        """Fingerprint of camera ``other`` aligned like image ``i``'s own fingerprint view."""
        return self.fp.get(other, self._shapes[i], self.crop)

    def plan(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        """The random draws of batch ``(epoch, step)``: which image, window and fingerprint window per pair.

        Returns
        -------
        dict of str -> numpy.ndarray
            ``(batch,)`` int64 arrays: ``label`` (0/1), ``image`` (index into :attr:`images`), ``row``,
            ``col`` (top-left of I' in the kept block), ``camera`` (index into :attr:`device_names` of the
            fingerprint K' is cut from: the own camera for label 1, another one for label 0), ``krow``,
            ``kcol`` (top-left of K' in that camera's window aligned to the image; equal to ``row``,
            ``col`` for label 1).
        """
        rng = np.random.default_rng([self.seed, int(epoch), int(step)])
        p, n, n_cams = self.patch, self.batch, len(self.device_names)
        label = rng.integers(0, 2, n)
        if self.weights is None:
            idx = rng.integers(0, len(self.images), n)
        else:
            idx = rng.choice(len(self.images), n, p=self.weights)
        r = rng.integers(0, self._h[idx] - p + 1)
        c = rng.integers(0, self._w[idx] - p + 1)
        own = self._own[idx]
        o = rng.integers(0, n_cams - 1, n)
        other = o + (o >= own)  # uniform over the other cameras
        g = self._group[idx]
        kh, kw = self._kshape[g, other, 0], self._kshape[g, other, 1]
        if self.negative_position == "random":
            rk, ck = rng.integers(0, kh - p + 1), rng.integers(0, kw - p + 1)
        else:  # "same"; a smaller fingerprint (another sensor size) clips the position
            rk, ck = np.minimum(r, kh - p), np.minimum(c, kw - p)
        pos = label == 1
        return {"label": label, "image": idx, "row": r, "col": c, "camera": np.where(pos, own, other),
                "krow": np.where(pos, r, rk), "kcol": np.where(pos, c, ck)}

    def arrays_at(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch ``(epoch, step)`` as NumPy arrays (what :meth:`batch_at` converts to tensors).

        The patches of :meth:`plan`, cut with one gather per image size from a strided view of all
        ``patch x patch`` windows (no copy; each selected window is copied row by row) - and per camera
        only when the cameras' aligned fingerprints differ in size.

        Returns
        -------
        x : numpy.ndarray
            ``(batch, patch, patch, 3)`` uint8 RGB patches.
        y : numpy.ndarray
            ``(batch, 1, patch, patch)`` float32 fingerprint patches.
        label : numpy.ndarray
            ``(batch,)`` int64 in {0, 1}.
        """
        pl = self.plan(epoch, step)
        p, n = self.patch, self.batch
        idx, r, c, cam, kr, kc = (pl[k] for k in ("image", "row", "col", "camera", "krow", "kcol"))
        g = self._group[idx]
        x = np.empty((n, p, p, 3), np.uint8)
        y = np.empty((n, 1, p, p), np.float32)
        for gg in np.unique(g):
            sel = np.flatnonzero(g == gg)
            x[sel] = self._xwin[gg][self._member[idx[sel]], r[sel], c[sel]]
            kw = self._kwin[gg]
            if not isinstance(kw, list):
                y[sel, 0] = kw[cam[sel], kr[sel], kc[sel]]
            else:  # cameras of different sensor sizes: one gather per camera
                for j in np.unique(cam[sel]):
                    s2 = sel[cam[sel] == j]
                    y[s2, 0] = kw[j][kr[s2], kc[s2]]
        return x, y, pl["label"]

    def batch_at(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch number ``step`` of ``epoch``; the same arguments give the same batch.

        :func:`fit` trains update ``t`` (0-based) on ``batch_at(0, t)``.

        Returns
        -------
        x : torch.Tensor
            ``(batch, 3, patch, patch)`` float32 RGB in [0, 1] (contiguous).
        y : torch.Tensor
            ``(batch, 1, patch, patch)`` float32 fingerprint patches.
        label : torch.Tensor
            ``(batch,)`` float32 in {0, 1}.
        """
        x, y, label = self.arrays_at(epoch, step)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)
        return xt.contiguous(), torch.from_numpy(y), torch.from_numpy(label.astype(np.float32))

    def epoch(self, epoch: int, steps: int):
        """Iterate over ``steps`` batches of ``epoch`` (see :meth:`batch_at`)."""
        for s in range(steps):
            yield self.batch_at(epoch, s)


# ------------------------------------------------------------------------------------------------------------
# Validation


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC (csi.metrics, Eq. 12)."""
    from .metrics import auc_mann_whitney

    return float(auc_mann_whitney(np.asarray(scores, np.float64), np.asarray(labels, bool)))


def _column_name(platform: str) -> str:
    """A platform label as a history-column suffix: lower case, runs of other characters as ``_``."""
    name = re.sub(r"[^0-9a-z]+", "_", str(platform).lower()).strip("_")
    return name or "unnamed"


#: Receptive radius of CSI-CNN (six 3x3 layers): the default halo of :class:`ValidationSet`.
_CSICNN_RADIUS = 6


class ValidationSet:
    """Held-out images (e.g. platform copies) scored like the evaluation; the judge of a training run.

    Every image is decoded once. Its centre crop (``crop``, clamped to the image) is the region scored,
    as in :func:`csi.evaluate.evaluate`; the network runs on that crop enlarged by ``halo`` pixels on
    every side (clipped at the image border) and its output is cut back to the crop, so with ``halo`` at
    least the receptive radius (:func:`csi.models.receptive_radius`, 6 for CSI-CNN) the residual equals
    the full-image residual cropped - not the output of a zero-padded crop. The crop's residual is then
    post-processed as :func:`csi.evaluate.get_extractor` does for ``"csi-cnn"``
    (:func:`csi.prnu.postprocess`: CFA zero-mean and DFT Wiener) and correlated (NCC,
    :func:`csi.prnu.ncc`) with every camera's fingerprint window (:func:`csi.evaluate.fingerprint_window`:
    resampled to a platform copy's size, then cropped alike).

    Metrics (:meth:`evaluate`): ``val_auc`` - Mann-Whitney AUC (Eq. 12) with every image x candidate
    camera a sample, the image's own camera positive; ``val_ncc_true`` - mean NCC with the own camera;
    ``val_acc`` - closed-set accuracy (argmax over the cameras); and the same three per platform
    (``val_auc_<platform>`` ...) when ``platforms`` is given.

    Parameters
    ----------
    images : sequence of path or ndarray
        Paths (read with :func:`csi.io.read_rgb`) or ``(H, W, 3)`` uint8 / 0-255 arrays; any sizes.
    devices : sequence of str
        True camera of each image; every one must be a key of ``fingerprints``.
    fingerprints : dict str -> ndarray
        ``(H, W)`` float32 camera fingerprints (not modified).
    crop : int
        Centre-crop side (>= 8; clamped to the image).
    progress : bool
    platforms : sequence of str or None
        Platform of each image (e.g. ``"original"``, ``"twitter"``), for the per-platform metrics.
    halo : int
        Context pixels around the crop (default 6, CSI-CNN's receptive radius).
    zero_mean, wiener : bool
        Post-processing of the residual; use the evaluation's settings (both on by default there).
    batch : int
        Crops of equal size per forward pass.

    References
    ----------
    Wang et al. (2021), Fig. 6 (AUC per epoch), Eq. 12, Sec. 4.3.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> K = {c: rng.normal(size=(40, 48)).astype(np.float32) for c in "ab"}
    >>> imgs = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    >>> v = ValidationSet(imgs, list("abab"), K, crop=32, platforms=["original"] * 2 + ["x"] * 2)
    >>> sorted(v.evaluate(CSICNN()))[:4]
    ['val_acc', 'val_acc_original', 'val_acc_x', 'val_auc']
    """

    def __init__(self, images: Sequence[Any], devices: Sequence[str], fingerprints: Mapping[str, np.ndarray],
                 crop: int = 256, progress: bool = False, *, platforms: Sequence[str] | None = None,
                 halo: int = _CSICNN_RADIUS, zero_mean: bool = True, wiener: bool = True, batch: int = 8):
        images, devices = list(images), [str(d) for d in devices]
        if len(images) != len(devices):
            raise ValueError(f"images and devices differ in length: {len(images)} != {len(devices)}")
        if platforms is not None:
            platforms = [str(p) for p in platforms]
            if len(platforms) != len(images):
                raise ValueError(f"platforms has {len(platforms)} entries for {len(images)} images")
        if not isinstance(crop, (int, np.integer)) or crop < 8:
            raise ValueError(f"crop must be an int >= 8, got {crop!r}")
        if not isinstance(halo, (int, np.integer)) or halo < 0:
            raise ValueError(f"halo must be an int >= 0, got {halo!r}")
        if not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        from .io import ImageReadError

        self.fp = _FingerprintCache(fingerprints)
        unknown = sorted(set(devices) - set(self.fp.raw))
        if unknown:
            raise ValueError(f"devices without a fingerprint: {', '.join(unknown)}")
        self.device_names = sorted(self.fp.raw)
        self.crop, self.halo, self.batch = int(crop), int(halo), int(batch)
        self.zero_mean, self.wiener = bool(zero_mean), bool(wiener)
        self.windows: list[np.ndarray] = []  # crop + halo, uint8 (h, w, 3)
        self.inner: list[tuple[int, int, int, int]] = []  # crop box inside its window
        self.true_index: list[int] = []
        self.platforms: list[str] | None = [] if platforms is not None else None
        self._full: list[tuple[int, int]] = []
        self._unit: dict[tuple[int, int], np.ndarray | None] = {}
        self.skipped: list[tuple[str, str]] = []
        for k, (item, dev) in enumerate(progress_bar(list(zip(images, devices, strict=True)), desc="decode validation",
                                                     enabled=progress, unit="img")):
            name = _describe(item, k)
            try:
                img = _as_image(item, None)
                full = tuple(img.shape[:2])
                y0, y1, x0, x1 = _crop_box(full, self.crop)
                own = self.fp.get(dev, full, self.crop)
            except (ImageReadError, OSError, ValueError) as exc:
                self.skipped.append((name, str(exc)))
                continue
            if own.shape != (y1 - y0, x1 - x0):
                self.skipped.append((name, f"larger than its camera's fingerprint {self.fp.raw[dev].shape}"))
                continue
            a0, a1 = max(y0 - self.halo, 0), min(y1 + self.halo, full[0])
            b0, b1 = max(x0 - self.halo, 0), min(x1 + self.halo, full[1])
            self.windows.append(np.ascontiguousarray(img[a0:a1, b0:b1]))
            self.inner.append((y0 - a0, y1 - a0, x0 - b0, x1 - b0))
            self.true_index.append(self.device_names.index(dev))
            self._full.append(full)
            if self.platforms is not None:
                self.platforms.append(platforms[k])
        if self.skipped:
            log.warning("ValidationSet skipped %d images: %s", len(self.skipped),
                        "; ".join(f"{p}: {r}" for p, r in self.skipped[:5]))
        if not self.windows:
            raise ValueError("no usable validation image")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, fingerprints: Mapping[str, np.ndarray], **kwargs: Any) -> ValidationSet:
        """Build from a DataFrame with columns ``path``, ``device`` and optionally ``platform``.

        Examples
        --------
        >>> ValidationSet.from_frame(pd.DataFrame({"path": [], "device": []}), {"a": np.zeros((8, 8))})
        Traceback (most recent call last):
        ...
        ValueError: no usable validation image
        """
        if not isinstance(frame, pd.DataFrame) or not {"path", "device"} <= set(frame.columns):
            raise ValueError("frame must be a DataFrame with columns 'path' and 'device'")
        plat = frame["platform"].astype(str).tolist() if "platform" in frame.columns else None
        return cls(frame["path"].tolist(), frame["device"].astype(str).tolist(), fingerprints,
                   platforms=plat, **kwargs)

    @property
    def crops(self) -> list[np.ndarray]:
        """The scored centre crops, ``(h, w, 3)`` uint8 views into :attr:`windows`."""
        return [w[a:b, c:d] for w, (a, b, c, d) in zip(self.windows, self.inner, strict=True)]

    def __len__(self) -> int:
        return len(self.windows)

    def _references(self, i: int) -> list[np.ndarray]:
        """Every camera's fingerprint window for image ``i``'s crop (float32, cached per image size)."""
        return [self.fp.get(dev, self._full[i], self.crop) for dev in self.device_names]

    def residuals(self, model: torch.nn.Module, device: str = "cpu") -> list[np.ndarray]:
        """Post-processed residual of every image's crop, computed on crop + halo.

        The model is not modified: an eval-mode copy with BatchNorm folded
        (:func:`csi.models.export_inference_model`) runs under :func:`torch.inference_mode`.

        Returns
        -------
        list of numpy.ndarray
            ``(h, w)`` float32 per image, the crop's shape.
        """
        from .prnu import postprocess

        radius = receptive_radius(model)
        if radius > self.halo:
            log.warning("ValidationSet halo %d is smaller than the model's receptive radius %d: residuals "
                        "near the crop border see zero padding", self.halo, radius)
        fast = export_inference_model(model).to(device)
        if device == "cpu":
            fast = fast.to(memory_format=torch.channels_last)
        out: list[np.ndarray | None] = [None] * len(self.windows)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, w in enumerate(self.windows):
            by_shape.setdefault(w.shape[:2], []).append(i)
        with torch.inference_mode():
            for members in by_shape.values():
                for k in range(0, len(members), self.batch):
                    chunk = members[k:k + self.batch]
                    x = torch.from_numpy(np.stack([self.windows[i] for i in chunk])).to(device)
                    x = x.permute(0, 3, 1, 2).float().div_(255.0)  # channels-last layout, NCHW shape
                    res = fast(x)[:, 0].float().cpu().numpy()
                    for j, i in enumerate(chunk):
                        a, b, c, d = self.inner[i]
                        out[i] = postprocess(res[j, a:b, c:d], zero_mean=self.zero_mean, wiener=self.wiener)
        return out

    def _unit_references(self, i: int) -> np.ndarray | None:
        """``(n_cams, h, w)`` float64 fingerprint windows of image ``i``, mean removed and unit norm.

        None when a camera's window differs in shape from the crop (a smaller sensor); cached per image size.
        """
        key = self._full[i]
        if key not in self._unit:
            refs = self._references(i)
            if len({r.shape for r in refs}) != 1 or refs[0].shape != self.crops[i].shape[:2]:
                self._unit[key] = None
            else:
                st = np.stack(refs).astype(np.float64)
                st -= st.mean(axis=(1, 2), keepdims=True)
                norm = np.sqrt(np.square(st).sum(axis=(1, 2), keepdims=True))
                self._unit[key] = np.divide(st, norm, out=np.zeros_like(st), where=norm > 0)
        return self._unit[key]

    def scores(self, model: torch.nn.Module, device: str = "cpu") -> np.ndarray:
        """NCC (:func:`csi.prnu.ncc`) of each validation image's residual with every camera.

        Computed with element-wise float64 sums against the cached mean-removed, unit-norm fingerprint
        windows (no BLAS call: a multi-threaded BLAS dot product of two small arrays is slow on a busy
        machine); equal to :func:`csi.prnu.ncc` up to float64 rounding.

        Returns
        -------
        numpy.ndarray
            ``(n_images, n_cameras)`` float64 in [-1, 1]; columns follow :attr:`device_names`.
        """
        from .evaluate import _common_centre
        from .prnu import ncc

        res = self.residuals(model, device)
        out = np.empty((len(res), len(self.device_names)))
        for i, r in enumerate(res):
            unit = self._unit_references(i)
            if unit is None:
                for j, K in enumerate(self._references(i)):
                    out[i, j] = ncc(*_common_centre(r, K))
                continue
            a = r.astype(np.float64)
            a -= a.mean()
            norm = np.sqrt(np.square(a).sum())
            out[i] = 0.0 if norm == 0 else np.clip((unit * (a / norm)).sum(axis=(1, 2)), -1.0, 1.0)
        return out

    def metrics_from_scores(self, scores: np.ndarray) -> dict[str, float]:
        """AUC, mean true-camera NCC and accuracy from a :meth:`scores` matrix, overall and per platform."""
        s = np.asarray(scores, np.float64)
        if s.shape != (len(self), len(self.device_names)):
            raise ValueError(f"scores must have shape {(len(self), len(self.device_names))}, got {s.shape}")
        true = np.asarray(self.true_index)
        labels = np.zeros(s.shape, bool)
        labels[np.arange(len(s)), true] = True

        def block(rows: np.ndarray) -> tuple[float, float, float]:
            auc = _auc(s[rows].ravel(), labels[rows].ravel()) if len(self.device_names) > 1 else float("nan")
            return auc, float(s[rows, true[rows]].mean()), float((s[rows].argmax(1) == true[rows]).mean())

        out: dict[str, float] = {}
        out["val_auc"], out["val_ncc_true"], out["val_acc"] = block(np.arange(len(s)))
        if self.platforms is not None:
            plat = np.asarray(self.platforms)
            for p in sorted(set(self.platforms)):
                col = _column_name(p)
                a, nt, acc = block(np.flatnonzero(plat == p))
                out[f"val_auc_{col}"], out[f"val_ncc_true_{col}"], out[f"val_acc_{col}"] = a, nt, acc
        return out

    def evaluate(self, model: torch.nn.Module, device: str = "cpu") -> dict[str, float]:
        """The validation metrics of ``model`` (see the class description), keys ``val_*``."""
        return self.metrics_from_scores(self.scores(model, device))

    def auc(self, model: torch.nn.Module, device: str = "cpu") -> float:
        """Mann-Whitney AUC over every image x camera (own camera positive, the others negative)."""
        return self.evaluate(model, device)["val_auc"]


# ------------------------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, config: Mapping[str, Any],
                    **extra: Any) -> Path:
    """Write ``{"state_dict", "config", **extra}`` atomically (tmp file + rename).

    ``config`` and ``extra`` must be plain Python (dict/list/str/int/float/bool/None) or tensors, so
    that :func:`load_checkpoint` can use ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": json.loads(json.dumps(dict(config))), **extra}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a checkpoint of this project.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(ck, dict) or "state_dict" not in ck or "config" not in ck:
        raise ValueError(f"{path} is not a csi checkpoint (needs 'state_dict' and 'config')")
    return ck


def _build_model(config: Mapping[str, Any]) -> torch.nn.Module:
    kind = config.get("kind")
    if kind == "csi-cnn":
        return CSICNN(**config.get("model", {}))
    if kind == "dncnn":
        return DnCNN(**config.get("model", {}))
    raise ValueError(f"checkpoint config has unknown model kind {kind!r}")


def load_model(path: str | os.PathLike, device: str = "cpu") -> torch.nn.Module:
    """Rebuild the model stored in a checkpoint, in eval mode on ``device``.

    Examples
    --------
    >>> import tempfile
    >>> p = save_checkpoint(Path(tempfile.mkdtemp()) / "m.pt", CSICNN(), {"kind": "csi-cnn", "model": {}})
    >>> type(load_model(p)).__name__
    'CSICNN'
    """
    ck = load_checkpoint(path)
    model = _build_model(ck["config"])
    model.load_state_dict(ck["state_dict"])
    return model.to(device).eval()


def load_history(path: str | os.PathLike) -> pd.DataFrame:
    """Per-epoch history stored in a checkpoint (columns of :func:`fit`'s result)."""
    return pd.DataFrame(load_checkpoint(path).get("history", []))


def _append_csv(path: Path | None, row: Mapping[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    pd.DataFrame([row]).to_csv(path, mode="a", header=new, index=False)




# ------------------------------------------------------------------------------------------------------------
# Training


class _Prefetcher:
    """Prepares batches ``fn(t)`` for ``t`` in ``steps`` in a background thread, ``depth`` ahead.

    The batch of a step depends only on the step, so prefetching never changes what is trained. An
    exception raised while preparing a batch is raised again by :meth:`get` for that step. ``depth`` 0
    prepares each batch on demand in the calling thread.
    """

    def __init__(self, fn: Callable[[int], Any], steps: range, depth: int):
        self.fn, self.steps, self.depth = fn, steps, int(depth)
        self._stop = threading.Event()
        self._thread = None
        if self.depth > 0 and len(steps):
            self._q: queue.Queue = queue.Queue(maxsize=self.depth)
            self._thread = threading.Thread(target=self._run, name="csi-prefetch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        for t in self.steps:
            try:
                item, failed = self.fn(t), False
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                item, failed = exc, True
            while not self._stop.is_set():
                try:
                    self._q.put((t, item, failed), timeout=0.1)
                    break
                except queue.Full:
                    continue
            if failed or self._stop.is_set():
                return

    def get(self, t: int) -> Any:
        if self._thread is None:
            return self.fn(t)
        got, item, failed = self._q.get()
        if got != t:
            raise RuntimeError(f"prefetcher out of order: wanted step {t}, got {got}")
        if failed:
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._q.get(timeout=0.05)
            self._thread.join()


def _host_batch(sampler: PairSampler, t: int, pin: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Update ``t``'s batch as CPU tensors: x uint8 NHWC, y float32, label float32 (pinned for a GPU)."""
    x, y, lab = sampler.arrays_at(0, t)
    out = (torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lab.astype(np.float32)))
    return tuple(o.pin_memory() for o in out) if pin else out


def _device_batch(batch: tuple, dev: str, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 NHWC -> float32 NCHW in [0, 1] on ``dev`` (the permuted layout is channels-last already)."""
    x, y, lab = (b.to(dev, non_blocking=True) for b in batch)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if not channels_last:
        x = x.contiguous()
    return x, y, lab


def _loss_function(loss: str, phi: float, target_std: float | None) -> Callable:
    if loss == "cosine":
        return lambda o, y, lab: cosine_loss(o, y, lab, phi=phi)
    if loss == "mse":
        return lambda o, y, lab: mse_loss(o, y, lab)
    return lambda o, y, lab: mse_std_loss(o, y, lab, target_std=target_std)


def _validate(val: Any, model: torch.nn.Module, dev: str) -> tuple[dict[str, float], float]:
    """Validation metrics (``ValidationSet.evaluate`` or any object with ``auc(model, device)``) and seconds."""
    if val is None:
        return {"val_auc": float("nan")}, 0.0
    t0 = time.perf_counter()
    if hasattr(val, "evaluate"):
        m = {str(k): float(v) for k, v in val.evaluate(model, dev).items()}
    else:
        m = {"val_auc": float(val.auc(model, dev))}
    return m, time.perf_counter() - t0


def fit(model: torch.nn.Module, sampler: PairSampler, loss: str = "cosine", scale: str = "cpu", *,
        pairs: int | None = None, epochs: int | None = None, steps_per_epoch: int | None = None,
        evals: int | None = None, lr: float = 1e-3, gamma: float = 0.2, milestones: Sequence[float] = MILESTONES,
        lr_step: int | None = None, phi: float = DEFAULT_PHI, target_std: float | None = None,
        val: ValidationSet | None = None, device: str = "auto", seed: int = 0,
        log_csv: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
        resume: bool = True, progress: bool = True, channels_last: bool = True, threads: int | None = None,
        compile: bool = False, prefetch: int = 2, extra_config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Train CSI-CNN on :class:`PairSampler` batches for a budget of training pairs (Fig. 2, Sec. 4.3).

    **Budget.** ``pairs`` training pairs: ``steps = ceil(pairs / batch)`` Adam updates, update ``t``
    (0-based) on ``sampler.batch_at(0, t)``. Without ``pairs``, ``epochs x steps_per_epoch`` updates
    (the older epoch interface; ``evals`` then defaults to ``epochs``); with neither, the scale's
    ``pairs`` (:data:`TRAIN_SCALES`).

    **Schedule.** Adam at ``lr`` (paper 1e-3); lr x ``gamma`` (paper 0.2) after the fractions
    ``milestones`` of the run's steps (default 30 %, 60 %, 90 %: the paper's "every 30 of 100 epochs" at any
    length; :func:`lr_milestones`). ``lr_step`` (epochs, epoch interface only) places the decays every
    ``lr_step`` epochs instead.

    **History.** A row at step 0 (the untrained network) and at ``evals`` evaluation points evenly spread
    over the steps; at each: validation metrics (if ``val``), a CSV row, a checkpoint. With ``resume`` and
    an existing ``checkpoint`` of the same configuration, training goes on from its last evaluation point
    and gives the same weights as an uninterrupted run.

    **Speed** (CPU; see docs/training.md for measurements). The loop runs inside
    :func:`training_runtime`: all cores (or ``threads``) and glibc's heap kept (no page faults on the
    134 MB activations), restored afterwards; channels-last tensors; in-place ReLU/ADD in the model;
    batches gathered vectorised and prepared ``prefetch`` steps ahead in a background thread (on a GPU
    as pinned uint8, converted on the device). ``compile=True`` wraps the model in :func:`torch.compile`
    (falls back to eager with a warning if compilation fails); it is off by default because it was not
    faster here (docs/training.md). None of these change the maths.

    Parameters
    ----------
    model : CSICNN
        Trained in place (its parameters change); moved to ``device``.
    sampler : PairSampler
    loss : {"cosine", "mse", "mse-std"}
        Eq. 6-8 (:func:`csi.losses.cosine_loss`), ref. [20]'s MSE on label-1 pairs
        (:func:`csi.losses.mse_loss`), or the fair MSE with the target in fingerprint-std units
        (:func:`csi.losses.mse_std_loss`).
    scale : {"smoke", "cpu", "paper"}
        Supplies the budget and ``evals`` from :data:`TRAIN_SCALES` when they are None.
    pairs : int or None
        Training pairs to draw (rounded up to whole batches).
    epochs, steps_per_epoch : int or None
        The older budget (used only when ``pairs`` is None).
    evals : int or None
        Evaluation points after step 0 (capped at the number of steps).
    lr, gamma : float
    milestones : sequence of float
        Fractions of the steps after which lr is multiplied by ``gamma``.
    lr_step : int or None
        Epoch interface only: decay every ``lr_step`` epochs (overrides ``milestones``).
    phi : float
        Eq. 7's phi (cosine loss only).
    target_std : float or None
        ``"mse-std"`` only: the target unit; None uses :func:`csi.losses.fingerprint_scale` of the
        sampler's fingerprints.
    val : ValidationSet or None
        Or any object with ``evaluate(model, device) -> dict`` or ``auc(model, device) -> float``.
    device : {"auto", "cpu", "cuda", "mps"}
    seed : int
        Seeds torch (no randomness is used by the loop itself; batches come from the sampler's seed).
    log_csv, checkpoint : path or None
    resume : bool
    progress : bool
    channels_last : bool
        Channels-last activations (faster on CPU with oneDNN; same maths).
    threads : int or None
        Torch threads while training (None: all cores); the previous setting is restored.
    compile : bool
        :func:`torch.compile` the model for training.
    prefetch : int
        Batches prepared ahead in a background thread (0: none).
    extra_config : dict or None
        Stored in the checkpoint's config (e.g. data description).

    Returns
    -------
    pandas.DataFrame
        One row per evaluation point, the first before training: ``epoch`` (evaluation point 0..evals;
        equal to the epoch in the epoch interface), ``step``, ``pairs_seen``, ``train_loss`` (mean since the
        previous row), ``train_rho_pos`` / ``train_rho_neg`` (mean cosine similarity rho of the output with
        K' on label-1 / label-0 pairs since the previous row; scale-free, comparable across losses), ``lr``
        (of the last update), ``seconds`` (training time since the previous row), ``pairs_per_s``,
        ``val_seconds``, and the validation metrics (``val_auc``, ``val_ncc_true``, ``val_acc`` and
        per-platform ``val_auc_<platform>`` ...; only ``val_auc`` = NaN without ``val``).

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2, Fig. 2, Eq. 6-8, Sec. 4.3, Fig. 6.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> K = {c: rng.normal(size=(48, 48)).astype(np.float32) for c in "ab"}
    >>> imgs = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(4)]
    >>> s = PairSampler(imgs, list("abab"), K, patch=16, batch=4)
    >>> h = fit(CSICNN(), s, pairs=16, evals=2, device="cpu", progress=False)
    >>> h[["epoch", "step", "pairs_seen"]].values.tolist()
    [[0, 0, 0], [1, 2, 8], [2, 4, 16]]
    """
    check_scale(scale)
    check_choice("loss", loss, LOSSES)
    if not isinstance(sampler, PairSampler):
        raise TypeError(f"sampler must be a PairSampler, got {type(sampler).__name__}")
    if not isinstance(model, CSICNN):
        raise TypeError(f"model must be a CSICNN, got {type(model).__name__}")
    if not (lr > 0):
        raise ValueError(f"lr must be > 0, got {lr}")
    if not (0 < gamma <= 1):
        raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
    if not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
        raise ValueError(f"prefetch must be an int >= 0, got {prefetch!r}")
    sc = TRAIN_SCALES[scale]
    batch = sampler.batch
    if pairs is None and (epochs is not None or steps_per_epoch is not None):
        epochs = int(sc["epochs"] if epochs is None else epochs)
        spe = int(sc["steps_per_epoch"] if steps_per_epoch is None else steps_per_epoch)
        if epochs < 1 or spe < 1:
            raise ValueError(f"epochs and steps_per_epoch must be >= 1, got {epochs} and {spe}")
        steps = epochs * spe
        evals = epochs if evals is None else evals
        if lr_step is not None:
            if int(lr_step) < 1:
                raise ValueError(f"lr_step must be >= 1, got {lr_step}")
            mstones = [k * int(lr_step) * spe for k in range(1, epochs // int(lr_step) + 1)]
        else:
            mstones = lr_milestones(steps, milestones)
    else:
        if lr_step is not None:
            raise ValueError("lr_step counts epochs; with pairs use milestones (fractions of the steps)")
        steps = steps_for(int(sc["pairs"]) if pairs is None else pairs, batch)
        evals = int(sc["evals"]) if evals is None else evals
        mstones = lr_milestones(steps, milestones)
    if not isinstance(evals, (int, np.integer)) or evals < 1:
        raise ValueError(f"evals must be a positive int, got {evals!r}")
    points = _eval_points(steps, int(evals))
    if loss == "mse-std":
        target_std = fingerprint_scale(sampler.fp.raw) if target_std is None else float(target_std)
    else:
        target_std = None
    seed_everything(seed)
    dev = select_device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(dev).to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    config = {
        "kind": "csi-cnn", "model": model.config(),
        "train": {"loss": loss, "scale": scale, "pairs": steps * batch, "steps": steps, "evals": len(points),
                  "lr": lr, "gamma": gamma, "milestones": mstones, "phi": float(phi), "target_std": target_std,
                  "seed": seed, "batch": batch, "patch": sampler.patch, "crop": sampler.crop,
                  "negative_position": sampler.negative_position, "n_train_images": len(sampler),
                  "weighted": sampler.weights is not None},
        "extra": dict(extra_config or {}),
    }
    log_csv = Path(log_csv) if log_csv is not None else None
    ckpt = Path(checkpoint) if checkpoint is not None else None
    history: list[dict] = []
    start = 0
    if ckpt is not None and resume and ckpt.exists():
        ck = load_checkpoint(ckpt)
        if ck["config"].get("train") != json.loads(json.dumps(config["train"])):
            raise ValueError(f"checkpoint {ckpt} was trained with another configuration; "
                             "delete it or pass resume=False")
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        history = list(ck.get("history", []))
        start = int(ck["step"])
        log.info("resuming %s at step %d of %d", ckpt, start, steps)
    elif log_csv is not None and log_csv.exists():
        log_csv.unlink()
    loss_fn = _loss_function(loss, float(phi), target_std)
    with training_runtime(threads if dev == "cpu" else (threads or torch.get_num_threads())):
        if start == 0:
            metrics, vsec = _validate(val, model, dev)
            row = {"epoch": 0, "step": 0, "pairs_seen": 0, "train_loss": float("nan"),
                   "train_rho_pos": float("nan"), "train_rho_neg": float("nan"), "lr": lr, "seconds": 0.0,
                   "pairs_per_s": float("nan"), "val_seconds": vsec, **metrics}
            history.append(row)
            _append_csv(log_csv, row)
        net: torch.nn.Module = model
        snapshot = None
        if compile:
            try:
                net = torch.compile(model)
                snapshot = copy.deepcopy(model.state_dict())
            except Exception as exc:  # noqa: BLE001 - any failure: train eagerly
                log.warning("torch.compile unavailable (%s); training eagerly", exc)
                net = model
        pending = [p for p in points if p > start]
        feeder = _Prefetcher(lambda t: _host_batch(sampler, t, pin=dev == "cuda"), range(start, steps),
                             int(prefetch))
        bar = progress_bar(total=steps - start, desc="train CSI-CNN", enabled=progress, unit="step")
        try:
            model.train()
            acc_dtype = torch.float32 if dev == "mps" else torch.float64  # MPS has no float64
            acc = torch.zeros(5, dtype=acc_dtype, device=dev)  # loss sum, rho+ sum, n+, rho- sum, n-
            count, t0 = 0, time.perf_counter()
            for t in range(start, steps):
                x, y, lab = _device_batch(feeder.get(t), dev, channels_last)
                current_lr = _lr_at(t, lr, gamma, mstones)
                for group in opt.param_groups:
                    group["lr"] = current_lr
                while True:
                    opt.zero_grad(set_to_none=True)
                    try:
                        out = net(x)
                        value = loss_fn(out, y, lab)
                        value.backward()
                        break
                    except Exception as exc:  # noqa: BLE001 - only a compiled first step falls back
                        if snapshot is None:
                            raise
                        log.warning("torch.compile failed (%s: %s); training eagerly",
                                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
                        model.load_state_dict(snapshot)
                        net, snapshot = model, None
                snapshot = None
                opt.step()
                with torch.no_grad():
                    rho = cosine_similarity(out.detach(), y)
                    acc += torch.stack([value.detach(), (rho * lab).sum(), lab.sum(), (rho * (1 - lab)).sum(),
                                        (1 - lab).sum()]).to(acc_dtype)
                if dev == "cpu" and not torch.isfinite(value):
                    raise FloatingPointError(f"loss became {value.item()} at step {t}")
                count += 1
                bar.update(1)
                if t + 1 == pending[0]:
                    pending.pop(0)
                    seconds = time.perf_counter() - t0
                    a = acc.cpu().numpy()
                    if not np.isfinite(a[0]):
                        raise FloatingPointError(f"loss became {a[0] / count} before step {t + 1}")
                    model.eval()
                    metrics, vsec = _validate(val, model, dev)
                    model.train()
                    row = {"epoch": points.index(t + 1) + 1, "step": t + 1,
                           "pairs_seen": (t + 1) * batch, "train_loss": a[0] / count,
                           "train_rho_pos": a[1] / a[2] if a[2] else float("nan"),
                           "train_rho_neg": a[3] / a[4] if a[4] else float("nan"), "lr": current_lr,
                           "seconds": seconds, "pairs_per_s": count * batch / seconds, "val_seconds": vsec,
                           **metrics}
                    row = {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
                    history.append(row)
                    _append_csv(log_csv, row)
                    bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_auc=f"{row.get('val_auc', float('nan')):.3f}")
                    log.info("step %d/%d (%d pairs) loss %.4f val_auc %.4f (%.1f s, %.1f pairs/s)", t + 1, steps,
                             row["pairs_seen"], row["train_loss"], row.get("val_auc", float("nan")), seconds,
                             row["pairs_per_s"])
                    if ckpt is not None:
                        save_checkpoint(ckpt, model, config, optimizer=opt.state_dict(), step=t + 1,
                                        epoch=row["epoch"], history=history, complete=t + 1 == steps)
                    acc.zero_()
                    count, t0 = 0, time.perf_counter()
        finally:
            bar.close()
            feeder.close()
    model.eval()
    return pd.DataFrame(history)


def _scene_pool(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, size, size)`` float32 gray-level training content in [0, 1] from csi.simulate.make_scene.

    Scenes are linear light; they are gamma-encoded (1/2.2) like the images the extractor sees, and
    one colour channel of each is kept (the extractor denoises channel by channel).
    """
    from .simulate import make_scene

    kinds = ("dead_leaves", "photo", "dead_leaves", "photo", "flat")
    out = np.empty((n, size, size), np.float32)
    for i in range(n):
        scene = np.asarray(make_scene(kinds[i % len(kinds)], (size, size), rng), np.float32)
        out[i] = np.clip(scene[..., i % 3], 0.0, 1.0) ** (1 / 2.2)
    return out


def fit_denoiser(model: DnCNN, scale: str = "cpu", *, steps: int | None = None, batch: int | None = None,
                 patch: int | None = None, sigma_range: tuple[float, float] = (0.0, 55.0), lr: float = 1e-3,
                 scenes: np.ndarray | None = None, seed: int = 0, device: str = "auto",
                 checkpoint: str | os.PathLike | None = None, log_csv: str | os.PathLike | None = None,
                 progress: bool = True) -> pd.DataFrame:
    """Train DnCNN as a blind Gaussian denoiser with residual learning (it predicts the noise).

    Clean patches come from the project's synthetic scenes (:func:`csi.simulate.make_scene`, gamma
    encoded) or from ``scenes``; each patch gets Gaussian noise with a sigma drawn uniformly from
    ``sigma_range`` (0-255 scale; DnCNN-B's blind range [0, 55] by default). Loss: mean squared error
    between predicted and true noise. Adam at ``lr``; lr x 0.1 for the last third of the steps.

    Parameters
    ----------
    model : DnCNN
        Trained in place.
    scale : {"smoke", "cpu", "paper"}
        Supplies unset sizes from :data:`DNCNN_SCALES`.
    scenes : ndarray or None
        ``(n, H, W)`` float in [0, 1] clean content; None builds the pool from ``make_scene``.
    sigma_range : (float, float)
        Noise std range on the 0-255 scale.

    Returns
    -------
    pandas.DataFrame
        One row per tenth of training: ``step, train_loss, psnr_noisy, psnr_denoised, seconds``.

    References
    ----------
    Wang et al. (2021) Sec. 4.2.1 (DnCNN baseline, ref. [21]).
    """
    check_scale(scale)
    if not isinstance(model, DnCNN):
        raise TypeError(f"model must be a DnCNN, got {type(model).__name__}")
    sc = DNCNN_SCALES[scale]
    steps = int(sc["steps"] if steps is None else steps)
    batch = int(sc["batch"] if batch is None else batch)
    patch = int(sc["patch"] if patch is None else patch)
    lo, hi = (float(v) for v in sigma_range)
    if not (0 <= lo <= hi):
        raise ValueError(f"sigma_range must satisfy 0 <= low <= high, got {sigma_range}")
    if steps < 1 or batch < 1 or patch < 4:
        raise ValueError(f"steps, batch must be >= 1 and patch >= 4, got {steps}, {batch}, {patch}")
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    if scenes is None:
        scenes = _scene_pool(int(sc["scenes"]), int(sc["scene_size"]), rng)
    scenes = np.asarray(scenes, np.float32)
    if scenes.ndim != 3 or min(scenes.shape[1:]) < patch:
        raise ValueError(f"scenes must be (n, H, W) with H, W >= patch ({patch}), got {scenes.shape}")
    dev = select_device(device)
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[max(1, (2 * steps) // 3)], gamma=0.1)
    chunk = max(1, math.ceil(steps / 10))
    history, t0, acc, n_acc = [], time.perf_counter(), 0.0, 0
    n, H, W = scenes.shape
    log_csv = Path(log_csv) if log_csv is not None else None
    if log_csv is not None and log_csv.exists():
        log_csv.unlink()
    model.train()
    for step in progress_bar(range(1, steps + 1), desc="train DnCNN", enabled=progress, unit="step"):
        idx = rng.integers(0, n, batch)
        rs, cs = rng.integers(0, H - patch + 1, batch), rng.integers(0, W - patch + 1, batch)
        clean = np.stack([scenes[i, r:r + patch, c:c + patch] for i, r, c in zip(idx, rs, cs, strict=True)])
        flips = rng.integers(0, 8, batch)
        clean = np.stack([np.rot90(p, k % 4)[:, ::-1] if k >= 4 else np.rot90(p, k) for p, k in zip(clean, flips, strict=True)])
        sig = rng.uniform(lo, hi, (batch, 1, 1)).astype(np.float32) / 255.0
        noise = rng.standard_normal(clean.shape, dtype=np.float32) * sig
        xc = torch.from_numpy(np.ascontiguousarray(clean)).unsqueeze(1).to(dev)
        nz = torch.from_numpy(noise).unsqueeze(1).to(dev)
        opt.zero_grad(set_to_none=True)
        pred = model(xc + nz)
        value = ((pred - nz) ** 2).mean()
        value.backward()
        opt.step()
        sched.step()
        acc += float(value.detach())
        n_acc += 1
        if step % chunk == 0 or step == steps:
            with torch.no_grad():
                mse_noisy = float((nz ** 2).mean())
                mse_den = float(((pred - nz) ** 2).mean())
            row = {"step": step, "train_loss": acc / n_acc,
                   "psnr_noisy": 10 * math.log10(1 / max(mse_noisy, 1e-12)),
                   "psnr_denoised": 10 * math.log10(1 / max(mse_den, 1e-12)),
                   "seconds": time.perf_counter() - t0}
            history.append(row)
            _append_csv(log_csv, row)
            acc, n_acc = 0.0, 0
    model.eval()
    if checkpoint is not None:
        save_checkpoint(checkpoint, model,
                        {"kind": "dncnn", "model": model.config(),
                         "train": {"scale": scale, "steps": steps, "batch": batch, "patch": patch,
                                   "sigma_range": [lo, hi], "lr": lr, "seed": seed}},
                        history=history, epoch=steps, complete=True)
    return pd.DataFrame(history)


# ------------------------------------------------------------------------------------------------------------
# Cached training


#: Keys accepted in ``get_or_train(config=...)``. CSI-CNN recipe: ``pairs, evals, batch, patch, crop,
#: val_crop, lr, gamma, milestones, phi, negative_position, relu_after_sub, relu_stage1_out,
#: copy_probability`` (needs a ``platform`` column in ``train``), ``target_std`` ("mse-std"), ``val_halo,
#: val_zero_mean, val_wiener``; the older ``epochs, steps_per_epoch, lr_step`` are converted to pairs
#: and milestones. Run-time only (not part of the cache key, they do not change the maths):
#: ``channels_last, threads, compile, prefetch``. DnCNN: ``depth, width, steps, batch, patch,
#: sigma_range, scenes, scene_size, lr``.
TRAIN_CONFIG_KEYS: tuple[str, ...] = (
    "pairs", "evals", "epochs", "steps_per_epoch", "batch", "patch", "crop", "val_crop", "lr", "gamma", "milestones",
    "lr_step", "phi", "negative_position", "relu_after_sub", "relu_stage1_out", "copy_probability", "target_std",
    "val_halo", "val_zero_mean", "val_wiener",
    "channels_last", "threads", "compile", "prefetch",
    # DnCNN
    "depth", "width", "steps", "sigma_range", "scenes", "scene_size",
)
_RUNTIME_KEYS: tuple[str, ...] = ("channels_last", "threads", "compile", "prefetch")


def _training_code() -> tuple:
    """The code a checkpoint depends on (digested with :func:`csi.cache.code_digest`)."""
    from . import losses, models, prnu
    from . import train as this
    from .evaluate import align_fingerprint, fingerprint_window
    from .metrics import auc_mann_whitney

    return (this, losses, models, prnu, align_fingerprint, fingerprint_window, auc_mann_whitney)


def _csi_recipe(scale: str, config: Mapping[str, Any], pairs: int | None) -> dict[str, Any]:
    """Resolved CSI-CNN training parameters (everything that changes the weights or the history)."""
    sc = {**TRAIN_SCALES[scale], **config}
    legacy = ("epochs" in config or "steps_per_epoch" in config) and "pairs" not in config and pairs is None
    if legacy:
        epochs, spe = int(sc["epochs"]), int(sc["steps_per_epoch"])
        n_pairs, evals = epochs * spe * int(sc["batch"]), int(config.get("evals", epochs))
    else:
        n_pairs, evals = int(sc["pairs"] if pairs is None else pairs), int(sc["evals"])
    if "lr_step" in config and config["lr_step"] is not None:
        if not legacy:
            raise ValueError("config lr_step counts epochs; with pairs give milestones (fractions of the steps)")
        step = int(config["lr_step"])
        milestones = [k * step / epochs for k in range(1, epochs // step + 1)]
    else:
        milestones = [float(f) for f in sc.get("milestones", MILESTONES)]
    return {
        "pairs": n_pairs, "evals": evals, "batch": int(sc["batch"]), "patch": int(sc["patch"]),
        "crop": None if sc["crop"] is None else int(sc["crop"]), "val_crop": int(sc["val_crop"]),
        "lr": float(sc.get("lr", 1e-3)), "gamma": float(sc.get("gamma", 0.2)), "milestones": milestones,
        "phi": float(sc.get("phi", DEFAULT_PHI)), "negative_position": str(sc.get("negative_position", "random")),
        "relu_after_sub": bool(sc.get("relu_after_sub", True)), "relu_stage1_out": bool(sc.get("relu_stage1_out", True)),
        "copy_probability": None if sc.get("copy_probability") is None else float(sc["copy_probability"]),
        "target_std": None if sc.get("target_std") is None else float(sc["target_std"]),
        "val_halo": int(sc.get("val_halo", _CSICNN_RADIUS)), "val_zero_mean": bool(sc.get("val_zero_mean", True)),
        "val_wiener": bool(sc.get("val_wiener", True)),
    }


def _frame_rows(df: pd.DataFrame | None) -> list | None:
    """The file list of a split in order (order matters: the sampler indexes images by position).

    Paths are resolved, so the key does not depend on how ``data_root`` was spelled (relative or absolute).
    """
    if df is None:
        return None
    cols = [c for c in ("path", "device", "platform", "weight") if c in df.columns]
    return [[os.path.realpath(str(v)) if c == "path" else str(v) for c, v in zip(cols, row, strict=True)]
            for row in df[cols].itertuples(index=False, name=None)]


def training_key(kind: str, dataset_key: str, *, scale: str = "cpu", seed: int = 0, loss: str = "cosine",
                 train: pd.DataFrame | None = None, val: pd.DataFrame | None = None,
                 fingerprints: Mapping[str, np.ndarray] | None = None, config: Mapping[str, Any] | None = None,
                 pairs: int | None = None) -> tuple[str, dict[str, Any]]:
    """File stem and parameters of the checkpoint :func:`get_or_train` would use.

    The digest (:func:`csi.cache.key`) covers: ``kind, dataset_key, scale, seed, loss``; the resolved
    recipe (budget in pairs, evaluation points, batch, patch, crops, lr, gamma, milestones, phi,
    negative position, model flags, copy probability, target std, validation halo and post-processing);
    the training and validation file lists in order (path, device, platform, weight) and their files'
    sizes and modification times (:func:`csi.cache.files_digest`); the fingerprints' contents
    (:func:`csi.cache.array_digest`); and the code of :mod:`csi.train`, :mod:`csi.losses`,
    :mod:`csi.models`, :mod:`csi.prnu`, ``csi.evaluate.align_fingerprint`` / ``fingerprint_window`` and
    ``csi.metrics.auc_mann_whitney`` (:func:`csi.cache.code_digest`). Not included: the device, thread
    count, ``compile`` and ``prefetch`` (they do not change the maths).

    Returns
    -------
    stem : str
        ``<kind>-<dataset_key>-<scale>-s<seed>-<loss>[-p<pairs>]-<digest>``.
    params : dict
        The parameters that were digested (JSON-able; fingerprints and files as digests).

    Examples
    --------
    >>> stem, params = training_key("dncnn", "scenes", scale="smoke")
    >>> stem.startswith("dncnn-scenes-smoke-s0-mse-noise-"), params["recipe"]["steps"]
    (True, 6)
    """
    from . import cache

    check_choice("kind", kind, ("csi-cnn", "dncnn"))
    check_scale(scale)
    check_choice("loss", loss, LOSSES)
    if not isinstance(dataset_key, str) or not dataset_key or any(c in dataset_key for c in "/\\"):
        raise ValueError(f"dataset_key must be a non-empty name without slashes, got {dataset_key!r}")
    config = dict(config or {})
    check_keys("config keys", config, TRAIN_CONFIG_KEYS)
    semantic = {k: v for k, v in config.items() if k not in _RUNTIME_KEYS}
    if kind == "dncnn":
        recipe = {**DNCNN_SCALES[scale], **semantic}
        params = {"kind": kind, "dataset_key": dataset_key, "scale": scale, "seed": seed, "loss": "mse-noise",
                  "recipe": recipe, "version": 2}
        from . import simulate

        code = (*_training_code(), simulate)
        stem = f"dncnn-{dataset_key}-{scale}-s{seed}-mse-noise"
    else:
        recipe = _csi_recipe(scale, semantic, pairs)
        fps = None if fingerprints is None else {str(d): cache.array_digest(np.asarray(K))
                                                 for d, K in sorted(fingerprints.items())}
        params = {"kind": kind, "dataset_key": dataset_key, "scale": scale, "seed": seed, "loss": loss,
                  "recipe": recipe, "fingerprints": fps,
                  "train": _frame_rows(train), "val": _frame_rows(val),
                  "train_files": None if train is None else cache.files_digest(train["path"].tolist()),
                  "val_files": None if val is None else cache.files_digest(val["path"].tolist()),
                  "version": 2}
        code = _training_code()
        stem = f"csi-cnn-{dataset_key}-{scale}-s{seed}-{loss}-p{recipe['pairs']}"
    digest = cache.key("train", params, code=code).split("-", 1)[1]
    return f"{stem}-{digest}", params


def get_or_train(kind: str, dataset_key: str, *, scale: str = "cpu", seed: int = 0, loss: str = "cosine",
                 train: pd.DataFrame | None = None, val: pd.DataFrame | None = None,
                 fingerprints: Mapping[str, np.ndarray] | None = None, config: Mapping[str, Any] | None = None,
                 pairs: int | None = None, cache_dir: str | os.PathLike = "data/cache/models", device: str = "auto",
                 progress: bool = True, retrain: bool = False) -> Path:
    """Return the path of a trained checkpoint, training it first if it is not cached.

    The cache key (:func:`training_key`) names the training parameters, the data (file lists and
    fingerprint contents) and the code, so a changed recipe, split, fingerprint or training code never
    reuses a stale model and an unchanged rerun does. An interrupted CSI-CNN training resumes from its last
    evaluation point. The history CSV lies next to the checkpoint (same name, ``.csv``).

    Parameters
    ----------
    kind : {"csi-cnn", "dncnn"}
    dataset_key : str
        Names the data (e.g. ``"our"``); DnCNN trains on synthetic scenes, use e.g. ``"scenes"``.
    scale : {"smoke", "cpu", "paper"}
    seed : int
    loss : {"cosine", "mse", "mse-std"}
        CSI-CNN only.
    train : DataFrame or None
        Columns ``path, device``; optional ``platform`` (with ``config["copy_probability"]``: originals vs
        copies drawn with that probability, :func:`mix_weights`) or ``weight`` (drawing weights). The
        *regime* is what this list holds: originals only, or originals mixed with their platform copies.
    val : DataFrame or None
        Columns ``path, device`` and optional ``platform``: held-out images (e.g. platform copies) for
        :class:`ValidationSet` (per-platform metrics when ``platform`` is present).
    fingerprints : dict or None
        Camera fingerprints ``(H, W)`` float32 (CSI-CNN only).
    config : dict or None
        Overrides of :data:`TRAIN_SCALES` / :data:`DNCNN_SCALES` and options (keys in :data:`TRAIN_CONFIG_KEYS`).
    pairs : int or None
        Training budget in pairs (overrides ``config["pairs"]`` and the scale).
    cache_dir : path
    device : {"auto", "cpu", "cuda", "mps"}
    progress : bool
    retrain : bool
        Ignore a cached checkpoint.

    Returns
    -------
    pathlib.Path
        Checkpoint, loadable with :func:`load_model` (``torch.load(weights_only=True)``).

    Examples
    --------
    >>> p = get_or_train("csi-cnn", "our", train=train_df, val=val_copies_df, fingerprints=K,
    ...                  pairs=16_000, config={"batch": 64}, seed=1)   # doctest: +SKIP
    """
    config = dict(config or {})
    if pairs is not None:
        config["pairs"] = int(pairs)
    stem, params = training_key(kind, dataset_key, scale=scale, seed=seed, loss=loss, train=train, val=val,
                                fingerprints=fingerprints, config=config)
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{stem}.pt"
    if path.exists() and not retrain:
        try:
            if load_checkpoint(path).get("complete", False):
                log.info("using cached model %s", path)
                return path
        except ValueError as exc:
            log.warning("ignoring unreadable cached checkpoint: %s", exc)
            path.unlink()
    cache_dir.mkdir(parents=True, exist_ok=True)
    log_csv = cache_dir / f"{stem}.csv"
    runtime = {k: config[k] for k in _RUNTIME_KEYS if k in config}
    if kind == "dncnn":
        sc = params["recipe"]
        seed_everything(seed)
        model = DnCNN(depth=int(sc["depth"]), width=int(sc["width"]))
        log.info("training DnCNN (%d params) -> %s", count_parameters(model), path)
        fit_denoiser(model, scale, steps=int(sc["steps"]), batch=int(sc["batch"]), patch=int(sc["patch"]),
                     sigma_range=tuple(sc.get("sigma_range", (0.0, 55.0))), lr=float(sc.get("lr", 1e-3)),
                     scenes=_scene_pool(int(sc["scenes"]), int(sc["scene_size"]), np.random.default_rng([seed, 1])),
                     seed=seed, device=device, checkpoint=path, log_csv=log_csv, progress=progress)
        return path
    if train is None or fingerprints is None:
        raise ValueError(f"no cached model {path.name}: pass train (DataFrame with path, device) and "
                         "fingerprints to train it")
    for name, df in (("train", train), ("val", val)):
        if df is not None and not {"path", "device"} <= set(df.columns):
            raise ValueError(f"{name} must have columns 'path' and 'device'")
    rc = params["recipe"]
    weights = None
    if rc["copy_probability"] is not None:
        if "platform" not in train.columns or "weight" in train.columns:
            raise ValueError("config copy_probability needs a 'platform' column in train and no 'weight' column")
        weights = mix_weights((train["platform"].astype(str) != "original").to_numpy(), rc["copy_probability"])
    elif "weight" in train.columns:
        weights = train["weight"].to_numpy(np.float64)
    seed_everything(seed)
    model = CSICNN(relu_after_sub=rc["relu_after_sub"], relu_stage1_out=rc["relu_stage1_out"])
    sampler = PairSampler(train["path"].tolist(), train["device"].astype(str).tolist(), fingerprints,
                          patch=rc["patch"], batch=rc["batch"], seed=seed, crop=rc["crop"],
                          negative_position=rc["negative_position"], progress=progress, weights=weights)
    vset = None
    if val is not None and len(val):
        vset = ValidationSet.from_frame(val, fingerprints, crop=rc["val_crop"], progress=progress,
                                        halo=rc["val_halo"], zero_mean=rc["val_zero_mean"], wiener=rc["val_wiener"])
    log.info("training CSI-CNN (%s, %d pairs) -> %s", loss, rc["pairs"], path)
    fit(model, sampler, loss=loss, scale=scale, pairs=rc["pairs"], evals=rc["evals"], lr=rc["lr"],
        gamma=rc["gamma"], milestones=rc["milestones"], phi=rc["phi"], target_std=rc["target_std"], val=vset,
        device=device, seed=seed, log_csv=log_csv, checkpoint=path, resume=not retrain, progress=progress,
        channels_last=bool(runtime.get("channels_last", True)), threads=runtime.get("threads"),
        compile=bool(runtime.get("compile", False)), prefetch=int(runtime.get("prefetch", 2)),
        extra_config={"dataset_key": dataset_key, "stem": stem,
                      "skipped_train": [list(s) for s in sampler.skipped]})
    return path
