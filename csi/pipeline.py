"""The slow stages the notebooks share, each cached on disk under a key of its parameters and code.

The notebooks compute their tables and figures themselves; they call these stages by name for the parts that
take minutes and are the same for several notebooks:

========================  ===============================================================================
stage                     what it returns (and caches under ``<data_root>/cache``)
========================  ===============================================================================
:func:`load`              a :class:`Dataset`: the images, their split (Sec. 3.2.2), the candidate labels
:func:`fingerprints`      the camera fingerprints of a dataset, Eq. 5 (``fingerprints/``)
:func:`views`             the test images as a platform serves them (``platforms/``)
:func:`checkpoints`       trained CSI-CNN and DnCNN (``models/``)
:func:`score`             one method on one dataset and condition: NCC of every image with every camera
                          (``scores/``; residuals in ``residuals/``)
========================  ===============================================================================

Protocol
--------
* **Split** (Sec. 3.2.2). A dataset the networks train on (the ``our`` stand-in; a real source with
  ``train_on_source``) is split 1:1:6:2 per device into ``val``, ``fingerprint``, ``train`` and ``test``.
  Any other dataset is only tested, so *every photo counts*: a device's flat images (VISION/Daxing
  ``flat``, a ``<device>/flat/`` folder) estimate its fingerprint and all its other camera originals are test
  images; a device without flat images gives a third of its photos to the fingerprint and two thirds to the
  test. :meth:`Dataset.split_counts` reports the split per device.
* **Kaggle, two readings.** ``kaggle`` splits the images of the competition's training phones 1:1:6:2 as
  Sec. 3.2.2 implies (the reading compared with the paper's Table 3); ``kaggle-other`` keeps the same
  fingerprints and tests on the competition's test images, taken by a *second* phone of each model, as the
  paper's description of the dataset says. PRNU identifies a device, not a model, so ``kaggle-other`` should
  sit at chance for every PRNU method.
* **Test images** of the synthetic stand-ins are capped per device and per dataset by the scale
  (:data:`csi.experiments.SETTINGS`); a real source tests every test photo.

Examples
--------
>>> from csi import experiments, pipeline
>>> cfg = experiments.setup(scale="smoke", notebook="06_table3_accuracy")     # doctest: +SKIP
>>> ds = pipeline.load(cfg, "our")                                             # doctest: +SKIP
>>> K = pipeline.fingerprints(cfg, ds)                                         # doctest: +SKIP
>>> table = pipeline.score(cfg, ds, "wechat", "wavelet")                      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi import cache, config, experiments
from csi.experiments import Config
from csi.progress import bar

log = logging.getLogger(__name__)

__all__ = ["Dataset", "load", "fingerprints", "ground_truth", "views", "checkpoints", "extractors", "score",
           "score_grid", "select_test"]

#: Split ratios (val : fingerprint : train : test) of a dataset the networks train on (Sec. 3.2.2), and of a
#: dataset that is only tested (devices without flat images give 1/3 to the fingerprint, 2/3 to the test).
TRAIN_RATIOS: tuple[int, ...] = (1, 1, 6, 2)
TEST_RATIOS: tuple[int, ...] = (0, 1, 0, 2)
#: Flat images a device needs for them to form its fingerprint split.
MIN_FLAT: int = 3


@dataclass
class Dataset:
    """One dataset ready for the notebooks (made by :func:`load`).

    Attributes
    ----------
    name : str
        ``our``, ``kaggle``, ``kaggle-other``, ``vision``, ``daxing``, or the real source's name.
    images : pandas.DataFrame
        The camera originals in use, with the loader's columns plus ``split`` (``val``, ``fingerprint``,
        ``train``, ``test``) and ``label`` (the candidate camera an image must be attributed to: its device,
        or its model for the Kaggle layouts).
    test : pandas.DataFrame
        The test images (capped for the synthetic stand-ins), ``device`` set to the label and
        ``source_device`` to the real device.
    copies : pandas.DataFrame
        Platform copies the dataset itself holds (VISION's ``natFBH``, a ``<device>/facebook/`` folder, FODB).
    root : Path or None
        The synthetic dataset's folder (with ``ground_truth/``); None for real data.
    sensor_scale : float
        Simulated long side / 4032 (1 for real data); platform size caps are scaled by it.
    protocol : str
        One sentence saying how the images were split.
    training : bool
        Whether the networks may train on this dataset's ``train`` split.
    skipped : list of (str, str)
        Files the loader or the protocol left out, with the reason.
    """

    name: str
    images: pd.DataFrame
    test: pd.DataFrame
    copies: pd.DataFrame
    root: Path | None = None
    sensor_scale: float = 1.0
    protocol: str = ""
    training: bool = False
    skipped: list = field(default_factory=list)

    def part(self, split: str) -> pd.DataFrame:
        """The images of one split (``val``, ``fingerprint``, ``train``, ``test``), ``device`` = label."""
        config.check_choice("split", split, ("val", "fingerprint", "train", "test"))
        if split == "test":
            return self.test
        p = self.images[self.images["split"] == split]
        return p.assign(source_device=p["device"], device=p["label"]).reset_index(drop=True)

    def split_counts(self) -> pd.DataFrame:
        """Images per device in each split, and how many test images are used (the per-device report).

        Returns
        -------
        pandas.DataFrame
            Index ``device``; columns ``fingerprint, train, val, test`` (images of the split) and ``tested``
            (test images actually scored, after the scale's cap).
        """
        c = self.images.groupby(["device", "split"]).size().unstack(fill_value=0)
        c = c.reindex(columns=["fingerprint", "train", "val", "test"], fill_value=0)
        tested = self.test.groupby("source_device").size()
        if self.name == "kaggle-other":  # tests on other phones: report them as their own rows
            extra = pd.DataFrame(0, index=tested.index.difference(c.index), columns=c.columns)
            c = pd.concat([c, extra])
        c["tested"] = tested.reindex(c.index).fillna(0).astype(int)
        c.index.name = "device"
        return c


_DATASETS: dict[tuple, Dataset] = {}


def _synthetic_frame(cfg: Config, recipe: str, overrides: Mapping | None) -> tuple[pd.DataFrame, Path, float]:
    from csi import datasets as ds

    frame = ds.load_synthetic(recipe, cfg.scale, cfg.seed, root=cfg.synthetic_root, progress=cfg.progress,
                              overrides=overrides)
    return frame, Path(frame.attrs["dataset_dir"]), float(frame.attrs.get("sensor_scale", 1.0) or 1.0)


def load(cfg: Config, name: str, overrides: Mapping[str, Any] | None = None) -> Dataset:
    """Load (building a synthetic recipe first if needed) and split one dataset; memoised per run.

    Parameters
    ----------
    cfg : Config
    name : str
        A synthetic recipe, ``kaggle-other``, or (for a real source) the source's name.
    overrides : dict, optional
        Changes to a synthetic recipe (:func:`csi.simulate.recipe_plan`), e.g. ``{"prnu_std": 0.0075}``; the
        dataset is then named ``<name>-<digest of the overrides>``.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If the dataset has fewer than two cameras with fingerprint images, or no test image.

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2 (1:1:6:2) and Sec. 4.1 (datasets).
    """
    from csi import datasets as ds

    base = "kaggle" if name in experiments.KAGGLE_READINGS else name
    if cfg.synthetic:
        config.check_choice("dataset", base, experiments.RECIPES)
    elif base != cfg.source:
        raise ValueError(f"dataset {name!r} is not the configured real source {cfg.source!r}")
    if overrides and not cfg.synthetic:
        raise ValueError("overrides apply to the simulator's recipes only")
    memo = (repr(sorted(cfg.params().items())), str(cfg.data_root.resolve()), name, cache.params_digest(overrides or {}))
    if memo in _DATASETS:
        return _DATASETS[memo]
    if cfg.synthetic:
        frame, root, sensor_scale = _synthetic_frame(cfg, base, overrides)
    else:
        frame, root, sensor_scale = ds.load(cfg.source, cfg.data_path), None, 1.0
    skipped = list(frame.attrs.get("skipped", []))
    originals = frame[frame["platform"] == "original"].reset_index(drop=True)
    if originals.empty:
        raise ValueError(f"dataset {name!r} has no camera originals (platform == 'original')")
    training = (cfg.synthetic and base == "our") or (not cfg.synthetic and cfg.train_on_source)
    kaggle_like = "subset" in originals and set(originals["subset"].astype(str)) >= {"train", "test"}
    if kaggle_like:
        images, test, protocol, sk = _kaggle_protocol(cfg, originals, other=name == "kaggle-other")
    else:
        images, test, protocol, sk = _device_protocol(cfg, originals, training)
    skipped += sk
    if images.loc[images["split"] == "fingerprint", "label"].nunique() < 2:
        raise ValueError(f"dataset {name!r} needs at least two cameras with fingerprint images")
    if test.empty:
        raise ValueError(f"dataset {name!r} has no test image after the split ({protocol})")
    if cfg.synthetic:
        test = select_test(test, cfg.settings["max_test"], cfg.settings["max_test_total"], cfg.seed)
    copies = frame[frame["platform"] != "original"].reset_index(drop=True)
    if overrides:
        name = f"{name}-{cache.params_digest(overrides)[:8]}"
    out = Dataset(name=name, images=images, test=test.reset_index(drop=True), copies=copies, root=root,
                  sensor_scale=sensor_scale, protocol=protocol, training=training, skipped=skipped)
    _DATASETS[memo] = out
    return out


def _device_protocol(cfg: Config, originals: pd.DataFrame, training: bool):
    from csi import datasets as ds

    originals = originals.drop(columns=["subset"], errors="ignore")
    ratios = TRAIN_RATIOS if training else TEST_RATIOS
    # flat images estimate the fingerprint when a device has a few (the paper's datasets and a user's flat/ folder)
    sp = ds.split(originals, ratios=ratios, seed=cfg.seed, fingerprint_from="auto", min_flat=MIN_FLAT)
    sp["label"] = sp["device"].astype(str)
    test = sp[sp["split"] == "test"]
    test = test.assign(source_device=test["device"], device=test["label"])
    if training:
        protocol = ("split 1:1:6:2 per device into validation, fingerprint, training and test images "
                    "(Sec. 3.2.2); flat images, where a device has them, estimate its fingerprint")
    else:
        protocol = ("only tested here, so every photo counts: flat images estimate the fingerprint and all other "
                    "originals are test images; a device without flat images gives 1/3 of its photos to the "
                    "fingerprint and 2/3 to the test")
    return sp, test, protocol, []


def _kaggle_protocol(cfg: Config, originals: pd.DataFrame, other: bool):
    from csi import datasets as ds

    skipped = []
    train = originals[originals["subset"] == "train"]
    sp = ds.split(train.drop(columns=["subset"]), ratios=TRAIN_RATIOS, seed=cfg.seed, fingerprint_from="any")
    sp["label"] = sp["model"].astype(str)
    sp["subset"] = "train"
    if not other:
        test = sp[sp["split"] == "test"]
        protocol = ("the training phones' images split 1:1:6:2 (Sec. 3.2.2): fingerprint and test images come "
                    "from the same phones; the reading compared with the paper's Table 3")
    else:
        test = originals[originals["subset"] == "test"].copy()
        unknown = test["model"].astype(str) == "unknown"
        skipped += [(p, "Kaggle test image without a label (no test_labels.csv row)") for p in test.loc[unknown, "path"]]
        test = test[~unknown]
        test["label"] = test["model"].astype(str)
        orphans = ~test["label"].isin(set(sp["label"]))
        skipped += [(p, f"model {m!r} has no training phone") for p, m in
                    zip(test.loc[orphans, "path"], test.loc[orphans, "label"], strict=True)]
        test = test[~orphans].assign(split="test")
        protocol = ("the same fingerprints, tested on the competition's test images, taken by a second phone of "
                    "each model: PRNU identifies a device, not a model, so every PRNU method should sit at chance")
    test = test.assign(source_device=test["device"], device=test["label"])
    return sp, test, protocol, skipped


def select_test(df: pd.DataFrame, per_device: int | None, total: int | None, seed: int) -> pd.DataFrame:
    """Seeded, device-balanced selection of test images.

    Each device's images are shuffled with ``seed``; at most ``per_device`` are kept per device; if more than
    ``total`` remain, images are taken round-robin over the devices (every device's first image, then every
    device's second, ...; the order of devices in a round is a seeded shuffle) until ``total`` are chosen.
    The input is not modified and the result does not depend on its row order.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows with ``device`` and ``path`` columns.
    per_device, total : int or None
        Caps (None: no cap).
    seed : int

    Returns
    -------
    pandas.DataFrame
        The chosen rows, sorted by ``device`` and ``path``.

    Examples
    --------
    >>> df = pd.DataFrame({"device": list("aaabbbccc"), "path": [str(i) for i in range(9)]})
    >>> select_test(df, 2, 4, seed=0).groupby("device").size().tolist()
    [2, 1, 1]
    """
    if df.empty:
        return df.copy()
    rng = np.random.default_rng(seed)
    d = df.sort_values(["device", "path"]).reset_index(drop=True)
    d = d.assign(_key=rng.random(len(d))).sort_values(["device", "_key"])
    d["_rank"] = d.groupby("device").cumcount()
    if per_device is not None:
        d = d[d["_rank"] < int(per_device)]
    if total is not None and len(d) > int(total):
        dev_order = {dv: i for i, dv in enumerate(rng.permutation(sorted(d["device"].unique())))}
        d = d.assign(_dev=d["device"].map(dev_order)).sort_values(["_rank", "_dev"]).head(int(total))
    return (d.drop(columns=[c for c in ("_key", "_rank", "_dev") if c in d.columns])
            .sort_values(["device", "path"]).reset_index(drop=True))


# ----------------------------------------------------------------------------------------------------------
# fingerprints (Eq. 5)
# ----------------------------------------------------------------------------------------------------------

_FINGERPRINTS: dict[str, dict[str, np.ndarray]] = {}
_DIGESTS: dict[int, str] = {}


def fingerprint_images(ds: Dataset) -> dict[str, pd.DataFrame]:
    """The fingerprint images of each candidate label, restricted to the label's most common image size.

    An image of another size (a second resolution mode, a cropped picture) cannot enter Eq. 5 with the
    others; it is left out and listed in ``ds.skipped``.
    """
    fp = ds.images[ds.images["split"] == "fingerprint"]
    out = {}
    for lab, g in fp.groupby("label", sort=True):
        sizes = g.groupby(["height", "width"]).size().sort_values(ascending=False, kind="stable")
        h, w = sizes.index[0]
        keep = (g["height"] == h) & (g["width"] == w)
        for p, hh, ww in zip(g.loc[~keep, "path"], g.loc[~keep, "height"], g.loc[~keep, "width"], strict=True):
            reason = f"fingerprint image of {ww}x{hh} px, but most of {lab}'s are {w}x{h} px"
            if (p, reason) not in ds.skipped:
                ds.skipped.append((p, reason))
        out[str(lab)] = g[keep].sort_values("path")
    return out


def _estimate(paths: list[str], shape: tuple[int, int], size: int | str) -> tuple[np.ndarray, list]:
    """Eq. 5 from ``paths`` (all ``shape``); with an int ``size`` only the centre ``size`` px, embedded in 0s."""
    from csi import io, prnu

    it = io.iter_rgb(paths, errors="skip", progress=False)
    if size == "full":
        K = prnu.estimate_fingerprint((img for _, img in it), errors="skip")
    else:
        h, w = shape
        ch, cw = min(int(size), h), min(int(size), w)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        part = prnu.estimate_fingerprint((img[y0:y0 + ch, x0:x0 + cw] for _, img in it), errors="skip")
        K = np.zeros(shape, np.float32)
        K[y0:y0 + ch, x0:x0 + cw] = part
    return np.asarray(K, np.float32), list(getattr(it, "skipped", []))


def fingerprints(cfg: Config, ds: Dataset, progress: bool = True) -> dict[str, np.ndarray]:
    """Every candidate camera's fingerprint (Eq. 5) from its ``fingerprint`` images; cached per camera.

    The images stream through :func:`csi.prnu.estimate_fingerprint` (memory O(one image)). With
    ``cfg.fingerprint_size`` an int, only the centre of each image is used and the estimate is embedded in a
    full-frame array of zeros, so resampling to a platform's downscaled copy still lines up. Unreadable files
    are skipped and added to ``ds.skipped``. The cache key holds the image files (name, size, mtime), the
    size, and the code of :mod:`csi.prnu` and :mod:`csi.io`.

    Returns
    -------
    dict
        label -> ``(H, W)`` float32.

    References
    ----------
    Wang et al. (2021), Eq. 3-5.
    """
    from csi import io, prnu, wavelet

    groups = fingerprint_images(ds)
    keys = {}
    for lab, g in groups.items():
        shape = (int(g["height"].iloc[0]), int(g["width"].iloc[0]))
        keys[lab] = cache.key("fingerprint", {"label": lab, "files": cache.files_digest(g["path"]),
                                              "size": cfg.fingerprint_size, "shape": shape},
                              code=[prnu, wavelet, io, _estimate])
    memo = "|".join(f"{lab}:{k}" for lab, k in sorted(keys.items()))
    if memo in _FINGERPRINTS:
        return _FINGERPRINTS[memo]
    folder = cfg.cache / "fingerprints"
    out = {}
    todo = [lab for lab in groups if not (folder / f"{keys[lab]}.npy").is_file()]
    for lab in bar(todo, enabled=progress and bool(todo), desc=f"fingerprints {ds.name} (Eq. 5)", unit="camera"):
        g = groups[lab]
        K, sk = _estimate(list(g["path"]), (int(g["height"].iloc[0]), int(g["width"].iloc[0])),
                          cfg.fingerprint_size)
        ds.skipped += [(p, r) for p, r in sk if (p, r) not in ds.skipped]
        if sk:
            log.warning("fingerprint %s/%s: skipped %d of %d files", ds.name, lab, len(sk), len(g))
        cache.atomic_save_npy(folder / f"{keys[lab]}.npy", K)
    for lab in groups:
        out[lab] = np.load(folder / f"{keys[lab]}.npy")
    _FINGERPRINTS[memo] = out
    _DIGESTS[id(out)] = cache.params_digest(keys)
    return out


def fingerprints_digest(K: Mapping[str, np.ndarray]) -> str:
    """A digest of a fingerprint dict (cheap for the dicts :func:`fingerprints` returns)."""
    if id(K) in _DIGESTS:
        return _DIGESTS[id(K)]
    return cache.params_digest({lab: cache.array_digest(v) for lab, v in sorted(K.items())})


def ground_truth(ds: Dataset) -> dict[str, np.ndarray]:
    """The simulator's true ``K`` of each candidate label (empty for real data).

    For the Kaggle layouts a label is a model; its truth is the ``K`` of the phone whose images estimated the
    fingerprint (the training phone, ``<model>_1`` in the simulator).
    """
    if ds.root is None:
        return {}
    from csi import simulate

    gt = simulate.ground_truth(ds.root)
    fp = ds.images[ds.images["split"] == "fingerprint"]
    out = {}
    for lab, dev in zip(fp["label"], fp["device"], strict=True):
        if lab in out:
            continue
        if dev in gt:
            out[lab] = gt[dev]
        elif f"{dev}_1" in gt:  # Kaggle: the training folder is the class; the simulator's phone is <class>_1
            out[lab] = gt[f"{dev}_1"]
    return out


# ----------------------------------------------------------------------------------------------------------
# platform copies
# ----------------------------------------------------------------------------------------------------------


def views(cfg: Config, ds: Dataset, condition: str, profiles: Mapping[str, Mapping] | None = None,
          progress: bool = True) -> pd.DataFrame:
    """The test images of ``ds`` as served on ``condition`` (``"original"`` or a platform); copies cached.

    A copy the dataset holds itself (VISION's ``natFBH`` for Facebook, a ``<device>/<platform>/`` folder) is
    used as it is; any other is made by the simulator's platform profile (:func:`csi.simulate.apply_platform`,
    with ``profiles`` overriding the defaults, e.g. another JPEG quality).

    Returns
    -------
    pandas.DataFrame
        One row per test image, ``path`` the copy, ``device`` the label, ``platform`` the condition.

    References
    ----------
    Wang et al. (2021), Sec. 4.3 (each dataset uploaded to five platforms).
    """
    from csi import datasets as dsm

    if condition == "original":
        return ds.test.assign(platform="original")
    src = ds.test
    if len(ds.copies):
        real = ds.copies[(ds.copies["platform"] == condition) & ds.copies["scene_id"].isin(set(src["scene_id"]))]
        if len(real):
            label = dict(zip(src["source_device"], src["device"], strict=False))
            real = real.assign(source_device=real["device"], device=real["device"].map(label).fillna(real["device"]))
            src = pd.concat([src, real], ignore_index=True)
    # platform_view pairs originals and real copies by device: use the real device while pairing
    src = src.assign(device=src["source_device"])
    folder = cfg.cache / "platforms" / f"{ds.name}-{cache.params_digest(cfg.params())[:10]}"
    view = dsm.platform_view(src, condition, cache_dir=folder, sensor_scale=ds.sensor_scale, seed=cfg.seed,
                             profiles=profiles, progress=progress)
    label = dict(zip(ds.test["source_device"], ds.test["device"], strict=False))
    view = view.assign(source_device=view["device"], device=view["device"].map(label))
    if len(view) != len(ds.test):
        log.warning("%s on %s: %d of %d test images have a copy", ds.name, condition, len(view), len(ds.test))
    return view


# ----------------------------------------------------------------------------------------------------------
# networks
# ----------------------------------------------------------------------------------------------------------


def training_config(cfg: Config) -> Config:
    """The run whose data the networks train on: this run, or the synthetic default for a real source."""
    if cfg.synthetic or cfg.train_on_source:
        return cfg
    return dataclasses.replace(cfg, source="synthetic", data_path=None, datasets=("our",), train_on_source=False)


def training_dataset(cfg: Config) -> Dataset:
    """The dataset CSI-CNN trains on, checked to be large enough (:data:`csi.experiments.MIN_TRAIN_TOTAL`)."""
    tcfg = training_config(cfg)
    ds = load(tcfg, "our" if tcfg.synthetic else tcfg.source)
    tr = ds.part("train")
    if not tcfg.synthetic:
        per = tr.groupby("device").size()
        small = per[per < experiments.MIN_TRAIN_PER_CAMERA]
        if len(tr) < experiments.MIN_TRAIN_TOTAL or len(small):
            raise ValueError(
                f"train_on_source=True needs at least {experiments.MIN_TRAIN_PER_CAMERA} training images per "
                f"camera and {experiments.MIN_TRAIN_TOTAL} in all after the 1:1:6:2 split; {cfg.source} has "
                f"{len(tr)} (per camera: {', '.join(f'{d} {n}' for d, n in per.items())}). Use the networks "
                "trained on the synthetic default (train_on_source=False) or pass csi_cnn_checkpoint")
    if tr.empty:
        raise ValueError(f"dataset {ds.name!r} has no training images after the 1:1:6:2 split")
    return ds


#: The platforms of the held-out validation copies that judge a training run (csi.train.ValidationSet).
VAL_PLATFORMS: tuple[str, ...] = ("original", "facebook", "instagram", "wechat")


def validation_copies(cfg: Config, ds: Dataset) -> pd.DataFrame:
    """The ``val`` images of ``ds`` as served on :data:`VAL_PLATFORMS` (``path, device, platform``)."""
    val_ds = dataclasses.replace(ds, test=ds.part("val"))
    if val_ds.test.empty:
        return pd.DataFrame(columns=["path", "device", "platform"])
    return pd.concat([views(cfg, val_ds, p, progress=False).assign(platform=p)[["path", "device", "platform"]]
                      for p in VAL_PLATFORMS], ignore_index=True)


def checkpoints(cfg: Config, loss: str = "cosine", progress: bool = True) -> dict[str, Path]:
    """Trained CSI-CNN and DnCNN checkpoints (the given files, or trained here once and cached).

    CSI-CNN trains on the ``train`` split of the ``our`` stand-in (or of a real source with
    ``train_on_source``) with ``loss`` (the paper's cosine loss, Eq. 6-8, by default; ``"mse"`` is ref. [20]'s,
    ``"mse-std"`` its fair variant), for the scale's budget of training pairs (``settings["train_pairs"]``),
    its fingerprints from the same dataset, and is judged on the ``val`` images' platform copies
    (:func:`validation_copies`). DnCNN trains as a blind Gaussian denoiser on the simulator's scenes. See
    :func:`csi.train.get_or_train`, which keys the cache by the training parameters, data and code.

    Returns
    -------
    dict
        ``{"csi-cnn": Path, "dncnn": Path}``.

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2, Fig. 2, Sec. 4.3.
    """
    from csi import train

    out: dict[str, Path] = {}
    common = {"scale": cfg.scale, "seed": cfg.seed, "cache_dir": cfg.cache / "models", "device": cfg.torch_device,
              "progress": progress}
    if cfg.csi_cnn_checkpoint is not None:
        out["csi-cnn"] = cfg.csi_cnn_checkpoint
    else:
        tcfg = training_config(cfg)
        ds = training_dataset(cfg)
        K = fingerprints(tcfg, ds, progress=progress)
        va = validation_copies(tcfg, ds)
        conf = {"batch": cfg.settings["train_batch"], "val_crop": tcfg.settings["crop"]}
        out["csi-cnn"] = Path(train.get_or_train(
            "csi-cnn", cache.key(ds.name, tcfg.params()), loss=loss, train=ds.part("train")[["path", "device"]],
            val=va if len(va) else None, fingerprints=K, config=conf, pairs=cfg.settings["train_pairs"], **common))
    out["dncnn"] = cfg.dncnn_checkpoint or Path(train.get_or_train("dncnn", "scenes", **common))
    return out


def extractors(cfg: Config, ckpt: Mapping[str, Path]) -> dict[str, Any]:
    """The three residual extractors of Table 3, in its column order (:func:`csi.evaluate.get_extractor`)."""
    from csi import evaluate

    return {"csi-cnn": evaluate.get_extractor("csi-cnn", checkpoint=ckpt["csi-cnn"], device=cfg.torch_device),
            "wavelet": evaluate.get_extractor("wavelet"),
            "dncnn": evaluate.get_extractor("dncnn", checkpoint=ckpt["dncnn"], device=cfg.torch_device)}


# ----------------------------------------------------------------------------------------------------------
# scores
# ----------------------------------------------------------------------------------------------------------


def _as_extractor(method: str | Callable, cfg: Config):
    from csi import evaluate

    if isinstance(method, evaluate.Extractor):
        return method
    if isinstance(method, str) and method != "wavelet":
        return extractors(cfg, checkpoints(cfg))[method]
    return evaluate.get_extractor(method)


def score(cfg: Config, ds: Dataset, condition: str, method: str | Callable, *,
          profiles: Mapping[str, Mapping] | None = None, progress: bool = True) -> pd.DataFrame:
    """Score one method on one dataset and condition: the NCC of every test image with every camera.

    The residual of each image's centre crop (``cfg.crop``) is correlated with every candidate fingerprint,
    aligned to the image (:func:`csi.evaluate.evaluate`). The table is cached under a key of the images, the
    fingerprints, the crop, the extractor (its code, for a callable) and the code of the evaluation.

    Parameters
    ----------
    cfg : Config
    ds : Dataset
    condition : str
        ``"original"`` or a platform.
    method : str, callable or csi.evaluate.Extractor
        ``"wavelet"``, ``"csi-cnn"``, ``"dncnn"``, an extractor, or any ``image -> (H, W) residual``.
    profiles : dict, optional
        Platform profiles overriding the simulator's (:func:`views`).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        ``image, true_device, candidate_device, ncc`` (one row per image x candidate), ``platform``,
        ``method`` (the extractor's name).

    References
    ----------
    Wang et al. (2021), Sec. 4.2-4.3: the correlation of a residual with the Eq. 5 fingerprints.
    """
    from csi import evaluate, io, prnu, wavelet

    ex = _as_extractor(method, cfg)
    view = views(cfg, ds, condition, profiles=profiles, progress=False)
    K = fingerprints(cfg, ds, progress=progress)
    path = None
    if ex.key is not None:
        k = cache.key("scores", {"dataset": ds.name, "condition": condition, "crop": cfg.crop,
                                 "files": cache.files_digest(view["path"]), "labels": list(view["device"]),
                                 "fingerprints": fingerprints_digest(K), "extractor": ex.key},
                      code=[evaluate, prnu, wavelet, io])
        path = cfg.cache / "scores" / f"{k}.csv"
        if path.is_file():
            return pd.read_csv(path, dtype={"image": str, "true_device": str, "candidate_device": str})
    t = evaluate.evaluate(ex, view, K, crop=cfg.crop, cache_dir=cfg.cache / "residuals", device=cfg.torch_device,
                          with_pce=False, progress=progress)
    t = t.drop(columns=["pce"]).assign(platform=condition)
    if path is not None:
        cache.atomic_to_csv(path, t)
    return t


def score_grid(cfg: Config, datasets: Iterable[str], conditions: Iterable[str], methods: Mapping[str, Any], *,
               profiles: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """:func:`score` for every dataset x condition x method, stacked, with one progress bar for the grid.

    Returns
    -------
    pandas.DataFrame
        ``dataset, platform, method`` (the key of ``methods``), then the columns of :func:`score`.
    """
    grid = [(d, c, m) for d in datasets for c in conditions for m in methods]
    parts = []
    with bar(total=len(grid), desc="scores", unit="table") as b:
        for d, c, m in grid:
            t = score(cfg, load(cfg, d), c, methods[m], profiles=profiles, progress=False)
            parts.append(t.assign(dataset=d, platform=c, method=m))
            b.update(1)
    out = pd.concat(parts, ignore_index=True)
    front = ["dataset", "platform", "method"]
    return out[front + [c for c in out.columns if c not in front]]
