"""Shared run configuration: scale names, device choice, seeding and parameter validation.

Each module keeps its own numbers in a table keyed by :data:`SCALES`, so a scale means the same thing everywhere.
torch is imported on use: the simulator's forked workers import this module and never need it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: ``smoke``: seconds, for tests; ``cpu``: the default, minutes on a 2-core laptop; ``paper``: the paper's sizes.
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
    """Raise a ``ValueError`` listing any key of ``given`` not in ``allowed`` (a typo stops the run)."""
    allowed = set(allowed)
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"unknown {name}: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def select_device(device: str = "auto") -> str:
    """A torch device string: ``"auto"`` picks ``cuda``, then ``mps``, then ``cpu``; others are checked.

    Examples
    --------
    >>> select_device("cpu")
    'cpu'
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
    """Seed Python, NumPy and torch with a non-negative ``seed``.

    ``deterministic`` also asks torch for deterministic kernels (``warn_only``) and cuDNN determinism.
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
