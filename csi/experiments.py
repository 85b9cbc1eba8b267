"""What the numbered notebooks call: validated run settings, prepared datasets, and each table/figure's data.

The notebooks stay thin: every number they show is computed here from :mod:`csi.prnu`, :mod:`csi.datasets`,
:mod:`csi.train` and :mod:`csi.evaluate`, and everything expensive is cached on disk under ``data_root`` so
that notebooks share work (whichever runs first computes it) and each notebook can still run alone.

Protocol (documented in the notebooks as well)
----------------------------------------------
1. **Data.** ``source="synthetic"``: each recipe of ``datasets`` is built by :func:`csi.datasets.load_synthetic`
   under ``<data_root>/synthetic``. A real ``source`` is loaded from ``data_path`` with
   :func:`csi.datasets.load` and is the only dataset.
2. **Split.** Each device's originals are split 1:1:6:2 into ``val``, ``fingerprint``, ``train`` and ``test``
   (paper Sec. 3.2.2; :func:`csi.datasets.split`).
3. **Fingerprints.** One per device from its ``fingerprint`` originals (paper Eq. 3-5;
   :func:`csi.prnu.estimate_fingerprint`), cached as ``.npy``.
4. **Test images.** The ``test`` originals, and their copies "uploaded" to each of the paper's five platforms
   (:func:`csi.datasets.platform_view`, cached).
5. **Methods.** ``wavelet`` (the PRNU residual of :func:`csi.prnu.noise_residual`), ``dncnn`` and ``csi-cnn``
   (checkpoints from :func:`csi.train.get_or_train`, trained once per scale and seed on the ``our`` recipe's
   ``train`` split and applied to every dataset, as the paper says one training generalises across cameras).
6. **Scores.** :func:`csi.evaluate.evaluate` correlates each test residual with every candidate fingerprint; the
   one tidy table (image x candidate -> NCC, PCE) gives closed-set accuracy (Table 3), the correlation matrix
   (Table 2, Fig. 3) and the verification ROC/AUC (Figs. 4-5). Tables are cached as CSV per
   dataset/platform/method.

The Kaggle stand-in follows the real competition: fingerprints come from the ``train`` subset's devices and the
test images from the *second* device of each model (the ``test`` subset). PRNU is device-specific, so every PRNU
method should fall to about chance there; the notebooks report whatever comes out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi import config, paper

log = logging.getLogger(__name__)

#: The notebook parameters, in the order of every notebook's ``parameters`` cell.
PARAMETERS: tuple[str, ...] = ("scale", "source", "data_path", "datasets", "device", "seed", "out_dir",
                               "data_root")

#: Default values of :data:`PARAMETERS` (what the notebooks' ``parameters`` cells hold).
DEFAULTS: dict[str, Any] = {
    "scale": "cpu", "source": "synthetic", "data_path": "", "datasets": "our,kaggle,vision,daxing",
    "device": "auto", "seed": 0, "out_dir": "../figures", "data_root": "../data",
}

#: Data sources: the simulator or a real loader of :mod:`csi.datasets`.
SOURCES: tuple[str, ...] = ("synthetic", "vision", "kaggle", "daxing", "dresden", "fodb", "folder")

#: Synthetic recipes, in the paper's Table 3 order.
RECIPES: tuple[str, ...] = ("our", "kaggle", "vision", "daxing")

#: The paper's five platforms, in Table 3's order, and all conditions including the camera originals.
PLATFORMS: tuple[str, ...] = ("twitter", "facebook", "instagram", "wechat", "weibo")
CONDITIONS: tuple[str, ...] = ("original", *PLATFORMS)

#: Methods in Table 3's column order.
METHODS: tuple[str, ...] = paper.METHODS

#: The numbered notebooks (their output folder names).
NOTEBOOKS: tuple[str, ...] = (
    "00_data", "01_table1_architecture", "02_fingerprints", "03_training", "04_table2_correlation",
    "05_fig3_heatmaps", "06_table3_accuracy", "07_fig4_fig5_roc_auc", "08_fig6_loss_curves",
)

#: Settings owned by this module, per scale. ``crop``: side of the centre crop every residual and fingerprint
#: is compared on (None: the whole image). ``max_test``: test images per device, ``max_test_total``: per dataset
#: (device-balanced, seeded; None: all); every device stays a candidate camera.
#: ``fp_counts``: image counts of notebook 02's fingerprint-quality curve. ``fig3_per_camera``: pictures per
#: camera in Fig. 3 (the paper's 2). ``fig6_*``: Fig. 6's devices of the Daxing stand-in (None: all), epochs,
#: steps per epoch (None: :data:`csi.train.TRAIN_SCALES`), pairs per batch, patch side and validation crop.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"crop": 32, "max_test": 2, "max_test_total": 20, "fp_counts": (1, 2, 4), "fig3_per_camera": 2,
              "fig6_devices": 4, "fig6_epochs": 1, "fig6_steps": 2, "fig6_batch": 8, "fig6_patch": 32,
              "fig6_val_crop": 32},
    "cpu": {"crop": 128, "max_test": 10, "max_test_total": 60, "fp_counts": (1, 2, 5, 10, 20, 40),
            "fig3_per_camera": 2, "fig6_devices": 10, "fig6_epochs": 6, "fig6_steps": 10, "fig6_batch": 32,
            "fig6_patch": 48, "fig6_val_crop": 96},
    "paper": {"crop": 512, "max_test": 200, "max_test_total": None, "fp_counts": (1, 2, 5, 10, 20, 50, 100),
              "fig3_per_camera": 2, "fig6_devices": None, "fig6_epochs": 100, "fig6_steps": None,
              "fig6_batch": 64, "fig6_patch": 64, "fig6_val_crop": 512},
}


@dataclass(frozen=True)
class Config:
    """Validated settings of one notebook run (made by :func:`setup`).

    Attributes
    ----------
    scale, source, device, seed
        As given (validated); ``torch_device`` is the resolved torch device string.
    data_path : Path or None
        Root of a real dataset (None for the simulator).
    datasets : tuple of str
        Datasets to run: the synthetic recipes, or ``(source,)`` for a real source.
    out_dir, data_root : Path
        Output root and data/cache root.
    notebook : str
        The notebook's name (e.g. ``"06_table3_accuracy"``); its outputs go to :attr:`out`.
    settings : dict
        This module's per-scale numbers (:data:`SETTINGS`).

    Examples
    --------
    >>> cfg = setup(scale="smoke", notebook="00_data")
    >>> cfg.out_dir.name, cfg.notebook
    ('figures', '00_data')
    """

    scale: str
    source: str
    data_path: Path | None
    datasets: tuple[str, ...]
    device: str
    torch_device: str
    seed: int
    out_dir: Path
    data_root: Path
    notebook: str
    settings: dict = field(default_factory=dict)

    @property
    def out(self) -> Path:
        """``<out_dir>/<notebook>/``, created on first access."""
        path = self.out_dir / self.notebook
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def cache(self) -> Path:
        """``<data_root>/cache``: fingerprints, platform copies, residuals, models, evaluation tables."""
        return self.data_root / "cache"

    @property
    def synthetic_root(self) -> Path:
        """``<data_root>/synthetic``: the simulator's recipes."""
        return self.data_root / "synthetic"

    @property
    def progress(self) -> bool:
        """Show tqdm bars (off at smoke scale, where runs take seconds)."""
        return self.scale != "smoke"

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"

    def key(self, *parts: Any) -> str:
        """A cache key naming the source, scale and seed plus ``parts`` (file-name safe)."""
        src = self.source if self.synthetic else f"{self.source}-{_short_hash(str(self.data_path))}"
        return _safe("_".join([src, self.scale, f"seed{self.seed}", *map(str, parts)]))


def setup(scale: str = "cpu", source: str = "synthetic", data_path: str | Path = "",
          datasets: str | Iterable[str] = "our,kaggle,vision,daxing", device: str = "auto", seed: int = 0,
          out_dir: str | Path = "../figures", data_root: str | Path = "../data", notebook: str = "",
          new_names: Iterable[str] | None = None) -> Config:
    """Validate a notebook's parameters, seed everything and return the run's :class:`Config`.

    Parameters
    ----------
    scale : {"smoke", "cpu", "paper"}
        Run size (see :mod:`csi.config`).
    source : {"synthetic", "vision", "kaggle", "daxing", "dresden", "fodb", "folder"}
        The simulator or a real loader.
    data_path : str or Path
        Root of the real dataset; required (and must exist) when ``source`` is not ``"synthetic"``.
    datasets : str or iterable of str
        Comma-separated synthetic recipes (``our, kaggle, vision, daxing``); ignored for a real source.
    device : {"auto", "cpu", "cuda", "mps"}
        Torch device; ``"auto"`` picks the best available.
    seed : int
        Non-negative seed for everything random.
    out_dir, data_root : str or Path
        Output root (the notebook writes to ``<out_dir>/<notebook>/``) and data/cache root.
    notebook : str
        One of :data:`NOTEBOOKS`.
    new_names : iterable of str, optional
        Names the parameters cell (and papermill's injected cell) defined; any name that is not in
        :data:`PARAMETERS` stops the run, so a misspelt parameter is not silently ignored.

    Returns
    -------
    Config

    Raises
    ------
    ValueError
        Naming the parameter, for an unknown value, a missing or non-existent ``data_path``, an unknown
        parameter name, or a device that is not available.
    TypeError
        For a parameter of the wrong type.

    Examples
    --------
    >>> cfg = setup(scale="smoke", out_dir="figs", data_root="data", notebook="00_data")
    >>> cfg.datasets, cfg.settings["crop"]
    (('our', 'kaggle', 'vision', 'daxing'), 32)
    """
    if new_names is not None:
        names = {n for n in new_names if not str(n).startswith("_")}
        config.check_keys("notebook parameter(s)", dict.fromkeys(names), PARAMETERS)
    for name, value in (("scale", scale), ("source", source), ("device", device), ("notebook", notebook)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    config.check_scale(scale)
    config.check_choice("source", source, SOURCES)
    config.check_choice("notebook", notebook, NOTEBOOKS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    for name, value in (("data_path", data_path), ("out_dir", out_dir), ("data_root", data_root)):
        if not isinstance(value, (str, Path)):
            raise TypeError(f"{name} must be a str or Path, got {type(value).__name__}")
    for name, value in (("out_dir", out_dir), ("data_root", data_root)):
        if not str(value).strip():
            raise ValueError(f"{name} must not be empty")
    if source == "synthetic":
        names = _parse_datasets(datasets)
        if str(data_path).strip():
            log.warning("data_path %r is ignored for source='synthetic'", str(data_path))
        root = None
    else:
        if not str(data_path).strip():
            raise ValueError(f"source {source!r} needs data_path pointing at your copy of the dataset")
        root = Path(data_path).expanduser()
        if not root.is_dir():
            raise ValueError(f"data_path {str(root)!r} is not an existing folder")
        names = (source,)
    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto in notebooks: text bars
    torch_device = config.select_device(device)
    config.seed_everything(int(seed))
    _set_threads(torch_device)
    cfg = Config(scale=scale, source=source, data_path=root, datasets=names, device=device,
                 torch_device=torch_device, seed=int(seed), out_dir=Path(out_dir), data_root=Path(data_root),
                 notebook=notebook, settings=dict(SETTINGS[scale]))
    log.info("run: scale=%s source=%s datasets=%s device=%s seed=%d -> %s", scale, source, ",".join(names),
             torch_device, cfg.seed, cfg.out_dir / notebook)
    return cfg


def _set_threads(torch_device: str) -> int:
    """Use one thread for torch and BLAS unless ``OMP_NUM_THREADS`` says otherwise; return torch's count.

    On a small shared machine two threads that wait for each other are far slower than one as soon as any
    other process runs. Measured on the 2-core reference machine under load: CSI-CNN on a 128 x 128 crop took
    0.32 s with 2 torch threads and 0.04 s with 1; :func:`csi.prnu.ncc` of two 128 x 128 arrays (a BLAS dot
    product) took 14 ms with 2 OpenBLAS threads and 0.06 ms with 1. Set ``OMP_NUM_THREADS`` to choose.
    """
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        if torch_device == "cpu":
            torch.set_num_threads(1)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")  # stays in force for the process
        except ImportError:  # threadpoolctl comes with scikit-learn; without it BLAS keeps its default
            log.info("threadpoolctl not installed; BLAS thread count left as is")
    return torch.get_num_threads()


def _parse_datasets(datasets: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(datasets, str):
        items = [s.strip() for s in datasets.split(",")]
    elif isinstance(datasets, Iterable):
        items = [str(s).strip() for s in datasets]
    else:
        raise TypeError(f"datasets must be a comma-separated string or a list, got {type(datasets).__name__}")
    items = [s for s in items if s]
    if not items:
        raise ValueError("datasets must name at least one recipe of: " + ", ".join(RECIPES))
    for s in items:
        config.check_choice("dataset", s, RECIPES)
    return tuple(dict.fromkeys(items))


def describe(cfg: Config) -> pd.DataFrame:
    """The run's settings as a two-column table (for the top of each notebook).

    Examples
    --------
    >>> describe(setup(scale="smoke", notebook="00_data")).shape[1]
    2
    """
    rows = [("scale", cfg.scale), ("source", cfg.source), ("data_path", str(cfg.data_path or "")),
            ("datasets", ", ".join(cfg.datasets)), ("device", f"{cfg.device} -> {cfg.torch_device}"),
            ("seed", cfg.seed), ("out", str(cfg.out_dir / cfg.notebook)), ("data_root", str(cfg.data_root)),
            ("torch_threads", _torch_threads())]
    rows += [(k, str(v)) for k, v in cfg.settings.items()]
    return pd.DataFrame(rows, columns=["setting", "value"]).astype(str)


# ----------------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------------


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def _short_hash(text: str, n: int = 10) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def _fingerprint_of_paths(paths: Iterable[Any]) -> str:
    """Digest of a file list: names, sizes and modification times (a rebuilt file changes it)."""
    parts = []
    for p in paths:
        try:
            st = Path(p).stat()
            parts.append(f"{p}|{st.st_size}|{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{p}|missing")
    return _short_hash("\n".join(parts), 12)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _check_mapping(name: str, value: Any) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------------------------------------
# Table 1 (notebook 01)
# ----------------------------------------------------------------------------------------------------------


def table1_from_model(model=None) -> pd.DataFrame:
    """Table 1 read off a CSI-CNN instance, beside the paper's printed rows.

    Every parameterised sub-module of the model (in definition order) is matched with the next paper row that
    has parameters, and its parameter count is counted from the module's tensors; parameter-free rows (ReLU,
    ADD, sub) are listed with 0 for both. The model is not modified.

    Parameters
    ----------
    model : csi.models.CSICNN, optional
        Default: a fresh ``CSICNN()``.

    Returns
    -------
    pandas.DataFrame
        30 rows: ``row``, ``paper_layer``, ``paper_formula``, ``paper_parameters``, ``module`` (our module name,
        ``""`` for functional rows), ``module_type``, ``ours_parameters``, ``shape`` (weight shape as
        ``out x in x kh x kw`` or ``C``), ``match`` (bool: counts equal and the layer kind agrees).

    Raises
    ------
    ValueError
        If the model has a different number of parameterised layers than Table 1.

    References
    ----------
    Wang et al. (2021), Table 1.

    Examples
    --------
    >>> t = table1_from_model()
    >>> int(t.ours_parameters.sum()), bool(t.match.all())
    (47628, True)
    """
    from torch import nn

    from csi import models

    model = models.CSICNN() if model is None else model
    ref = paper.table1()
    layers = [(name, m) for name, m in model.named_modules()
              if name and not list(m.children()) and sum(p.numel() for p in m.parameters()) > 0]
    paper_rows = ref[ref.parameters > 0]
    if len(layers) != len(paper_rows):
        raise ValueError(f"model has {len(layers)} parameterised layers, Table 1 has {len(paper_rows)}")
    ours = dict(zip(paper_rows.index, layers, strict=True))
    out = []
    for i, r in ref.iterrows():
        if i in ours:
            name, m = ours[i]
            n = int(sum(p.numel() for p in m.parameters() if p.requires_grad))
            if isinstance(m, nn.Conv2d):
                kind_ok = r.layer.startswith("Convolution")
                shape = " x ".join(map(str, m.weight.shape)) + (" + bias" if m.bias is not None else "")
            elif isinstance(m, nn.BatchNorm2d):
                kind_ok = r.layer.startswith("BatchNorm")
                shape = f"{m.num_features} (gamma, beta)"
            else:
                kind_ok, shape = False, ""
            out.append((r.row, r.layer, r.formula, int(r.parameters), name, type(m).__name__, n, shape,
                        bool(kind_ok and n == r.parameters)))
        else:
            out.append((r.row, r.layer, r.formula, int(r.parameters), "", "functional", 0, "", True))
    return pd.DataFrame(out, columns=["row", "paper_layer", "paper_formula", "paper_parameters", "module",
                                      "module_type", "ours_parameters", "shape", "match"])


def table1_sentences(t1: pd.DataFrame) -> str:
    """Computed comparison of :func:`table1_from_model` with the paper (Markdown).

    Examples
    --------
    >>> table1_sentences(table1_from_model()).startswith("The model has 47,628")
    True
    """
    ours, pub = int(t1.ours_parameters.sum()), int(t1.paper_parameters.sum())
    k, n = int(t1["match"].sum()), len(t1)
    bad = t1[~t1["match"]]
    tail = "" if bad.empty else " Rows that differ: " + ", ".join(f"{r.row} ({r.paper_layer})" for r in bad.itertuples())
    verdict = "equal to" if ours == pub else "different from"
    return (f"The model has {ours:,} trainable parameters, {verdict} the {pub:,} of Table 1; {k} of {n} rows "
            f"agree in layer kind and count.{tail}\n")


def plot_table1(t1: pd.DataFrame):
    """Parameters per parameterised row of Table 1: the paper's print vs the model's tensors.

    References
    ----------
    Wang et al. (2021), Table 1.

    Examples
    --------
    >>> fig = plot_table1(table1_from_model())
    """
    import matplotlib.pyplot as plt

    t = t1[t1.paper_parameters.gt(0) | t1.ours_parameters.gt(0)]
    x = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.bar(x - 0.2, t.paper_parameters, width=0.4, label="paper (Table 1)")
    ax.bar(x + 0.2, t.ours_parameters, width=0.4, label="csi.models.CSICNN")
    ax.set_xticks(x, [f"{r.row}: {r.module}" for r in t.itertuples()], rotation=60, fontsize=7)
    ax.set(ylabel="parameters", title=f"Table 1 row by row (total {int(t1.ours_parameters.sum()):,})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def model_summary(device: str = "cpu", size: int = 256) -> pd.DataFrame:
    """Parameter counts and per-pixel cost of CSI-CNN and DnCNN (the two learned residual extractors).

    Parameters
    ----------
    device : str
        Unused for counting; kept for symmetry with the other helpers.
    size : int
        Side of a square image for the FLOP column.

    Returns
    -------
    pandas.DataFrame
        Rows ``CSI-CNN``, ``DnCNN``; columns ``parameters`` (int), ``flops_per_pixel`` (float),
        ``gflops_per_image`` (float, for a ``size x size`` image; DnCNN runs once per colour channel).

    Examples
    --------
    >>> int(model_summary().loc["CSI-CNN", "parameters"])
    47628
    """
    from csi import models

    rows = {}
    for label, net, passes in (("CSI-CNN", models.CSICNN(), 1), ("DnCNN", models.DnCNN(), 3)):
        fpp = float(models.flops_per_pixel(net))
        rows[label] = {"parameters": models.count_parameters(net), "flops_per_pixel": fpp,
                       "gflops_per_image": fpp * size * size * passes / 1e9}
    return pd.DataFrame.from_dict(rows, orient="index")


# ----------------------------------------------------------------------------------------------------------
# Data: prepared datasets, fingerprints and test views (cached)
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """One dataset ready for evaluation (made by :func:`prepare`).

    Attributes
    ----------
    name : str
        Dataset name (a recipe, or the real source).
    frame : pandas.DataFrame
        All camera originals of the dataset with the ``split`` column of :func:`csi.datasets.split`
        (columns as :func:`csi.datasets.load`, plus ``split``).
    fingerprints : dict of str to ndarray
        Candidate label -> ``(H, W)`` float32 fingerprint (Eq. 5). Labels are devices, or models for Kaggle.
    test : pandas.DataFrame
        The test originals (at most ``settings["max_test"]`` per device), with ``device`` set to the candidate
        label each image should be attributed to.
    root : Path or None
        The synthetic dataset's folder (with ``ground_truth/``), None for real data.
    sensor_scale : float
        The simulator's sensor scale (1.0 for real data), used to scale platform size caps.
    skipped : list of (str, str)
        Files that could not be read while estimating fingerprints.
    copies : pandas.DataFrame or None
        Platform copies that the dataset itself holds (e.g. VISION's natFBH), used by :func:`condition_view`.

    Examples
    --------
    >>> prep = prepare(setup(scale="smoke", notebook="02_fingerprints"), "our")   # doctest: +SKIP
    >>> sorted(prep.fingerprints)[:1]                                              # doctest: +SKIP
    ['D01_Apple_iPhone6']
    """

    name: str
    frame: pd.DataFrame
    fingerprints: dict
    test: pd.DataFrame
    root: Path | None = None
    sensor_scale: float = 1.0
    skipped: list = field(default_factory=list)
    copies: pd.DataFrame | None = None


_PREPARED: dict[tuple, Prepared] = {}


def load_frame(cfg: Config, name: str) -> tuple[pd.DataFrame, Path | None, float]:
    """Load one dataset's table of images (building a synthetic recipe first if needed).

    Returns
    -------
    frame : pandas.DataFrame
        Columns of :func:`csi.datasets.load`.
    root : Path or None
        The synthetic recipe's folder, or None for real data.
    sensor_scale : float
        From the recipe's ``manifest.json`` (1.0 for real data).

    Examples
    --------
    >>> frame, root, s = load_frame(setup(scale="smoke", notebook="00_data"), "our")   # doctest: +SKIP
    """
    from csi import datasets as ds

    if cfg.synthetic:
        config.check_choice("dataset", name, RECIPES)
        from csi import simulate

        root = Path(simulate.build_dataset(name, scale=cfg.scale, seed=cfg.seed, root=cfg.synthetic_root,
                                           progress=cfg.progress))
        frame = ds.load_synthetic(name, cfg.scale, cfg.seed, root=cfg.synthetic_root, progress=cfg.progress)
        manifest = _read_json(root / "manifest.json")
        return frame, root, float(manifest.get("sensor_scale", 1.0) or 1.0)
    if name != cfg.source:
        raise ValueError(f"dataset {name!r} is not the configured real source {cfg.source!r}")
    return ds.load(cfg.source, cfg.data_path), None, 1.0


def prepare(cfg: Config, name: str) -> Prepared:
    """Load, split, fingerprint and select the test images of one dataset (memoised and disk-cached).

    See the module docstring for the protocol. The fingerprints are cached as ``.npy`` files under
    ``<data_root>/cache/fingerprints/<key>/``; the cache key includes the list of image files, so a changed
    dataset is re-estimated.

    Parameters
    ----------
    cfg : Config
    name : str
        One of ``cfg.datasets``.

    Returns
    -------
    Prepared

    Raises
    ------
    ValueError
        If the dataset has fewer than two devices, or a device has no fingerprint or test images.

    Examples
    --------
    >>> prep = prepare(setup(scale="smoke", notebook="02_fingerprints"), "our")   # doctest: +SKIP
    >>> prep.test.groupby("device").size().max()                                 # doctest: +SKIP
    2
    """
    memo = (cfg.key(), str(cfg.data_root.resolve()), name)
    if memo in _PREPARED:
        return _PREPARED[memo]
    frame, root, sensor_scale = load_frame(cfg, name)
    split_frame = split_dataset(cfg, name, frame)
    fp_rows = split_frame[split_frame["split"] == "fingerprint"]
    fp_groups = dict(tuple(fp_rows.groupby("label")))
    if len(fp_groups) < 2:
        raise ValueError(f"dataset {name!r} needs at least two devices with fingerprint images, has {len(fp_groups)}")
    test = split_frame[split_frame["split"] == "test"]
    test = select_test(test.assign(source_device=test["device"], device=test["label"]),
                       cfg.settings["max_test"], cfg.settings["max_test_total"], cfg.seed)
    missing = sorted(set(fp_groups) - set(test["device"]))
    if missing:
        log.info("dataset %s: %d of %d cameras have no selected test image (they remain candidates)", name,
                 len(missing), len(fp_groups))
    unknown = sorted(set(test["device"]) - set(fp_groups))
    if unknown:
        raise ValueError(f"dataset {name!r}: test images of {', '.join(unknown)} have no fingerprint")
    fps, skipped = {}, []
    for label, rows in sorted(fp_groups.items()):
        fps[label], sk = fingerprint_for(cfg, name, label, list(rows["path"]))
        skipped += sk
    copies = frame[frame["platform"] != "original"]
    prepared = Prepared(name=name, frame=split_frame, fingerprints=fps, test=test.reset_index(drop=True),
                        root=root, sensor_scale=sensor_scale, skipped=skipped, copies=copies.reset_index(drop=True))
    _PREPARED[memo] = prepared
    return prepared


def split_dataset(cfg: Config, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The camera originals of ``frame`` with the 1:1:6:2 ``split`` column and the candidate ``label``.

    ``label`` is the camera a test image must be attributed to: its device, or for the Kaggle layout (test
    images from a second device of each model) its model, whose fingerprint comes from the training device.

    Parameters
    ----------
    cfg : Config
    name : str
        Dataset name.
    frame : pandas.DataFrame
        A loader table (not modified).

    Returns
    -------
    pandas.DataFrame
        Originals only, with ``split`` in ``{val, fingerprint, train, test}`` and ``label``.

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2 (1:1:6:2).

    Examples
    --------
    >>> cfg = setup(scale="smoke", notebook="00_data")                   # doctest: +SKIP
    >>> sp = split_dataset(cfg, "our", load_frame(cfg, "our")[0])       # doctest: +SKIP
    >>> sorted(sp["split"].unique())                                   # doctest: +SKIP
    ['fingerprint', 'test', 'train', 'val']
    """
    from csi import datasets as ds

    originals = frame[frame["platform"] == "original"].reset_index(drop=True)
    if originals.empty:
        raise ValueError(f"dataset {name!r} has no camera originals (platform == 'original')")
    out = ds.split(originals, seed=cfg.seed)
    kaggle_like = "subset" in out and set(out["subset"].astype(str)) >= {"train", "test"}
    if kaggle_like:
        unlabelled = out[(out["subset"] == "test") & (out["model"].astype(str) == "unknown")]
        if len(unlabelled):
            log.warning("dataset %s: %d test images without a label (no test_labels.csv) are left out", name,
                        len(unlabelled))
            out = out.drop(unlabelled.index)
        train_models_ = set(out.loc[out["subset"] == "train", "model"].astype(str))
        out["label"] = np.where(out["subset"] == "test", out["model"].astype(str), out["device"].astype(str))
        # a training device stands for its model: rename it to the model name when they differ
        dev2model = dict(zip(out.loc[out["subset"] == "train", "device"], out.loc[out["subset"] == "train", "model"],
                             strict=False))
        out.loc[out["subset"] == "train", "label"] = out.loc[out["subset"] == "train", "device"].map(dev2model)
        orphans = sorted(set(out.loc[out["subset"] == "test", "label"]) - train_models_)
        if orphans:
            log.warning("dataset %s: test models without a training device are left out: %s", name,
                        ", ".join(orphans))
            out = out[~((out["subset"] == "test") & out["label"].isin(orphans))]
    else:
        out["label"] = out["device"].astype(str)
    return out.reset_index(drop=True)


def select_test(df: pd.DataFrame, per_device: int | None, total: int | None, seed: int) -> pd.DataFrame:
    """Seeded, device-balanced selection of test images.

    Each device's images are shuffled with ``seed``; at most ``per_device`` are kept per device; if more than
    ``total`` remain, images are taken round-robin over the devices (every device's first image, then every
    device's second, ...; ties in a round broken by a seeded shuffle) until ``total`` are chosen. The input is
    not modified and the result does not depend on its row order.

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
    key = rng.random(len(d))
    d = d.assign(_key=key).sort_values(["device", "_key"])
    d["_rank"] = d.groupby("device").cumcount()
    if per_device is not None:
        d = d[d["_rank"] < int(per_device)]
    if total is not None and len(d) > int(total):
        dev_order = {dv: i for i, dv in enumerate(rng.permutation(sorted(d["device"].unique())))}
        d = d.assign(_dev=d["device"].map(dev_order)).sort_values(["_rank", "_dev"]).head(int(total))
    return (d.drop(columns=[c for c in ("_key", "_rank", "_dev") if c in d.columns])
            .sort_values(["device", "path"]).reset_index(drop=True))


def fingerprint_for(cfg: Config, dataset: str, label: str, paths: list, progress: bool | None = None
                    ) -> tuple[np.ndarray, list]:
    """Estimate (or load from cache) one camera's fingerprint from the given image files (Eq. 5).

    Images are streamed (memory O(one image)); unreadable files are skipped and reported.

    Parameters
    ----------
    cfg : Config
    dataset, label : str
        Names used for the cache path.
    paths : list of path
        The camera's fingerprint images.
    progress : bool, optional
        Show a tqdm bar (default ``cfg.progress``).

    Returns
    -------
    K : ndarray
        ``(H, W)`` float32 fingerprint.
    skipped : list of (str, str)
        Files that were skipped, with the reason.

    Raises
    ------
    ValueError
        If ``paths`` is empty or no file could be read.

    References
    ----------
    Wang et al. (2021), Eq. 3-5.

    Examples
    --------
    >>> K, skipped = fingerprint_for(cfg, "our", "D01", paths)   # doctest: +SKIP
    >>> K.dtype, K.ndim                                           # doctest: +SKIP
    (dtype('float32'), 2)
    """
    from csi import io, prnu

    if not paths:
        raise ValueError(f"no fingerprint images for {dataset}/{label}")
    folder = cfg.cache / "fingerprints" / cfg.key(dataset)
    path = folder / f"{_safe(label)}_{_fingerprint_of_paths(paths)}.npy"
    if path.exists():
        return np.load(path), []
    it = io.iter_rgb(paths, errors="skip", progress=False)
    images = (img for _, img in it)
    show = cfg.progress if progress is None else progress
    K = prnu.estimate_fingerprint(images, progress=show)
    skipped = list(getattr(it, "skipped", []))
    if skipped:
        log.warning("fingerprint %s/%s: skipped %d of %d files: %s", dataset, label, len(skipped), len(paths),
                    "; ".join(f"{p}: {r}" for p, r in skipped[:5]))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, np.asarray(K, dtype=np.float32))
    tmp.replace(path)
    return np.asarray(K, dtype=np.float32), skipped


def condition_view(cfg: Config, prepared: Prepared, condition: str) -> pd.DataFrame:
    """The test images of ``prepared`` as served on ``condition`` (``"original"`` or a platform; cached).

    Returns
    -------
    pandas.DataFrame
        Rows of the platform copies (columns of :func:`csi.datasets.platform_view`), with ``device`` set to
        the candidate label of each image's source.

    References
    ----------
    Wang et al. (2021), Sec. 4.3 (the datasets uploaded to five platforms).

    Examples
    --------
    >>> cfg = setup(scale="smoke", notebook="06_table3_accuracy")                 # doctest: +SKIP
    >>> v = condition_view(cfg, prepare(cfg, "our"), "wechat")                 # doctest: +SKIP
    >>> set(v["platform"])                                                     # doctest: +SKIP
    {'wechat'}
    """
    config.check_choice("condition", condition, CONDITIONS)
    if condition == "original":
        return prepared.test
    from csi import datasets as ds

    src = prepared.test
    if prepared.copies is not None and len(prepared.copies):
        real = prepared.copies[prepared.copies["platform"] == condition]
        real = real[real["scene_id"].isin(set(src["scene_id"]))]
        if len(real):
            label = dict(zip(src["source_device"], src["device"], strict=False))
            src = pd.concat([src, real.assign(source_device=real["device"],
                                              device=real["device"].map(label).fillna(real["device"]))],
                            ignore_index=True)
    view = ds.platform_view(src, condition, cache_dir=cfg.cache / "platforms" / cfg.key(prepared.name),
                            sensor_scale=prepared.sensor_scale, seed=cfg.seed)
    if len(view) != len(prepared.test):
        log.warning("%s on %s: %d of %d test images have a platform copy", prepared.name, condition, len(view),
                    len(prepared.test))
    return view


# ----------------------------------------------------------------------------------------------------------
# Models and evaluation tables (cached)
# ----------------------------------------------------------------------------------------------------------

_CHECKPOINTS: dict[tuple, dict] = {}


def train_models(cfg: Config) -> dict[str, Path | None]:
    """CSI-CNN and DnCNN checkpoints for this scale and seed (trained once, then cached).

    CSI-CNN is trained on the ``train`` split of the ``our`` recipe (or of the real source) with the paper's
    cosine loss (Eq. 6-8), its ``val`` split giving the AUC per epoch; DnCNN is trained as a blind Gaussian
    denoiser on the simulator's scenes (no pre-trained weights can be downloaded). See :mod:`csi.train`.

    Returns
    -------
    dict
        ``{"csi-cnn": Path, "dncnn": Path, "wavelet": None}``.

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2, Fig. 2, Sec. 4.3.

    Examples
    --------
    >>> ck = train_models(setup(scale="smoke", notebook="03_training"))   # doctest: +SKIP
    >>> sorted(ck)                                                      # doctest: +SKIP
    ['csi-cnn', 'dncnn', 'wavelet']
    """
    memo = (cfg.key(), str(cfg.data_root.resolve()))
    if memo in _CHECKPOINTS:
        return _CHECKPOINTS[memo]
    from csi import train

    base = "our" if cfg.synthetic else cfg.source
    prep = prepare(cfg, base)
    cols = ["path", "device"]
    fr = prep.frame.assign(device=prep.frame["label"])
    tr = fr[fr["split"] == "train"][cols].reset_index(drop=True)
    va = fr[fr["split"] == "val"][cols].reset_index(drop=True)
    if tr.empty:
        raise ValueError(f"dataset {base!r} has no training images after the 1:1:6:2 split")
    common = dict(scale=cfg.scale, seed=cfg.seed, cache_dir=cfg.cache / "models", device=cfg.torch_device,
                  progress=cfg.progress)
    ck = {
        "csi-cnn": Path(train.get_or_train("csi-cnn", _safe(f"{cfg.key(base)}"), loss="cosine", train=tr,
                                           val=va if len(va) else None, fingerprints=prep.fingerprints, **common)),
        "dncnn": Path(train.get_or_train("dncnn", "scenes", **common)),
        "wavelet": None,
    }
    _CHECKPOINTS[memo] = ck
    return ck


def training_history(cfg: Config) -> pd.DataFrame:
    """Per-epoch (CSI-CNN) and per-step (DnCNN) training logs of :func:`train_models`' checkpoints.

    Returns
    -------
    pandas.DataFrame
        ``model`` (``"CSI-CNN"`` or ``"DnCNN"``), ``x`` (epoch for CSI-CNN, step for DnCNN), ``train_loss``,
        ``val_auc`` (CSI-CNN; NaN for DnCNN), ``psnr_denoised`` (DnCNN; NaN for CSI-CNN) and the logs' other
        columns.

    References
    ----------
    Wang et al. (2021), Sec. 4.3.

    Examples
    --------
    >>> h = training_history(setup(scale="smoke", notebook="03_training"))   # doctest: +SKIP
    >>> sorted(h.model.unique())                                           # doctest: +SKIP
    ['CSI-CNN', 'DnCNN']
    """
    from csi import train

    ck = train_models(cfg)
    a = train.load_history(ck["csi-cnn"]).assign(model="CSI-CNN")
    a["x"] = a["epoch"]
    b = train.load_history(ck["dncnn"]).assign(model="DnCNN")
    b["x"] = b["step"] if "step" in b else np.arange(len(b))
    out = pd.concat([a, b], ignore_index=True)
    for c in ("val_auc", "psnr_denoised", "train_loss"):
        if c not in out:
            out[c] = np.nan
    front = ["model", "x", "train_loss", "val_auc", "psnr_denoised"]
    return out[front + [c for c in out.columns if c not in front]]


def plot_training(history: pd.DataFrame):
    """Loss and validation AUC per epoch (CSI-CNN), loss and PSNR per step (DnCNN).

    References
    ----------
    Wang et al. (2021), Sec. 3.2.2, Eq. 6-8.

    Examples
    --------
    >>> fig = plot_training(training_history(cfg))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    a = history[history.model == "CSI-CNN"]
    b = history[history.model == "DnCNN"]
    axes[0].plot(a.x, a.train_loss, "o-", color="C0")
    axes[0].set(xlabel="epoch", ylabel="cosine loss (Eq. 6)", title="CSI-CNN training loss")
    axes[1].plot(a.x, a.val_auc, "o-", color="C0")
    axes[1].axhline(0.5, color="k", ls=":", lw=1)
    axes[1].set(xlabel="epoch (0 = untrained)", ylabel="AUC (Eq. 12)", title="CSI-CNN validation AUC",
                ylim=(0, 1.02))
    axes[2].plot(b.x, b.train_loss, "o-", color="C2", label="loss")
    axes[2].set(xlabel="step", ylabel="MSE on the noise", title="DnCNN (Gaussian denoiser) training")
    if b["psnr_denoised"].notna().any():
        ax2 = axes[2].twinx()
        ax2.plot(b.x, b.psnr_denoised, "s--", color="C3", label="PSNR denoised")
        if "psnr_noisy" in b:
            ax2.plot(b.x, b.psnr_noisy, ":", color="C7", label="PSNR noisy")
        ax2.set_ylabel("PSNR (dB)")
        ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def training_sentences(history: pd.DataFrame) -> str:
    """Computed discussion of the training curves (Markdown).

    Examples
    --------
    >>> h = pd.DataFrame({"model": "CSI-CNN", "x": [0, 1], "train_loss": [float("nan"), 0.5],
    ...                   "val_auc": [0.5, 0.7], "psnr_denoised": float("nan")})
    >>> print(training_sentences(h), end="")
    - CSI-CNN: 1 epochs; the training loss did not fall (0.5000 → 0.5000).
    - Validation AUC: 0.500 untrained, 0.700 after the last epoch, best 0.700 at epoch 1.
    """
    a = history[history.model == "CSI-CNN"].sort_values("x")
    b = history[history.model == "DnCNN"].sort_values("x")
    lines = []
    if len(a):
        first = a.iloc[0]
        last = a.iloc[-1]
        best = a.loc[a.val_auc.idxmax()] if a.val_auc.notna().any() else None
        loss = a.train_loss.dropna()
        trend = ("fell" if len(loss) > 1 and loss.iloc[-1] < loss.iloc[0] else "did not fall")
        lines.append(f"- CSI-CNN: {int(last.x)} epochs; the training loss {trend} "
                     f"({loss.iloc[0]:.4f} → {loss.iloc[-1]:.4f})." if len(loss) else "- CSI-CNN: no loss logged.")
        if best is not None:
            lines.append(f"- Validation AUC: {first.val_auc:.3f} untrained, {last.val_auc:.3f} after the last epoch, "
                         f"best {best.val_auc:.3f} at epoch {int(best.x)}.")
    if len(b):
        msg = f"- DnCNN: {int(b.x.iloc[-1])} steps, loss {b.train_loss.iloc[0]:.5f} → {b.train_loss.iloc[-1]:.5f}"
        if b["psnr_denoised"].notna().any() and "psnr_noisy" in b:
            msg += (f"; on its training noise the PSNR goes from {b.psnr_noisy.iloc[-1]:.2f} dB (noisy) to "
                    f"{b.psnr_denoised.iloc[-1]:.2f} dB (denoised)")
        lines.append(msg + ".")
    return "\n".join(lines) + "\n"


def evaluation_table(cfg: Config, dataset: str, condition: str, method: str) -> pd.DataFrame:
    """The evaluation table of one dataset, condition and method (cached as CSV under ``cache/tables``).

    Parameters
    ----------
    cfg : Config
    dataset : str
        One of ``cfg.datasets``.
    condition : str
        ``"original"`` or one of the paper's five platforms.
    method : {"csi-cnn", "wavelet", "dncnn"}

    Returns
    -------
    pandas.DataFrame
        One row per test image x candidate camera: ``image`` (str), ``true_device`` (str), ``candidate_device``
        (str), ``ncc`` (float in [-1, 1]), ``pce`` (float).

    References
    ----------
    Wang et al. (2021), Sec. 4.2-4.3.

    Examples
    --------
    >>> t = evaluation_table(setup(scale="smoke", notebook="06_table3_accuracy"), "our", "wechat", "wavelet")   # doctest: +SKIP
    >>> list(t.columns[:5])                                                                             # doctest: +SKIP
    ['image', 'true_device', 'candidate_device', 'ncc', 'pce']
    """
    from csi import evaluate

    config.check_choice("method", method, METHODS)
    config.check_choice("condition", condition, CONDITIONS)
    ck = train_models(cfg)[method] if method != "wavelet" else None
    prep = prepare(cfg, dataset)
    view = condition_view(cfg, prep, condition)
    tag = _short_hash("|".join([
        _fingerprint_of_paths([ck]) if ck is not None else "none",
        _fingerprint_of_paths(view["path"]), ",".join(map(str, view["device"])),
        ",".join(sorted(prep.fingerprints)), str(cfg.settings["crop"]),
    ]))
    path = cfg.cache / "tables" / cfg.key(dataset) / f"{_safe(condition)}_{_safe(method)}_{tag}.csv"
    if path.exists():
        return pd.read_csv(path, dtype={"image": str, "true_device": str, "candidate_device": str})
    table = evaluate.evaluate(method, view, prep.fingerprints, crop=cfg.settings["crop"],
                              cache_dir=cfg.cache / "residuals", checkpoint=ck, device=cfg.torch_device,
                              progress=cfg.progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
    return table


def scores(cfg: Config, datasets: Iterable[str] | None = None, conditions: Iterable[str] = PLATFORMS,
           methods: Iterable[str] = METHODS, progress: bool | None = None) -> pd.DataFrame:
    """All evaluation tables of a grid, stacked, with ``dataset``, ``platform`` and ``method`` columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, platform, method, image, true_device, candidate_device, ncc, pce``.

    Examples
    --------
    >>> cfg = setup(scale="smoke", notebook="06_table3_accuracy")   # doctest: +SKIP
    >>> sc = scores(cfg, ["our"], ["wechat"], ["wavelet"])               # doctest: +SKIP
    >>> sc[["dataset", "platform", "method"]].drop_duplicates().shape  # doctest: +SKIP
    (1, 3)
    """
    from tqdm.auto import tqdm

    datasets = tuple(cfg.datasets if datasets is None else datasets)
    grid = [(d, c, m) for d in datasets for c in conditions for m in methods]
    show = cfg.progress if progress is None else progress
    parts = []
    for d, c, m in tqdm(grid, desc="evaluation tables", disable=not show):
        t = evaluation_table(cfg, d, c, m)
        parts.append(t.assign(dataset=d, platform=c, method=m))
    out = pd.concat(parts, ignore_index=True)
    front = ["dataset", "platform", "method"]
    return out[front + [c for c in out.columns if c not in front]]


# ----------------------------------------------------------------------------------------------------------
# Metrics from the stacked evaluation tables
# ----------------------------------------------------------------------------------------------------------

_GROUP = ["dataset", "platform", "method"]


def accuracy_long(sc: pd.DataFrame) -> pd.DataFrame:
    """Closed-set accuracy (argmax over candidates, Table 3) per dataset, platform and method.

    Parameters
    ----------
    sc : pandas.DataFrame
        Stacked evaluation tables (:func:`scores`); not modified.

    Returns
    -------
    pandas.DataFrame
        ``dataset, platform, method, acc`` (float in [0, 1]), ``n_images``, ``n_cameras``, ``chance``
        (1 / n_cameras).

    References
    ----------
    Wang et al. (2021), Table 3 and Eq. 9 (closed-set reading).

    Examples
    --------
    >>> t = pd.DataFrame({"image": ["a", "a"], "true_device": "x", "candidate_device": ["x", "y"],
    ...                   "ncc": [0.3, 0.1], "dataset": "our", "platform": "wechat", "method": "wavelet"})
    >>> accuracy_long(t)[["acc", "n_cameras", "chance"]].to_numpy().tolist()
    [[1.0, 2.0, 0.5]]
    """
    from csi import evaluate

    acc = evaluate.accuracy_table(sc, by=_GROUP)
    ncam = sc.groupby(_GROUP, sort=False)["candidate_device"].nunique().rename("n_cameras").reset_index()
    out = acc.merge(ncam, on=_GROUP, how="left")
    out["chance"] = 1.0 / out["n_cameras"]
    return out


def auc_long(sc: pd.DataFrame) -> pd.DataFrame:
    """Verification AUC (Mann-Whitney, Eq. 12) per dataset, platform and method.

    Every (image, candidate) pair is one sample scored by its NCC; it is positive when the candidate is the
    image's true camera.

    Returns
    -------
    pandas.DataFrame
        ``dataset, platform, method, auc`` (float in [0, 1]; NaN without positives or negatives), ``n_pos``,
        ``n_neg``.

    References
    ----------
    Wang et al. (2021), Fig. 4 and Eq. 12.

    Examples
    --------
    >>> t = pd.DataFrame({"image": ["a", "a"], "true_device": "x", "candidate_device": ["x", "y"],
    ...                   "ncc": [0.3, 0.1], "dataset": "our", "platform": "wechat", "method": "wavelet"})
    >>> float(auc_long(t)["auc"].iloc[0])
    1.0
    """
    from csi import evaluate

    return evaluate.auc_table(sc, by=_GROUP)


def roc_long(sc: pd.DataFrame) -> pd.DataFrame:
    """ROC curve points (Eq. 10-11) per dataset, platform and method.

    Returns
    -------
    pandas.DataFrame
        ``dataset, platform, method, fpr, tpr`` (floats in [0, 1]) and ``threshold``.

    References
    ----------
    Wang et al. (2021), Fig. 5 and Eq. 10-11.

    Examples
    --------
    >>> t = pd.DataFrame({"image": ["a", "a"], "true_device": "x", "candidate_device": ["x", "y"],
    ...                   "ncc": [0.3, 0.1], "dataset": "our", "platform": "wechat", "method": "wavelet"})
    >>> float(roc_long(t)["tpr"].iloc[-1])
    1.0
    """
    from csi import evaluate

    return evaluate.roc_table(sc, by=_GROUP)


def correlation_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean NCC of each true camera's images with each candidate's fingerprint (Table 2's layout).

    Returns
    -------
    pandas.DataFrame
        ``(n_true, n_candidates)`` float, index ``true_device``, columns ``candidate_device``.

    References
    ----------
    Wang et al. (2021), Table 2.

    Examples
    --------
    >>> t = pd.DataFrame({"image": ["a", "a"], "true_device": "x", "candidate_device": ["x", "y"],
    ...                   "ncc": [0.3, 0.1]})
    >>> correlation_means(t).shape
    (1, 2)
    """
    from csi import evaluate

    return evaluate.correlation_matrix(table)


# ----------------------------------------------------------------------------------------------------------
# Claims: the paper's words beside this run's numbers
# ----------------------------------------------------------------------------------------------------------


def claim_markdown(item: str, holds: bool | None, detail: str) -> str:
    """One Markdown paragraph: the paper's claim (``data/paper/claims.csv``) and what this run found.

    Parameters
    ----------
    item : str
        Row of :func:`csi.paper.claims` (e.g. ``"fig4"``).
    holds : bool or None
        Whether this run supports the claim (None: cannot be tested in this run).
    detail : str
        The computed sentence(s) behind the verdict.

    Examples
    --------
    >>> claim_markdown("fig5", True, "All AUCs are above 0.5.").startswith("**Paper (§4.3.2)")
    True
    """
    c = paper.claims().loc[item]
    verdict = {True: "consistent with the claim", False: "**not** consistent with the claim",
               None: "cannot be tested in this run"}[holds]
    return f"**Paper (§{c.section}):** {c.claim}\n\n**This run:** {detail} → {verdict}.\n"


def _label(method: str) -> str:
    return paper.METHOD_LABELS.get(method, method)


# ----------------------------------------------------------------------------------------------------------
# Table 2 (notebook 04)
# ----------------------------------------------------------------------------------------------------------


def table2(cfg: Config, dataset: str | None = None, condition: str = "original") -> dict[str, pd.DataFrame]:
    """Table 2 for this run beside the paper's.

    Parameters
    ----------
    cfg : Config
    dataset : str, optional
        Default ``"our"`` (the paper's own set) if it is in the run, else the first dataset.
    condition : str
        The images' platform (the paper does not say; default the camera originals).

    Returns
    -------
    dict
        ``"ours"``: ``(n, n + 1)`` frame, rows the test images' camera, columns each camera's fingerprint (mean
        NCC of CSI-CNN residuals) plus ``"Wavelet"`` (mean NCC of wavelet residuals with the true camera);
        ``"paper"``: :func:`csi.paper.table2`; ``"summary"``: per row position, both sides' own-camera value,
        mean and max other-camera value, the wavelet value and whether the own camera is the row maximum.

    References
    ----------
    Wang et al. (2021), Table 2, Sec. 4.3.1.

    Examples
    --------
    >>> t2 = table2(setup(scale="smoke", notebook="04_table2_correlation"))   # doctest: +SKIP
    >>> t2["ours"].shape                                                       # doctest: +SKIP
    (5, 6)
    """
    dataset = dataset or ("our" if "our" in cfg.datasets else cfg.datasets[0])
    cnn = correlation_means(evaluation_table(cfg, dataset, condition, "csi-cnn"))
    wav = evaluation_table(cfg, dataset, condition, "wavelet")
    wav_true = wav[wav["candidate_device"].astype(str) == wav["true_device"].astype(str)]
    ours = cnn.copy()
    ours["Wavelet"] = wav_true.groupby("true_device")["ncc"].mean().reindex(ours.index)
    ours.index.name, ours.columns.name = "image_camera", None
    pub = paper.table2()
    return {"ours": ours, "paper": pub, "summary": _table2_summary(ours, pub), "dataset": dataset,
            "condition": condition}


def _table2_rows(t: pd.DataFrame) -> pd.DataFrame:
    cams = [c for c in t.columns if c != "Wavelet"]
    rows = []
    for cam in t.index:
        own = float(t.loc[cam, cam]) if cam in cams else float("nan")
        others = t.loc[cam, [c for c in cams if c != cam]].astype(float)
        rows.append({"camera": cam, "own": own, "others_mean": float(others.mean()),
                     "others_max": float(others.max()), "wavelet": float(t.loc[cam, "Wavelet"]),
                     "own_is_max": bool(own > others.max())})
    return pd.DataFrame(rows)


def _match_by_model(ours: list, published: list) -> list | None:
    """Order our camera names like the paper's rows when every paper phone name occurs in one of ours.

    ``"Honor 10"`` matches ``"D05_Huawei_Honor10"``: both are compared lower-case with non-alphanumerics removed.
    Returns None when the names do not pair up one-to-one (e.g. a real dataset), so rows pair by position.
    """
    norm = [re.sub(r"[^0-9a-z]", "", str(x).lower()) for x in ours]
    order = []
    for name in published:
        key = re.sub(r"[^0-9a-z]", "", str(name).lower())
        hits = [i for i, n in enumerate(norm) if key and key in n]
        if len(hits) != 1 or hits[0] in order:
            return None
        order.append(hits[0])
    return [ours[i] for i in order] if len(order) == len(ours) else None


def _table2_summary(ours: pd.DataFrame, pub: pd.DataFrame) -> pd.DataFrame:
    o, p = _table2_rows(ours), _table2_rows(pub)
    order = _match_by_model(list(o["camera"]), list(p["camera"]))
    if order is not None:  # pair rows by phone model, not by position
        o = o.set_index("camera").loc[order].reset_index()
    n = max(len(o), len(p))
    o, p = o.reindex(range(n)), p.reindex(range(n))
    out = pd.DataFrame({"row": range(1, n + 1)})
    for col in ("camera", "own", "others_mean", "others_max", "wavelet", "own_is_max"):
        out[f"paper_{col}"] = p[col].to_numpy()
        out[f"ours_{col}"] = o[col].to_numpy()
    return out


def table2_sentences(t2: dict) -> str:
    """Computed discussion of Table 2 (Markdown).

    References
    ----------
    Wang et al. (2021), Table 2, Sec. 4.3.1.

    Examples
    --------
    >>> text = table2_sentences(table2(cfg))   # doctest: +SKIP
    """
    s = t2["summary"]
    lines = []
    for side, name in (("paper", "The paper"), ("ours", "This run")):
        own = s[f"{side}_own"].dropna()
        k = int(s[f"{side}_own_is_max"].fillna(False).astype(bool).sum())
        n = int(own.size)
        beats = int((s[f"{side}_own"] > s[f"{side}_wavelet"]).sum())
        lines.append(f"- {name}: the own camera has the largest mean correlation in {k} of {n} rows; the mean "
                     f"own-camera correlation is {own.mean():.4f} against {s[f'{side}_others_mean'].mean():+.4f} "
                     f"for other cameras; CSI-CNN's own-camera value exceeds the wavelet column in {beats} of {n} "
                     f"rows (mean wavelet {s[f'{side}_wavelet'].mean():.4f}).")
    ours = s["ours_own"].dropna()
    holds1 = bool(ours.size and s["ours_own_is_max"].fillna(False).astype(bool).sum() == ours.size)
    holds2 = bool(ours.size and (s["ours_own"] > s["ours_wavelet"]).sum() == ours.size)
    ours_cams = list(s["ours_camera"].dropna())
    paired = _match_by_model(ours_cams, list(s["paper_camera"].dropna())) == ours_cams
    how = ("rows are paired by phone model" if paired else "their names do not match the paper's phones, so "
           "rows are paired by position only")
    head = (f"Dataset `{t2['dataset']}`, condition `{t2['condition']}`. Our cameras are simulated stand-ins for "
            f"the paper's phones; {how}.\n\n")
    return (head + "\n".join(lines) + "\n\n"
            + claim_markdown("table2", holds1, f"own camera largest in "
                             f"{int(s['ours_own_is_max'].fillna(False).astype(bool).sum())} of {ours.size} rows")
            + "\n" + claim_markdown("table2_wavelet", holds2, f"CSI-CNN above wavelet in "
                                    f"{int((s['ours_own'] > s['ours_wavelet']).sum())} of {ours.size} rows"))


def plot_table2(t2: dict):
    """Heatmaps of Table 2: the paper's and this run's (5 x 5 + wavelet column each).

    References
    ----------
    Wang et al. (2021), Table 2.

    Examples
    --------
    >>> fig = plot_table2(table2(cfg))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, (key, title) in zip(axes, (("paper", "Paper, Table 2 (their 5 phones)"),
                                       ("ours", f"This run ({t2['dataset']}, {t2['condition']})")), strict=True):
        sns.heatmap(t2[key].astype(float), annot=True, fmt=".3f", cmap="viridis", ax=ax, cbar=True,
                    annot_kws={"size": 7})
        ax.set_title(title)
        ax.set_xlabel("fingerprint (columns) / Wavelet: own camera")
        ax.set_ylabel("test images of")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------
# Fig. 3 (notebook 05)
# ----------------------------------------------------------------------------------------------------------


def fig3_data(cfg: Config, dataset: str | None = None, method: str = "csi-cnn") -> pd.DataFrame:
    """Fig. 3's data: NCC of two random test pictures per camera with every camera, on every condition.

    The pictures are drawn once with the run's seed (the same pictures on every platform).

    Returns
    -------
    pandas.DataFrame
        ``platform, row, image, true_device, candidate_device, ncc``; ``row`` labels a picture
        (``"<camera> #k"``).

    References
    ----------
    Wang et al. (2021), Fig. 3 (a-f).

    Examples
    --------
    >>> f3 = fig3_data(setup(scale="smoke", notebook="05_fig3_heatmaps"))   # doctest: +SKIP
    >>> f3.groupby("platform").size().unique()                                # doctest: +SKIP
    array([50])
    """
    dataset = dataset or ("our" if "our" in cfg.datasets else cfg.datasets[0])
    per = int(cfg.settings["fig3_per_camera"])
    prep = prepare(cfg, dataset)
    rng = np.random.default_rng(cfg.seed)
    picks = {}
    for dev, g in prep.test.groupby("device", sort=True):
        idx = rng.choice(len(g), size=min(per, len(g)), replace=False)
        for k, i in enumerate(sorted(idx), 1):
            picks[_stem(g.iloc[i]["path"])] = f"{dev} #{k}"
    parts = []
    for cond in CONDITIONS:
        t = evaluation_table(cfg, dataset, cond, method)
        stems = t["image"].map(_stem)
        sel = t[stems.isin(picks)].assign(row=stems[stems.isin(picks)].map(picks), platform=cond)
        parts.append(sel[["platform", "row", "image", "true_device", "candidate_device", "ncc"]])
    return pd.concat(parts, ignore_index=True)


def _stem(path: Any) -> str:
    return Path(str(path)).stem


def plot_fig3(f3: pd.DataFrame):
    """Six heatmaps (original + five platforms) of :func:`fig3_data`.

    References
    ----------
    Wang et al. (2021), Fig. 3 (a-f).

    Examples
    --------
    >>> fig = plot_fig3(fig3_data(cfg))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    conds = [c for c in CONDITIONS if c in set(f3["platform"])]
    ncol = 3
    nrow = int(np.ceil(len(conds) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.4 * nrow), squeeze=False)
    vmax = float(np.nanmax(np.abs(f3["ncc"]))) if len(f3) else 1.0
    for ax, cond, letter in zip(axes.flat, conds, "abcdef", strict=False):
        m = f3[f3.platform == cond].pivot_table(index="row", columns="candidate_device", values="ncc")
        sns.heatmap(m, ax=ax, cmap="RdBu_r", vmin=-vmax, vmax=vmax, annot=m.shape[0] <= 12, fmt=".2f",
                    annot_kws={"size": 6}, cbar=True)
        ax.set_title(f"({letter}) {paper.PLATFORM_LABELS.get(cond, cond)}")
        ax.set_xlabel("fingerprint")
        ax.set_ylabel("picture")
    for ax in list(axes.flat)[len(conds):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def true_camera_ncc(cfg: Config, dataset: str | None = None) -> pd.DataFrame:
    """Mean NCC of every test image with its own camera, per condition and method (the Fig. 3 text claim).

    Returns
    -------
    pandas.DataFrame
        ``platform`` plus one column per method (mean own-camera NCC) and ``<method>_margin`` (mean of own
        NCC minus the best other camera's NCC).

    References
    ----------
    Wang et al. (2021), Sec. 4.3.2 (text on Fig. 3).

    Examples
    --------
    >>> n = true_camera_ncc(setup(scale="smoke", notebook="05_fig3_heatmaps"))   # doctest: +SKIP
    >>> list(n.platform)                                                         # doctest: +SKIP
    ['original', 'twitter', 'facebook', 'instagram', 'wechat', 'weibo']
    """
    from csi import evaluate

    dataset = dataset or ("our" if "our" in cfg.datasets else cfg.datasets[0])
    rows = []
    for cond in CONDITIONS:
        row = {"platform": cond}
        for m in METHODS:
            s, ti, _, _ = evaluate.score_matrix(evaluation_table(cfg, dataset, cond, m))
            own = s[np.arange(len(ti)), ti]
            other = np.where(np.eye(s.shape[1], dtype=bool)[ti], -np.inf, s).max(1)
            row[m] = float(own.mean())
            row[f"{m}_margin"] = float((own - other).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def fig3_sentences(f3: pd.DataFrame, true_ncc: pd.DataFrame) -> str:
    """Computed discussion of Fig. 3 (Markdown).

    References
    ----------
    Wang et al. (2021), Fig. 3, Sec. 4.3.2.

    Examples
    --------
    >>> text = fig3_sentences(fig3_data(cfg), true_camera_ncc(cfg))   # doctest: +SKIP
    """
    lines = []
    for cond, g in f3.groupby("platform", sort=False):
        best = g.loc[g.groupby("row")["ncc"].idxmax()]
        k = int((best["candidate_device"].astype(str) == best["true_device"].astype(str)).sum())
        lines.append(f"{paper.PLATFORM_LABELS.get(cond, cond)} {k}/{len(best)}")
    head = ("Pictures whose own camera has the largest NCC in the heatmaps: " + ", ".join(lines) + ".\n\n")
    vs = []
    holds = True
    for other in ("dncnn", "wavelet"):
        c = paper.count_wins(true_ncc["csi-cnn"], true_ncc[other])
        holds = holds and c["wins"] == c["n"] and c["n"] > 0
        vs.append(paper.wins_sentence(true_ncc["csi-cnn"], true_ncc[other], "CSI-CNN", _label(other),
                                      "conditions", "in mean own-camera NCC"))
    return head + claim_markdown("fig3", holds, " ".join(vs))


# ----------------------------------------------------------------------------------------------------------
# Table 3 (notebook 06)
# ----------------------------------------------------------------------------------------------------------


def table3(cfg: Config) -> pd.DataFrame:
    """This run's closed-set accuracies: every dataset x the paper's five platforms x 3 methods.

    Returns
    -------
    pandas.DataFrame
        As :func:`accuracy_long`.

    References
    ----------
    Wang et al. (2021), Table 3.

    Examples
    --------
    >>> acc = table3(setup(scale="smoke", notebook="06_table3_accuracy"))   # doctest: +SKIP
    >>> len(acc)                                                            # doctest: +SKIP
    60
    """
    return accuracy_long(scores(cfg, conditions=PLATFORMS))


def table3_side_by_side(acc: pd.DataFrame) -> pd.DataFrame:
    """Table 3 layout: paper, ours and delta per method, for each dataset and platform.

    Rows for conditions the paper does not have (camera originals) keep NaN paper values; rows for datasets
    not in this run keep NaN in ``ours_*``.

    References
    ----------
    Wang et al. (2021), Table 3.

    Examples
    --------
    >>> pub = paper.table3(long=True).assign(chance=0.2)
    >>> t3 = table3_side_by_side(pub)
    >>> t3.shape[0], float(t3.delta_wavelet.abs().max())
    (20, 0.0)
    """
    t = paper.side_by_side(acc[["dataset", "platform", "method", "acc"]], paper.table3(long=True),
                           ["dataset", "platform"], order=METHODS)
    chance = acc.groupby(["dataset", "platform"])["chance"].first()
    t["chance"] = [chance.get((d, p), np.nan) for d, p in zip(t.dataset, t.platform, strict=True)]
    dorder = {d: i for i, d in enumerate(RECIPES)}
    porder = {p: i for i, p in enumerate(CONDITIONS)}
    t = t.assign(_d=t.dataset.map(lambda d: dorder.get(d, 99)), _p=t.platform.map(lambda p: porder.get(p, 99)))
    return t.sort_values(["_d", "_p"]).drop(columns=["_d", "_p"]).reset_index(drop=True)


def table3_sentences(t3: pd.DataFrame) -> str:
    """Computed discussion of Table 3 (Markdown).

    References
    ----------
    Wang et al. (2021), Table 3, Sec. 4.3.2.

    Examples
    --------
    >>> t3 = table3_side_by_side(paper.table3(long=True).assign(chance=0.2))
    >>> "strictly best in 19 of 20" in table3_sentences(t3)
    True
    """
    both = t3.dropna(subset=["paper_csi_cnn", "ours_csi_cnn"])
    lines = []
    for d, g in both.groupby("dataset", sort=False):
        w = paper.wins_sentence(g.ours_csi_cnn, g.ours_wavelet, "CSI-CNN", "Wavelet", "platforms", f"on {d}")
        w2 = paper.wins_sentence(g.ours_csi_cnn, g.ours_dncnn, "CSI-CNN", "DnCNN", "platforms", f"on {d}")
        lines.append(f"- {w} {w2} Mean accuracy: CSI-CNN {g.ours_csi_cnn.mean():.3f}, wavelet "
                     f"{g.ours_wavelet.mean():.3f}, DnCNN {g.ours_dncnn.mean():.3f} (paper {g.paper_csi_cnn.mean():.3f}, "
                     f"{g.paper_wavelet.mean():.3f}, {g.paper_dncnn.mean():.3f}); chance {g.chance.mean():.3f}.")
    if both.empty:
        return "No dataset of this run has a counterpart in the paper's Table 3."
    deltas = [paper.delta_sentence(both[f"ours_{m}"], both[f"paper_{m}"], f"{_label(m.replace('_', '-'))} accuracies")
              for m in ("csi_cnn", "wavelet", "dncnn")]
    best_ours = both[["ours_csi_cnn", "ours_wavelet", "ours_dncnn"]].to_numpy()
    best_pub = both[["paper_csi_cnn", "paper_wavelet", "paper_dncnn"]].to_numpy()
    k_ours = int((best_ours[:, 0] > best_ours[:, 1:].max(1)).sum())
    k_pub = int((best_pub[:, 0] > best_pub[:, 1:].max(1)).sum())
    n = len(both)
    claim1 = claim_markdown("table3", k_ours == n, f"CSI-CNN is strictly best in {k_ours} of {n} conditions "
                            f"(the paper's own table: {k_pub} of {n})")
    flat = _flat_check(both)
    out = ["Per dataset (this run):", *lines, "", "Against the paper: " + " ".join(deltas), "", claim1]
    same = _identical_platforms(both)
    if same:
        out += ["", "Platforms with identical accuracies for every dataset and method in this run: "
                + "; ".join(" = ".join(paper.PLATFORM_LABELS.get(p, p) for p in g) for g in same)
                + ". Their simulated profiles give the same pixels here (see the profiles in notebook 00), "
                "so they are not independent conditions."]
    if flat is not None:
        out += ["", flat]
    return "\n".join(out) + "\n"


def _identical_platforms(t3: pd.DataFrame) -> list[list[str]]:
    cols = ["ours_csi_cnn", "ours_wavelet", "ours_dncnn"]
    sig = {}
    for p, g in t3.groupby("platform", sort=False):
        sig.setdefault(tuple(np.round(g.sort_values("dataset")[cols].to_numpy(float).ravel(), 12)), []).append(p)
    return [g for g in sig.values() if len(g) > 1]


def _flat_check(both: pd.DataFrame) -> str | None:
    have = set(both.dataset)
    if not ({"vision", "daxing"} & have and {"our", "kaggle"} & have):
        return None
    parts, holds = [], True
    for m in ("csi_cnn", "wavelet", "dncnn"):
        low = both[both.dataset.isin(["vision", "daxing"])][f"ours_{m}"].mean()
        high = both[both.dataset.isin(["our", "kaggle"])][f"ours_{m}"].mean()
        holds = holds and low < high
        parts.append(f"{_label(m.replace('_', '-'))} {low:.3f} vs {high:.3f}")
    return claim_markdown("table3_flat", holds, "mean accuracy on Vision/Daxing vs Our/Kaggle: " + "; ".join(parts))


def plot_table3(t3: pd.DataFrame):
    """Paper vs this run: one point per dataset/platform, per method (diagonal = agreement).

    References
    ----------
    Wang et al. (2021), Table 3.

    Examples
    --------
    >>> fig = plot_table3(table3_side_by_side(paper.table3(long=True).assign(chance=0.2)))
    """
    import matplotlib.pyplot as plt

    both = t3.dropna(subset=["paper_csi_cnn"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    ax = axes[0]
    markers = {"our": "o", "kaggle": "s", "vision": "^", "daxing": "D"}
    for m, color in zip(("csi_cnn", "wavelet", "dncnn"), ("C0", "C1", "C2"), strict=True):
        for d, g in both.groupby("dataset"):
            ax.scatter(g[f"paper_{m}"], g[f"ours_{m}"], color=color, marker=markers.get(d, "o"), s=30,
                       label=f"{_label(m.replace('_', '-'))} / {d}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="paper ACC", ylabel="this run ACC",
           title="Table 3: paper vs this run")
    ax.legend(fontsize=6, ncol=2)
    ax = axes[1]
    ours = t3.dropna(subset=["ours_csi_cnn"])
    lab = ours.dataset + "/" + ours.platform
    x = np.arange(len(ours))
    for i, (m, color) in enumerate(zip(("csi_cnn", "wavelet", "dncnn"), ("C0", "C1", "C2"), strict=True)):
        ax.bar(x + (i - 1) * 0.27, ours[f"ours_{m}"], width=0.27, color=color, label=_label(m.replace("_", "-")))
    ax.hlines(ours["chance"], x - 0.45, x + 0.45, colors="k", linestyles=":", lw=1.2, label="chance")
    ax.set_xticks(x, lab, rotation=90, fontsize=7)
    ax.set(ylim=(0, 1.02), ylabel="ACC", title="This run, every condition")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------
# Fig. 4 and Fig. 5 (notebook 07)
# ----------------------------------------------------------------------------------------------------------


def auc_table(cfg: Config) -> pd.DataFrame:
    """Fig. 4's data: verification AUC for every dataset x platform x method (see :func:`auc_long`).

    References
    ----------
    Wang et al. (2021), Fig. 4, Eq. 12.

    Examples
    --------
    >>> auc = auc_table(setup(scale="smoke", notebook="07_fig4_fig5_roc_auc"))   # doctest: +SKIP
    >>> len(auc)                                                                # doctest: +SKIP
    60
    """
    return auc_long(scores(cfg, conditions=PLATFORMS))


def roc_table(cfg: Config) -> pd.DataFrame:
    """Fig. 5's data: ROC points for every dataset x platform x method (see :func:`roc_long`).

    References
    ----------
    Wang et al. (2021), Fig. 5, Eq. 10-11.

    Examples
    --------
    >>> roc = roc_table(setup(scale="smoke", notebook="07_fig4_fig5_roc_auc"))   # doctest: +SKIP
    """
    return roc_long(scores(cfg, conditions=PLATFORMS))


def plot_fig4(auc: pd.DataFrame):
    """Fig. 4 (a-d): AUC bars per dataset, platform on x, one bar per method.

    References
    ----------
    Wang et al. (2021), Fig. 4 (a-d).

    Examples
    --------
    >>> auc = pd.DataFrame([("our", p, m, 0.7) for p in PLATFORMS for m in METHODS],
    ...                    columns=["dataset", "platform", "method", "auc"])
    >>> fig = plot_fig4(auc)
    """
    import matplotlib.pyplot as plt

    ds_ = [d for d in RECIPES if d in set(auc.dataset)] + sorted(set(auc.dataset) - set(RECIPES))
    fig, axes = plt.subplots(1, len(ds_), figsize=(4.2 * len(ds_), 3.8), squeeze=False)
    for ax, d, letter in zip(axes.flat, ds_, "abcdefgh", strict=False):
        g = auc[auc.dataset == d]
        plats = [p for p in CONDITIONS if p in set(g.platform)]
        x = np.arange(len(plats))
        for i, m in enumerate(METHODS):
            v = g[g.method == m].set_index("platform")["auc"].reindex(plats)
            ax.bar(x + (i - 1) * 0.27, v, width=0.27, label=_label(m))
        ax.axhline(0.5, color="k", ls=":", lw=1)
        ax.set_xticks(x, [paper.PLATFORM_LABELS.get(p, p) for p in plats], rotation=30, fontsize=8)
        ax.set(ylim=(0, 1.02), title=f"({letter}) {paper.DATASET_LABELS.get(d, d)}", ylabel="AUC")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_fig5(roc: pd.DataFrame, auc: pd.DataFrame | None = None):
    """Fig. 5: ROC curves, a grid of datasets (rows) x platforms (columns), one line per method.

    References
    ----------
    Wang et al. (2021), Fig. 5 (a-d), Eq. 10-11.

    Examples
    --------
    >>> fig = plot_fig5(roc_table(cfg), auc_table(cfg))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    ds_ = [d for d in RECIPES if d in set(roc.dataset)] + sorted(set(roc.dataset) - set(RECIPES))
    plats = [p for p in CONDITIONS if p in set(roc.platform)]
    fig, axes = plt.subplots(max(len(ds_), 1), max(len(plats), 1), figsize=(2.6 * len(plats), 2.6 * len(ds_)),
                             squeeze=False, sharex=True, sharey=True)
    for r, d in enumerate(ds_):
        for c, p in enumerate(plats):
            ax = axes[r, c]
            for m in METHODS:
                g = roc[(roc.dataset == d) & (roc.platform == p) & (roc.method == m)]
                lab = _label(m)
                if auc is not None:
                    a = auc[(auc.dataset == d) & (auc.platform == p) & (auc.method == m)]["auc"]
                    if len(a):
                        lab += f" {float(a.iloc[0]):.2f}"
                ax.plot(g.fpr, g.tpr, lw=1.2, label=lab)
            ax.plot([0, 1], [0, 1], "k:", lw=0.7)
            ax.legend(fontsize=5, loc="lower right")
            if r == 0:
                ax.set_title(paper.PLATFORM_LABELS.get(p, p), fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{paper.DATASET_LABELS.get(d, d)}\nTPR", fontsize=9)
            if r == len(ds_) - 1:
                ax.set_xlabel("FPR", fontsize=8)
    fig.tight_layout()
    return fig


#: The AUC that notebook 07 counts as "good performance" when checking the paper's Fig. 5 claim.
GOOD_AUC: float = 0.8


def fig45_sentences(auc: pd.DataFrame) -> str:
    """Computed discussion of Figs. 4 and 5 (Markdown).

    References
    ----------
    Wang et al. (2021), Fig. 4-5, Sec. 4.3.2.

    Examples
    --------
    >>> auc = pd.DataFrame([("our", p, m, 0.9) for p in PLATFORMS for m in METHODS],
    ...                    columns=["dataset", "platform", "method", "auc"])
    >>> "15 of 15 ROC curves reach it" in fig45_sentences(auc)
    True
    """
    piv = auc.pivot_table(index=["dataset", "platform"], columns="method", values="auc")
    n = len(piv)
    best = piv[list(METHODS)].idxmax(axis=1)
    counts = best.value_counts().reindex(list(METHODS), fill_value=0)
    k_best = int(counts["csi-cnn"])
    lines = ["Highest AUC per condition: " + ", ".join(f"{_label(m)} {int(counts[m])}" for m in METHODS)
             + f" of {n} conditions."]
    for d, g in piv.groupby(level="dataset", sort=False):
        lines.append(f"- {paper.DATASET_LABELS.get(d, d)}: mean AUC "
                     + ", ".join(f"{_label(m)} {g[m].mean():.3f}" for m in METHODS) + ".")
    above = int((auc["auc"] > 0.5).sum())
    good = int((auc["auc"] >= GOOD_AUC).sum())
    return ("\n".join(lines) + "\n\n"
            + claim_markdown("fig4", k_best == n and n > 0, f"CSI-CNN has the highest AUC in {k_best} of {n} "
                             "conditions")
            + "\n" + claim_markdown("fig5", good == len(auc) and len(auc) > 0,
                                    f"reading 'good' as AUC ≥ {GOOD_AUC}: {good} of {len(auc)} ROC curves reach it, "
                                    f"{above} are above chance (0.5), the lowest AUC is {auc['auc'].min():.3f}"))


# ----------------------------------------------------------------------------------------------------------
# Notebook 00: datasets, platforms, the simulator
# ----------------------------------------------------------------------------------------------------------


def dataset_summary(cfg: Config) -> pd.DataFrame:
    """One row per dataset of the run: sizes, the 1:1:6:2 split, and the paper's sizes (Sec. 4.1) beside them.

    Returns
    -------
    pandas.DataFrame
        ``dataset, devices, models, brands, originals, platform_copies, width, height`` (median image size),
        ``val, fingerprint, train, test`` (originals per split), ``paper_devices, paper_models, paper_brands,
        paper_images``.

    References
    ----------
    Wang et al. (2021), Sec. 4.1, Sec. 3.2.2 (1:1:6:2).

    Examples
    --------
    >>> s = dataset_summary(setup(scale="smoke", notebook="00_data"))   # doctest: +SKIP
    >>> list(s.dataset)                                                  # doctest: +SKIP
    ['our', 'kaggle', 'vision', 'daxing']
    """
    pub = paper.datasets()
    rows = []
    for name in cfg.datasets:
        frame, _, _ = load_frame(cfg, name)
        sp = split_dataset(cfg, name, frame)
        counts = sp["split"].value_counts()
        row = {"dataset": name, "devices": int(frame["device"].nunique()),
               "models": int(frame["model"].nunique()), "brands": int(frame["brand"].nunique()),
               "originals": int((frame["platform"] == "original").sum()),
               "platform_copies": int((frame["platform"] != "original").sum()),
               "width": int(sp["width"].median()), "height": int(sp["height"].median())}
        row.update({k: int(counts.get(k, 0)) for k in ("val", "fingerprint", "train", "test")})
        ref = pub.loc[name] if name in pub.index else None
        for c in ("devices", "models", "brands", "images"):
            row[f"paper_{c}"] = ref[c] if ref is not None else pd.NA
        rows.append(row)
    return pd.DataFrame(rows)


def dataset_sentences(summary: pd.DataFrame) -> str:
    """Computed comparison of the run's dataset sizes with the paper's (Markdown).

    Examples
    --------
    >>> s = pd.DataFrame({"dataset": ["our"], "devices": [5], "originals": [50], "width": [320],
    ...                   "height": [240], "test": [10], "paper_devices": [5], "paper_images": [5000]})
    >>> print(dataset_sentences(s), end="")
    - `our`: 5 devices (paper: 5), 50 camera originals of 320×240 px — 1.0% of the paper's 5,000 images; 10 test originals.
    """
    lines = []
    for _, r in summary.iterrows():
        pi = r.get("paper_images")
        pd_ = r.get("paper_devices")
        ratio = f"{r.originals / pi:.1%} of the paper's {int(pi):,} images" if pd.notna(pi) and pi else \
            "the paper gives no single image count"
        dev = f"{r.devices} devices (paper: {int(pd_)})" if pd.notna(pd_) else f"{r.devices} devices"
        lines.append(f"- `{r.dataset}`: {dev}, {r.originals:,} camera originals of {r.width}×{r.height} px — "
                     f"{ratio}; {r.test} test originals.")
    return "\n".join(lines) + "\n"


def platform_profiles() -> pd.DataFrame:
    """The simulated platforms (the paper's five first), one row each, with the source of every number.

    Returns
    -------
    pandas.DataFrame
        ``platform, in_paper`` (bool), then the profile keys of :data:`csi.simulate.PLATFORMS`.

    References
    ----------
    Wang et al. (2021), Sec. 4.3 (five platforms).

    Examples
    --------
    >>> list(platform_profiles().platform[:5]) == list(PLATFORMS)
    True
    """
    from csi import simulate

    order = [*PLATFORMS, *[p for p in simulate.PLATFORMS if p not in PLATFORMS]]
    rows = []
    for p in order:
        prof = dict(simulate.PLATFORMS[p])
        rows.append({"platform": p, "in_paper": p in PLATFORMS, **prof})
    return pd.DataFrame(rows)


def _show(ax, img, title: str, cmap=None, symmetric: bool = False) -> None:
    img = np.asarray(img)
    if symmetric:
        v = float(np.percentile(np.abs(img), 99)) or 1.0
        ax.imshow(img, cmap=cmap or "gray", vmin=-v, vmax=v, interpolation="nearest")
    elif img.ndim == 2:
        ax.imshow(img, cmap=cmap or "gray", interpolation="nearest")
    else:
        ax.imshow(np.clip(img, 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_simulator_chain(cfg: Config, recipe: str = "our", size: int = 128):
    """The simulator chain on one scene, every panel a real intermediate (Eq. 1-2).

    Scene ``Y`` -> device PRNU ``K`` -> camera output ``render_raw`` (PRNU, shot/read noise, demosaicing,
    white balance, tone curve, 8-bit) -> in-camera JPEG -> each step of a platform (WeChat, the strongest of
    the five) -> the noise residual of the platform copy (Eq. 4).

    References
    ----------
    Wang et al. (2021), Eq. 1-2 and Eq. 4.

    Examples
    --------
    >>> fig = plot_simulator_chain(setup(scale="smoke", notebook="00_data"))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from csi import io, prnu, simulate

    plan = simulate.recipe_plan(recipe, cfg.scale, cfg.seed)
    device = sorted(plan["devices"])[0]
    model = plan["devices"][device]
    processing = plan["processing"][model]
    h, w = (min(size, plan["sensor_shape"][0]), min(size, plan["sensor_shape"][1]))
    rng = np.random.default_rng(cfg.seed)
    scene = simulate.make_scene("photo", (h, w), rng)
    K = simulate.device_prnu(tuple(plan["sensor_shape"]), cfg.seed, recipe, device,
                             plan["sensor"]["prnu_std"])[:h, :w]
    raw = simulate.render_raw(scene, K, processing, np.random.default_rng(cfg.seed + 1))
    jpeg = simulate.encode_jpeg(raw, processing["quality"], processing["subsampling"])
    cam = io.decode_rgb(jpeg)
    wechat = io.decode_rgb(simulate.apply_platform(jpeg, "wechat", sensor_scale=float(plan["sensor_scale"])))
    res = prnu.noise_residual(wechat)
    fig, axes = plt.subplots(1, 6, figsize=(17, 3.4))
    _show(axes[0], (np.clip(scene, 0, 1) ** (1 / 2.2) * 255), "1. scene Y (linear light, shown γ=2.2)")
    _show(axes[1], K, f"2. PRNU K of {device}\n(std {K.std():.4f})", symmetric=True)
    _show(axes[2], raw, "3. sensor (1+K)Y + noise, demosaic,\nwhite balance, tone curve, 8 bit")
    _show(axes[3], cam, f"4. in-camera JPEG (QF {processing['quality']},\n{processing['subsampling']})")
    _show(axes[4], wechat, f"5. WeChat copy {wechat.shape[1]}×{wechat.shape[0]}\n"
                           f"(QF {simulate.PLATFORMS['wechat']['quality']})")
    _show(axes[5], res, "6. noise residual W (Eq. 4)\nof the WeChat copy", symmetric=True)
    for a in axes[:-1]:
        a.annotate("", xy=(1.13, 0.5), xycoords="axes fraction", xytext=(1.0, 0.5),
                   arrowprops={"arrowstyle": "->", "lw": 1.5})
    fig.suptitle(f"Simulator chain (Eq. 1–2), model {model}, centre {h}×{w} px", fontsize=10)
    fig.tight_layout()
    return fig


def plot_samples(cfg: Config, per_dataset: int = 5):
    """One camera original per device, first ``per_dataset`` devices of each dataset.

    Examples
    --------
    >>> fig = plot_samples(setup(scale="smoke", notebook="00_data"))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from csi import io

    fig, axes = plt.subplots(len(cfg.datasets), per_dataset, figsize=(2.6 * per_dataset, 2.2 * len(cfg.datasets)),
                             squeeze=False)
    for r, name in enumerate(cfg.datasets):
        frame, _, _ = load_frame(cfg, name)
        orig = frame[frame["platform"] == "original"].sort_values("path")
        firsts = orig.groupby("device", sort=True).head(1).head(per_dataset)
        for c in range(per_dataset):
            ax = axes[r, c]
            if c >= len(firsts):
                ax.axis("off")
                continue
            row = firsts.iloc[c]
            _show(ax, io.read_rgb(row["path"]), f"{name}: {row['device']}"[:40])
    fig.tight_layout()
    return fig


def plot_platform_views(cfg: Config, dataset: str | None = None, crop: int = 96):
    """One test picture as the camera wrote it and as each of the five platforms serves it.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Full views (top row) and 100 % centre crops (bottom row).
    views : pandas.DataFrame
        ``platform, width, height, bytes, jpeg_quality`` (estimated from the file's quantisation tables).

    Examples
    --------
    >>> fig, views = plot_platform_views(setup(scale="smoke", notebook="00_data"))   # doctest: +SKIP
    >>> list(views.platform)                                                          # doctest: +SKIP
    ['original', 'twitter', 'facebook', 'instagram', 'wechat', 'weibo']
    """
    import matplotlib.pyplot as plt

    from csi import datasets as ds
    from csi import io

    dataset = dataset or ("our" if "our" in cfg.datasets else cfg.datasets[0])
    frame, _, sensor_scale = load_frame(cfg, dataset)
    sp = split_dataset(cfg, dataset, frame)
    one = sp[sp["split"] == "test"].sort_values("path").head(1)
    fig, axes = plt.subplots(2, len(CONDITIONS), figsize=(2.9 * len(CONDITIONS), 5.4))
    rows = []
    for c, cond in enumerate(CONDITIONS):
        v = ds.platform_view(one, cond, cache_dir=cfg.cache / "platforms" / cfg.key(dataset),
                             sensor_scale=sensor_scale, seed=cfg.seed)
        path = Path(v["path"].iloc[0])
        img = io.read_rgb(path)
        q = io.estimate_jpeg_quality(path)
        rows.append({"platform": cond, "width": img.shape[1], "height": img.shape[0],
                     "bytes": path.stat().st_size, "jpeg_quality": q})
        _show(axes[0, c], img, f"{paper.PLATFORM_LABELS.get(cond, cond)} {img.shape[1]}×{img.shape[0]}")
        h, w = img.shape[:2]
        k = min(crop, h, w)
        _show(axes[1, c], img[(h - k) // 2:(h - k) // 2 + k, (w - k) // 2:(w - k) // 2 + k],
              f"centre {k}×{k}, QF≈{q}, {path.stat().st_size // 1024} KiB")
    fig.tight_layout()
    return fig, pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------------
# Notebook 02: fingerprints against the simulator's ground truth
# ----------------------------------------------------------------------------------------------------------


def _truth(prep: Prepared) -> dict[str, np.ndarray]:
    if prep.root is None:
        return {}
    from csi import simulate

    gt = simulate.ground_truth(prep.root)
    # candidate label -> the device whose fingerprint it is (Kaggle: the training device of the model)
    fp = prep.frame[prep.frame["split"] == "fingerprint"]
    src = dict(zip(fp["label"], fp["device"], strict=False))
    out = {}
    test_devices = set(prep.test.get("source_device", pd.Series(dtype=str)).astype(str))
    for lab, dev in src.items():
        if dev in gt:
            out[lab] = gt[dev]
            continue
        # Kaggle layout: the training folder is named after the class; the simulator's device is "<class>_<n>"
        # and the other device of the class is the test device
        cands = [k for k in gt if k.rsplit("_", 1)[0] == dev and k not in test_devices]
        if len(cands) == 1:
            out[lab] = gt[cands[0]]
    return out


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    from csi import prnu

    if a.shape != b.shape:
        h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
        a, b = prnu.center_crop(a, (h, w)), prnu.center_crop(b, (h, w))
    return float(prnu.ncc(a, b))


def fingerprint_table(cfg: Config) -> pd.DataFrame:
    """Every dataset's fingerprints: size, images used, and NCC with the true ``K`` (synthetic data only).

    Returns
    -------
    pandas.DataFrame
        ``dataset, camera, height, width, images, std, ncc_truth`` (NaN for real data) and
        ``ncc_truth_other`` (mean NCC with the other cameras' true ``K``: the chance level).

    References
    ----------
    Wang et al. (2021), Eq. 5.

    Examples
    --------
    >>> fps = fingerprint_table(setup(scale="smoke", notebook="02_fingerprints"))   # doctest: +SKIP
    """
    rows = []
    for name in cfg.datasets:
        prep = prepare(cfg, name)
        truth = _truth(prep)
        fp = prep.frame[prep.frame["split"] == "fingerprint"].groupby("label").size()
        for lab, K in prep.fingerprints.items():
            own = _ncc(K, truth[lab]) if lab in truth else np.nan
            others = [_ncc(K, t) for o, t in truth.items() if o != lab][:10]
            rows.append({"dataset": name, "camera": lab, "height": K.shape[0], "width": K.shape[1],
                         "images": int(fp.get(lab, 0)), "std": float(K.std()), "ncc_truth": own,
                         "ncc_truth_other": float(np.mean(others)) if others else np.nan})
    return pd.DataFrame(rows)


def fingerprint_quality(cfg: Config, dataset: str | None = None, cameras: int = 5) -> pd.DataFrame:
    """NCC of the Eq. 5 estimate with the true ``K`` as the number of images grows (synthetic data only).

    For the first ``cameras`` devices, fingerprints are estimated from the first ``N`` of their
    ``fingerprint`` + ``train`` originals (seeded order, centre crops of ``settings["crop"]`` px), for each
    ``N`` in ``settings["fp_counts"]`` that the data allow.

    Returns
    -------
    pandas.DataFrame
        ``camera, n_images, ncc_truth`` (with the own true K), ``ncc_other`` (mean with the other cameras'
        true K). Empty for real data.

    References
    ----------
    Wang et al. (2021), Eq. 5.

    Examples
    --------
    >>> q = fingerprint_quality(setup(scale="smoke", notebook="02_fingerprints"))   # doctest: +SKIP
    >>> sorted(q.n_images.unique())                                                # doctest: +SKIP
    [1, 2, 4]
    """
    from csi import io, prnu

    dataset = dataset or ("our" if "our" in cfg.datasets else cfg.datasets[0])
    prep = prepare(cfg, dataset)
    truth = _truth(prep)
    if not truth:
        return pd.DataFrame(columns=["camera", "n_images", "ncc_truth", "ncc_other"])
    crop = cfg.settings["crop"]
    rng = np.random.default_rng(cfg.seed)
    pool = prep.frame[prep.frame["split"].isin(["fingerprint", "train"])]
    rows = []
    labels = sorted(truth)[:cameras]
    for lab in labels:
        paths = sorted(pool.loc[pool["label"] == lab, "path"])
        paths = [paths[i] for i in rng.permutation(len(paths))]
        counts = [n for n in cfg.settings["fp_counts"] if n <= len(paths)]
        if not counts:
            continue
        for n in counts:
            it = io.iter_rgb(paths[:n], errors="skip")
            imgs = (prnu.center_crop(img, min(crop, img.shape[0], img.shape[1])) for _, img in it)
            K = prnu.estimate_fingerprint(imgs)
            own = _ncc(K, prnu.center_crop(truth[lab], K.shape))
            other = [_ncc(K, prnu.center_crop(t, K.shape)) for o, t in truth.items() if o != lab]
            rows.append({"camera": lab, "n_images": n, "ncc_truth": own, "ncc_other": float(np.mean(other))})
    return pd.DataFrame(rows)


def plot_fingerprint_quality(q: pd.DataFrame):
    """NCC with the true K vs number of images (solid: own camera; dashed: other cameras).

    Examples
    --------
    >>> q = pd.DataFrame({"camera": "a", "n_images": [1, 2], "ncc_truth": [0.1, 0.2], "ncc_other": [0.0, 0.0]})
    >>> fig = plot_fingerprint_quality(q)
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for i, (cam, g) in enumerate(q.groupby("camera")):
        ax.plot(g.n_images, g.ncc_truth, "o-", color=f"C{i}", label=cam)
        ax.plot(g.n_images, g.ncc_other, "--", color=f"C{i}", alpha=0.6)
    ax.set_xscale("log")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="images in the estimate (N, Eq. 5)", ylabel="NCC with true K",
           title="Fingerprint quality vs number of images")
    if len(q):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fingerprint_sentences(q: pd.DataFrame) -> str:
    """Computed discussion of the fingerprint-quality curve (Markdown).

    Examples
    --------
    >>> q = pd.DataFrame({"camera": "a", "n_images": [1, 2], "ncc_truth": [0.1, 0.2], "ncc_other": [0.0, 0.01]})
    >>> fingerprint_sentences(q)[:61]
    'Mean NCC with the true K: 0.100 from 1 image(s), 0.200 from 2'
    """
    if q.empty:
        return "No ground truth in this run (real data): the quality curve needs the simulator's true K.\n"
    by_n = q.groupby("n_images")[["ncc_truth", "ncc_other"]].mean()
    lo, hi = by_n.index.min(), by_n.index.max()
    mono = 0
    cams = 0
    for _, g in q.groupby("camera"):
        cams += 1
        mono += int(np.all(np.diff(g.sort_values("n_images").ncc_truth.to_numpy()) > 0))
    return (f"Mean NCC with the true K: {by_n.ncc_truth[lo]:.3f} from {lo} image(s), {by_n.ncc_truth[hi]:.3f} from "
            f"{hi}; with the other cameras' K it stays at {by_n.ncc_other.abs().max():.3f} or less in magnitude. "
            f"The estimate improves with every added step for {mono} of {cams} cameras. The paper estimates its "
            "fingerprints the same way (Eq. 5) but cannot measure this, having no ground truth.\n")


def plot_prnu_steps(cfg: Config, dataset: str | None = None, zoom: int = 64):
    """One fingerprint image through Eq. 3-5: I, F(I), W, the camera's K estimate, and the true K (zoomed).

    References
    ----------
    Wang et al. (2021), Eq. 3-5.

    Examples
    --------
    >>> fig = plot_prnu_steps(setup(scale="smoke", notebook="02_fingerprints"))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from csi import io, prnu

    dataset = dataset or ("our" if "our" in cfg.datasets else cfg.datasets[0])
    prep = prepare(cfg, dataset)
    fp = prep.frame[prep.frame["split"] == "fingerprint"].sort_values("path")
    row = fp.iloc[0]
    img = io.read_rgb(row["path"])
    W3 = prnu.wavelet_residual(img)
    denoised = np.clip(img.astype(np.float32) - W3, 0, 255)
    W = prnu.noise_residual(img)
    K = prep.fingerprints[row["label"]]
    truth = _truth(prep).get(row["label"])
    h, w = W.shape
    k = min(zoom, h, w)
    sl = (slice((h - k) // 2, (h - k) // 2 + k), slice((w - k) // 2, (w - k) // 2 + k))
    n = 6 if truth is not None else 5
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.4))
    _show(axes[0], img, f"I: {row['label']}"[:40])
    _show(axes[1], denoised, "I0' = F(I)  (Eq. 3)")
    _show(axes[2], W, "W = I − F(I), gray + post-proc. (Eq. 4)", symmetric=True)
    _show(axes[3], W[sl], f"W, centre {k}×{k}", symmetric=True)
    _show(axes[4], K[sl], f"K estimate (Eq. 5), {int((fp.label == row['label']).sum())} image(s)", symmetric=True)
    if truth is not None:
        _show(axes[5], truth[sl], f"true K (simulator)\nNCC with estimate {_ncc(K, truth):.3f}", symmetric=True)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------
# Fig. 6 (notebook 08): MSE vs the paper's loss, AUC per epoch on five platforms
# ----------------------------------------------------------------------------------------------------------


class _PlatformAUC:
    """Duck-typed validation for :func:`csi.train.fit`: the AUC on several platforms, recorded per call."""

    def __init__(self, sets: Mapping[str, Any]):
        self.sets = dict(sets)
        self.records: list[dict[str, float]] = []

    def auc(self, model, device: str = "cpu") -> float:
        vals = {p: float(s.auc(model, device)) for p, s in self.sets.items()}
        self.records.append(vals)
        return float(np.mean(list(vals.values())))


def fig6_split(cfg: Config, dataset: str = "daxing") -> pd.DataFrame:
    """The Fig. 6 data: originals of the (first ``fig6_devices``) devices split 3:1 into train and test.

    Returns
    -------
    pandas.DataFrame
        Originals with ``split`` in ``{train, test}`` and ``label`` (the device).

    References
    ----------
    Wang et al. (2021), Sec. 4.3 ("the ratio of the training set to the test set is 3:1").

    Examples
    --------
    >>> sp = fig6_split(setup(scale="smoke", notebook="08_fig6_loss_curves"))   # doctest: +SKIP
    >>> sorted(sp["split"].unique())                                            # doctest: +SKIP
    ['test', 'train']
    """
    from csi import datasets as ds

    frame, _, _ = load_frame(cfg, dataset)
    orig = frame[frame["platform"] == "original"]
    devices = sorted(orig["device"].unique())
    n = cfg.settings["fig6_devices"]
    if n is not None:
        devices = devices[:n]
    orig = orig[orig["device"].isin(devices)].drop(columns=["subset"], errors="ignore")
    out = ds.split(orig, ratios=(0, 0, 3, 1), seed=cfg.seed, fingerprint_from="any")
    return out.assign(label=out["device"].astype(str)).reset_index(drop=True)


def fig6_curves(cfg: Config, dataset: str | None = None) -> pd.DataFrame:
    """Train CSI-CNN twice (MSE of ref. [20], the paper's cosine loss) and record the AUC per epoch per platform.

    Fingerprints come from the training part (the paper's K-set); the test part is "uploaded" to the five
    platforms and scored with :class:`csi.train.ValidationSet` after every epoch (epoch 0: untrained). Both runs
    use the same seed, data, batches and schedule (lr 0.001, x0.2 at 30 % of the epochs). The result is cached
    as CSV under ``cache/fig6``.

    Returns
    -------
    pandas.DataFrame
        ``loss`` (``"mse"``/``"cosine"``), ``epoch``, ``platform``, ``auc`` (float in [0, 1]), ``train_loss``.

    References
    ----------
    Wang et al. (2021), Fig. 6, Eq. 6-8.

    Examples
    --------
    >>> c = fig6_curves(setup(scale="smoke", notebook="08_fig6_loss_curves"))   # doctest: +SKIP
    >>> sorted(c.loss.unique())                                                  # doctest: +SKIP
    ['cosine', 'mse']
    """
    from csi import datasets as ds
    from csi import models, train

    dataset = dataset or ("daxing" if cfg.synthetic else cfg.source)
    st = cfg.settings
    sc = train.TRAIN_SCALES[cfg.scale]
    epochs = int(st["fig6_epochs"])
    steps = int(st["fig6_steps"] or sc["steps_per_epoch"])
    batch, patch = int(st["fig6_batch"]), int(st["fig6_patch"])
    sp = fig6_split(cfg, dataset)
    tag = _short_hash(json.dumps([st["fig6_devices"], epochs, steps, batch, patch, st["fig6_val_crop"], sc,
                                  _fingerprint_of_paths(sp["path"]), list(sp["split"])], default=str))
    path = cfg.cache / "fig6" / f"{cfg.key(dataset)}_{tag}.csv"
    if path.exists():
        return pd.read_csv(path)
    tr, te = sp[sp["split"] == "train"], sp[sp["split"] == "test"]
    fps = {lab: fingerprint_for(cfg, f"{dataset}-fig6", lab, sorted(g["path"]))[0]
           for lab, g in tr.groupby("label")}
    _, _, sensor_scale = load_frame(cfg, dataset)
    sets = {}
    for p in PLATFORMS:
        v = ds.platform_view(te, p, cache_dir=cfg.cache / "platforms" / cfg.key(dataset), sensor_scale=sensor_scale,
                             seed=cfg.seed)
        sets[p] = train.ValidationSet(list(v["path"]), list(v["device"]), fps, crop=int(st["fig6_val_crop"]))
    parts = []
    for loss in ("mse", "cosine"):
        config.seed_everything(cfg.seed)
        model = models.CSICNN()
        sampler = train.PairSampler(list(tr["path"]), list(tr["label"]), fps, patch=patch, batch=batch,
                                    seed=cfg.seed, crop=sc["crop"])
        val = _PlatformAUC(sets)
        hist = train.fit(model, sampler, loss=loss, scale=cfg.scale, epochs=epochs, steps_per_epoch=steps,
                         val=val, device=cfg.torch_device, seed=cfg.seed, progress=cfg.progress)
        for (_, h), rec in zip(hist.iterrows(), val.records, strict=True):
            for p, a in rec.items():
                parts.append({"loss": loss, "epoch": int(h["epoch"]), "platform": p, "auc": a,
                              "train_loss": h["train_loss"]})
    out = pd.DataFrame(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return out


def plot_fig6(curves: pd.DataFrame):
    """Fig. 6: AUC per epoch on each platform, MSE (dashed) vs the paper's loss (solid).

    References
    ----------
    Wang et al. (2021), Fig. 6.

    Examples
    --------
    >>> c = pd.DataFrame([(l, e, p, 0.5 + 0.1 * e, 1.0) for l in ("mse", "cosine") for e in range(3)
    ...                   for p in PLATFORMS], columns=["loss", "epoch", "platform", "auc", "train_loss"])
    >>> fig = plot_fig6(c)
    """
    import matplotlib.pyplot as plt

    plats = [p for p in PLATFORMS if p in set(curves.platform)]
    fig, axes = plt.subplots(1, len(plats), figsize=(3.3 * len(plats), 3.4), sharey=True, squeeze=False)
    for ax, p in zip(axes.flat, plats, strict=True):
        for loss, style, lab in (("cosine", "o-", "our loss (Eq. 6)"), ("mse", "s--", "MSE [20]")):
            g = curves[(curves.platform == p) & (curves.loss == loss)].sort_values("epoch")
            ax.plot(g.epoch, g.auc, style, ms=3, label=lab)
        ax.axhline(0.5, color="k", ls=":", lw=0.8)
        ax.set(title=paper.PLATFORM_LABELS.get(p, p), xlabel="epoch", ylim=(0, 1.02))
    axes.flat[0].set_ylabel("AUC")
    axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def fig6_convergence(curves: pd.DataFrame, frac: float = 0.95) -> pd.DataFrame:
    """Speed and stability of each loss per platform, computed from the AUC curves.

    ``epochs_to_95``: first epoch whose AUC reaches ``frac`` of that platform's best AUC over both runs
    (lower = faster); ``std_second_half``: standard deviation of the AUC over the second half of the epochs
    (lower = more stable); ``final_auc``, ``best_auc``.

    Returns
    -------
    pandas.DataFrame
        ``platform, loss, final_auc, best_auc, epochs_to_95, std_second_half``.

    References
    ----------
    Wang et al. (2021), Fig. 6 and the claim under it.

    Examples
    --------
    >>> c = pd.DataFrame({"loss": "cosine", "epoch": [0, 1, 2], "platform": "twitter", "auc": [0.5, 0.9, 0.9]})
    >>> fig6_convergence(c)[["epochs_to_95", "std_second_half"]].to_numpy().tolist()
    [[1.0, 0.0]]
    """
    rows = []
    for p, g in curves.groupby("platform", sort=False):
        top = g.auc.max()
        for loss, h in g.groupby("loss", sort=False):
            h = h.sort_values("epoch")
            hit = h[h.auc >= frac * top]
            last = h[h.epoch >= h.epoch.max() / 2]
            rows.append({"platform": p, "loss": loss, "final_auc": float(h.auc.iloc[-1]),
                         "best_auc": float(h.auc.max()),
                         "epochs_to_95": int(hit.epoch.iloc[0]) if len(hit) else np.nan,
                         "std_second_half": float(last.auc.std(ddof=0))})
    return pd.DataFrame(rows)


def fig6_sentences(conv: pd.DataFrame) -> str:
    """Computed discussion of Fig. 6 (Markdown).

    References
    ----------
    Wang et al. (2021), Fig. 6, Sec. 4.3.2.

    Examples
    --------
    >>> c = pd.DataFrame({"loss": ["cosine", "cosine", "mse", "mse"], "epoch": [0, 1, 0, 1],
    ...                   "platform": "twitter", "auc": [0.5, 0.9, 0.5, 0.6]})
    >>> "sooner on 1 of 1 platforms" in fig6_sentences(fig6_convergence(c))
    True
    """
    if not {"cosine", "mse"} <= set(conv.loss):
        return "Fig. 6 needs both losses.\n"
    piv = conv.set_index(["platform", "loss"])[["epochs_to_95", "std_second_half", "final_auc"]].unstack("loss")
    hit = piv["epochs_to_95"].fillna(np.inf)  # never reaching 95 % counts as slowest
    faster = int((hit["cosine"] < hit["mse"]).sum())
    same = int((hit["cosine"] == hit["mse"]).sum())
    stable = int((piv["std_second_half"]["cosine"] < piv["std_second_half"]["mse"]).sum())
    n = len(piv)
    final = paper.wins_sentence(piv["final_auc"]["cosine"], piv["final_auc"]["mse"], "The paper's loss", "MSE",
                                "platforms", "in final AUC")
    steadier = np.where(piv["std_second_half"]["cosine"] < piv["std_second_half"]["mse"], "cosine", "mse")
    best = conv.set_index(["platform", "loss"])["best_auc"]
    near_chance = int(sum(best[(p, w)] < 0.6 for p, w in zip(piv.index, steadier, strict=True)))
    caveat = (f" On {near_chance} of {n} platforms the steadier curve never exceeds AUC 0.6: steady there means "
              "it did not learn, not that it trained more stably." if near_chance else "")
    detail = (f"the paper's loss reaches 95 % of the best AUC sooner on {faster} of {n} platforms (same epoch on "
              f"{same}), and its AUC varies less over the second half of training on {stable} of {n}. {final}"
              f"{caveat}")
    return claim_markdown("fig6", faster > n / 2 and stable > n / 2, detail)
