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
from .pairs import FingerprintWindows, as_image, check_int, describe_item
from .progress import bar as progress_bar

log = logging.getLogger(__name__)

__all__ = ["CSICNN_RADIUS", "ValidationSet"]


#: Receptive radius of CSI-CNN (six 3x3 layers): the default halo of :class:`ValidationSet`.
CSICNN_RADIUS = 6


class ValidationSet:
    """Held-out images (e.g. platform copies) scored as the evaluation does: the judge of a training run.

    Each image's centre ``crop`` is scored; the network runs on the crop plus ``halo`` pixels (>= the
    receptive radius gives the full-image residual, cropped), the residual is post-processed like
    ``get_extractor("csi-cnn")`` (:func:`csi.prnu.postprocess`) and correlated with every camera's
    fingerprint window (:func:`csi.evaluate.fingerprint_window`). :meth:`evaluate` gives ``val_auc`` (Eq. 12,
    every image x camera a sample, own camera positive), ``val_ncc_true`` (mean NCC with the own camera),
    ``val_acc`` (Eq. 9), overall and per platform (``val_auc_<platform>`` ...). Wang et al. (2021), Fig. 6.

    ``images``, ``devices``, ``fingerprints`` as for :class:`csi.pairs.PairSampler`; ``crop``: centre-crop side
    (>= 8, clamped to the image); ``platforms``: each image's, for per-platform metrics; ``zero_mean``,
    ``wiener``: post-processing as at evaluation; ``batch``: crops of equal size per forward pass.

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
        crop, halo, batch = check_int("crop", crop, 8), check_int("halo", halo, 0), check_int("batch", batch, 1)
        self.fp = FingerprintWindows(fingerprints)
        unknown = sorted(set(devices) - set(self.fp.raw))
        if unknown:
            raise ValueError(f"devices without a fingerprint: {', '.join(unknown)}")
        self.device_names = sorted(self.fp.raw)
        self.crop, self.halo, self.batch = crop, halo, batch
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
        """Build from a DataFrame with columns ``path``, ``device`` and optionally ``platform``."""
        if not isinstance(frame, pd.DataFrame) or not {"path", "device"} <= set(frame.columns):
            raise ValueError("frame must be a DataFrame with columns 'path' and 'device'")
        plat = frame["platform"].astype(str).tolist() if "platform" in frame.columns else None
        return cls(frame["path"].tolist(), frame["device"].astype(str).tolist(), fingerprints,
                   platforms=plat, **kwargs)

    def __len__(self) -> int:
        return len(self.windows)

    def _references(self, i: int) -> list[np.ndarray]:
        """Every camera's fingerprint window for image ``i``'s crop (float32, cached per image size)."""
        return [self.fp.get(dev, self._full[i], self.crop) for dev in self.device_names]

    def residuals(self, model: torch.nn.Module, device: str = "cpu") -> list[np.ndarray]:
        """Post-processed ``(h, w)`` float32 residual of each crop, by a BN-folded copy of ``model`` on crop + halo."""
        radius = receptive_radius(model)
        if radius > self.halo:
            log.warning("ValidationSet halo %d is smaller than the model's receptive radius %d: residuals "
                        "near the crop border see zero padding", self.halo, radius)
        fast = export_inference_model(model).to(device)
        fast = fast.to(memory_format=torch.channels_last) if device == "cpu" else fast
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
        """NCC ``(n_images, n_cameras)`` float64 of each residual with every camera (columns: ``device_names``).

        A camera whose window is smaller than the crop (another sensor) is compared on the common centre.
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
                col = re.sub(r"[^0-9a-z]+", "_", p.lower()).strip("_") or "unnamed"
                a, nt, acc = block(np.flatnonzero(plat == p))
                out[f"val_auc_{col}"], out[f"val_ncc_true_{col}"], out[f"val_acc_{col}"] = a, nt, acc
        return out

    def evaluate(self, model: torch.nn.Module, device: str = "cpu") -> dict[str, float]:
        """The ``val_*`` metrics of ``model`` (see the class description)."""
        return self.metrics_from_scores(self.scores(model, device))
