"""Checkpoints of the project's networks: ``{"state_dict", "config", ...}``, loadable with ``weights_only=True``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .cache import atomic_write
from .models import CSICNN, DnCNN

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "load_history"]


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, config: Mapping[str, Any],
                    **extra: Any) -> Path:
    """Write ``{"state_dict", "config", **extra}`` atomically (:func:`csi.cache.atomic_write`).

    ``config`` and ``extra`` must be plain Python (dict/list/str/int/float/bool/None) or tensors, so
    that :func:`load_checkpoint` can use ``torch.load(weights_only=True)``.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": json.loads(json.dumps(dict(config))), **extra}
    return atomic_write(path, lambda f: torch.save(payload, f))


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
    config = ck["config"]
    kinds = {"csi-cnn": CSICNN, "dncnn": DnCNN}
    if config.get("kind") not in kinds:
        raise ValueError(f"checkpoint config has unknown model kind {config.get('kind')!r}")
    model = kinds[config["kind"]](**config.get("model", {}))
    model.load_state_dict(ck["state_dict"])
    return model.to(device).eval()


def load_history(path: str | os.PathLike) -> pd.DataFrame:
    """The training history stored in a checkpoint (the columns of :func:`csi.train.fit`'s result)."""
    return pd.DataFrame(load_checkpoint(path).get("history", []))
