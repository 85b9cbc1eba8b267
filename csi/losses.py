"""Training losses on ``(N, ...)`` output / fingerprint-patch batches: the paper's cosine loss (Eq. 6-8), ref. [20]'s
MSE and a fair MSE (docs/training.md). Samples are flattened; per-sample losses are averaged over the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

__all__ = ["DEFAULT_PHI", "cosine_similarity", "cosine_loss", "mse_loss", "mse_std_loss", "fingerprint_scale",
           "LOSSES"]

#: phi of Eq. 6-7 (the paper gives none): a label-0 pair with rho < 0 costs ``|rho| * (1 - phi)``, so
#: -1 penalises a negative correlation with the wrong camera twice as hard (docs/training.md).
DEFAULT_PHI: float = -1.0

#: The ``loss`` names of :class:`csi.train.TrainingRecipe`.
LOSSES: tuple[str, ...] = ("cosine", "mse", "mse-std")


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x and y need a non-empty batch dimension, got shape {tuple(x.shape)}")


def _check_label(label: torch.Tensor, x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if label is None:
        return None
    label = torch.as_tensor(label, device=x.device)
    if label.ndim != 1 or label.shape[0] != x.shape[0]:
        raise ValueError(f"label must have shape ({x.shape[0]},), got {tuple(label.shape)}")
    return label


def cosine_similarity(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample rho(x, y) = x . y / (||x|| ||y|| + eps) of Eq. 6 (no mean removal), ``(N,)`` in [-1, 1].

    Examples
    --------
    >>> cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    _check_pair(x, y)
    xf, yf = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    return (xf * yf).sum(1) / (xf.norm(dim=1) * yf.norm(dim=1) + eps)


def cosine_loss(x: torch.Tensor, y: torch.Tensor, label: torch.Tensor, phi: float = DEFAULT_PHI,
                reduction: str = "mean") -> torch.Tensor:
    r"""The paper's loss, Eq. 6: :math:`l\,\max(1-\rho, 0) + (1-l)\,[\min(\rho, 0)\,\varphi + |\rho|]`.

    ``x``: output (any scale), ``y``: fingerprint patches, ``label`` ``(N,)`` in {0, 1} (1: same camera and
    position, Eq. 8; 0: Eq. 7), ``phi``: :data:`DEFAULT_PHI`. ``reduction="none"`` gives the ``(N,)`` losses.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> y = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    >>> cosine_loss(x, y, torch.tensor([1, 0]), phi=-1.0, reduction="none")
    tensor([0., 2.])
    """
    label = _check_label(label, x, reduction)
    if not bool(((label == 0) | (label == 1)).all()):
        raise ValueError("label values must be 0 or 1")
    rho = cosine_similarity(x, y)
    lab = label.to(rho.dtype)
    pos = torch.clamp(1.0 - rho, min=0.0)
    neg = torch.clamp(rho, max=0.0) * float(phi) + rho.abs()
    loss = lab * pos + (1.0 - lab) * neg
    return loss.mean() if reduction == "mean" else loss


def mse_loss(x: torch.Tensor, y: torch.Tensor, label: torch.Tensor | None = None,
             reduction: str = "mean") -> torch.Tensor:
    """Ref. [20]'s loss ``mean((x - y)^2)`` (text after Eq. 8), per sample, ``(N, ...)`` tensors.

    With ``label`` (``(N,)`` in {0, 1}) only label-1 pairs carry a target: the mean runs over them (0 if
    none) and label-0 samples get 0 with ``reduction="none"``.

    Examples
    --------
    >>> mse_loss(torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 1.0]]))
    tensor(2.5000)
    """
    _check_pair(x, y)
    label = _check_label(label, x, reduction)
    per = ((x - y) ** 2).reshape(x.shape[0], -1).mean(1)
    if label is None:
        return per.mean() if reduction == "mean" else per
    mask = (label == 1).to(per.dtype)
    if reduction == "none":
        return per * mask
    return (per * mask).sum() / mask.sum().clamp(min=1.0)


def mse_std_loss(x: torch.Tensor, y: torch.Tensor, label: torch.Tensor | None = None, *, target_std: float,
                 reduction: str = "mean") -> torch.Tensor:
    """Fair MSE ``mean((x - y / target_std)^2)``: :func:`mse_loss` with the target in units of its global std.

    ``target_std`` (> 0) is one number per run, :func:`fingerprint_scale` of the training fingerprints, so
    the target has unit variance like CSI-CNN's BatchNorm output and only the unit changes.

    Examples
    --------
    >>> mse_std_loss(torch.tensor([[1.0, -1.0]]), torch.tensor([[0.02, -0.02]]), target_std=0.01)
    tensor(1.)
    """
    target_std = float(target_std)
    if not (np.isfinite(target_std) and target_std > 0):
        raise ValueError(f"target_std must be a finite number > 0, got {target_std}")
    _check_pair(x, y)
    return mse_loss(x, y / target_std, label, reduction=reduction)


def fingerprint_scale(fingerprints: Iterable[np.ndarray] | Mapping) -> float:
    """Root mean square of ``(H, W)`` fingerprints pooled over all of them (float64): the unit of ``"mse-std"``.

    ``sqrt(sum_k sum K_k^2 / sum_k size K_k)``; the pooled standard deviation of zero-mean Eq. 5
    fingerprints. Accepts a dict or an iterable; raises ValueError if empty, non-finite or all zero.

    Examples
    --------
    >>> fingerprint_scale({"a": np.full((2, 2), 3.0), "b": np.full((1, 2), -3.0)})
    3.0
    """
    arrays = list(fingerprints.values()) if isinstance(fingerprints, Mapping) else list(fingerprints)
    if not arrays:
        raise ValueError("fingerprints is empty")
    total, count = 0.0, 0
    for K in arrays:
        a = np.asarray(K, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("fingerprints contain NaN or infinite values")
        total += float(np.square(a).sum())
        count += a.size
    if count == 0 or total == 0.0:
        raise ValueError("fingerprints are empty or all zero: no scale")
    return float(np.sqrt(total / count))
