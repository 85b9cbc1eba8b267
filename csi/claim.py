"""The stages of notebook 09, which tests the paper's claim (CSI-CNN beats the wavelet residual) with
PRNU-free twins (oracle headroom) and a grid of training budgets; sizes in ``SCALES[scale]["claim"]``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi import cache, datasets, evaluate, io, metrics, paper, pipeline, prnu, stats, train, wavelet
from csi.experiments import CONDITIONS, PLATFORMS, SCALES, Config, sizes
from csi.progress import bar

log = logging.getLogger(__name__)

__all__ = ["READINGS", "load", "twin_dataset", "oracle_residual", "score_oracle", "copies_reading",
           "calibration", "TARGETS", "targets", "grid_runs", "train_grid", "settings"]


def settings(cfg: Config, grid: str) -> dict[str, Any]:
    """The claim check's sizes and grid of this run (``SCALES[scale]["claim"]``, ``["claim_grids"]``), merged."""
    grids = SCALES[cfg.scale]["claim_grids"]
    if grid not in grids:
        raise ValueError(f"unknown grid {grid!r}; expected one of {', '.join(map(repr, grids))}")
    return {**sizes(cfg.scale, "claim"), **grids[grid], "grid": grid}


def claim_config(cfg: Config) -> Config:
    """The run with the claim check's crop (at least 256 px at cpu scale)."""
    return dataclasses.replace(cfg, crop=SCALES[cfg.scale]["claim"]["crop"], source="synthetic", data_path=None)


def load(cfg: Config) -> pipeline.Dataset:
    """The claim-check stand-in: the ``our`` recipe with more images per camera; column ``twin`` per image."""
    st = sizes(cfg.scale, "claim")
    frame = datasets.load_synthetic("our", cfg.scale, cfg.seed, root=cfg.synthetic_root, progress=cfg.progress,
                                    overrides={"images": st["images"], "prnu_std": st["prnu_std"]}, twins=True)
    root = Path(frame.attrs["dataset_dir"])
    orig = frame[frame["platform"] == "original"].sort_values("path").reset_index(drop=True)
    cuts = np.cumsum([st["fingerprint"], st["val"], st["test"], st["reserve"]])
    parts = []
    for dev, g in orig.groupby("device", sort=True):
        order = np.random.default_rng([cfg.seed, int(cache.params_digest(dev)[:8], 16)]).permutation(len(g))
        if len(g) <= cuts[-1]:
            raise ValueError(f"camera {dev} has {len(g)} images; the claim check needs more than {cuts[-1]}")
        split = np.full(len(g), "train", dtype=object)
        split[:cuts[0]], split[cuts[0]:cuts[1]], split[cuts[1]:cuts[2]] = "fingerprint", "val", "test"
        split[cuts[2]:cuts[3]] = "reserve"
        parts.append(g.iloc[order].reset_index(drop=True).assign(split=split))
    images = pd.concat(parts, ignore_index=True)
    images["label"] = images["device"].astype(str)
    images["twin"] = [str(root / "twins" / Path(p).relative_to(root)) for p in images["path"]]
    test = images[images["split"] == "test"]
    test = test.assign(source_device=test["device"], device=test["label"]).reset_index(drop=True)
    protocol = (f"per camera: {st['fingerprint']} fingerprint, {st['val']} validation, {st['test']} test and "
                f"{st['reserve']} reserve images (added to the fingerprint images for the target ablation), "
                f"the other {st['images'] - cuts[-1]} train")
    return pipeline.Dataset(name=f"claim-{root.name}", images=images, test=test, copies=frame.iloc[0:0],
                            root=root, sensor_scale=float(frame.attrs["sensor_scale"]), protocol=protocol,
                            training=True)


def twin_dataset(ds: pipeline.Dataset) -> pipeline.Dataset:
    """The same dataset with every image replaced by its PRNU-free twin (same row order)."""
    return dataclasses.replace(ds, name=f"{ds.name}-twins", images=ds.images.assign(path=ds.images["twin"]),
                               test=ds.test.assign(path=ds.test["twin"]))


def oracle_residual(image: np.ndarray, twin: np.ndarray, zero_mean: bool = True, wiener: bool = True) -> np.ndarray:
    """The ideal noise residual: photo minus its PRNU-free twin, in gray, post-processed.

    The difference holds the PRNU term ``I0 K`` of Eq. 2 (and what JPEG rounding did to it), the part of
    Eq. 4's ``W = I K + eta`` a perfect extractor would keep; it gets every extractor's gray conversion and
    :func:`csi.prnu.postprocess`.

    Parameters
    ----------
    image, twin : (H, W, 3) uint8 arrays

    Returns
    -------
    (H, W) float32

    Examples
    --------
    >>> a = np.full((16, 16, 3), 100, np.uint8)
    >>> float(np.abs(oracle_residual(a, a)).max())
    0.0
    """
    if image.shape != twin.shape:
        raise ValueError(f"image {image.shape} and twin {twin.shape} differ in shape")
    diff = image.astype(np.float32) - twin.astype(np.float32)
    return prnu.postprocess(prnu.rgb_to_gray(diff), zero_mean=zero_mean, wiener=wiener)


def score_oracle(cfg: Config, ds: pipeline.Dataset, condition: str, progress: bool = True) -> pd.DataFrame:
    """The oracle residual's NCC with every camera on one condition (as :func:`csi.pipeline.score`)."""
    view = pipeline.views(cfg, ds, condition, progress=False)
    twins = pipeline.views(cfg, twin_dataset(ds), condition, progress=False)
    K = pipeline.fingerprints(cfg, ds, progress=progress)
    k = cache.key("oracle", {"condition": condition, "crop": cfg.crop, "files": cache.files_digest(view["path"]),
                             "twins": cache.files_digest(twins["path"]), "fingerprints": pipeline.fingerprints_digest(K)},
                  code=[prnu, wavelet, evaluate, oracle_residual])
    path = cfg.cache / "scores" / f"{k}.csv"
    if path.is_file():
        return pipeline.cached_scores(path, view["path"])
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


#: Which fingerprint a platform copy is compared with (the paper does not say): Eq. 5 on the camera's originals,
#: resampled to the copy's size, or Eq. 5 on the platform's own copies of the fingerprint images.
READINGS: tuple[str, ...] = ("originals", "copies")


def copies_reading(cfg: Config, ds: pipeline.Dataset, platform: str) -> pipeline.Dataset:
    """``ds`` with its fingerprint images replaced by their copies on ``platform`` (the "copies" reading)."""
    fp = ds.part("fingerprint")
    view = pipeline.views(cfg, dataclasses.replace(ds, test=fp), platform, progress=False).set_index("source_path")
    images = ds.images.copy()
    rows = images["split"] == "fingerprint"
    images.loc[rows, ["path", "width", "height"]] = view.loc[images.loc[rows, "path"], ["path", "width", "height"]].to_numpy()
    return dataclasses.replace(ds, images=images, skipped=list(ds.skipped))


def _acc_row(table: pd.DataFrame) -> dict[str, Any]:
    """Closed-set ACC (Eq. 9) of a score table with its n and 95 % Wilson interval."""
    S, true, _, _ = evaluate.score_matrix(table)
    k, n = int((metrics.closed_set_predictions(S) == true).sum()), len(true)
    lo, hi = stats.wilson_interval(k, n)
    return {"acc": k / n, "acc_low": lo, "acc_high": hi, "n_images": n}


def calibration(cfg: Config, ds: pipeline.Dataset, crops: Sequence[int], progress: bool = True) -> pd.DataFrame:
    """The wavelet's and the oracle's ACC per crop, fingerprint reading and condition, beside Table 3's wavelet.

    The table the claim check's operating point is chosen from, before any network is scored (issue 16;
    docs/claim-calibration.md): one row per ``crop``,
    ``reading`` (:data:`READINGS`; the originals have only ``"originals"``), ``platform`` and ``method``
    (wavelet, oracle) with ``acc, acc_low, acc_high, n_images`` and ``paper_wavelet`` (Table 3, "Our").
    """
    published = paper.table3(long=True).query("dataset == 'our' and method == 'wavelet'").set_index("platform")["acc"]
    rows = []
    todo = [(c, r, p) for c in crops for p in CONDITIONS for r in READINGS if p != "original" or r == "originals"]
    for crop, reading, condition in bar(todo, enabled=progress, desc="calibration", unit="point"):
        at = dataclasses.replace(cfg, crop=int(crop))
        d = ds if reading == "originals" else copies_reading(cfg, ds, condition)
        for method in ("wavelet", "oracle"):
            t = (pipeline.score(at, d, condition, "wavelet", progress=False) if method == "wavelet"
                 else score_oracle(at, d, condition, progress=False))
            rows.append({"crop": int(crop), "reading": reading, "platform": condition, "method": method,
                         **_acc_row(t), "paper_wavelet": float(published.get(condition, np.nan))})
    return pd.DataFrame(rows)


def _training_frames(cfg: Config, ds: pipeline.Dataset, regime: str, st: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training images of a regime (originals, or originals + their platform copies) and the validation copies."""
    cols = ["path", "device", "scene_id", "platform"]
    tr = ds.part("train")[cols]
    if regime == "augmented":
        train_ds = dataclasses.replace(ds, test=ds.part("train"))
        tr = pd.concat([tr, *(pipeline.views(cfg, train_ds, p, progress=False)[cols] for p in PLATFORMS)],
                       ignore_index=True)
    return tr, pipeline.validation_copies(cfg, ds, st["val_platforms"])


#: The training targets of the target ablation: Eq. 5 on the fingerprint images (the claim check's), on the
#: fingerprint and reserve images, and the simulator's true K (an upper bound on target quality).
TARGETS: tuple[str, ...] = ("fingerprint", "fingerprint+reserve", "true")


def targets(cfg: Config, ds: pipeline.Dataset, names: Sequence[str] = TARGETS) -> dict[str, dict[str, np.ndarray]]:
    """Each named training target (:data:`TARGETS`): camera label -> ``(H, W)`` float32 fingerprint."""
    out = {}
    for name in names:
        if name == "true":
            out[name] = pipeline.ground_truth(ds)
            continue
        images = ds.images.assign(split=ds.images["split"].replace({"reserve": "fingerprint"}))
        part = ds if name == "fingerprint" else dataclasses.replace(ds, images=images, skipped=list(ds.skipped))
        out[name] = pipeline.fingerprints(cfg, part, progress=False)
    return out


def grid_runs(st: Mapping[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """The networks of a grid: ``(extractor, regime, target, pairs, seed)``, each once."""
    runs = [(ex, "originals", "fingerprint", n, s) for ex, ns in st["budgets"].items() for n in ns for s in st["seeds"]]
    runs += [("csi-cnn", "augmented", "fingerprint", n, s) for n in st["augmented"] for s in st["seeds"]]
    runs += [("csi-cnn", "originals", t, st["target_budget"], s) for t in st["targets"] for s in st["seeds"]]
    return list(dict.fromkeys(runs))


def train_grid(cfg: Config, ds: pipeline.Dataset, grid: str, progress: bool = True) -> pd.DataFrame:
    """Train (or load) every network of a grid with the cosine loss (Eq. 6-8): CSI-CNN and the gray DnCNN-17
    ("dncnn-cosine", Zeng et al. 2021's best CNN extractor) per budget, seed, regime and target.

    Returns ``extractor, regime, target, pairs, seed, checkpoint``, one row per :func:`grid_runs` entry.
    """
    st = settings(cfg, grid)
    runs = grid_runs(st)
    K = targets(cfg, ds, sorted({r[2] for r in runs}))
    frames = {r: _training_frames(cfg, ds, r, st) for r in {r for _, r, *_ in runs}}
    conf = {"batch": st["batch"], "patch": st["patch"], "evals": st["evals"], "val_crop": st["val_crop"]}
    rows = []
    with bar(total=len(runs), desc=f"training ({grid} grid)", unit="model", enabled=progress) as b:
        for ex, regime, target, pairs, seed in runs:
            tr, va = frames[regime]
            extra = {"copy_probability": 0.5} if regime == "augmented" else {}
            if ex == "dncnn-cosine":
                extra |= {"depth": st["dncnn_depth"], "width": st["dncnn_width"], "evals": st["dncnn_evals"]}
            run_sizes = {**sizes(cfg.scale, "csi_cnn"), **conf, **extra, "pairs": pairs}
            ck = train.get_or_train(ex, f"{ds.name}-{regime}-{target.replace('+', '-')}", run_sizes, scale=cfg.scale,
                                    seed=seed, loss="cosine", train=tr, val=va, fingerprints=K[target],
                                    cache_dir=cfg.cache / "models", device=cfg.torch_device, progress=False)
            rows.append({"extractor": ex, "regime": regime, "target": target, "pairs": pairs, "seed": seed,
                         "checkpoint": str(ck)})
            b.update(1)
    return pd.DataFrame(rows)
