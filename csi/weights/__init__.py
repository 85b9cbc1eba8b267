"""The trained networks shipped with the package, so a folder of photos runs without training first.

Each network is ``<kind>-<scale>-s<seed>.pt`` (weights and config, :func:`csi.checkpoints.load_model`) with a
``.json`` provenance beside it: commit, scale, seed, device, training config, the last history row and the
file's sha256. :func:`csi.pipeline.checkpoints` uses them for a real source; the reference run
(``make reproduce``, notebook 03) regenerates them through :func:`ship_reference` (docs/training.md).

Examples
--------
>>> shipped_checkpoint("csi-cnn", "cpu", 0).name
'csi-cnn-cpu-s0.pt'
>>> provenance(shipped_checkpoint("csi-cnn", "cpu", 0))["parameters"]
47628
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from csi.cache import atomic_write
from csi.checkpoints import load_checkpoint, load_model
from csi.reproduce import ROOT, _git_commit

__all__ = ["WEIGHTS_DIR", "REFERENCE_TRAINING", "shipped_checkpoint", "shipped_for", "provenance", "ship_checkpoint",
           "ship_reference"]

#: This folder: where the shipped networks lie.
WEIGHTS_DIR: Path = Path(__file__).resolve().parent

#: The training that ships: the default source, scale and seed with the paper's cosine loss, in a run that
#: writes the reference outputs (the repository's ``figures/``).
REFERENCE_TRAINING: dict[str, Any] = {"source": "synthetic", "scale": "cpu", "seed": 0, "loss": "cosine"}

_TIMINGS = ("seconds", "val_seconds", "pairs_per_s")


def shipped_checkpoint(kind: str, scale: str, seed: int, folder: str | os.PathLike = WEIGHTS_DIR) -> Path | None:
    """The shipped checkpoint of ``kind`` (``"csi-cnn"``, ``"dncnn"``) trained at ``scale`` and ``seed``, or None."""
    path = Path(folder) / f"{kind}-{scale}-s{int(seed)}.pt"
    return path if path.is_file() else None


def shipped_for(synthetic: bool, scale: str, seed: int, train_on_source: bool = False,
                loss: str = "cosine") -> dict[str, Path]:
    """The shipped networks a run uses instead of training: none on the synthetic source; on a real source both,
    except CSI-CNN when it trains on the source or with another loss (DnCNN trains on simulated scenes anyway)."""
    if synthetic:
        return {}
    kinds = ("dncnn",) if train_on_source or loss != "cosine" else ("csi-cnn", "dncnn")
    return {k: p for k in kinds if (p := shipped_checkpoint(k, scale, seed)) is not None}


def provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance of a shipped checkpoint (the ``.json`` beside it)."""
    return json.loads(Path(path).with_suffix(".json").read_text())


def ship_checkpoint(path: str | os.PathLike, *, scale: str, seed: int, device: str, commit: Mapping[str, Any],
                    folder: str | os.PathLike = WEIGHTS_DIR) -> Path | None:
    """Copy a trained checkpoint into ``folder`` as ``<kind>-<scale>-s<seed>.pt`` with its provenance.

    The copy holds the weights and the model and training config only (no optimizer state, no history), so
    its bytes depend on the weights alone. The ``.json`` provenance gives ``commit`` (``{"commit", "dirty"}``),
    scale, seed, device, the training config (pairs, steps, loss, ...), the last history row without its
    timings (training loss and, for CSI-CNN, the validation metrics) and the copy's sha256. A copy with the
    same bytes as the shipped file is not written, and the shipped provenance is kept.

    Returns
    -------
    Path or None
        The shipped checkpoint, or None if the shipped one already had these weights.
    """
    ck = load_checkpoint(path)
    config = ck["config"]
    model = load_model(path)
    dest = Path(folder) / f"{config['kind']}-{scale}-s{int(seed)}.pt"
    buffer = io.BytesIO()
    torch.save({"state_dict": ck["state_dict"], "complete": True,
                "config": {k: config[k] for k in ("kind", "model", "train") if k in config}}, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    meta = dest.with_suffix(".json")
    if dest.is_file() and meta.is_file() and json.loads(meta.read_text()).get("sha256") == digest:
        return None
    last = {k: v for k, v in (ck.get("history") or [{}])[-1].items() if k not in _TIMINGS}
    record = {
        "kind": config["kind"], "file": dest.name, "sha256": digest,
        "parameters": sum(p.numel() for p in model.parameters()),
        "commit": commit.get("commit"), "dirty": commit.get("dirty"), "scale": scale, "seed": int(seed),
        "device": device, "torch": torch.__version__, "trained_as": Path(path).stem,
        "training": config.get("train", {}),
        "final": {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in last.items()},
    }
    atomic_write(dest, lambda f: f.write(data))
    atomic_write(meta, lambda f: f.write(json.dumps(record, indent=1).encode() + b"\n"))
    return dest


def ship_reference(cfg: Any, ckpt: Mapping[str, str | os.PathLike], loss: str = "cosine",
                   folder: str | os.PathLike = WEIGHTS_DIR) -> dict[str, Path | None]:
    """Ship the networks the reference run trained (:data:`REFERENCE_TRAINING`; notebook 03 in ``make reproduce``).

    Any other run (another source, scale, seed or loss, given checkpoints, or outputs written anywhere but
    the repository's ``figures/``) ships nothing and returns ``{}``. Otherwise each network of ``ckpt``
    (:func:`csi.pipeline.checkpoints`) goes through :func:`ship_checkpoint` with this checkout's commit.

    Returns
    -------
    dict
        ``{"csi-cnn": Path or None, "dncnn": Path or None}`` (None: unchanged), or ``{}``.
    """
    run = {"source": cfg.source, "scale": cfg.scale, "seed": cfg.seed, "loss": loss}
    given = cfg.csi_cnn_checkpoint is not None or cfg.dncnn_checkpoint is not None
    if run != REFERENCE_TRAINING or given or Path(cfg.out_dir).resolve() != ROOT / "figures":
        return {}
    commit = _git_commit()
    return {kind: ship_checkpoint(path, scale=cfg.scale, seed=cfg.seed, device=cfg.torch_device, commit=commit,
                                  folder=folder) for kind, path in ckpt.items()}
