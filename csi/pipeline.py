"""The slow stages the notebooks share (load, fingerprints, views, checkpoints, score), cached under
``<data_root>/cache`` by parameters and code. Split protocol: Sec. 3.2.2 and docs/data.md."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi import cache, config, datasets, evaluate, experiments, io, prnu, simulator, train, wavelet, weights
from csi.experiments import Config
from csi.progress import bar

log = logging.getLogger(__name__)

__all__ = ["Dataset", "load", "decode_check", "fingerprints", "ground_truth", "views", "checkpoints", "extractors",
           "score", "cached_scores", "score_grid", "select_test"]

#: Split ratios (val : fingerprint : train : test) when training (Sec. 3.2.2) and when only tested.
TRAIN_RATIOS: tuple[int, ...] = (1, 1, 6, 2)
TEST_RATIOS: tuple[int, ...] = (0, 1, 0, 2)
MIN_FLAT: int = 3
VAL_PLATFORMS: tuple[str, ...] = ("original", "facebook", "instagram", "wechat")


@dataclass
class Dataset:
    """One dataset ready for the notebooks (made by :func:`load`)."""
    name: str  # our, kaggle, kaggle-other, vision, daxing, or the real source's name
    images: pd.DataFrame  # originals + split (val, fingerprint, train, test) + label (device; Kaggle: model)
    test: pd.DataFrame  # test images (capped for the stand-ins), device = label, source_device = device
    copies: pd.DataFrame  # platform copies the dataset holds itself (VISION's natFBH, <device>/facebook/, FODB)
    root: Path | None = None  # the synthetic dataset's folder (with ground_truth/); None for real data
    sensor_scale: float = 1.0  # simulated long side / 4032 (1 for real data); scales platform size caps
    protocol: str = ""  # one sentence saying how the images were split
    training: bool = False  # whether the networks may train on the train split
    skipped: list = field(default_factory=list)  # (file, reason) left out by the loader or the protocol
    source_root: Path | None = None  # the folder the loader read (names the device of a left-out file)

    def part(self, split: str) -> pd.DataFrame:
        """The images of one split (``val``, ``fingerprint``, ``train``, ``test``), ``device`` = label.

        (The claim check's ``reserve`` images are in :attr:`images` and :meth:`split_counts` only.)"""
        config.check_choice("split", split, ("val", "fingerprint", "train", "test"))
        if split == "test":
            return self.test
        p = self.images[self.images["split"] == split]
        return p.assign(source_device=p["device"], device=p["label"]).reset_index(drop=True)

    def split_counts(self) -> pd.DataFrame:
        """Images per device in each split plus ``tested``; with skipped files, ``status, file, reason`` too."""
        out_paths = {str(p) for p, _ in self.skipped}
        used = self.images[~self.images["path"].astype(str).isin(out_paths)]
        c = used.groupby(["device", "split"]).size().unstack(fill_value=0)
        c = c.reindex(columns=["fingerprint", "train", "val", "test", *(["reserve"] if "reserve" in c else [])], fill_value=0)
        test = self.test[~self.test["path"].astype(str).isin(out_paths)]
        tested = test.groupby("source_device").size()
        if self.name == "kaggle-other":  # tests on other phones: report them as their own rows
            extra = pd.DataFrame(0, index=tested.index.difference(c.index), columns=c.columns)
            c = pd.concat([c, extra])
        c["tested"] = tested.reindex(c.index).fillna(0).astype(int)
        c.index.name = "device"
        if not self.skipped:
            return c
        left = pd.DataFrame([{"device": self._device_of(p), "file": str(p), "reason": str(r)} for p, r in self.skipped])
        left = left.assign(**{k: 0 for k in c.columns}, status="left out").set_index("device")
        c = c.assign(status="used", file="", reason="")
        return pd.concat([c, left[c.columns]])

    def _device_of(self, path: str) -> str:
        known = self.images.loc[self.images["path"].astype(str) == str(path), "device"]
        if len(known):
            return str(known.iloc[0])
        root = self.source_root or self.root
        try:
            parts = Path(path).relative_to(root).parts if root is not None else ()
        except ValueError:
            parts = ()
        return parts[0] if len(parts) > 1 or (parts and Path(path).is_dir()) else ""


_DATASETS: dict[tuple, Dataset] = {}


def load(cfg: Config, name: str, overrides: Mapping[str, Any] | None = None) -> Dataset:
    """Load (building a synthetic recipe if needed) and split one dataset (Sec. 3.2.2, 4.1); memoised per run.

    ``overrides`` change a synthetic recipe (:func:`csi.simulator.recipe_plan`); the name gets a digest suffix.
    """
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
        frame = datasets.load_synthetic(base, cfg.scale, cfg.seed, root=cfg.synthetic_root, progress=cfg.progress,
                                        overrides=overrides)
        root, sensor_scale = Path(frame.attrs["dataset_dir"]), float(frame.attrs.get("sensor_scale", 1.0) or 1.0)
    else:
        frame, root, sensor_scale = datasets.load(cfg.source, cfg.data_path, min_size=cfg.crop or 0), None, 1.0
    skipped = list(frame.attrs.get("skipped", []))
    if not cfg.synthetic:  # a real photo truncated after its header is found here, not when it is scored
        undecodable = decode_check(cfg, frame["path"])
        if undecodable:
            log.warning("%s: %d file(s) cannot be decoded and are left out:\n%s", cfg.source, len(undecodable),
                        "\n".join(f"  {p}: {r}" for p, r in undecodable))
        skipped += undecodable
        frame = frame[~frame["path"].isin({p for p, _ in undecodable})]
    originals = frame[frame["platform"] == "original"].reset_index(drop=True)
    if originals.empty:
        raise ValueError(f"dataset {name!r} has no camera originals (platform == 'original')")
    training = (cfg.synthetic and base == "our") or (not cfg.synthetic and cfg.train_on_source)
    if "subset" in originals and set(originals["subset"].astype(str)) >= {"train", "test"}:  # Kaggle's layout
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
                  sensor_scale=sensor_scale, protocol=protocol, training=training, skipped=skipped,
                  source_root=Path(frame.attrs["root"]) if frame.attrs.get("root") else root)
    _DATASETS[memo] = out
    return out


def decode_check(cfg: Config, paths: Iterable[str]) -> list[tuple[str, str]]:
    """The files among ``paths`` whose pixel data cannot be decoded, with the reason; cached per file list."""
    paths = sorted(str(p) for p in paths)
    name = cache.key("decode", {"files": cache.files_digest(paths)}, code=[io])
    path = cfg.cache / "decode" / f"{name}.json"
    if path.is_file():
        return [(p, r) for p, r in json.loads(path.read_text())]
    bad = []
    for p in bar(paths, enabled=cfg.progress, desc="decoding every photo once", unit="file"):
        try:
            io.check_image(p, decode=True)
        except io.ImageReadError as exc:
            bad.append((p, exc.reason))
    cache.atomic_write_text(path, json.dumps(bad))
    return bad


def _device_protocol(cfg: Config, originals: pd.DataFrame, training: bool):
    """Split per device: 1:1:6:2 when training, else every photo tested; flat images estimate the fingerprint."""
    sp = datasets.split(originals.drop(columns=["subset"], errors="ignore"),
                        ratios=TRAIN_RATIOS if training else TEST_RATIOS, seed=cfg.seed, fingerprint_from="auto",
                        min_flat=MIN_FLAT)
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
    """The training phones split 1:1:6:2 and labelled by model; ``other``: test on the second phones."""
    skipped = []
    train_phones = originals[originals["subset"] == "train"]
    sp = datasets.split(train_phones.drop(columns=["subset"]), ratios=TRAIN_RATIOS, seed=cfg.seed,
                        fingerprint_from="any")
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
    """Seeded, device-balanced selection: at most ``per_device`` each, then ``total`` round-robin (None: no cap).

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


_FINGERPRINTS: dict[str, dict[str, np.ndarray]] = {}
_DIGESTS: dict[int, str] = {}


def fingerprint_images(ds: Dataset) -> dict[str, pd.DataFrame]:
    """The fingerprint images of each label, of its most common size (the others go to ``ds.skipped``)."""
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
    it = io.iter_rgb(paths, errors="skip", progress=False)
    if size == "full":
        K = prnu.estimate_fingerprint((img for _, img in it), errors="skip")
    else:
        y0, y1, x0, x1 = evaluate.crop_box(shape, int(size))
        part = prnu.estimate_fingerprint((img[y0:y1, x0:x1] for _, img in it), errors="skip")
        K = np.zeros(shape, np.float32)
        K[y0:y1, x0:x1] = part
    return np.asarray(K, np.float32), list(getattr(it, "skipped", []))


def fingerprints(cfg: Config, ds: Dataset, progress: bool = True) -> dict[str, np.ndarray]:
    """Every candidate camera's fingerprint (Eq. 3-5, label -> ``(H, W)`` float32); cached; cameras in threads."""
    groups = fingerprint_images(ds)
    shapes = {lab: (int(g["height"].iloc[0]), int(g["width"].iloc[0])) for lab, g in groups.items()}
    keys = {lab: cache.key("fingerprint", {"label": lab, "files": cache.files_digest(g["path"]),
                                           "size": cfg.fingerprint_size, "shape": shapes[lab]},
                           code=[prnu, wavelet, io, _estimate, evaluate.crop_box]) for lab, g in groups.items()}
    memo = "|".join(f"{lab}:{k}" for lab, k in sorted(keys.items()))
    folder = cfg.cache / "fingerprints"
    if memo in _FINGERPRINTS:
        _add_fingerprint_skips(ds, folder, keys)
        return _FINGERPRINTS[memo]
    todo = [lab for lab in groups if not (folder / f"{keys[lab]}.npy").is_file()]
    with ThreadPoolExecutor(max(1, min(len(todo), os.cpu_count() or 1))) as pool:  # decoding, wavelet: no GIL
        done = pool.map(lambda lab: _estimate(list(groups[lab]["path"]), shapes[lab], cfg.fingerprint_size), todo)
        for lab, (K, sk) in zip(todo, bar(done, total=len(todo), enabled=progress and bool(todo),
                                          desc=f"fingerprints {ds.name} (Eq. 5)", unit="camera"), strict=True):
            if sk:
                log.warning("fingerprint %s/%s: skipped %d of %d files", ds.name, lab, len(sk), len(groups[lab]))
            cache.atomic_write_text(folder / f"{keys[lab]}.skipped.json", json.dumps([[str(p), str(r)] for p, r in sk]))
            cache.atomic_save_npy(folder / f"{keys[lab]}.npy", K)
    out = {lab: np.load(folder / f"{keys[lab]}.npy") for lab in groups}
    _add_fingerprint_skips(ds, folder, keys)
    _FINGERPRINTS[memo] = out
    _DIGESTS[id(out)] = cache.params_digest(keys)
    return out


def _add_fingerprint_skips(ds: Dataset, folder: Path, keys: Mapping[str, str]) -> None:
    """Add the files each cached fingerprint's Eq. 5 could not decode to ``ds.skipped`` (each once)."""
    for lab in sorted(keys):
        left = folder / f"{keys[lab]}.skipped.json"
        for p, r in (json.loads(left.read_text()) if left.is_file() else []):
            if (p, r) not in ds.skipped:
                ds.skipped.append((p, r))


def fingerprints_digest(K: Mapping[str, np.ndarray]) -> str:
    """A digest of a fingerprint dict (cheap for the dicts :func:`fingerprints` returns)."""
    if id(K) in _DIGESTS:
        return _DIGESTS[id(K)]
    return cache.params_digest({lab: cache.array_digest(v) for lab, v in sorted(K.items())})


def ground_truth(ds: Dataset) -> dict[str, np.ndarray]:
    """The simulator's true ``K`` of each candidate label (empty for real data)."""
    if ds.root is None:
        return {}
    gt = simulator.ground_truth(ds.root)
    fp = ds.images[ds.images["split"] == "fingerprint"]
    out = {}
    for lab, dev in zip(fp["label"], fp["device"], strict=True):
        if lab not in out and dev in gt:
            out[lab] = gt[dev]
        elif lab not in out and f"{dev}_1" in gt:
            out[lab] = gt[f"{dev}_1"]
    return out


def views(cfg: Config, ds: Dataset, condition: str, profiles: Mapping[str, Mapping] | None = None,
          progress: bool = True) -> pd.DataFrame:
    """The test images of ``ds`` as served on ``condition`` (``"original"`` or a platform; Sec. 4.3)."""
    if condition == "original":
        return ds.test.assign(platform="original")
    src = ds.test
    label = dict(zip(ds.test["source_device"], ds.test["device"], strict=False))
    if len(ds.copies):
        real = ds.copies[(ds.copies["platform"] == condition) & ds.copies["scene_id"].isin(set(src["scene_id"]))]
        if len(real):
            real = real.assign(source_device=real["device"], device=real["device"].map(label).fillna(real["device"]))
            src = pd.concat([src, real], ignore_index=True)
    src = src.assign(device=src["source_device"])
    folder = cfg.cache / "platforms" / f"{ds.name}-{cache.params_digest(cfg.params())[:10]}"
    view = datasets.platform_view(src, condition, cache_dir=folder, sensor_scale=ds.sensor_scale, seed=cfg.seed,
                                  profiles=profiles, progress=progress)
    view = view.assign(source_device=view["device"], device=view["device"].map(label))
    if len(view) != len(ds.test):
        log.warning("%s on %s: %d of %d test images have a copy", ds.name, condition, len(view), len(ds.test))
    return view


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


def validation_copies(cfg: Config, ds: Dataset, platforms: Iterable[str] = VAL_PLATFORMS) -> pd.DataFrame:
    """The ``val`` images of ``ds`` as served on ``platforms`` (``path, device, platform``)."""
    val_ds = dataclasses.replace(ds, test=ds.part("val"))
    if val_ds.test.empty:
        return pd.DataFrame(columns=["path", "device", "platform"])
    return pd.concat([views(cfg, val_ds, p, progress=False).assign(platform=p)[["path", "device", "platform"]]
                      for p in platforms], ignore_index=True)


def checkpoints(cfg: Config, loss: str = "cosine", progress: bool = True) -> dict[str, Path]:
    """``{"csi-cnn": Path, "dncnn": Path}``: given, shipped, or trained once and cached (Sec. 3.2.2, Eq. 6-8).

    ``loss``: ``"cosine"`` (the paper's), ``"mse"`` (ref. [20]) or ``"mse-std"``.
    """
    out: dict[str, Path] = {}
    common = {"scale": cfg.scale, "seed": cfg.seed, "cache_dir": cfg.cache / "models", "device": cfg.torch_device,
              "progress": progress}
    shipped = weights.shipped_for(cfg.synthetic, cfg.scale, cfg.seed, cfg.train_on_source, loss)
    if cfg.csi_cnn_checkpoint is not None:
        out["csi-cnn"] = cfg.csi_cnn_checkpoint
    elif shipped.get("csi-cnn") is not None:
        out["csi-cnn"] = shipped["csi-cnn"]
    else:
        tcfg = training_config(cfg)
        ds = training_dataset(cfg)
        K = fingerprints(tcfg, ds, progress=progress)
        va = validation_copies(tcfg, ds)
        conf = {**experiments.sizes(cfg.scale, "csi_cnn"), "val_crop": tcfg.settings["crop"]}
        out["csi-cnn"] = Path(train.get_or_train(
            "csi-cnn", cache.key(ds.name, tcfg.params()), conf, loss=loss, train=ds.part("train")[["path", "device"]],
            val=va if len(va) else None, fingerprints=K, **common))
    if cfg.dncnn_checkpoint is not None:
        out["dncnn"] = cfg.dncnn_checkpoint
    elif shipped.get("dncnn") is not None:
        out["dncnn"] = shipped["dncnn"]
    else:
        out["dncnn"] = Path(train.get_or_train("dncnn", "scenes", experiments.sizes(cfg.scale, "dncnn"), **common))
    for kind, path in out.items():
        if path == shipped.get(kind):
            log.info("%s: shipped with the package, %s (commit %s)", kind, path.name,
                     weights.provenance(path)["commit"][:10])
    return out


def extractors(cfg: Config, ckpt: Mapping[str, Path]) -> dict[str, Any]:
    """The three residual extractors of Table 3, in its column order (:func:`csi.evaluate.get_extractor`)."""
    return {"csi-cnn": evaluate.get_extractor("csi-cnn", checkpoint=ckpt["csi-cnn"], device=cfg.torch_device),
            "wavelet": evaluate.get_extractor("wavelet"),
            "dncnn": evaluate.get_extractor("dncnn", checkpoint=ckpt["dncnn"], device=cfg.torch_device)}


def cached_scores(path: Path, paths: Iterable[Any]) -> pd.DataFrame:
    """A cached score table, its ``image`` column spelled as in ``paths`` (score cache keys resolve the paths)."""
    t = pd.read_csv(path, dtype={"image": str, "true_device": str, "candidate_device": str})
    spelled = {os.path.realpath(p): str(p) for p in paths}
    return t.assign(image=[spelled.get(os.path.realpath(p), p) for p in t["image"]])


def score(cfg: Config, ds: Dataset, condition: str, method: str | Callable, *,
          profiles: Mapping[str, Mapping] | None = None, progress: bool = True) -> pd.DataFrame:
    """The NCC of every test image with every camera for one method, dataset and condition (Sec. 4.2-4.3)."""
    ex = (method if isinstance(method, evaluate.Extractor) else extractors(cfg, checkpoints(cfg))[method]
          if isinstance(method, str) and method != "wavelet" else evaluate.get_extractor(method))
    view = views(cfg, ds, condition, profiles=profiles, progress=False)
    K = fingerprints(cfg, ds, progress=progress)
    if ex.key is not None:  # an extractor without a key (a bare callable) is not cached
        k = cache.key("scores", {"dataset": ds.name, "condition": condition, "crop": cfg.crop,
                                 "files": cache.files_digest(view["path"]), "labels": list(view["device"]),
                                 "fingerprints": fingerprints_digest(K), "extractor": ex.key},
                      code=[evaluate, prnu, wavelet, io])
        path = cfg.cache / "scores" / f"{k}.csv"
        if path.is_file():
            return cached_scores(path, view["path"])
    t = evaluate.evaluate(ex, view, K, crop=cfg.crop, cache_dir=cfg.cache / "residuals", device=cfg.torch_device,
                          with_pce=False, progress=progress)
    t = t.drop(columns=["pce"]).assign(platform=condition)
    if ex.key is not None:
        cache.atomic_to_csv(path, t)
    return t


def score_grid(cfg: Config, datasets: Iterable[str], conditions: Iterable[str], methods: Mapping[str, Any], *,
               profiles: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """:func:`score` for every dataset x condition x method, stacked (``dataset, platform, method`` first)."""
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
