"""Training losses: the paper's cosine loss (Eq. 6-8) and the MSE loss of its ref. [20].

Both take the network output ``x`` and fingerprint patches ``y`` as batched tensors of any shape
``(N, ...)``; every sample is flattened, the per-sample losses are averaged over the batch.
"""

from __future__ import annotations

import torch

__all__ = ["DEFAULT_PHI", "cosine_similarity", "cosine_loss", "mse_loss", "LOSSES"]

#: Default phi of Eq. 6-7. The paper gives no value. For a non-matching pair (label 0) and rho < 0,
#: Eq. 7 is ``rho * phi - rho = |rho| * (1 - phi)``, and for rho >= 0 it is ``rho``. The text says the
#: two signs "must be treated differently" and, for matching pairs, that a negative rho should be
#: penalised "very" hard; phi = -1 carries the same reading to label 0: a negative correlation with the
#: wrong camera is penalised twice as hard as a positive one. phi = 0 is the symmetric |rho|.
DEFAULT_PHI: float = -1.0

#: Names accepted by :func:`csi.train.fit` for ``loss``.
LOSSES: tuple[str, ...] = ("cosine", "mse")


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
