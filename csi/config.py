"""Shared run configuration: scale names, device choice, seeding and parameter validation.

Every module keeps the numbers that belong to it (image counts in :mod:`csi.simulate`, epochs in
:mod:`csi.train`) in a table keyed by the scale names defined here, so a scale means the same thing
everywhere.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Named scales. ``smoke``: seconds, for tests. ``cpu``: the default, minutes on a 2-core laptop.
#: ``paper``: the paper's sizes, for a GPU.
SCALES: tuple[str, ...] = ("smoke", "cpu", "paper")

#: Devices accepted wherever a ``device`` parameter exists.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ``ValueError`` naming the parameter.

    Examples
    --------
    >>> check_choice("scale", "cpu", SCALES)
    'cpu'
    """
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_scale(scale: str) -> str:
    """Validate a scale name (``smoke``, ``cpu`` or ``paper``)."""
    return check_choice("scale", scale, SCALES)


def check_keys(name: str, given: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Raise a ``ValueError`` listing any key of ``given`` that is not in ``allowed``.

    Used for notebook parameters and user-supplied option dicts, so that a typo stops the run with a
    clear message instead of being ignored.
    """
    allowed = set(allowed)
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"unknown {name}: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def select_device(device: str = "auto") -> str:
    """Pick a torch device string: ``cuda`` if available, then ``mps``, then ``cpu``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "mps"}
        ``"auto"`` chooses the best available; any other value is checked for availability.

    Returns
    -------
    str
        A device string usable by :func:`torch.device`.
    """
    import torch

    check_choice("device", device, DEVICES)
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if has_mps else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
    if device == "mps" and not has_mps:
        raise ValueError("device 'mps' requested but the MPS backend is not available")
    return device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; ask torch for deterministic kernels where it allows.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    deterministic : bool
        If true, ``torch.use_deterministic_algorithms(True, warn_only=True)`` and cuDNN determinism.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    import torch

    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 - seeds legacy global users too
    torch.manual_seed(int(seed))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
