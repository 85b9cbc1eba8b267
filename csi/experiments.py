"""Run settings and parameter validation for the numbered notebooks.

Every notebook starts with the same ``parameters`` cell (papermill overrides it) and passes it to
:func:`setup`, which validates the *values*, resolves defaults that depend on the data source (the evaluation
geometry), seeds everything and returns a :class:`Config`. The computations live in the notebooks themselves
and in the cached stages of :mod:`csi.pipeline`; this module only says how big a run is.

Examples
--------
>>> cfg = setup(scale="smoke", notebook="06_table3_accuracy", out_dir="figs", data_root="data")
>>> cfg.crop, cfg.fingerprint_size
(32, 'full')
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi import config, paper

log = logging.getLogger(__name__)

#: The notebook parameters, in the order of every notebook's ``parameters`` cell.
PARAMETERS: tuple[str, ...] = ("scale", "source", "data_path", "datasets", "device", "seed", "crop",
                               "fingerprint_size", "csi_cnn_checkpoint", "dncnn_checkpoint", "train_on_source",
                               "out_dir", "data_root")

#: Default values of :data:`PARAMETERS` (what the notebooks' ``parameters`` cells hold).
DEFAULTS: dict[str, Any] = {
    "scale": "cpu", "source": "synthetic", "data_path": "", "datasets": "our,kaggle,vision,daxing",
    "device": "auto", "seed": 0, "crop": "auto", "fingerprint_size": "auto", "csi_cnn_checkpoint": "",
    "dncnn_checkpoint": "", "train_on_source": False, "out_dir": "auto", "data_root": "../data",
}

#: Where ``out_dir="auto"`` puts a run (relative to the notebooks' folder, like the other defaults): a
#: gitignored ``runs/<source>-<scale>/``. Only ``make reproduce`` writes the committed ``figures/``, by passing it.
RUNS_DIR: str = "../runs"

#: Data sources: the simulator or a real loader of :mod:`csi.datasets`.
SOURCES: tuple[str, ...] = ("synthetic", "vision", "kaggle", "daxing", "dresden", "fodb", "folder")

#: Synthetic recipes, in the paper's Table 3 order.
RECIPES: tuple[str, ...] = ("our", "kaggle", "vision", "daxing")

#: The two readings of the Kaggle protocol (see :mod:`csi.pipeline`): ``kaggle`` splits the images of the
#: training library's phones 1:1:6:2 (what Sec. 3.2.2 implies; compared with the paper's Table 3), and
#: ``kaggle-other`` tests on the competition's test images, taken by a *second* phone of each model.
KAGGLE_READINGS: tuple[str, ...] = ("kaggle", "kaggle-other")

#: The paper's five platforms, in Table 3's order, and every condition including the camera originals.
PLATFORMS: tuple[str, ...] = ("twitter", "facebook", "instagram", "wechat", "weibo")
CONDITIONS: tuple[str, ...] = ("original", *PLATFORMS)

#: Methods in Table 3's column order.
METHODS: tuple[str, ...] = paper.METHODS

#: The numbered notebooks (their output folder names).
NOTEBOOKS: tuple[str, ...] = (
    "00_data", "01_table1_architecture", "02_fingerprints", "03_training", "04_table2_correlation",
    "05_fig3_heatmaps", "06_table3_accuracy", "07_fig4_fig5_roc_auc", "08_fig6_loss_curves", "09_claim_check",
)

#: Every per-scale size of the project, in one table: ``SCALES[scale][section]``. Sections:
#:
#: * ``notebooks``: ``crop`` (centre crop compared on the synthetic stand-ins), ``max_test`` test images per
#:   device and ``max_test_total`` per dataset (None: all), ``fp_counts`` (notebook 02's curve),
#:   ``fig3_per_camera`` (the paper's 2), ``fig6_*`` (Fig. 6's devices, pairs, evaluation points, batch, patch,
#:   validation crop).
#: * ``real_crop``: default crop on a real source (real PRNU is weak; docs/data.md, "Evaluation geometry").
#: * ``csi_cnn``: the CSI-CNN of notebooks 03-07 (``csi.train.get_or_train``): ``pairs`` drawn (Fig. 2),
#:   ``evals`` evaluation points, ``batch`` and ``patch`` (paper: 64 and 64, Sec. 3.2.2), ``crop`` of the
#:   training images, ``val_crop``. ``paper``: 100 epochs of 500 steps of 64 pairs.
#: * ``dncnn``: the blind Gaussian DnCNN (DnCNN-B of Zhang et al. 2017 at ``paper``).
#: * ``claim``: notebook 09's images per camera and their use, crops, validation platforms, batch and patch.
#: * ``claim_grids``: notebook 09's budgets in training pairs, seeds and augmented budgets per grid.
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "notebooks": {"crop": 32, "max_test": 2, "max_test_total": 20, "fp_counts": (1, 2, 4), "fig3_per_camera": 2,
                      "fig6_devices": 4, "fig6_pairs": 64, "fig6_points": 2, "fig6_batch": 8, "fig6_patch": 32,
                      "fig6_val_crop": 32},
        "real_crop": 64,
        "csi_cnn": {"pairs": 64, "evals": 2, "batch": 8, "patch": 32, "crop": 128, "val_crop": 64},
        "dncnn": {"depth": 4, "width": 8, "steps": 6, "batch": 4, "patch": 32, "scenes": 4, "scene_size": 64},
        "claim": {"images": 24, "fingerprint": 4, "val": 2, "test": 6, "crop": 64, "val_crop": 64,
                  "val_platforms": ("original", "facebook", "wechat"), "batch": 8, "patch": 32, "evals": 2},
        "claim_grids": {"short": {"pairs": (32, 128), "seeds": (0, 1), "augmented": (128,)},
                        "full": {"pairs": (32, 128), "seeds": (0, 1, 2), "augmented": (32, 128)}},
    },
    "cpu": {
        "notebooks": {"crop": 128, "max_test": 10, "max_test_total": 60, "fp_counts": (1, 2, 5, 10, 20, 40),
                      "fig3_per_camera": 2, "fig6_devices": 10, "fig6_pairs": 8000, "fig6_points": 8,
                      "fig6_batch": 32, "fig6_patch": 48, "fig6_val_crop": 96},
        "real_crop": 512,
        "csi_cnn": {"pairs": 16_000, "evals": 6, "batch": 64, "patch": 64, "crop": 512, "val_crop": 192},
        "dncnn": {"depth": 10, "width": 32, "steps": 600, "batch": 32, "patch": 40, "scenes": 96, "scene_size": 256},
        "claim": {"images": 140, "fingerprint": 30, "val": 10, "test": 40, "crop": 256, "val_crop": 160,
                  "val_platforms": ("original", "facebook", "wechat"), "batch": 64, "patch": 64, "evals": 4},
        "claim_grids": {"short": {"pairs": (2_000, 8_000, 32_000), "seeds": (0, 1, 2), "augmented": (8_000,)},
                        "full": {"pairs": (2_000, 8_000, 32_000, 128_000), "seeds": (0, 1, 2),
                                 "augmented": (8_000, 32_000)}},
    },
    "paper": {
        "notebooks": {"crop": 512, "max_test": 200, "max_test_total": None, "fp_counts": (1, 2, 5, 10, 20, 50, 100),
                      "fig3_per_camera": 2, "fig6_devices": None, "fig6_pairs": 320_000, "fig6_points": 100,
                      "fig6_batch": 64, "fig6_patch": 64, "fig6_val_crop": 512},
        "real_crop": 512,
        "csi_cnn": {"pairs": 3_200_000, "evals": 100, "batch": 64, "patch": 64, "crop": 1024, "val_crop": 512},
        "dncnn": {"depth": 17, "width": 64, "steps": 30000, "batch": 128, "patch": 40, "scenes": 800,
                  "scene_size": 256},
        "claim": {"images": 1000, "fingerprint": 100, "val": 100, "test": 200, "crop": 512, "val_crop": 256,
                  "val_platforms": ("original", "facebook", "instagram", "wechat"), "batch": 64, "patch": 64,
                  "evals": 10},
        "claim_grids": {"short": {"pairs": (64_000, 256_000, 1_000_000), "seeds": (0, 1, 2),
                                  "augmented": (1_000_000,)},
                        "full": {"pairs": (16_000, 64_000, 256_000, 1_000_000, 4_000_000), "seeds": (0, 1, 2),
                                 "augmented": (16_000, 64_000, 256_000, 1_000_000, 4_000_000)}},
    },
}


def sizes(scale: str, section: str) -> dict[str, Any]:
    """A copy of ``SCALES[scale][section]``, e.g. ``sizes("cpu", "csi_cnn")["pairs"] == 16_000``."""
    return copy.deepcopy(SCALES[config.check_scale(scale)][section])


#: Fewest training images per camera (and in all) before ``train_on_source=True`` trains on a real source.
MIN_TRAIN_PER_CAMERA: int = 20
MIN_TRAIN_TOTAL: int = 100


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
    crop : int or None
        Side of the centre crop the residuals are compared on; None compares whole images.
    fingerprint_size : int or "full"
        Centre crop of the fingerprint images that Eq. 5 is estimated from (``"full"``: whole frames).
    csi_cnn_checkpoint, dncnn_checkpoint : Path or None
        Networks to use instead of training them (None: trained by :func:`csi.pipeline.checkpoints`).
    train_on_source : bool
        Train the networks on the real source's own training split (default: on the synthetic default).
    out_dir, data_root : Path
        Output root and data/cache root.
    notebook : str
        The notebook's name (e.g. ``"06_table3_accuracy"``); its outputs go to :attr:`out`.
    settings : dict
        The per-scale numbers (``SCALES[scale]["notebooks"]``).
    """

    scale: str
    source: str
    data_path: Path | None
    datasets: tuple[str, ...]
    device: str
    torch_device: str
    seed: int
    crop: int | None
    fingerprint_size: int | str
    csi_cnn_checkpoint: Path | None
    dncnn_checkpoint: Path | None
    train_on_source: bool
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
        """``<data_root>/cache``: fingerprints, platform copies, residuals, models, score tables."""
        return self.data_root / "cache"

    @property
    def synthetic_root(self) -> Path:
        """``<data_root>/synthetic``: the simulator's recipes."""
        return self.data_root / "synthetic"

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"

    @property
    def progress(self) -> bool:
        """Show progress bars (one per stage, see :mod:`csi.progress`)."""
        return True

    def params(self) -> dict[str, Any]:
        """The run's parameters as a JSON-able dict (what cache keys include)."""
        return {"scale": self.scale, "source": self.source,
                "data_path": str(self.data_path.resolve()) if self.data_path else "", "seed": self.seed}


def _check_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return value


def _check_size(name: str, value: Any, words: tuple[str, ...]) -> int | str:
    """An int >= 8 or one of ``words`` (``"auto"``, ``"full"``); strings of digits are accepted too."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        if value in words:
            return value
        raise ValueError(f"{name} must be an int >= 8 or one of {', '.join(map(repr, words))}, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 8:
        raise ValueError(f"{name} must be an int >= 8 or one of {', '.join(map(repr, words))}, got {value!r}")
    return int(value)


def _check_checkpoint(name: str, value: Any) -> Path | None:
    if not isinstance(value, (str, Path)):
        raise TypeError(f"{name} must be a path string, got {type(value).__name__}")
    if not str(value).strip():
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"{name} {str(path)!r} is not an existing checkpoint file")
    return path


def setup(scale: str = "cpu", source: str = "synthetic", data_path: str | Path = "",
          datasets: str | Iterable[str] = "our,kaggle,vision,daxing", device: str = "auto", seed: int = 0,
          crop: int | str = "auto", fingerprint_size: int | str = "auto", csi_cnn_checkpoint: str | Path = "",
          dncnn_checkpoint: str | Path = "", train_on_source: bool = False, out_dir: str | Path = "auto",
          data_root: str | Path = "../data", notebook: str = "") -> Config:
    """Validate a notebook's parameters, seed everything and return the run's :class:`Config`.

    Only the *values* are checked: a notebook may define any other names, and the setup cell may be run
    again at any time.

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
    crop : int, "full" or "auto"
        Centre crop of the queries; ``"auto"``: the scale's crop for the simulator, ``SCALES[scale]["real_crop"]`` for a
        real source.
    fingerprint_size : int, "full" or "auto"
        Centre crop of the fingerprint images (``"auto"`` = ``"full"``: whole frames).
    csi_cnn_checkpoint, dncnn_checkpoint : str or Path
        A trained network to use ("" = train it, see :func:`csi.pipeline.checkpoints`).
    train_on_source : bool
        Train the networks on a real source's own images (needs :data:`MIN_TRAIN_PER_CAMERA` per camera).
    out_dir, data_root : str or Path
        Output root (the notebook writes to ``<out_dir>/<notebook>/``) and data/cache root. ``out_dir="auto"``
        is :data:`RUNS_DIR`/``<source>-<scale>`` (e.g. ``../runs/folder-cpu``), so a run in JupyterLab or
        straight from papermill never overwrites the reference outputs; ``make reproduce`` passes ``../figures``.
    notebook : str
        One of :data:`NOTEBOOKS` (or ``"workshop"``).

    Returns
    -------
    Config

    Raises
    ------
    ValueError
        Naming the parameter, for an unknown value, a missing or non-existent ``data_path`` or checkpoint,
        or a device that is not available.
    TypeError
        For a parameter of the wrong type.

    Examples
    --------
    >>> cfg = setup(scale="smoke", out_dir="figs", data_root="data", notebook="00_data")
    >>> cfg.datasets, cfg.crop
    (('our', 'kaggle', 'vision', 'daxing'), 32)
    """
    for name, value in (("scale", scale), ("source", source), ("device", device), ("notebook", notebook)):
        _check_str(name, value)
    config.check_scale(scale)
    config.check_choice("source", source, SOURCES)
    config.check_choice("notebook", notebook, (*NOTEBOOKS, "workshop"))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    for name, value in (("data_path", data_path), ("out_dir", out_dir), ("data_root", data_root)):
        if not isinstance(value, (str, Path)):
            raise TypeError(f"{name} must be a str or Path, got {type(value).__name__}")
    for name, value in (("out_dir", out_dir), ("data_root", data_root)):
        if not str(value).strip():
            raise ValueError(f"{name} must not be empty")
    if not isinstance(train_on_source, (bool, np.bool_)):
        raise TypeError(f"train_on_source must be True or False, got {train_on_source!r}")
    crop_v = _check_size("crop", crop, ("auto", "full"))
    fp_v = _check_size("fingerprint_size", fingerprint_size, ("auto", "full"))
    ck_cnn = _check_checkpoint("csi_cnn_checkpoint", csi_cnn_checkpoint)
    ck_dn = _check_checkpoint("dncnn_checkpoint", dncnn_checkpoint)
    if source == "synthetic":
        names = parse_datasets(datasets)
        if str(data_path).strip():
            log.warning("data_path %r is ignored for source='synthetic'", str(data_path))
        root = None
        if train_on_source:
            log.warning("train_on_source is ignored for source='synthetic' (the networks train on 'our')")
    else:
        if not str(data_path).strip():
            raise ValueError(f"source {source!r} needs data_path pointing at your copy of the dataset")
        root = Path(data_path).expanduser()
        if not root.is_dir():
            raise ValueError(f"data_path {str(root)!r} is not an existing folder")
        names = (source,)
    if str(out_dir) == "auto":
        out_dir = Path(RUNS_DIR) / f"{source}-{scale}"
    if crop_v == "auto":
        crop_v = SCALES[scale]["notebooks"]["crop"] if source == "synthetic" else SCALES[scale]["real_crop"]
    if fp_v == "auto":
        fp_v = "full"
    if isinstance(fp_v, int) and isinstance(crop_v, int) and fp_v < crop_v:
        raise ValueError(f"fingerprint_size ({fp_v}) must be at least the crop ({crop_v}) or 'full'")
    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto without widgets
    torch_device = config.select_device(device)
    config.seed_everything(int(seed))
    _set_threads(torch_device)
    cfg = Config(scale=scale, source=source, data_path=root, datasets=names, device=device,
                 torch_device=torch_device, seed=int(seed), crop=None if crop_v == "full" else int(crop_v),
                 fingerprint_size=fp_v, csi_cnn_checkpoint=ck_cnn, dncnn_checkpoint=ck_dn,
                 train_on_source=bool(train_on_source) and source != "synthetic", out_dir=Path(out_dir),
                 data_root=Path(data_root), notebook=notebook, settings=sizes(scale, "notebooks"))
    log.info("run: scale=%s source=%s datasets=%s device=%s seed=%d crop=%s -> %s", scale, source,
             ",".join(names), torch_device, cfg.seed, cfg.crop, cfg.out_dir / notebook)
    return cfg


def _set_threads(torch_device: str) -> int:
    """Use one thread for torch inference and BLAS unless ``OMP_NUM_THREADS`` says otherwise.

    On a small shared machine two threads that wait for each other are far slower than one as soon as any
    other process runs. Measured on the 2-core reference machine under load: CSI-CNN on a 128 x 128 crop took
    0.32 s with 2 torch threads and 0.04 s with 1; :func:`csi.prnu.ncc` of two 128 x 128 arrays (a BLAS dot
    product) took 14 ms with 2 OpenBLAS threads and 0.06 ms with 1. Training (:func:`csi.train.fit`) sets its
    own thread count. Set ``OMP_NUM_THREADS`` to choose.
    """
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


def parse_datasets(datasets: str | Iterable[str]) -> tuple[str, ...]:
    """``"our, vision"`` -> ``("our", "vision")``, each checked against :data:`RECIPES`.

    Examples
    --------
    >>> parse_datasets(" vision, our ,vision")
    ('vision', 'our')
    """
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


def table_datasets(cfg: Config) -> tuple[str, ...]:
    """The datasets of Table 3 / Figs. 4-5: the run's datasets, Kaggle in both readings.

    Examples
    --------
    >>> table_datasets(setup(scale="smoke", notebook="06_table3_accuracy", datasets="our,kaggle"))
    ('our', 'kaggle', 'kaggle-other')
    """
    out: list[str] = []
    for d in cfg.datasets:
        out.extend(KAGGLE_READINGS if d == "kaggle" else (d,))
    return tuple(out)


def main_dataset(cfg: Config) -> str:
    """The dataset that stands for the paper's own 5-phone set (Table 2, Fig. 3): ``our`` when present."""
    return "our" if "our" in cfg.datasets else cfg.datasets[0]


def describe(cfg: Config) -> pd.DataFrame:
    """The run's settings as a two-column table (for the top of each notebook), one row per setting.

    Examples
    --------
    >>> describe(setup(scale="smoke", notebook="00_data")).shape[1]
    2
    """
    import torch

    rows = [("scale", cfg.scale), ("source", cfg.source), ("data_path", str(cfg.data_path or "")),
            ("datasets", ", ".join(cfg.datasets)), ("device", f"{cfg.device} -> {cfg.torch_device}"),
            ("seed", cfg.seed), ("crop", cfg.crop or "full"), ("fingerprint_size", cfg.fingerprint_size),
            ("csi_cnn_checkpoint", str(cfg.csi_cnn_checkpoint or "trained here")),
            ("dncnn_checkpoint", str(cfg.dncnn_checkpoint or "trained here")),
            ("train_on_source", cfg.train_on_source), ("out", str(cfg.out_dir / cfg.notebook)),
            ("data_root", str(cfg.data_root)), ("torch_threads", torch.get_num_threads())]
    named = {k for k, _ in rows}
    rows += [(k, str(v)) for k, v in cfg.settings.items() if k not in named]  # e.g. ``crop``: shown once
    return pd.DataFrame(rows, columns=["setting", "value"]).astype(str)
