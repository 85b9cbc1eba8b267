"""The stages of notebook 09, which tests the paper's central claim (CSI-CNN beats the wavelet residual).

The claim is tested on a dedicated stand-in of the paper's own 5-phone set, built by the simulator with enough
images for every part of the protocol and with each photo's **PRNU-free twin** (the same scene, pipeline and noise
draws with K = 0, :func:`csi.simulate.render_pair`):

* **headroom**: the *oracle* residual, photo minus twin, contains the camera's PRNU term and nothing else the
  scene or noise put there. No extractor can recover more PRNU from a photo; its scores bound what a learned
  extractor can gain over the wavelet filter (:func:`score_oracle`);
* **training budget**: CSI-CNN trained on 4 or more budgets of training pairs, with several seeds, in two regimes
  (originals only; originals mixed with their platform copies, the fingerprint resampled to match), validated on
  held-out platform copies (:func:`train_grid`);
* **evaluation**: every model, the wavelet, DnCNN and the oracle on the same test images and crops, on the camera
  originals and the five platforms (:func:`csi.pipeline.score`).

The sizes are in :data:`SETTINGS` (per scale) and :data:`GRIDS` (per scale and grid: ``short`` for
``make reproduce``, ``full`` for ``make claim-check``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi import cache, pipeline
from csi.experiments import Config
from csi.progress import bar

log = logging.getLogger(__name__)

__all__ = ["SETTINGS", "GRIDS", "REGIMES", "load", "twin_dataset", "oracle_residual", "score_oracle",
           "train_grid", "settings"]

#: Per scale: images per camera of the claim-check stand-in and how they are used (``fingerprint`` images for
#: Eq. 5 - at least 30 at cpu scale; ``val`` held out for validation on platform copies; ``test`` - 40 per
#: camera x 5 cameras = 200 test images per condition at cpu scale; the rest trains), the crop compared, the
#: validation copies' crop and platforms and the evaluation points per run (validation costs the same at every
#: budget, so it is kept small), and the training batch and patch.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"images": 24, "fingerprint": 4, "val": 2, "test": 6, "crop": 64, "val_crop": 64,
              "val_platforms": ("original", "facebook", "wechat"), "batch": 8, "patch": 32, "evals": 2},
    "cpu": {"images": 140, "fingerprint": 30, "val": 10, "test": 40, "crop": 256, "val_crop": 160,
            "val_platforms": ("original", "facebook", "wechat"), "batch": 64, "patch": 64, "evals": 4},
    "paper": {"images": 1000, "fingerprint": 100, "val": 100, "test": 200, "crop": 512, "val_crop": 256,
              "val_platforms": ("original", "facebook", "instagram", "wechat"), "batch": 64, "patch": 64,
              "evals": 10},
}

#: The training regimes: camera originals only, or originals mixed with their platform copies.
REGIMES: tuple[str, ...] = ("originals", "augmented")

#: Per scale and grid: the budgets in training pairs, the seeds, and the budgets the augmented regime runs at.
#: A grid reuses every model another grid already trained (same key), so the cpu ``full`` grid adds only its
#: 128k-pair models and the augmented 32k ones to the ``short`` grid (about 85 min here, 2 cores); the paper
#: grid goes up to 4 M pairs for a GPU (docs/training.md gives the expected times).
GRIDS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {"short": {"pairs": (32, 128), "seeds": (0, 1), "augmented": (128,)},
              "full": {"pairs": (32, 128), "seeds": (0, 1, 2), "augmented": (32, 128)}},
    "cpu": {"short": {"pairs": (2_000, 8_000, 32_000), "seeds": (0, 1, 2), "augmented": (8_000,)},
            "full": {"pairs": (2_000, 8_000, 32_000, 128_000), "seeds": (0, 1, 2), "augmented": (8_000, 32_000)}},
    "paper": {"short": {"pairs": (64_000, 256_000, 1_000_000), "seeds": (0, 1, 2), "augmented": (1_000_000,)},
              "full": {"pairs": (16_000, 64_000, 256_000, 1_000_000, 4_000_000), "seeds": (0, 1, 2),
                       "augmented": (16_000, 64_000, 256_000, 1_000_000, 4_000_000)}},
}


def settings(cfg: Config, grid: str) -> dict[str, Any]:
    """:data:`SETTINGS` and :data:`GRIDS` of this run, merged."""
    if grid not in GRIDS[cfg.scale]:
        raise ValueError(f"unknown grid {grid!r}; expected one of {', '.join(map(repr, GRIDS[cfg.scale]))}")
    return {**SETTINGS[cfg.scale], **GRIDS[cfg.scale][grid], "grid": grid}


def claim_config(cfg: Config) -> Config:
    """The run with the claim check's crop (at least 256 px at cpu scale)."""
    return dataclasses.replace(cfg, crop=SETTINGS[cfg.scale]["crop"], source="synthetic", data_path=None)


def load(cfg: Config) -> pipeline.Dataset:
    """The claim-check stand-in: the ``our`` recipe with more images per camera and PRNU-free twins.

    Each camera's images are shuffled with the run's seed and cut into ``fingerprint``, ``val``, ``test`` and
    ``train`` (the rest) by :data:`SETTINGS`. The test set is not capped: every test image is scored.

    Returns
    -------
    csi.pipeline.Dataset
        ``name`` ``claim-<dataset folder>``, the twin of every image in column ``twin``.
    """
    from csi import datasets as dsm

    st = SETTINGS[cfg.scale]
    frame = dsm.load_synthetic("our", cfg.scale, cfg.seed, root=cfg.synthetic_root, progress=cfg.progress,
                               overrides={"images": st["images"]}, twins=True)
    root = Path(frame.attrs["dataset_dir"])
    orig = frame[frame["platform"] == "original"].sort_values("path").reset_index(drop=True)
    parts = []
    for dev, g in orig.groupby("device", sort=True):
        order = np.random.default_rng([cfg.seed, int(cache.params_digest(dev)[:8], 16)]).permutation(len(g))
        g = g.iloc[order].reset_index(drop=True)
        cuts = np.cumsum([st["fingerprint"], st["val"], st["test"]])
        if len(g) <= cuts[-1]:
            raise ValueError(f"camera {dev} has {len(g)} images; the claim check needs more than {cuts[-1]}")
        split = np.full(len(g), "train", dtype=object)
        split[:cuts[0]], split[cuts[0]:cuts[1]], split[cuts[1]:cuts[2]] = "fingerprint", "val", "test"
        parts.append(g.assign(split=split))
    images = pd.concat(parts, ignore_index=True)
    images["label"] = images["device"].astype(str)
    images["twin"] = [str(root / "twins" / Path(p).relative_to(root)) for p in images["path"]]
    test = images[images["split"] == "test"]
    test = test.assign(source_device=test["device"], device=test["label"]).reset_index(drop=True)
    protocol = (f"per camera: {st['fingerprint']} fingerprint, {st['val']} validation and {st['test']} test images, "
                f"the other {st['images'] - st['fingerprint'] - st['val'] - st['test']} train")
    return pipeline.Dataset(name=f"claim-{root.name}", images=images, test=test, copies=frame.iloc[0:0],
                            root=root, sensor_scale=float(frame.attrs["sensor_scale"]), protocol=protocol,
                            training=True)


def twin_dataset(ds: pipeline.Dataset) -> pipeline.Dataset:
    """The same dataset with every image replaced by its PRNU-free twin (same row order)."""
    return dataclasses.replace(ds, name=f"{ds.name}-twins", images=ds.images.assign(path=ds.images["twin"]),
                               test=ds.test.assign(path=ds.test["twin"]))


def oracle_residual(image: np.ndarray, twin: np.ndarray, zero_mean: bool = True, wiener: bool = True) -> np.ndarray:
    """The ideal noise residual of a photo: the photo minus its PRNU-free twin, in gray, post-processed.

    The twin went through the same camera and platform with ``K = 0`` and the same noise, so the difference
    holds the PRNU term ``I0 K`` of Eq. 2 and whatever JPEG rounding did to it - exactly the part of Eq. 4's
    ``W = I K + eta`` a perfect extractor would keep. It gets the same gray conversion and post-processing as
    every extractor (:func:`csi.prnu.postprocess`).

    Parameters
    ----------
    image, twin : (H, W, 3) uint8 arrays

    Returns
    -------
    (H, W) float32

    References
    ----------
    Wang et al. (2021), Eq. 2 and Eq. 4.

    Examples
    --------
    >>> a = np.full((16, 16, 3), 100, np.uint8)
    >>> float(np.abs(oracle_residual(a, a)).max())
    0.0
    """
    from csi import prnu

    if image.shape != twin.shape:
        raise ValueError(f"image {image.shape} and twin {twin.shape} differ in shape")
    diff = image.astype(np.float32) - twin.astype(np.float32)
    return prnu.postprocess(prnu.rgb_to_gray(diff), zero_mean=zero_mean, wiener=wiener)


def score_oracle(cfg: Config, ds: pipeline.Dataset, condition: str, progress: bool = True) -> pd.DataFrame:
    """The oracle residual's NCC with every camera on one condition (same images, crops and fingerprints).

    Returns
    -------
    pandas.DataFrame
        As :func:`csi.pipeline.score`, ``method`` = ``"oracle"``.
    """
    from csi import evaluate, io, prnu, wavelet

    view = pipeline.views(cfg, ds, condition, progress=False)
    twins = pipeline.views(cfg, twin_dataset(ds), condition, progress=False)
    K = pipeline.fingerprints(cfg, ds, progress=progress)
    k = cache.key("oracle", {"condition": condition, "crop": cfg.crop, "files": cache.files_digest(view["path"]),
                             "twins": cache.files_digest(twins["path"]), "fingerprints": pipeline.fingerprints_digest(K)},
                  code=[prnu, wavelet, evaluate, oracle_residual])
    path = cfg.cache / "scores" / f"{k}.csv"
    if path.is_file():
        return pd.read_csv(path, dtype={"image": str, "true_device": str, "candidate_device": str})
    rows = []
    for p, tp, dev in bar(list(zip(view["path"], twins["path"], view["device"], strict=True)), enabled=progress,
                          desc=f"oracle {condition}", unit="img"):
        img, twin = io.read_rgb(p), io.read_rgb(tp)
        box = evaluate.crop_box(img.shape[:2], cfg.crop)
        y0, y1, x0, x1 = box
        W = oracle_residual(img[y0:y1, x0:x1], twin[y0:y1, x0:x1])
        for cam, Kc in K.items():
            rows.append({"image": p, "true_device": dev, "candidate_device": cam,
                         "ncc": prnu.ncc(W, evaluate.fingerprint_window(Kc, img.shape[:2], box))})
    out = pd.DataFrame(rows).assign(method="oracle", platform=condition)
    cache.atomic_to_csv(path, out)
    return out


def _training_frames(cfg: Config, ds: pipeline.Dataset, regime: str, st: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training images of a regime (originals, or originals + their platform copies) and the validation copies."""
    from csi.experiments import PLATFORMS

    tr = ds.part("train")[["path", "device", "scene_id", "platform"]]
    if regime == "augmented":
        train_ds = dataclasses.replace(ds, test=ds.part("train"))
        copies = [pipeline.views(cfg, train_ds, p, progress=False)[["path", "device", "scene_id", "platform"]]
                  for p in PLATFORMS]
        tr = pd.concat([tr, *copies], ignore_index=True)
    val_ds = dataclasses.replace(ds, test=ds.part("val"))
    va = pd.concat([pipeline.views(cfg, val_ds, p, progress=False).assign(platform=p)[["path", "device", "platform"]]
                    for p in st["val_platforms"]], ignore_index=True)
    return tr, va


def train_grid(cfg: Config, ds: pipeline.Dataset, grid: str, progress: bool = True) -> pd.DataFrame:
    """Train (or load from the cache) CSI-CNN for every budget, seed and regime of the grid.

    Every run uses the paper's loss (Eq. 6-8), lr 0.001 with x0.2 at 30, 60 and 90 % of its steps, the
    fingerprints of ``ds`` and validation on held-out platform copies (``csi.train``). In the augmented regime a
    training pair is cut from a platform copy with probability 1/2, its fingerprint patch resampled to the copy.

    Returns
    -------
    pandas.DataFrame
        ``regime, pairs, seed, checkpoint`` (path), one row per model.
    """
    from csi import train

    st = settings(cfg, grid)
    K = pipeline.fingerprints(cfg, ds, progress=progress)
    runs = [(r, n, s) for r in REGIMES for n in st["pairs"] for s in st["seeds"]
            if r == "originals" or n in st["augmented"]]
    frames = {r: _training_frames(cfg, ds, r, st) for r in {r for r, _, _ in runs}}
    conf = {"batch": st["batch"], "patch": st["patch"], "evals": st["evals"], "val_crop": st["val_crop"]}
    rows = []
    with bar(total=len(runs), desc=f"training CSI-CNN ({grid} grid)", unit="model", enabled=progress) as b:
        for regime, pairs, seed in runs:
            tr, va = frames[regime]
            extra = {"copy_probability": 0.5} if regime == "augmented" else {}
            ck = train.get_or_train("csi-cnn", f"{ds.name}-{regime}", scale=cfg.scale, seed=seed, loss="cosine",
                                    train=tr, val=va, fingerprints=K, config={**conf, **extra}, pairs=pairs,
                                    cache_dir=cfg.cache / "models", device=cfg.torch_device, progress=False)
            rows.append({"regime": regime, "pairs": pairs, "seed": seed, "checkpoint": str(ck)})
            b.update(1)
    return pd.DataFrame(rows)
