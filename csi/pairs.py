"""Training pairs of CSI-CNN (the paper's Fig. 2, Sec. 3.2.2): ``(label, I', K')`` cut from images in memory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .config import check_choice
from .evaluate import crop_box, fingerprint_window
from .io import ImageReadError, read_rgb
from .progress import bar as progress_bar

log = logging.getLogger(__name__)

__all__ = ["NEGATIVE_POSITIONS", "FingerprintWindows", "PairSampler", "DevicePairs", "mix_weights", "check_int"]

#: Where label-0's K'' is cut: ``"random"`` (the paper's "randomly select a subgraph K'' ... from Kset - K")
#: or ``"same"`` (I''s position, in the other camera).
NEGATIVE_POSITIONS: tuple[str, ...] = ("random", "same")


def check_int(name: str, value: Any, low: int) -> int:
    """``int(value)``; ValueError unless ``value`` is an int (not a bool) >= ``low``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def as_image(item: Any) -> np.ndarray:
    """Decode (path) or take (array) one image as (H, W, 3) uint8."""
    if isinstance(item, (str, os.PathLike)):
        return read_rgb(item)
    img = np.asarray(item)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img.astype(np.float32)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


class FingerprintWindows:
    """Cached read-only float32 :func:`csi.evaluate.fingerprint_window` s: ``get(device, image shape, crop)``."""

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
            win = np.ascontiguousarray(fingerprint_window(self.raw[device], shape, crop_box(tuple(shape), crop)), np.float32)
            win.setflags(write=False)
            self._cache[key] = win
        return self._cache[key]


def describe_item(item: Any, k: int) -> str:
    """An image's name in warnings: its path, or ``array#k``."""
    return str(item) if isinstance(item, (str, os.PathLike)) else f"array#{k}"


def _windows(a: np.ndarray, p: int) -> np.ndarray:
    """Read-only view of every ``p x p`` window of a stack ``(n, h, w, ...)``: ``(n, h-p+1, w-p+1, p, p, ...)``."""
    sh, st = a.shape, a.strides
    return np.lib.stride_tricks.as_strided(a, (sh[0], sh[1] - p + 1, sh[2] - p + 1, p, p, *sh[3:]),
                                           (*st[:3], st[1], st[2], *st[3:]), writeable=False)


def mix_weights(is_copy: Sequence[bool], copy_probability: float) -> np.ndarray:
    """``PairSampler`` weights ``(n,)`` float64 (sum 1) that draw a platform copy with ``copy_probability``.

    Originals share ``1 - copy_probability`` equally, copies (``is_copy`` True) share the rest; uniform
    drawing over originals plus 5 copies of each would draw a copy 5/6 of the time.

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
    """The paper's training pairs ``(label, I', K')`` (Fig. 2, Sec. 3.2.2), deterministic per seed.

    ``I'``: a random ``patch x patch`` window of a random training image. Label 1 (probability 1/2): ``K'``
    is the window at the same position of the own camera's fingerprint; label 0: a window of another camera's
    (drawn uniformly), placed per ``negative_position``. Images are decoded once, centre-cropped to ``crop``
    (the paper's "blocks in the central area") and kept as uint8; platform copies get fingerprints aligned
    as at evaluation. Unreadable or too-small images are skipped and listed in ``skipped`` ``(image, reason)``.

    ``images``: paths or ``(H, W, 3)`` uint8 / 0-255 arrays of any size; ``devices``: each one's camera;
    ``fingerprints``: ``(H, W)`` float32 (Eq. 5) of two cameras or more; ``patch``, ``batch``: paper 64, 64;
    a batch depends only on ``(seed, stream, step)``, so training resumes exactly; ``crop``: centre block
    kept (None: all); ``weights``: drawing weight per image (:func:`mix_weights`; None: uniform).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.integers(0, 256, (80, 96, 3), dtype=np.uint8) for _ in range(4)]
    >>> K = {c: rng.normal(size=(80, 96)).astype(np.float32) for c in "ab"}
    >>> s = PairSampler(imgs, list("abab"), K, patch=32, batch=8, seed=0)
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
        patch, batch, seed = check_int("patch", patch, 1), check_int("batch", batch, 1), check_int("seed", seed, 0)
        if crop is not None:
            check_int("crop", crop, patch)
        check_choice("negative_position", negative_position, NEGATIVE_POSITIONS)
        w_in = None
        if weights is not None:
            w_in = np.asarray(weights, dtype=np.float64).ravel()
            if w_in.shape != (len(images),) or not np.isfinite(w_in).all() or (w_in < 0).any():
                raise ValueError(f"weights must be {len(images)} finite non-negative numbers")
        self.fp = FingerprintWindows(fingerprints)
        unknown = sorted(set(devices) - set(self.fp.raw))
        if unknown:
            raise ValueError(f"devices without a fingerprint: {', '.join(unknown)}")
        if len(self.fp.raw) < 2:
            raise ValueError("fingerprints must hold at least two cameras (label-0 pairs need another camera)")
        self.patch, self.batch, self.seed, self.crop = patch, batch, seed, crop
        self.negative_position = negative_position
        self.device_names = sorted(self.fp.raw)
        self.skipped: list[tuple[str, str]] = []
        kept: list[tuple[np.ndarray, str, tuple[int, int], float]] = []
        for k, (item, dev) in enumerate(progress_bar(list(zip(images, devices, strict=True)),
                                                     desc="decode training images", enabled=progress, unit="img")):
            name = describe_item(item, k)
            try:
                img = as_image(item)
                full_shape = tuple(img.shape[:2])
                y0, y1, x0, x1 = crop_box(full_shape, crop)
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
        self._group, self._member = np.empty(n, np.int64), np.empty(n, np.int64)
        self._stacks: list[np.ndarray] = []
        self._views: list[list[np.ndarray]] = []  # per group: each camera's aligned fingerprint window
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
            self._views.append(views)
            same = len({v.shape for v in views}) == 1
            self._xwin.append(_windows(stack, self.patch))
            self._kwin.append(_windows(np.stack(views), self.patch) if same
                              else [_windows(v[None], self.patch)[0] for v in views])
            self._kshape[g] = [v.shape for v in views]
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
        if weighted and w.sum() <= 0:
            raise ValueError("weights of the usable images are all zero")
        self.weights: np.ndarray | None = w / w.sum() if weighted else None

    def __len__(self) -> int:
        return len(self.images)

    def plan(self, stream: int, step: int) -> dict[str, np.ndarray]:
        """Batch ``(stream, step)``'s draws, ``(batch,)`` int64 arrays: ``label``; ``image`` (index), ``row``, ``col``
        of I'; ``camera`` (index into ``device_names``), ``krow``, ``kcol`` of K' in that camera's aligned window.
        """
        rng = np.random.default_rng([self.seed, int(stream), int(step)])
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

    def arrays_at(self, stream: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch ``(stream, step)`` as arrays: x ``(batch, patch, patch, 3)`` uint8, y ``(batch, 1, patch, patch)``
        float32, label ``(batch,)`` int64; one gather per image size from a strided view of all windows.
        """
        pl = self.plan(stream, step)
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

    def batch_at(self, stream: int, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`arrays_at` as tensors: x ``(batch, 3, patch, patch)`` float32 RGB in [0, 1], y, label float32."""
        x, y, label = self.arrays_at(stream, step)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)
        return xt.contiguous(), torch.from_numpy(y), torch.from_numpy(label.astype(np.float32))


class DevicePairs:
    """A :class:`PairSampler`'s images and fingerprint windows as tensors on ``device``, loaded once.

    :meth:`batch`: :meth:`PairSampler.arrays_at`'s batch bit for bit, cut on the device (x uint8, y and label
    float32); only :meth:`PairSampler.plan`'s draws cross from the host, so a GPU is not fed patch by patch.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> K = {c: rng.normal(size=(48, 48)).astype(np.float32) for c in "ab"}
    >>> s = PairSampler([rng.integers(0, 256, (48, 48, 3), np.uint8) for c in "ab"], list("ab"), K, patch=16)
    >>> bool((DevicePairs(s, "cpu").batch(0, 3)[0].numpy() == s.arrays_at(0, 3)[0]).all())
    True
    """

    def __init__(self, sampler: PairSampler, device: str | torch.device):
        self.sampler, self.device = sampler, torch.device(device)
        self.stacks = [torch.tensor(a, device=self.device) for a in sampler._stacks]
        self.views = [torch.tensor(w, device=self.device) for v in sampler._views for w in v]  # group-major
        self.offsets = torch.arange(sampler.patch, device=self.device)

    def _cut(self, sources: list, which: np.ndarray, row: np.ndarray, col: np.ndarray, *lead: np.ndarray):
        """``sources[which[k]][*lead[k], row[k] + i, col[k] + j]`` for ``i, j < patch``: ``(n, patch, patch, ...)``."""
        parts, order = [], {k: np.flatnonzero(which == k) for k in np.unique(which)}
        for k, sel in order.items():
            r, c, *ld = (torch.from_numpy(v[sel]).to(self.device)[:, None, None] for v in (row, col, *lead))
            parts.append(sources[k][(*ld, r + self.offsets[:, None], c + self.offsets)])
        return torch.cat(parts)[torch.from_numpy(np.argsort(np.concatenate(list(order.values())))).to(self.device)]

    def batch(self, stream: int, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s, pl = self.sampler, self.sampler.plan(stream, step)
        g = s._group[pl["image"]]
        x = self._cut(self.stacks, g, pl["row"], pl["col"], s._member[pl["image"]])
        y = self._cut(self.views, g * len(s.device_names) + pl["camera"], pl["krow"], pl["kcol"])
        return x, y[:, None], torch.from_numpy(pl["label"].astype(np.float32)).to(self.device)
