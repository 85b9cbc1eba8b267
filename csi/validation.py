"""Validation of a training run: held-out images scored against every camera as the evaluation does."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import metrics, prnu
from .evaluate import crop_box
from .io import ImageReadError
from .models import export_inference_model, receptive_radius
from .pairs import FingerprintWindows, as_image, describe_item
from .progress import bar as progress_bar

log = logging.getLogger(__name__)

__all__ = ["CSICNN_RADIUS", "ValidationSet"]


def _column_name(platform: str) -> str:
    """A platform label as a history-column suffix: lower case, runs of other characters as ``_``."""
    name = re.sub(r"[^0-9a-z]+", "_", str(platform).lower()).strip("_")
    return name or "unnamed"


#: Receptive radius of CSI-CNN (six 3x3 layers): the default halo of :class:`ValidationSet`.
CSICNN_RADIUS = 6


class ValidationSet:
    """Held-out images (e.g. platform copies) scored like the evaluation; the judge of a training run.

    Every image is decoded once. Its centre crop (``crop``, clamped to the image) is the region scored,
    as in :func:`csi.evaluate.evaluate`; the network runs on that crop enlarged by ``halo`` pixels on
    every side (clipped at the image border) and its output is cut back to the crop, so with ``halo`` at
    least the receptive radius (:func:`csi.models.receptive_radius`, 6 for CSI-CNN) the residual equals
    the full-image residual cropped - not the output of a zero-padded crop. The crop's residual is then
    post-processed as :func:`csi.evaluate.get_extractor` does for ``"csi-cnn"``
    (:func:`csi.prnu.postprocess`: CFA zero-mean and DFT Wiener) and correlated (NCC,
    :func:`csi.prnu.ncc_matrix`) with every camera's fingerprint window (:func:`csi.evaluate.fingerprint_window`:
    resampled to a platform copy's size, then cropped alike).

    Metrics (:meth:`evaluate`): ``val_auc`` - Mann-Whitney AUC (Eq. 12) with every image x candidate
    camera a sample, the image's own camera positive (:func:`csi.metrics.auc_mann_whitney`); ``val_ncc_true``
    - mean NCC with the own camera; ``val_acc`` - closed-set accuracy (Eq. 9,
    :func:`csi.metrics.closed_set_accuracy`); and the same three per platform
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
    >>> from csi.models import CSICNN
    >>> rng = np.random.default_rng(0)
    >>> K = {c: rng.normal(size=(40, 48)).astype(np.float32) for c in "ab"}
    >>> imgs = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    >>> v = ValidationSet(imgs, list("abab"), K, crop=32, platforms=["original"] * 2 + ["x"] * 2)
    >>> sorted(v.evaluate(CSICNN()))[:4]
    ['val_acc', 'val_acc_original', 'val_acc_x', 'val_auc']
    """

    def __init__(self, images: Sequence[Any], devices: Sequence[str], fingerprints: Mapping[str, np.ndarray],
                 crop: int = 256, progress: bool = False, *, platforms: Sequence[str] | None = None,
                 halo: int = CSICNN_RADIUS, zero_mean: bool = True, wiener: bool = True, batch: int = 8):
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
        self.fp = FingerprintWindows(fingerprints)
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
        self.skipped: list[tuple[str, str]] = []
        for k, (item, dev) in enumerate(progress_bar(list(zip(images, devices, strict=True)), desc="decode validation",
                                                     enabled=progress, unit="img")):
            name = describe_item(item, k)
            try:
                img = as_image(item)
                full = tuple(img.shape[:2])
                y0, y1, x0, x1 = crop_box(full, self.crop)
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
                        out[i] = prnu.postprocess(res[j, a:b, c:d], zero_mean=self.zero_mean, wiener=self.wiener)
        return out

    def scores(self, model: torch.nn.Module, device: str = "cpu") -> np.ndarray:
        """NCC of each validation image's residual with every camera (:func:`csi.prnu.ncc_matrix`).

        Images of one size share their fingerprint windows and are scored in one call; a camera whose window
        is smaller than the crop (a smaller sensor) is compared on the common centre (:func:`csi.prnu.ncc`).

        Returns
        -------
        numpy.ndarray
            ``(n_images, n_cameras)`` float64 in [-1, 1]; columns follow :attr:`device_names`.
        """
        res = self.residuals(model, device)
        out = np.empty((len(res), len(self.device_names)))
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, full in enumerate(self._full):
            by_size.setdefault(full, []).append(i)
        for members in by_size.values():
            refs = self._references(members[0])
            shape = res[members[0]].shape
            if all(r.shape == shape for r in refs):
                out[members] = prnu.ncc_matrix(np.stack([res[i] for i in members]), np.stack(refs))
                continue
            for i in members:
                for j, K in enumerate(refs):
                    h, w = min(shape[0], K.shape[0]), min(shape[1], K.shape[1])
                    out[i, j] = prnu.ncc(prnu.center_crop(res[i], (h, w), copy=False),
                                         prnu.center_crop(K, (h, w), copy=False))
        return out

    def metrics_from_scores(self, scores: np.ndarray) -> dict[str, float]:
        """AUC (Eq. 12), mean true-camera NCC and ACC (Eq. 9) of a :meth:`scores` matrix, overall and per platform."""
        s = np.asarray(scores, np.float64)
        if s.shape != (len(self), len(self.device_names)):
            raise ValueError(f"scores must have shape {(len(self), len(self.device_names))}, got {s.shape}")
        true = np.asarray(self.true_index)
        labels = np.zeros(s.shape, bool)
        labels[np.arange(len(s)), true] = True

        def block(rows: np.ndarray) -> tuple[float, float, float]:
            auc = (float(metrics.auc_mann_whitney(s[rows].ravel(), labels[rows].ravel()))
                   if len(self.device_names) > 1 else float("nan"))
            acc = float(metrics.closed_set_accuracy(s[rows], true[rows]))
            return auc, float(s[rows, true[rows]].mean()), acc

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



