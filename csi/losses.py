"""Training losses: the paper's cosine loss (Eq. 6-8), the MSE loss of its ref. [20] and a fair MSE.

All take the network output ``x`` and fingerprint patches ``y`` as batched tensors of any shape
``(N, ...)``; every sample is flattened, the per-sample losses are averaged over the batch.

* ``"cosine"``: :func:`cosine_loss`, Eq. 6-8.
* ``"mse"``: :func:`mse_loss`, ``mean((x - y)^2)`` on label-1 pairs, as written in ref. [20]. CSI-CNN ends
  in BatchNorm(1), so its output starts with a standard deviation near 1; whether the target is on that scale
  depends on the fingerprint's unit. Where it is not (a fingerprint of relative deviations, std ~0.01), the
  loss falls mostly by shrinking the output, not by learning the fingerprint.
* ``"mse-std"``: :func:`mse_std_loss`, the same MSE with the target expressed in units of the
  fingerprints' global standard deviation (:func:`fingerprint_scale`), so output and target start on
  the same scale whatever the fingerprint's unit, and the loss measures the fit. See docs/training.md (the
  fingerprints of :func:`csi.prnu.estimate_fingerprint` have a standard deviation of 0.5-1.3, so here the two
  MSEs behave alike; notebook 08 measures both).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

__all__ = ["DEFAULT_PHI", "cosine_similarity", "cosine_loss", "mse_loss", "mse_std_loss", "fingerprint_scale",
           "LOSSES"]

#: Default phi of Eq. 6-7. The paper gives no value. For a non-matching pair (label 0) and rho < 0,
#: Eq. 7 is ``rho * phi - rho = |rho| * (1 - phi)``, and for rho >= 0 it is ``rho``. The text says the
#: two signs "must be treated differently" and, for matching pairs, that a negative rho should be
#: penalised "very" hard; phi = -1 carries the same reading to label 0: a negative correlation with the
#: wrong camera is penalised twice as hard as a positive one. phi = 0 is the symmetric |rho|.
DEFAULT_PHI: float = -1.0

#: Names accepted by :func:`csi.train.fit` for ``loss``.
LOSSES: tuple[str, ...] = ("cosine", "mse", "mse-std")


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x and y need a non-empty batch dimension, got shape {tuple(x.shape)}")


def cosine_similarity(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample rho(x, y) = x . y / (||x|| ||y||) of the paper (no mean removal).

    Parameters
    ----------
    x, y : torch.Tensor
        ``(N, ...)`` float, same shape.
    eps : float
        Added to the product of norms so an all-zero sample gives rho = 0.

    Returns
    -------
    torch.Tensor
        ``(N,)`` float in [-1, 1].

    References
    ----------
    Wang et al. (2021), the rho defined under Eq. 6.

    Examples
    --------
    >>> cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    _check_pair(x, y)
    xf, yf = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    num = (xf * yf).sum(1)
    den = xf.norm(dim=1) * yf.norm(dim=1) + eps
    return num / den


def cosine_loss(x: torch.Tensor, y: torch.Tensor, label: torch.Tensor, phi: float = DEFAULT_PHI,
                reduction: str = "mean") -> torch.Tensor:
    r"""The paper's loss, Eq. 6:

    .. math::
        \ell = l\,\max(1-\rho, 0) + (1-l)\,[\min(\rho, 0)\,\varphi + |\rho|]

    Label 1 (x and y from the same position of the same camera) gives Eq. 8, ``max(1 - rho, 0)``;
    label 0 gives Eq. 7, ``min(rho, 0) * phi + |rho|``.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, ...)`` float, network output (any scale).
    y : torch.Tensor
        ``(N, ...)`` float, fingerprint patches, same shape as ``x``.
    label : torch.Tensor
        ``(N,)`` with values in {0, 1}.
    phi : float
        The paper's phi (no value given there); see :data:`DEFAULT_PHI`.
    reduction : {"mean", "none"}
        Batch mean (scalar) or the ``(N,)`` per-sample losses.

    Returns
    -------
    torch.Tensor
        Scalar, or ``(N,)``; values >= 0 when ``phi <= 1``.

    References
    ----------
    Wang et al. (2021), Eq. 6-8.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> y = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    >>> cosine_loss(x, y, torch.tensor([1, 0]), phi=-1.0, reduction="none")
    tensor([0., 2.])
    """
    label = torch.as_tensor(label, device=x.device)
    if label.ndim != 1 or label.shape[0] != x.shape[0]:
        raise ValueError(f"label must have shape ({x.shape[0]},), got {tuple(label.shape)}")
    if not bool(((label == 0) | (label == 1)).all()):
        raise ValueError("label values must be 0 or 1")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    rho = cosine_similarity(x, y)
    lab = label.to(rho.dtype)
    pos = torch.clamp(1.0 - rho, min=0.0)
    neg = torch.clamp(rho, max=0.0) * float(phi) + rho.abs()
    loss = lab * pos + (1.0 - lab) * neg
    return loss.mean() if reduction == "mean" else loss


def mse_loss(x: torch.Tensor, y: torch.Tensor, label: torch.Tensor | None = None,
             reduction: str = "mean") -> torch.Tensor:
    """MSE between output and fingerprint patch, the loss of the paper's ref. [20]: mean((x - y)^2).

    Ref. [20] regresses the network output onto the camera fingerprint, so only matching pairs carry a
    target. If ``label`` is given, the batch mean runs over the label-1 samples only (0 if there are
    none); label-0 samples get loss 0 with ``reduction="none"``.

    Parameters
    ----------
    x, y : torch.Tensor
        ``(N, ...)`` float, same shape.
    label : torch.Tensor or None
        Optional ``(N,)`` in {0, 1}.
    reduction : {"mean", "none"}

    Returns
    -------
    torch.Tensor
        Scalar or ``(N,)``, >= 0.

    References
    ----------
    Wang et al. (2021), text after Eq. 8 (ref. [20]).

    Examples
    --------
    >>> mse_loss(torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 1.0]]))
    tensor(2.5000)
    """
    _check_pair(x, y)
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    per = ((x - y) ** 2).reshape(x.shape[0], -1).mean(1)
    if label is None:
        return per.mean() if reduction == "mean" else per
    label = torch.as_tensor(label, device=x.device)
    if label.ndim != 1 or label.shape[0] != x.shape[0]:
        raise ValueError(f"label must have shape ({x.shape[0]},), got {tuple(label.shape)}")
    mask = (label == 1).to(per.dtype)
    if reduction == "none":
        return per * mask
    return (per * mask).sum() / mask.sum().clamp(min=1.0)


def mse_std_loss(x: torch.Tensor, y: torch.Tensor, label: torch.Tensor | None = None, *, target_std: float,
                 reduction: str = "mean") -> torch.Tensor:
    """Fair MSE: ref. [20]'s ``mean((x - y / target_std)^2)`` with the target in units of its global std.

    ``target_std`` is one number for the whole training run, the root mean square of the training
    fingerprints (:func:`fingerprint_scale`), not a per-patch or per-batch statistic: the loss stays a
    plain MSE against a fixed rescaling of the fingerprint (relative amplitudes between patches, cameras
    and platform copies are kept), only the unit changes. The target then has a standard deviation near
    1, like CSI-CNN's BatchNorm-normalised output, so the loss falls only when the output follows the
    fingerprint: for an output of standard deviation ``s`` and correlation ``rho`` with a unit-variance
    target the loss is ``s^2 - 2 s rho + 1``, at least ``1 - rho^2``. Label handling as in
    :func:`mse_loss` (only label-1 pairs carry a target).

    Parameters
    ----------
    x, y : torch.Tensor
        ``(N, ...)`` float, same shape; ``y`` the raw fingerprint patches.
    label : torch.Tensor or None
        Optional ``(N,)`` in {0, 1}.
    target_std : float
        > 0, the fingerprints' global root mean square.
    reduction : {"mean", "none"}

    Returns
    -------
    torch.Tensor
        Scalar or ``(N,)``, >= 0.

    References
    ----------
    Wang et al. (2021), text after Eq. 8 (ref. [20]) and Fig. 6; docs/training.md ("A fair MSE").

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
    """Root mean square of camera fingerprints pooled over all of them: the unit of ``"mse-std"``.

    ``sqrt(sum_k sum K_k^2 / sum_k size K_k)``, accumulated in float64. The fingerprints of Eq. 5 are
    zero-mean after post-processing, so this is their pooled standard deviation.

    Parameters
    ----------
    fingerprints : dict str -> ndarray or iterable of ndarray
        ``(H, W)`` float camera fingerprints (not modified).

    Returns
    -------
    float
        > 0.

    Raises
    ------
    ValueError
        No fingerprint, a non-finite value, or all values zero.

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
