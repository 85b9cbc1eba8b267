"""Training CSI-CNN (Fig. 2, Sec. 4.3) for a budget of pairs, the DnCNN baseline, and the checkpoint cache."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import cache, losses, metrics, models, pairs, prnu, simulator, validation, wavelet
from .checkpoints import load_checkpoint, load_history, save_checkpoint
from .config import check_choice, check_keys, check_scale, seed_everything, select_device
from .evaluate import align_fingerprint, crop_box, fingerprint_window
from .losses import DEFAULT_PHI, LOSSES, cosine_similarity, fingerprint_scale
from .models import CSICNN, DnCNN, count_parameters
from .pairs import NEGATIVE_POSITIONS, DevicePairs, PairSampler, check_int, mix_weights
from .progress import bar as progress_bar
from .runtime import Prefetcher, torch_runtime
from .validation import CSICNN_RADIUS, ValidationSet

log = logging.getLogger(__name__)

__all__ = ["NEGATIVE_POSITIONS", "MILESTONES", "PairSampler", "ValidationSet", "TrainingRecipe", "mix_weights", "fit",
           "fit_denoiser", "lr_milestones", "steps_for", "save_checkpoint", "load_checkpoint", "load_history",
           "get_or_train", "training_key"]

#: lr x ``gamma`` after these fractions of the steps: the paper's "x 0.2 at epochs 30, 60, 90 of 100" (Sec. 4.3).
MILESTONES: tuple[float, ...] = (0.3, 0.6, 0.9)


def steps_for(pairs: int, batch: int) -> int:
    """Optimiser steps that draw at least ``pairs`` training pairs in batches of ``batch``.

    Examples
    --------
    >>> steps_for(16_000, 64), steps_for(100, 64)
    (250, 2)
    """
    return -(-check_int("pairs", pairs, 1) // check_int("batch", batch, 1))


def lr_milestones(steps: int, fractions: Sequence[float] = MILESTONES) -> list[int]:
    """Steps ``max(1, round(f * steps))``, ``f`` in (0, 1], from which on lr is multiplied by ``gamma`` (Sec. 4.3).

    Examples
    --------
    >>> lr_milestones(250)
    [75, 150, 225]
    """
    check_int("steps", steps, 1)
    fr = [float(f) for f in fractions]
    if any(not (0.0 < f <= 1.0) for f in fr):
        raise ValueError(f"milestone fractions must lie in (0, 1], got {list(fractions)}")
    return sorted(max(1, round(f * steps)) for f in fr)


def _eval_points(steps: int, evals: int) -> list[int]:
    """Steps after which the history gets a row: distinct ``round(k * steps / evals)``, k = 1..evals."""
    evals = max(1, min(int(evals), steps))
    return sorted({max(1, round(k * steps / evals)) for k in range(1, evals + 1)})


def _append_csv(path: Path | None, row: Mapping[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)


def _host_batch(sampler: PairSampler, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Update ``t``'s batch as CPU tensors: x uint8 NHWC, y float32, label float32."""
    return tuple(torch.from_numpy(a.astype(np.float32) if a.ndim == 1 else a) for a in sampler.arrays_at(0, t))


def _validate(val: Any, model: torch.nn.Module, dev: str) -> tuple[dict[str, float], float]:
    """Metrics of ``val`` (a ValidationSet, or any object with ``auc(model, device)``) and the seconds taken."""
    if val is None:
        return {"val_auc": float("nan")}, 0.0
    t0 = time.perf_counter()
    m = ({str(k): float(v) for k, v in val.evaluate(model, dev).items()} if hasattr(val, "evaluate")
         else {"val_auc": float(val.auc(model, dev))})
    return m, time.perf_counter() - t0


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything of a CSI-CNN run that changes its weights or history, apart from the data.

    ``pairs``: training pairs (rounded up to whole batches); ``evals``: evaluation points after step 0;
    ``loss``: one of :data:`csi.losses.LOSSES`; ``lr``, ``gamma``, ``milestones``: Adam's rate (paper 1e-3),
    its decay (0.2) and when (:func:`lr_milestones`); ``phi``: Eq. 7's; ``target_std``: ``"mse-std"``'s unit
    (None: :func:`csi.losses.fingerprint_scale` of the sampler's fingerprints).

    Examples
    --------
    >>> TrainingRecipe(pairs=3_200_000, evals=100).lr
    0.001
    """

    pairs: int
    evals: int
    loss: str = "cosine"
    lr: float = 1e-3
    gamma: float = 0.2
    milestones: tuple[float, ...] = MILESTONES
    phi: float = DEFAULT_PHI
    target_std: float | None = None

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, LOSSES)
        check_int("pairs", self.pairs, 1), check_int("evals", self.evals, 1)
        if not (self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not (0 < self.gamma <= 1):
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma}")
        object.__setattr__(self, "milestones", tuple(float(f) for f in self.milestones))


def fit(model: torch.nn.Module, sampler: PairSampler, recipe: TrainingRecipe, *, val: Any = None,
        device: str = "auto", checkpoint: str | os.PathLike | None = None, log_csv: str | os.PathLike | None = None,
        resume: bool = True, progress: bool = True, threads: int | None = None, prefetch: int = 2,
        extra_config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Train CSI-CNN with Adam for ``recipe.pairs`` training pairs (Fig. 2, Eq. 6-8, Sec. 4.3, Fig. 6).

    Update ``t`` trains on ``sampler.batch_at(0, t)`` at the rate of :func:`lr_milestones`; torch is seeded
    with ``sampler.seed``. At step 0 and each of ``recipe.evals`` points: validation, a history row, a CSV
    row, a checkpoint. With ``resume``, a ``checkpoint`` of the same configuration is continued to the same
    weights as an uninterrupted run.

    ``model`` (a CSICNN, or a ``DnCNN(channels=1)`` fed the batch's gray, :class:`csi.models.RGBToGray`, config
    ``input: "gray"``) is trained in place on ``device``; ``val`` is a ValidationSet or any object with
    ``auc(model, device)``; ``threads`` (None: all cores) and ``prefetch`` (batches made ahead in a thread;
    on CUDA the pairs are cut on the GPU, :class:`csi.pairs.DevicePairs`) only change speed; ``extra_config`` goes into the checkpoint's config.

    Returns a DataFrame, a row per evaluation point: ``epoch`` (the point, 0..evals), ``step``, ``pairs_seen``,
    ``train_loss`` (mean since the last row), ``train_rho_pos`` / ``train_rho_neg`` (mean cosine of output and
    K' on label-1 / label-0 pairs), ``lr``, ``seconds``, ``pairs_per_s``, ``val_seconds`` and the ``val_*``
    metrics (:meth:`ValidationSet.evaluate`; NaN ``val_auc`` without ``val``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> K = {c: rng.normal(size=(48, 48)).astype(np.float32) for c in "ab"}
    >>> imgs = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(4)]
    >>> s = PairSampler(imgs, list("abab"), K, patch=16, batch=4)
    >>> h = fit(CSICNN(), s, TrainingRecipe(pairs=16, evals=2), device="cpu", progress=False)
    >>> h[["epoch", "step", "pairs_seen"]].values.tolist()
    [[0, 0, 0], [1, 2, 8], [2, 4, 16]]
    """
    gray = isinstance(model, DnCNN) and model.channels == 1
    for name, value, kind in (("sampler", sampler, PairSampler), ("model", model, DnCNN if gray else CSICNN),
                              ("recipe", recipe, TrainingRecipe)):
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    batch, lr = sampler.batch, recipe.lr
    steps = steps_for(recipe.pairs, batch)
    mstones = lr_milestones(steps, recipe.milestones)
    points = _eval_points(steps, recipe.evals)
    target_std = None
    if recipe.loss == "mse-std":
        target_std = fingerprint_scale(sampler.fp.raw) if recipe.target_std is None else float(recipe.target_std)
    seed_everything(sampler.seed)
    dev = select_device(device)
    model.to(dev).to(memory_format=torch.channels_last)
    net = torch.nn.Sequential(models.RGBToGray(), model) if gray else model  # RGB batch in, residual out
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    config = {
        "kind": "dncnn" if gray else "csi-cnn", "model": model.config(), **({"input": "gray"} if gray else {}),
        "train": {"loss": recipe.loss, "pairs": steps * batch, "steps": steps, "evals": len(points), "lr": lr,
                  "gamma": recipe.gamma, "milestones": mstones, "phi": float(recipe.phi), "target_std": target_std,
                  "seed": sampler.seed, "batch": batch, "patch": sampler.patch, "crop": sampler.crop,
                  "negative_position": sampler.negative_position, "n_train_images": len(sampler),
                  "weighted": sampler.weights is not None},
        "extra": dict(extra_config or {}),
    }
    log_csv = Path(log_csv) if log_csv is not None else None
    ckpt = Path(checkpoint) if checkpoint is not None else None
    history: list[dict] = []
    start = 0
    if ckpt is not None and resume and ckpt.exists():
        ck = load_checkpoint(ckpt)
        if ck["config"].get("train") != json.loads(json.dumps(config["train"])):
            raise ValueError(f"checkpoint {ckpt} was trained with another configuration; "
                             "delete it or pass resume=False")
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        history = list(ck.get("history", []))
        start = int(ck["step"])
        log.info("resuming %s at step %d of %d", ckpt, start, steps)
    elif log_csv is not None and log_csv.exists():
        log_csv.unlink()
    phi = float(recipe.phi)
    loss_fn = {"cosine": lambda o, y, lab: losses.cosine_loss(o, y, lab, phi=phi),
               "mse": lambda o, y, lab: losses.mse_loss(o, y, lab),
               "mse-std": lambda o, y, lab: losses.mse_std_loss(o, y, lab, target_std=target_std)}[recipe.loss]
    with torch_runtime(threads if dev == "cpu" else (threads or torch.get_num_threads())):
        if start == 0:
            metrics_, vsec = _validate(val, net, dev)
            row = {"epoch": 0, "step": 0, "pairs_seen": 0, "train_loss": float("nan"),
                   "train_rho_pos": float("nan"), "train_rho_neg": float("nan"), "lr": lr, "seconds": 0.0,
                   "pairs_per_s": float("nan"), "val_seconds": vsec, **metrics_}
            history.append(row)
            _append_csv(log_csv, row)
        pending = [p for p in points if p > start]
        cut = DevicePairs(sampler, dev).batch if dev == "cuda" else lambda _, t: _host_batch(sampler, t)
        feeder = Prefetcher(lambda t: cut(0, t), range(start, steps), prefetch)  # on CUDA, cut on the GPU
        bar = progress_bar(total=steps - start, desc=f"train {config['kind']}", enabled=progress, unit="step")
        try:
            model.train()
            acc_dtype = torch.float32 if dev == "mps" else torch.float64  # MPS has no float64
            acc = torch.zeros(5, dtype=acc_dtype, device=dev)  # loss sum, rho+ sum, n+, rho- sum, n-
            count, t0 = 0, time.perf_counter()
            for t in range(start, steps):
                x, y, lab = (b.to(dev, non_blocking=True) for b in feeder.get(t))
                x = x.permute(0, 3, 1, 2).float().div_(255.0)  # uint8 NHWC -> float NCHW (channels-last)
                current_lr = lr * recipe.gamma ** sum(1 for m in mstones if m <= t)
                for group in opt.param_groups:
                    group["lr"] = current_lr
                opt.zero_grad(set_to_none=True)
                out = net(x)
                value = loss_fn(out, y, lab)
                value.backward()
                opt.step()
                with torch.no_grad():
                    rho = cosine_similarity(out.detach(), y)
                    acc += torch.stack([value.detach(), (rho * lab).sum(), lab.sum(), (rho * (1 - lab)).sum(),
                                        (1 - lab).sum()]).to(acc_dtype)
                if dev == "cpu" and not torch.isfinite(value):
                    raise FloatingPointError(f"loss became {value.item()} at step {t}")
                count += 1
                bar.update(1)
                if t + 1 != pending[0]:
                    continue
                pending.pop(0)
                seconds = time.perf_counter() - t0
                a = acc.cpu().numpy()
                if not np.isfinite(a[0]):
                    raise FloatingPointError(f"loss became {a[0] / count} before step {t + 1}")
                model.eval()
                metrics_, vsec = _validate(val, net, dev)
                model.train()
                row = {"epoch": points.index(t + 1) + 1, "step": t + 1, "pairs_seen": (t + 1) * batch,
                       "train_loss": a[0] / count, "train_rho_pos": a[1] / a[2] if a[2] else float("nan"),
                       "train_rho_neg": a[3] / a[4] if a[4] else float("nan"), "lr": current_lr,
                       "seconds": seconds, "pairs_per_s": count * batch / seconds, "val_seconds": vsec, **metrics_}
                row = {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
                history.append(row)
                _append_csv(log_csv, row)
                bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_auc=f"{row.get('val_auc', float('nan')):.3f}")
                log.info("step %d/%d loss %.4f val_auc %.4f (%.1f pairs/s)", t + 1, steps, row["train_loss"],
                         row.get("val_auc", float("nan")), row["pairs_per_s"])
                if ckpt is not None:
                    save_checkpoint(ckpt, model, config, optimizer=opt.state_dict(), step=t + 1,
                                    epoch=row["epoch"], history=history, complete=t + 1 == steps)
                acc.zero_()
                count, t0 = 0, time.perf_counter()
        finally:
            bar.close()
            feeder.close()
    model.eval()
    return pd.DataFrame(history)


def _scene_pool(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, size, size)`` float32 gray content in [0, 1]: gamma-encoded (1/2.2) channels of synthetic scenes."""
    kinds = ("dead_leaves", "photo", "dead_leaves", "photo", "flat")
    out = np.empty((n, size, size), np.float32)
    for i in range(n):
        scene = np.asarray(simulator.make_scene(kinds[i % len(kinds)], (size, size), rng), np.float32)
        out[i] = np.clip(scene[..., i % 3], 0.0, 1.0) ** (1 / 2.2)
    return out


def fit_denoiser(model: DnCNN, *, steps: int, batch: int, patch: int, scenes: np.ndarray,
                 sigma_range: tuple[float, float] = (0.0, 55.0), lr: float = 1e-3, seed: int = 0,
                 device: str = "auto", checkpoint: str | os.PathLike | None = None,
                 log_csv: str | os.PathLike | None = None, progress: bool = True) -> pd.DataFrame:
    """Train DnCNN as a blind Gaussian denoiser that predicts the noise (ref. [21], Sec. 4.2.1).

    Patches of ``scenes`` (``(n, H, W)`` float in [0, 1], H, W >= ``patch``), randomly flipped and rotated,
    get Gaussian noise of a sigma drawn from ``sigma_range`` (0-255 scale; DnCNN-B's [0, 55]); MSE of
    predicted and true noise; Adam at ``lr``, x 0.1 for the last third. ``model`` is trained in place.

    Returns a DataFrame, one row per tenth: ``step, train_loss, psnr_noisy, psnr_denoised, seconds``.
    """
    if not isinstance(model, DnCNN):
        raise TypeError(f"model must be a DnCNN, got {type(model).__name__}")
    steps, batch, patch = int(steps), int(batch), int(patch)
    lo, hi = (float(v) for v in sigma_range)
    if not (0 <= lo <= hi):
        raise ValueError(f"sigma_range must satisfy 0 <= low <= high, got {sigma_range}")
    if steps < 1 or batch < 1 or patch < 4:
        raise ValueError(f"steps, batch must be >= 1 and patch >= 4, got {steps}, {batch}, {patch}")
    scenes = np.asarray(scenes, np.float32)
    if scenes.ndim != 3 or min(scenes.shape[1:]) < patch:
        raise ValueError(f"scenes must be (n, H, W) with H, W >= patch ({patch}), got {scenes.shape}")
    seed_everything(seed)
    rng = np.random.default_rng(seed)
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
    for step in progress_bar(range(1, steps + 1), desc="train DnCNN", enabled=progress, unit="step"):
        idx = rng.integers(0, n, batch)
        rs, cs = rng.integers(0, H - patch + 1, batch), rng.integers(0, W - patch + 1, batch)
        clean = np.stack([scenes[i, r:r + patch, c:c + patch] for i, r, c in zip(idx, rs, cs, strict=True)])
        flips = rng.integers(0, 8, batch)
        clean = np.stack([np.rot90(p, k % 4)[:, ::-1] if k >= 4 else np.rot90(p, k)
                          for p, k in zip(clean, flips, strict=True)])
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
                         "train": {"steps": steps, "batch": batch, "patch": patch, "sigma_range": [lo, hi],
                                   "lr": lr, "seed": seed}},
                        history=history, epoch=steps, complete=True)
    return pd.DataFrame(history)


#: Keys of ``get_or_train(config=...)``; required ones in ``_REQUIRED`` (e.g. ``csi.experiments.sizes(scale, "csi_cnn")``,
#: ``sizes(scale, "dncnn")``); ``threads, prefetch`` are run-time only (not in the cache key).
TRAIN_CONFIG_KEYS: tuple[str, ...] = (
    "pairs", "evals", "batch", "patch", "crop", "val_crop", "lr", "gamma", "milestones", "phi", "negative_position",
    "relu_after_sub", "relu_stage1_out", "copy_probability", "target_std", "val_halo", "val_zero_mean", "val_wiener",
    "threads", "prefetch", "depth", "width", "steps", "sigma_range", "scenes", "scene_size",
)
_RUNTIME_KEYS: tuple[str, ...] = ("threads", "prefetch")
_REQUIRED = {"csi-cnn": ("pairs", "evals", "batch", "patch", "crop", "val_crop"),
             "dncnn": ("depth", "width", "steps", "batch", "patch", "scenes", "scene_size")}
_REQUIRED["dncnn-cosine"] = _REQUIRED["csi-cnn"]  # + depth, width (17, 64): the gray DnCNN on CSI-CNN's pairs


def _training_code() -> tuple:
    """The code a checkpoint depends on (digested with :func:`csi.cache.code_digest`)."""
    return (sys.modules[__name__], pairs, validation, losses, models, prnu, wavelet, align_fingerprint,
            fingerprint_window, crop_box, metrics.auc_mann_whitney, metrics.closed_set_accuracy)


def _csi_recipe(sc: Mapping[str, Any]) -> dict[str, Any]:
    """Resolved CSI-CNN training parameters (everything that changes the weights or the history)."""
    return {
        "pairs": int(sc["pairs"]), "evals": int(sc["evals"]), "batch": int(sc["batch"]), "patch": int(sc["patch"]),
        "crop": None if sc["crop"] is None else int(sc["crop"]), "val_crop": int(sc["val_crop"]),
        "lr": float(sc.get("lr", 1e-3)), "gamma": float(sc.get("gamma", 0.2)),
        "milestones": [float(f) for f in sc.get("milestones", MILESTONES)],
        "phi": float(sc.get("phi", DEFAULT_PHI)), "negative_position": str(sc.get("negative_position", "random")),
        "relu_after_sub": bool(sc.get("relu_after_sub", True)), "relu_stage1_out": bool(sc.get("relu_stage1_out", True)),
        "copy_probability": None if sc.get("copy_probability") is None else float(sc["copy_probability"]),
        "target_std": None if sc.get("target_std") is None else float(sc["target_std"]),
        "val_halo": int(sc.get("val_halo", CSICNN_RADIUS)), "val_zero_mean": bool(sc.get("val_zero_mean", True)),
        "val_wiener": bool(sc.get("val_wiener", True)),
    }


def _frame_rows(df: pd.DataFrame | None) -> list | None:
    """The file list of a split in order (the sampler indexes images by position), paths resolved."""
    if df is None:
        return None
    cols = [c for c in ("path", "device", "platform", "weight") if c in df.columns]
    return [[os.path.realpath(str(v)) if c == "path" else str(v) for c, v in zip(cols, row, strict=True)]
            for row in df[cols].itertuples(index=False, name=None)]


def training_key(kind: str, dataset_key: str, config: Mapping[str, Any], *, scale: str = "cpu", seed: int = 0,
                 loss: str = "cosine", train: pd.DataFrame | None = None, val: pd.DataFrame | None = None,
                 fingerprints: Mapping[str, np.ndarray] | None = None) -> tuple[str, dict[str, Any]]:
    """File stem and digested parameters of the checkpoint :func:`get_or_train` would use.

    The digest (:func:`csi.cache.key`) covers the arguments, the resolved recipe, the file lists in order
    with their files' sizes and times, the fingerprints' contents and the training code; not the run-time
    options (device, ``threads``, ``prefetch``). The stem is
    ``<kind>-<dataset_key>-<scale>-s<seed>-<loss>[-p<pairs>]-<digest>``; params are JSON-able. "dncnn-cosine":
    CSI-CNN's recipe plus ``depth``, ``width`` (default 17, 64; ``val_halo`` defaults to ``depth``).

    Examples
    --------
    >>> sizes = {"depth": 4, "width": 8, "steps": 6, "batch": 4, "patch": 32, "scenes": 4, "scene_size": 64}
    >>> stem, params = training_key("dncnn", "scenes", sizes, scale="smoke")
    >>> stem.startswith("dncnn-scenes-smoke-s0-mse-noise-"), params["recipe"]["steps"]
    (True, 6)
    """
    check_choice("kind", kind, tuple(_REQUIRED))
    check_scale(scale)
    check_choice("loss", loss, LOSSES)
    if not isinstance(dataset_key, str) or not dataset_key or any(c in dataset_key for c in "/\\"):
        raise ValueError(f"dataset_key must be a non-empty name without slashes, got {dataset_key!r}")
    config = dict(config)
    check_keys("config keys", config, TRAIN_CONFIG_KEYS)
    missing = [k for k in _REQUIRED[kind] if k not in config]
    if missing:
        raise ValueError(f"config lacks the {kind} sizes {', '.join(missing)} (e.g. csi.experiments' scale tables)")
    semantic = {k: v for k, v in config.items() if k not in _RUNTIME_KEYS}
    if kind == "dncnn":
        params = {"kind": kind, "dataset_key": dataset_key, "scale": scale, "seed": seed, "loss": "mse-noise",
                  "recipe": semantic, "version": 2}
        code = (*_training_code(), simulator.scenes)
        stem = f"dncnn-{dataset_key}-{scale}-s{seed}-mse-noise"
    else:
        recipe = _csi_recipe(semantic)
        if kind == "dncnn-cosine":  # + the gray DnCNN's sizes; its receptive radius (depth) is the default val_halo
            depth, width = int(semantic.get("depth", 17)), int(semantic.get("width", 64))
            recipe.update(depth=depth, width=width, val_halo=int(semantic.get("val_halo", depth)))
        fps = None if fingerprints is None else {str(d): cache.array_digest(np.asarray(K))
                                                 for d, K in sorted(fingerprints.items())}
        params = {"kind": kind, "dataset_key": dataset_key, "scale": scale, "seed": seed, "loss": loss,
                  "recipe": recipe, "fingerprints": fps,
                  "train": _frame_rows(train), "val": _frame_rows(val),
                  "train_files": None if train is None else cache.files_digest(train["path"].tolist()),
                  "val_files": None if val is None else cache.files_digest(val["path"].tolist()),
                  "version": 2}
        code = _training_code()
        stem = f"{kind}-{dataset_key}-{scale}-s{seed}-{loss}-p{recipe['pairs']}"
    digest = cache.key("train", params, code=code).split("-", 1)[1]
    return f"{stem}-{digest}", params


def get_or_train(kind: str, dataset_key: str, config: Mapping[str, Any], *, scale: str = "cpu", seed: int = 0,
                 loss: str = "cosine", train: pd.DataFrame | None = None, val: pd.DataFrame | None = None,
                 fingerprints: Mapping[str, np.ndarray] | None = None, cache_dir: str | os.PathLike = "data/cache/models",
                 device: str = "auto", progress: bool = True, retrain: bool = False) -> Path:
    """Path of the trained checkpoint of :func:`training_key`, training it first unless cached.

    An interrupted CSI-CNN run resumes from its last evaluation point; the history CSV lies next to the
    checkpoint. Load it with :func:`csi.checkpoints.load_model`.

    ``kind``: "csi-cnn", "dncnn-cosine" (a gray DnCNN trained as CSI-CNN) or "dncnn"; ``dataset_key`` names
    the data (``"scenes"`` for DnCNN); ``config``: sizes and options (:data:`TRAIN_CONFIG_KEYS`), e.g.
    ``{**csi.experiments.sizes(scale, "csi_cnn"), "pairs": 16_000}``; ``train`` / ``val``: DataFrames with
    ``path, device`` and optionally ``platform`` (``train`` with ``config["copy_probability"]``,
    :func:`mix_weights`) or ``weight``; ``fingerprints``: ``(H, W)`` float32 per camera (not for "dncnn");
    ``retrain`` ignores a cached checkpoint.
    """
    config = dict(config)
    stem, params = training_key(kind, dataset_key, config, scale=scale, seed=seed, loss=loss, train=train, val=val,
                                fingerprints=fingerprints)
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
    rc = params["recipe"]
    seed_everything(seed)
    if kind == "dncnn":
        model = DnCNN(depth=int(rc["depth"]), width=int(rc["width"]))
        log.info("training DnCNN (%d params) -> %s", count_parameters(model), path)
        fit_denoiser(model, steps=int(rc["steps"]), batch=int(rc["batch"]), patch=int(rc["patch"]),
                     sigma_range=tuple(rc.get("sigma_range", (0.0, 55.0))), lr=float(rc.get("lr", 1e-3)),
                     scenes=_scene_pool(int(rc["scenes"]), int(rc["scene_size"]), np.random.default_rng([seed, 1])),
                     seed=seed, device=device, checkpoint=path, log_csv=log_csv, progress=progress)
        return path
    if train is None or fingerprints is None:
        raise ValueError(f"no cached model {path.name}: pass train (DataFrame with path, device) and "
                         "fingerprints to train it")
    for name, df in (("train", train), ("val", val)):
        if df is not None and not {"path", "device"} <= set(df.columns):
            raise ValueError(f"{name} must have columns 'path' and 'device'")
    weights = None
    if rc["copy_probability"] is not None:
        if "platform" not in train.columns or "weight" in train.columns:
            raise ValueError("config copy_probability needs a 'platform' column in train and no 'weight' column")
        weights = mix_weights((train["platform"].astype(str) != "original").to_numpy(), rc["copy_probability"])
    elif "weight" in train.columns:
        weights = train["weight"].to_numpy(np.float64)
    model = (DnCNN(depth=rc["depth"], width=rc["width"]) if kind == "dncnn-cosine"
             else CSICNN(relu_after_sub=rc["relu_after_sub"], relu_stage1_out=rc["relu_stage1_out"]))
    sampler = PairSampler(train["path"].tolist(), train["device"].astype(str).tolist(), fingerprints,
                          patch=rc["patch"], batch=rc["batch"], seed=seed, crop=rc["crop"],
                          negative_position=rc["negative_position"], progress=progress, weights=weights)
    vset = None
    if val is not None and len(val):
        vset = ValidationSet.from_frame(val, fingerprints, crop=rc["val_crop"], progress=progress,
                                        halo=rc["val_halo"], zero_mean=rc["val_zero_mean"], wiener=rc["val_wiener"])
    log.info("training %s (%s, %d pairs) -> %s", kind, loss, rc["pairs"], path)
    recipe = TrainingRecipe(pairs=rc["pairs"], evals=rc["evals"], loss=loss, lr=rc["lr"], gamma=rc["gamma"],
                            milestones=tuple(rc["milestones"]), phi=rc["phi"], target_std=rc["target_std"])
    fit(model, sampler, recipe, val=vset, device=device, checkpoint=path, log_csv=log_csv, resume=not retrain,
        progress=progress, threads=config.get("threads"), prefetch=int(config.get("prefetch", 2)),
        extra_config={"dataset_key": dataset_key, "stem": stem, "scale": scale,
                      "skipped_train": [list(s) for s in sampler.skipped]})
    return path
