"""Training: CSI-CNN pairs (the paper's Fig. 2), the training loop, checkpoints, DnCNN denoiser training.

* :class:`PairSampler` cuts the paper's training pairs ``(label, I', K')`` from images held in memory
  (each image decoded once).
* :class:`ValidationSet` scores centre crops of validation images against every camera fingerprint
  and gives the AUC after every epoch (the paper's Fig. 6).
* :func:`fit` trains CSI-CNN with Adam and the paper's step schedule, logs CSV, writes resumable
  checkpoints (state_dict + plain config, loadable with ``weights_only=True``).
* :func:`fit_denoiser` trains DnCNN as a blind Gaussian denoiser on the project's synthetic scenes.
* :func:`get_or_train` returns a cached checkpoint or trains it, so every notebook can run alone.

Reading of the paper's schedule (Sec. 4.3): "iterates 100 epochs, and each iteration is 30 times, and
the learning rate becomes 0.2 times of the original" is read as lr x 0.2 every 30 epochs of 100. At
smaller scales the step keeps the same proportion: ``lr_step = max(1, round(0.3 * epochs))``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .config import check_choice, check_keys, check_scale, seed_everything, select_device
from .losses import DEFAULT_PHI, LOSSES, cosine_loss, mse_loss
from .models import CSICNN, DnCNN, count_parameters, export_inference_model

log = logging.getLogger(__name__)

__all__ = [
    "TRAIN_SCALES",
    "DNCNN_SCALES",
    "NEGATIVE_POSITIONS",
    "PairSampler",
    "ValidationSet",
    "fit",
    "fit_denoiser",
    "lr_step_for",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "load_history",
    "get_or_train",
]

#: CSI-CNN training sizes per scale. ``paper``: 100 epochs, 64 pairs of 64x64 per batch (Sec. 3.2.2,
#: 4.3). ``cpu``: about 3 minutes on 2 CPU cores (240 steps of 16 pairs of the paper's 64x64 patches;
#: the patch size mattered most, see docs/training.md). ``smoke``: seconds, for tests. ``crop``: the centre
#: block every training image is cut to before patches are drawn (Sec. 4.1, "cropped into blocks in
#: the central area"); ``None`` keeps the whole image. ``val_crop``: centre crop for validation AUC.
TRAIN_SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 2, "steps_per_epoch": 4, "batch": 8, "patch": 32, "crop": 128, "val_crop": 64},
    "cpu": {"epochs": 6, "steps_per_epoch": 40, "batch": 16, "patch": 64, "crop": 512, "val_crop": 192},
    "paper": {"epochs": 100, "steps_per_epoch": 500, "batch": 64, "patch": 64, "crop": 1024, "val_crop": 512},
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


def lr_step_for(epochs: int) -> int:
    """Epochs between lr x 0.2 decays: 30 of 100 in the paper, the same proportion otherwise.

    Examples
    --------
    >>> lr_step_for(100), lr_step_for(10), lr_step_for(2)
    (30, 3, 1)
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return max(1, round(0.3 * epochs))


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
        h, w = img.shape[:2]
        ch, cw = min(crop, h), min(crop, w)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        img = img[y0:y0 + ch, x0:x0 + cw]
    return np.ascontiguousarray(img)


def _crop_box(full: tuple[int, int], crop: int | None) -> tuple[int, int, int, int]:
    h, w = full
    if crop is None:
        return 0, h, 0, w
    ch, cw = min(crop, h), min(crop, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return y0, y0 + ch, x0, x0 + cw


class _FingerprintCache:
    """Fingerprints aligned to an image size (resampled/rotated/cropped once per device and shape)."""

    def __init__(self, fingerprints: Mapping[str, np.ndarray]):
        if not isinstance(fingerprints, Mapping) or not fingerprints:
            raise ValueError("fingerprints must be a non-empty dict device -> (H, W) array")
        self.raw = {}
        for dev, K in fingerprints.items():
            K = np.asarray(K)
            if K.ndim != 2:
                raise ValueError(f"fingerprints[{dev!r}] must be 2-D (H, W), got shape {K.shape}")
            self.raw[dev] = K
        self._cache: dict[tuple, np.ndarray] = {}

    def get(self, device: str, shape: tuple[int, int], crop: int | None = None) -> np.ndarray:
        key = (device, tuple(shape), crop)
        if key not in self._cache:
            from .evaluate import fingerprint_window

            self._cache[key] = fingerprint_window(self.raw[device], shape, _crop_box(tuple(shape), crop))
        return self._cache[key]


class PairSampler:
    """The paper's training pairs (Fig. 2, Sec. 3.2.2), deterministic per seed.

    A pair is ``(label, I', K')``: ``I'`` a random ``patch x patch`` window of a random training image;
    label 1 (probability 1/2): ``K'`` is the window at the same position of the source camera's
    fingerprint; label 0: ``K'`` is a same-size window of another camera's fingerprint (camera drawn
    uniformly from the others; position uniform at random, or the same position with
    ``negative_position="same"``).

    Each image is decoded once, centre-cropped to ``crop`` (the paper's "blocks in the central area")
    and kept in memory as uint8; patches are sliced from memory. An image smaller than its camera's
    fingerprint with the same aspect ratio (a platform copy) gets the fingerprint resampled to its size
    (:func:`csi.evaluate.align_fingerprint`, cached per device and shape), so "same position" keeps its
    meaning. Unreadable or too-small images are skipped, listed in :attr:`skipped` and logged.

    Parameters
    ----------
    images : sequence of path or ndarray
        Paths (read with :func:`csi.io.read_rgb`) or ``(H, W, 3)`` uint8 / 0-255 float arrays.
    devices : sequence of str
        Source camera of each image; every one must be a key of ``fingerprints``.
    fingerprints : dict str -> ndarray
        ``(H, W)`` float32 camera fingerprints (Eq. 5 output), at least two cameras.
    patch, batch : int
        Patch side (paper 64) and pairs per batch (paper 64).
    seed : int
        Batches depend only on ``(seed, epoch, step)``, so training can resume exactly.
    crop : int or None
        Centre block kept of every image (``None``: whole image).
    negative_position : {"random", "same"}
    progress : bool
        tqdm bar while decoding.

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
                 negative_position: str = "random", progress: bool = False):
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
        self.fp = _FingerprintCache(fingerprints)
        unknown = sorted(set(devices) - set(self.fp.raw))
        if unknown:
            raise ValueError(f"devices without a fingerprint: {', '.join(unknown)}")
        if len(self.fp.raw) < 2:
            raise ValueError("fingerprints must hold at least two cameras (label-0 pairs need another camera)")
        self.patch, self.batch, self.seed, self.crop = int(patch), int(batch), int(seed), crop
        self.negative_position = negative_position
        self.images: list[np.ndarray] = []
        self.devices: list[str] = []
        self.fingerprint_views: list[np.ndarray] = []
        self.skipped: list[tuple[str, str]] = []
        self._shapes: list[tuple[int, int]] = []
        from .io import ImageReadError

        for item, dev in tqdm(list(zip(images, devices, strict=True)), desc="decode training images",
                              disable=not progress, leave=False):
            name = str(item) if isinstance(item, (str, os.PathLike)) else f"array#{len(self.images) + len(self.skipped)}"
            try:
                img = _as_image(item, None)
                full_shape = img.shape[:2]
                y0, y1, x0, x1 = _crop_box(full_shape, crop)
                img = np.ascontiguousarray(img[y0:y1, x0:x1])
            except (ImageReadError, OSError, ValueError) as exc:
                self.skipped.append((name, str(exc)))
                continue
            if min(img.shape[:2]) < self.patch:
                self.skipped.append((name, f"smaller than the patch ({img.shape[:2]} < {self.patch})"))
                continue
            Kview = self.fp.get(dev, full_shape, crop)
            if Kview.shape != img.shape[:2]:
                self.skipped.append((name, f"larger than its camera's fingerprint {self.fp.raw[dev].shape}"))
                continue
            small = [d for d in self.fp.raw if min(self.fp.get(d, full_shape, crop).shape) < self.patch]
            if small:
                raise ValueError(f"fingerprints of {', '.join(small)} are smaller than the patch ({self.patch})")
            self.images.append(img)
            self.devices.append(dev)
            self.fingerprint_views.append(Kview)
            self._shapes.append(tuple(full_shape))
        if self.skipped:
            log.warning("PairSampler skipped %d of %d images: %s", len(self.skipped), len(images),
                        "; ".join(f"{p}: {r}" for p, r in self.skipped[:5]))
        if not self.images:
            raise ValueError("no usable training image (all skipped): " + "; ".join(r for _, r in self.skipped[:3]))
        self.device_names = sorted(self.fp.raw)
        log.info("PairSampler: %d images of %d cameras, patch %d, batch %d", len(self.images),
                 len(set(self.devices)), self.patch, self.batch)

    def __len__(self) -> int:
        return len(self.images)

    def _other_view(self, i: int, other: str) -> np.ndarray:
        """Fingerprint of camera ``other`` aligned like image ``i``'s own fingerprint view."""
        return self.fp.get(other, self._shapes[i], self.crop)

    def batch_at(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch number ``step`` of ``epoch``; the same arguments give the same batch.

        Returns
        -------
        x : torch.Tensor
            ``(batch, 3, patch, patch)`` float32 RGB in [0, 1].
        y : torch.Tensor
            ``(batch, 1, patch, patch)`` float32 fingerprint patches.
        label : torch.Tensor
            ``(batch,)`` float32 in {0, 1}.
        """
        rng = np.random.default_rng([self.seed, int(epoch), int(step)])
        p, n = self.patch, self.batch
        x = np.empty((n, p, p, 3), np.uint8)
        y = np.empty((n, 1, p, p), np.float32)
        label = rng.integers(0, 2, n)
        idx = rng.integers(0, len(self.images), n)
        for k in range(n):
            i = int(idx[k])
            img = self.images[i]
            h, w = img.shape[:2]
            r, c = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            x[k] = img[r:r + p, c:c + p]
            if label[k] == 1:
                y[k, 0] = self.fingerprint_views[i][r:r + p, c:c + p]
            else:
                others = [d for d in self.device_names if d != self.devices[i]]
                K = self._other_view(i, others[int(rng.integers(0, len(others)))])
                if self.negative_position == "random":
                    r, c = int(rng.integers(0, K.shape[0] - p + 1)), int(rng.integers(0, K.shape[1] - p + 1))
                else:  # "same"; a smaller fingerprint (other sensor size) clips the position
                    r, c = min(r, K.shape[0] - p), min(c, K.shape[1] - p)
                y[k, 0] = K[r:r + p, c:c + p]
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)
        return xt.contiguous(), torch.from_numpy(y), torch.from_numpy(label.astype(np.float32))

    def epoch(self, epoch: int, steps: int):
        """Iterate over ``steps`` batches of ``epoch`` (see :meth:`batch_at`)."""
        for s in range(steps):
            yield self.batch_at(epoch, s)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC (csi.metrics, Eq. 12)."""
    from .metrics import auc_mann_whitney

    return float(auc_mann_whitney(np.asarray(scores, np.float64), np.asarray(labels, bool)))


class ValidationSet:
    """Validation images scored against every camera fingerprint; gives the AUC tracked per epoch.

    Each image is decoded once and centre-cropped to ``crop``; the fingerprints are aligned to it
    (resampled for platform copies) and cropped alike. The score is the NCC (means removed) of the raw
    network output with each camera's fingerprint crop, without post-processing; the AUC takes the
    image's own camera as positive and every other camera as negative (Eq. 12).

    Parameters
    ----------
    images, devices, fingerprints
        As for :class:`PairSampler`.
    crop : int
        Centre-crop side (clamped to the image).
    progress : bool

    References
    ----------
    Wang et al. (2021), Fig. 6 (AUC per epoch) and Eq. 12.
    """

    def __init__(self, images: Sequence[Any], devices: Sequence[str], fingerprints: Mapping[str, np.ndarray],
                 crop: int = 256, progress: bool = False):
        images, devices = list(images), [str(d) for d in devices]
        if len(images) != len(devices):
            raise ValueError(f"images and devices differ in length: {len(images)} != {len(devices)}")
        if not isinstance(crop, (int, np.integer)) or crop < 8:
            raise ValueError(f"crop must be an int >= 8, got {crop!r}")
        from .io import ImageReadError

        self.fp = _FingerprintCache(fingerprints)
        unknown = sorted(set(devices) - set(self.fp.raw))
        if unknown:
            raise ValueError(f"devices without a fingerprint: {', '.join(unknown)}")
        self.device_names = sorted(self.fp.raw)
        self.crop = int(crop)
        self.crops: list[np.ndarray] = []
        self.true_index: list[int] = []
        self._refs: list[tuple[tuple[int, int], int]] = []
        self._normed: dict[tuple, np.ndarray] = {}
        self.skipped: list[tuple[str, str]] = []
        for k, (item, dev) in enumerate(tqdm(list(zip(images, devices, strict=True)), desc="decode validation",
                                             disable=not progress, leave=False)):
            name = str(item) if isinstance(item, (str, os.PathLike)) else f"array#{k}"
            try:
                img = _as_image(item, None)
                full = img.shape[:2]
                y0, y1, x0, x1 = _crop_box(full, self.crop)
                own = self.fp.get(dev, full, self.crop)
            except (ImageReadError, OSError, ValueError) as exc:
                self.skipped.append((name, str(exc)))
                continue
            if own.shape != (y1 - y0, x1 - x0):
                self.skipped.append((name, f"larger than its camera's fingerprint {self.fp.raw[dev].shape}"))
                continue
            self.crops.append(np.ascontiguousarray(img[y0:y1, x0:x1]))
            self.true_index.append(self.device_names.index(dev))
            self._refs.append((tuple(full), 0))
        if self.skipped:
            log.warning("ValidationSet skipped %d images: %s", len(self.skipped),
                        "; ".join(f"{p}: {r}" for p, r in self.skipped[:5]))
        if not self.crops:
            raise ValueError("no usable validation image")

    def _reference_stack(self, full: tuple[int, int]) -> list[np.ndarray]:
        """Fingerprint windows (one per camera, float32) for the centre crop of images of shape ``full``."""
        key = tuple(full)
        if key not in self._normed:
            self._normed[key] = [self.fp.get(dev, key, self.crop) for dev in self.device_names]
        return self._normed[key]

    def __len__(self) -> int:
        return len(self.crops)

    def scores(self, model: torch.nn.Module, device: str = "cpu") -> np.ndarray:
        """NCC of each validation image's network residual with every camera.

        Returns
        -------
        numpy.ndarray
            ``(n_images, n_cameras)`` float64 in [-1, 1]; columns follow :attr:`device_names`.
        """
        from .evaluate import _common_centre
        from .prnu import ncc

        fast = export_inference_model(model).to(device)
        out = np.empty((len(self.crops), len(self.device_names)))
        with torch.inference_mode():
            for i, (img, (full, _)) in enumerate(zip(self.crops, self._refs, strict=True)):
                x = torch.from_numpy(img).permute(2, 0, 1).float().div_(255.0).unsqueeze(0).to(device)
                r = fast(x)[0, 0].float().cpu().numpy()
                for j, K in enumerate(self._reference_stack(full)):
                    out[i, j] = ncc(*_common_centre(r, K))
        return out

    def auc(self, model: torch.nn.Module, device: str = "cpu") -> float:
        """Mann-Whitney AUC of :meth:`scores` (own camera positive, the others negative)."""
        s = self.scores(model, device)
        labels = np.zeros_like(s, dtype=bool)
        labels[np.arange(len(s)), self.true_index] = True
        return _auc(s.ravel(), labels.ravel())


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


def fit(model: torch.nn.Module, sampler: PairSampler, loss: str = "cosine", scale: str = "cpu", *,
        epochs: int | None = None, steps_per_epoch: int | None = None, lr: float = 1e-3, gamma: float = 0.2,
        lr_step: int | None = None, phi: float = DEFAULT_PHI, val: ValidationSet | None = None,
        device: str = "auto", seed: int = 0, log_csv: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None, resume: bool = True, progress: bool = True,
        channels_last: bool = True, extra_config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Train CSI-CNN on :class:`PairSampler` batches (the paper's Fig. 2 and Sec. 4.3).

    Adam at ``lr`` (paper 1e-3), lr x ``gamma`` (0.2) every ``lr_step`` epochs (default
    :func:`lr_step_for`: 30 of 100). After every epoch: validation AUC (if ``val``), a CSV row, and a
    checkpoint. With ``resume`` and an existing ``checkpoint`` of the same configuration, training goes
    on from its last epoch and gives the same result as an uninterrupted run (batches depend only on
    seed, epoch and step).

    Parameters
    ----------
    model : CSICNN
        Trained in place (its parameters change); moved to ``device``.
    sampler : PairSampler
    loss : {"cosine", "mse"}
        Eq. 6-8 (:func:`csi.losses.cosine_loss`) or ref. [20]'s MSE on label-1 pairs.
    scale : {"smoke", "cpu", "paper"}
        Supplies ``epochs`` and ``steps_per_epoch`` from :data:`TRAIN_SCALES` when they are None.
    phi : float
        Eq. 7's phi (cosine loss only).
    val : ValidationSet or None
        Validation AUC per epoch; epoch 0 is the untrained model.
    device : {"auto", "cpu", "cuda", "mps"}
    seed : int
    log_csv, checkpoint : path or None
    channels_last : bool
        Train in channels-last memory format (faster on CPU with oneDNN; same maths).
    extra_config : dict or None
        Stored in the checkpoint's config (e.g. data description).

    Returns
    -------
    pandas.DataFrame
        One row per epoch (epoch 0: before training): ``epoch, train_loss, val_auc, lr, seconds,
        pairs_per_s``.

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2, Fig. 2, Sec. 4.3, Fig. 6.
    """
    check_scale(scale)
    check_choice("loss", loss, LOSSES)
    if not isinstance(sampler, PairSampler):
        raise TypeError(f"sampler must be a PairSampler, got {type(sampler).__name__}")
    if not isinstance(model, CSICNN):
        raise TypeError(f"model must be a CSICNN, got {type(model).__name__}")
    sc = TRAIN_SCALES[scale]
    epochs = int(sc["epochs"] if epochs is None else epochs)
    steps = int(sc["steps_per_epoch"] if steps_per_epoch is None else steps_per_epoch)
    if epochs < 1 or steps < 1:
        raise ValueError(f"epochs and steps_per_epoch must be >= 1, got {epochs} and {steps}")
    if not (lr > 0):
        raise ValueError(f"lr must be > 0, got {lr}")
    lr_step = lr_step_for(epochs) if lr_step is None else int(lr_step)
    seed_everything(seed)
    dev = select_device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(dev).to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step, gamma=gamma)
    config = {
        "kind": "csi-cnn", "model": model.config(),
        "train": {"loss": loss, "scale": scale, "epochs": epochs, "steps_per_epoch": steps, "lr": lr,
                  "gamma": gamma, "lr_step": lr_step, "phi": float(phi), "seed": seed,
                  "batch": sampler.batch, "patch": sampler.patch, "crop": sampler.crop,
                  "negative_position": sampler.negative_position, "n_train_images": len(sampler)},
        "extra": dict(extra_config or {}),
    }
    log_csv = Path(log_csv) if log_csv is not None else None
    ckpt = Path(checkpoint) if checkpoint is not None else None
    history: list[dict] = []
    start = 1
    if ckpt is not None and resume and ckpt.exists():
        ck = load_checkpoint(ckpt)
        if ck["config"].get("train") != json.loads(json.dumps(config["train"])):
            raise ValueError(f"checkpoint {ckpt} was trained with another configuration; "
                             "delete it or pass resume=False")
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        history = list(ck.get("history", []))
        start = int(ck["epoch"]) + 1
        log.info("resuming %s at epoch %d", ckpt, start)
    elif log_csv is not None and log_csv.exists():
        log_csv.unlink()
    if start == 1:
        row = {"epoch": 0, "train_loss": float("nan"),
               "val_auc": val.auc(model, dev) if val is not None else float("nan"),
               "lr": lr, "seconds": 0.0, "pairs_per_s": float("nan")}
        history.append(row)
        _append_csv(log_csv, row)
    loss_fn: Callable = ((lambda o, y, lab: cosine_loss(o, y, lab, phi=phi)) if loss == "cosine"
                         else (lambda o, y, lab: mse_loss(o, y, lab)))
    for epoch in range(start, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        total, count = 0.0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False)
        for step in bar:
            x, y, lab = sampler.batch_at(epoch, step)
            x = x.to(dev).contiguous(memory_format=fmt)
            y, lab = y.to(dev), lab.to(dev)
            opt.zero_grad(set_to_none=True)
            value = loss_fn(model(x), y, lab)
            if not torch.isfinite(value):
                raise FloatingPointError(f"loss became {value.item()} at epoch {epoch} step {step}")
            value.backward()
            opt.step()
            total += float(value.detach())
            count += 1
            bar.set_postfix(loss=f"{total / count:.4f}")
        seconds = time.perf_counter() - t0
        current_lr = opt.param_groups[0]["lr"]
        sched.step()
        model.eval()
        row = {"epoch": epoch, "train_loss": total / count,
               "val_auc": val.auc(model, dev) if val is not None else float("nan"),
               "lr": current_lr, "seconds": seconds, "pairs_per_s": steps * sampler.batch / seconds}
        history.append(row)
        _append_csv(log_csv, row)
        log.info("epoch %d/%d loss %.4f val_auc %.4f (%.1f s)", epoch, epochs, row["train_loss"],
                 row["val_auc"], seconds)
        if ckpt is not None:
            save_checkpoint(ckpt, model, config, optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                            epoch=epoch, history=history, complete=epoch == epochs)
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
    for step in tqdm(range(1, steps + 1), desc="train DnCNN", disable=not progress, leave=False):
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


#: Keys accepted in ``get_or_train(config=...)``.
TRAIN_CONFIG_KEYS: tuple[str, ...] = (
    "epochs", "steps_per_epoch", "batch", "patch", "crop", "val_crop", "lr", "gamma", "lr_step", "phi",
    "negative_position", "relu_after_sub", "relu_stage1_out", "channels_last",
    # DnCNN
    "depth", "width", "steps", "sigma_range", "scenes", "scene_size",
)


def _data_digest(df: pd.DataFrame | None) -> str:
    if df is None:
        return ""
    rows = sorted(zip(df["path"].astype(str), df["device"].astype(str), strict=True))
    return hashlib.sha1(json.dumps(rows).encode()).hexdigest()[:16]


def get_or_train(kind: str, dataset_key: str, *, scale: str = "cpu", seed: int = 0, loss: str = "cosine",
                 train: pd.DataFrame | None = None, val: pd.DataFrame | None = None,
                 fingerprints: Mapping[str, np.ndarray] | None = None, config: Mapping[str, Any] | None = None,
                 cache_dir: str | os.PathLike = "data/cache/models", device: str = "auto",
                 progress: bool = True, retrain: bool = False) -> Path:
    """Return the path of a trained checkpoint, training it first if it is not cached.

    The cache key is ``kind / dataset_key / scale / seed / loss`` plus a hash of ``config`` and of the
    training/validation file lists, so a changed recipe or split never reuses a stale model. An
    interrupted CSI-CNN training resumes from its last epoch. The per-epoch CSV log lies next to the
    checkpoint (same name, ``.csv``).

    Parameters
    ----------
    kind : {"csi-cnn", "dncnn"}
    dataset_key : str
        Names the data (e.g. ``"our"``); DnCNN trains on synthetic scenes, use e.g. ``"scenes"``.
    scale : {"smoke", "cpu", "paper"}
    seed : int
    loss : {"cosine", "mse"}
        CSI-CNN only.
    train, val : DataFrame or None
        Columns ``path, device``: training images and validation images (CSI-CNN only; ``val`` gives
        the per-epoch AUC of Fig. 6).
    fingerprints : dict or None
        Camera fingerprints ``(H, W)`` float32 (CSI-CNN only).
    config : dict or None
        Overrides of :data:`TRAIN_SCALES` / :data:`DNCNN_SCALES` and training options (keys in
        :data:`TRAIN_CONFIG_KEYS`).
    cache_dir : path
    device : {"auto", "cpu", "cuda", "mps"}
    retrain : bool
        Ignore a cached checkpoint.

    Returns
    -------
    pathlib.Path
        Checkpoint, loadable with :func:`load_model`.
    """
    check_choice("kind", kind, ("csi-cnn", "dncnn"))
    check_scale(scale)
    check_choice("loss", loss, LOSSES)
    if not isinstance(dataset_key, str) or not dataset_key or any(c in dataset_key for c in "/\\"):
        raise ValueError(f"dataset_key must be a non-empty name without slashes, got {dataset_key!r}")
    config = dict(config or {})
    check_keys("config keys", config, TRAIN_CONFIG_KEYS)
    desc = {"kind": kind, "dataset_key": dataset_key, "scale": scale, "seed": seed,
            "loss": loss if kind == "csi-cnn" else "mse-noise", "config": config,
            "train": _data_digest(train), "val": _data_digest(val), "version": 1}
    digest = hashlib.sha1(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:12]
    stem = f"{kind}-{dataset_key}-{scale}-s{seed}-{desc['loss']}-{digest}"
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
    if kind == "dncnn":
        sc = {**DNCNN_SCALES[scale], **config}
        seed_everything(seed)
        model = DnCNN(depth=int(sc["depth"]), width=int(sc["width"]))
        log.info("training DnCNN (%d params) -> %s", count_parameters(model), path)
        fit_denoiser(model, scale, steps=int(sc["steps"]), batch=int(sc["batch"]), patch=int(sc["patch"]),
                     sigma_range=tuple(sc.get("sigma_range", (0.0, 55.0))), lr=float(sc.get("lr", 1e-3)),
                     scenes=_scene_pool(int(sc["scenes"]), int(sc["scene_size"]), np.random.default_rng([seed, 1])),
                     seed=seed, device=device,
                     checkpoint=path, log_csv=log_csv, progress=progress)
        return path
    if train is None or fingerprints is None:
        raise ValueError(f"no cached model {path.name}: pass train (DataFrame with path, device) and "
                         "fingerprints to train it")
    for name, df in (("train", train), ("val", val)):
        if df is not None and not {"path", "device"} <= set(df.columns):
            raise ValueError(f"{name} must have columns 'path' and 'device'")
    sc = {**TRAIN_SCALES[scale], **config}
    seed_everything(seed)
    model = CSICNN(relu_after_sub=bool(sc.get("relu_after_sub", True)),
                   relu_stage1_out=bool(sc.get("relu_stage1_out", True)))
    sampler = PairSampler(train["path"].tolist(), train["device"].tolist(), fingerprints, patch=int(sc["patch"]),
                          batch=int(sc["batch"]), seed=seed, crop=sc["crop"],
                          negative_position=sc.get("negative_position", "random"), progress=progress)
    vset = None
    if val is not None and len(val):
        vset = ValidationSet(val["path"].tolist(), val["device"].tolist(), fingerprints,
                             crop=int(sc["val_crop"]), progress=progress)
    fit(model, sampler, loss=loss, scale=scale, epochs=int(sc["epochs"]), steps_per_epoch=int(sc["steps_per_epoch"]),
        lr=float(sc.get("lr", 1e-3)), gamma=float(sc.get("gamma", 0.2)), lr_step=sc.get("lr_step"),
        phi=float(sc.get("phi", DEFAULT_PHI)), val=vset, device=device, seed=seed, log_csv=log_csv,
        checkpoint=path, resume=not retrain, progress=progress, channels_last=bool(sc.get("channels_last", True)),
        extra_config={"dataset_key": dataset_key, "digest": digest,
                      "skipped_train": [list(s) for s in sampler.skipped]})
    return path
