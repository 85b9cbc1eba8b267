"""Run settings and parameter validation for the numbered notebooks (:func:`setup` -> :class:`Config`).

Examples
--------
>>> cfg = setup(scale="smoke", notebook="06_table3_accuracy", out_dir="figs", data_root="data")
>>> cfg.crop, cfg.fingerprint_size
(32, 'full')
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi import config, paper, weights
from csi.scales import SCALES, sizes

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

#: Where ``out_dir="auto"`` puts a run (gitignored ``runs/<source>-<scale>/``; ``make reproduce``: ``figures/``).
RUNS_DIR: str = "../runs"

#: Data sources: the simulator or a real loader of :mod:`csi.datasets`.
SOURCES: tuple[str, ...] = ("synthetic", "vision", "kaggle", "daxing", "dresden", "fodb", "folder")

#: Synthetic recipes, in the paper's Table 3 order.
RECIPES: tuple[str, ...] = ("our", "kaggle", "vision", "daxing")

#: The two readings of the Kaggle protocol: the training phones split 1:1:6:2, or a second phone of each model.
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

#: Fewest training images per camera (and in all) before ``train_on_source=True`` trains on a real source.
MIN_TRAIN_PER_CAMERA: int = 20
MIN_TRAIN_TOTAL: int = 100


@dataclass(frozen=True)
class Config:
    """Validated settings of one notebook run (made by :func:`setup`); ``crop`` None compares whole images."""

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

    ``crop``/``fingerprint_size``: int >= 8, ``"full"`` or ``"auto"``; a checkpoint ``""`` means train it.
    Raises ``ValueError``/``TypeError`` naming the bad parameter.

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
    """Use one thread for torch inference and BLAS unless ``OMP_NUM_THREADS`` is set (faster on shared CPUs)."""
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


def _network(given: Path | None, shipped: Path | None) -> str:
    if given is not None:
        return str(given)
    return f"shipped: csi/weights/{shipped.name}" if shipped is not None else "trained here (cached)"


def describe(cfg: Config) -> pd.DataFrame:
    """The run's settings as a two-column table (for the top of each notebook), one row per setting.

    Examples
    --------
    >>> describe(setup(scale="smoke", notebook="00_data")).shape[1]
    2
    """
    import torch

    shipped = weights.shipped_for(cfg.synthetic, cfg.scale, cfg.seed, cfg.train_on_source)
    rows = [("scale", cfg.scale), ("source", cfg.source), ("data_path", str(cfg.data_path or "")),
            ("datasets", ", ".join(cfg.datasets)), ("device", f"{cfg.device} -> {cfg.torch_device}"),
            ("seed", cfg.seed), ("crop", cfg.crop or "full"), ("fingerprint_size", cfg.fingerprint_size),
            ("csi_cnn_checkpoint", _network(cfg.csi_cnn_checkpoint, shipped.get("csi-cnn"))),
            ("dncnn_checkpoint", _network(cfg.dncnn_checkpoint, shipped.get("dncnn"))),
            ("train_on_source", cfg.train_on_source), ("out", str(cfg.out_dir / cfg.notebook)),
            ("data_root", str(cfg.data_root)), ("torch_threads", torch.get_num_threads())]
    named = {k for k, _ in rows}
    rows += [(k, str(v)) for k, v in cfg.settings.items() if k not in named]  # e.g. ``crop``: shown once
    return pd.DataFrame(rows, columns=["setting", "value"]).astype(str)
