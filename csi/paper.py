"""The paper's published numbers (Wang et al. 2021, Tables 1-3, Sec. 4.1), side-by-side tables, camera names.

The numbers live in ``data/paper/*.csv`` (transcribed by hand; see ``data/paper/README.md``). Loaders rename the
paper's labels to the companion's keys (``"WeiBo"`` -> ``"weibo"``, ``"CSI-CNN"`` -> ``"csi-cnn"``). Sentences are
computed from the numbers, so a notebook's discussion stays true whatever they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

PAPER_DIR: Path = Path(__file__).resolve().parents[1] / "data" / "paper"
TABLES: tuple[str, ...] = ("table1", "table2", "table3", "claims", "datasets")  # files <name>.csv in PAPER_DIR

#: The authors' five phones, in Table 2's order.
CAMERAS: tuple[str, ...] = ("Honor 10", "iPhone 6", "Nubia Z17", "Redmi note8", "Galaxy S5")
#: The three algorithms, as the companion names them, in Table 3's column order.
METHODS: tuple[str, ...] = ("csi-cnn", "wavelet", "dncnn")
#: Display names for methods, datasets and platforms.
METHOD_LABELS: dict[str, str] = {"csi-cnn": "CSI-CNN", "wavelet": "Wavelet", "dncnn": "DnCNN",
                                 "dncnn-cosine": "DnCNN-17 (cosine)"}
DATASET_LABELS: dict[str, str] = {"our": "Our", "kaggle": "Kaggle", "kaggle-other": "Kaggle, other phone",
                                  "vision": "Vision", "daxing": "Daxing"}
PLATFORM_LABELS: dict[str, str] = {
    "original": "Original", "twitter": "Twitter", "facebook": "Facebook", "instagram": "Instagram",
    "wechat": "WeChat", "weibo": "WeiBo",
}


def load_table(name: str, folder: str | Path | None = None) -> pd.DataFrame:
    """One transcribed table of ``data/paper/`` (or ``folder``) as printed, labels unchanged.

    >>> int(load_table("table1")["parameters"].sum())
    47628
    """
    if name not in TABLES:
        raise ValueError(f"unknown paper table {name!r}; expected one of {', '.join(map(repr, TABLES))}")
    path = Path(folder if folder is not None else PAPER_DIR) / f"{name}.csv"
    if not path.is_file():
        raise ValueError(f"paper table file {path} does not exist")
    return pd.read_csv(path)


def table1(folder: str | Path | None = None) -> pd.DataFrame:
    """Table 1: CSI-CNN's 30 rows, columns ``row, stage ("1", "sub", "2"), layer, formula, parameters`` (47,628 in all).

    >>> t = table1(); len(t), int(t.parameters.sum())
    (30, 47628)
    """
    t = load_table("table1", folder)
    t["stage"] = t["stage"].astype(str)
    t["formula"] = t["formula"].fillna("")
    return t


def table2(folder: str | Path | None = None) -> pd.DataFrame:
    """Table 2: mean correlation of each camera's test images with each camera's fingerprint.

    A 5 x 6 float frame in [-1, 1]: index ``image_camera`` (:data:`CAMERAS`), columns the five fingerprints'
    cameras (CSI-CNN residuals) and ``"Wavelet"`` (own camera only).

    >>> float(table2().loc["Galaxy S5", "Galaxy S5"])
    0.261
    """
    return load_table("table2", folder).set_index("image_camera")


def table3(folder: str | Path | None = None, long: bool = False) -> pd.DataFrame:
    """Table 3: closed-set accuracy in [0, 1] for 4 datasets x 5 platforms x 3 algorithms, with the companion's keys.

    Wide (20 rows): ``dataset, platform, csi-cnn, wavelet, dncnn``; ``long=True`` (60 rows):
    ``dataset, platform, method, acc``.

    >>> table3(long=True).shape
    (60, 4)
    """
    t = load_table("table3", folder)
    for key, labels in (("dataset", DATASET_LABELS), ("platform", PLATFORM_LABELS)):
        t[key] = t[key].map(_inverse(labels, key))
    t = t.rename(columns={m.replace("-", "_"): m for m in METHODS})
    if not long:
        return t
    return (t.melt(id_vars=["dataset", "platform"], value_vars=list(METHODS), var_name="method", value_name="acc")
            .reset_index(drop=True))


def claims(folder: str | Path | None = None) -> pd.DataFrame:
    """The paper's qualitative claims (Figs. 3-6, Tables 2-3), indexed by ``item``; columns ``section, claim, check``.

    >>> "fig6" in claims().index
    True
    """
    return load_table("claims", folder).set_index("item")


def datasets(folder: str | Path | None = None) -> pd.DataFrame:
    """Sec. 4.1's dataset sizes, indexed by ``dataset``: Int64 ``devices, models, brands, images`` and ``as_printed``.

    >>> int(datasets().loc["daxing", "images"])
    43400
    """
    t = load_table("datasets", folder).set_index("dataset")
    for c in ("devices", "models", "brands", "images"):
        t[c] = t[c].astype("Int64")
    return t


def _inverse(labels: dict[str, str], what: str):
    inv = {v: k for k, v in labels.items()}

    def f(value: str) -> str:
        if value not in inv:
            raise ValueError(f"paper table has an unknown {what} {value!r}")
        return inv[value]

    return f


def side_by_side(ours: pd.DataFrame, published: pd.DataFrame, keys: Sequence[str], column: str = "method",
                 value: str = "acc", order: Sequence[str] | None = None) -> pd.DataFrame:
    """Join this run's long table with the paper's: ``paper_<m>``, ``ours_<m>``, ``delta_<m>`` (ours - paper).

    Both tables have columns ``keys + [column, value]``, one row per key combination and ``column`` value (else
    ValueError). Rows: outer join of the keys (NaN where one side lacks them). Column groups follow ``order``
    (default: order of appearance, paper first); ``-`` becomes ``_`` in their names (``ours_csi_cnn``).

    >>> paper = table3(long=True)
    >>> float(side_by_side(paper.assign(acc=paper.acc - 0.1), paper, ["dataset", "platform"])
    ...       ["delta_wavelet"].round(3).iloc[0])
    -0.1
    """
    keys = list(keys)
    for name, frame in (("ours", ours), ("published", published)):
        missing = [c for c in [*keys, column, value] if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} table lacks column(s) {', '.join(missing)}")
        if frame.duplicated([*keys, column]).any():
            raise ValueError(f"{name} table has duplicate rows for the same {', '.join([*keys, column])}")
    order = list(order) if order is not None else list(dict.fromkeys([*published[column], *ours[column]]))
    p = published.pivot(index=keys, columns=column, values=value)
    o = ours.pivot(index=keys, columns=column, values=value)
    idx = p.index.union(o.index, sort=False) if len(p) else o.index
    out = pd.DataFrame(index=idx)
    for m in order:
        tag = str(m).replace("-", "_")
        pv = p[m].reindex(idx) if m in p.columns else pd.Series(np.nan, index=idx)
        ov = o[m].reindex(idx) if m in o.columns else pd.Series(np.nan, index=idx)
        out[f"paper_{tag}"] = pv.astype(float)
        out[f"ours_{tag}"] = ov.astype(float)
        out[f"delta_{tag}"] = (ov - pv).astype(float)
    return out.reset_index()


def delta_sentence(ours: Iterable[float], published: Iterable[float], what: str = "values") -> str:
    """Summarise ``ours - published`` (paired, NaN pairs skipped) as a sentence: mean, range, how many are higher.

    >>> delta_sentence([0.5, 0.9], [0.7, 0.8], "accuracies")
    'Our accuracies differ from the paper by -0.050 on average (from -0.200 to +0.100); 1 of 2 are higher than published.'
    """
    o = np.asarray(list(ours), dtype=float)
    p = np.asarray(list(published), dtype=float)
    if o.shape != p.shape:
        raise ValueError(f"ours and published must have the same length, got {o.size} and {p.size}")
    ok = ~(np.isnan(o) | np.isnan(p))
    if not ok.any():
        return f"No {what} can be compared with the paper in this run."
    d = o[ok] - p[ok]
    return (f"Our {what} differ from the paper by {d.mean():+.3f} on average (from {d.min():+.3f} to "
            f"{d.max():+.3f}); {int((d > 0).sum())} of {d.size} are higher than published.")


def claim_markdown(item: str, holds: bool | None, detail: str, folder: str | Path | None = None) -> str:
    """Markdown: the paper's claim ``item`` of :func:`claims` and this run's ``detail``; ``holds=None``: untestable.

    >>> claim_markdown("fig5", True, "All AUCs are above 0.5.").startswith("**Paper (§4.3.2)")
    True
    """
    c = claims(folder).loc[item]
    verdict = {True: "consistent with the claim", False: "**not** consistent with the claim",
               None: "cannot be tested in this run"}[holds]
    return f"**Paper (§{c.section}):** {c.claim}\n\n**This run:** {detail} → {verdict}.\n"


def _model_key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def device_label(name: str) -> str:
    """Display name of a ``D<nn>_<Brand>_<Model>`` camera: the paper's name (:data:`CAMERAS`), else brand and model.

    >>> device_label("D05_Huawei_Honor10"), device_label("D03_Huawei_P9")
    ('Honor 10', 'Huawei P9')
    """
    bare = re.sub(r"^D\d+_", "", str(name))
    parts = bare.split("_")
    keys = {_model_key(parts[-1]), _model_key(bare)}
    return next((camera for camera in CAMERAS if _model_key(camera) in keys), " ".join(parts))


def device_labels(names: Iterable[str]) -> dict[str, str]:
    """:func:`device_label` of each camera, with ``(D<nn>)`` added where two would read the same.

    >>> device_labels(["D01_Samsung_GalaxyS3Mini", "D26_Samsung_GalaxyS3Mini"])["D26_Samsung_GalaxyS3Mini"]
    'Samsung GalaxyS3Mini (D26)'
    """
    labels = {n: device_label(n) for n in names}
    counts = pd.Series(list(labels.values())).value_counts()
    for n, label in labels.items():
        number = re.match(r"^(D\d+)_", str(n))
        if counts[label] > 1 and number:
            labels[n] = f"{label} ({number.group(1)})"
    return labels


def device_order(names: Iterable[str]) -> list[str]:
    """Cameras in Table 2's order when they are the paper's five phones, else sorted.

    >>> device_order(["D01_Apple_iPhone6", "D05_Huawei_Honor10"])
    ['D05_Huawei_Honor10', 'D01_Apple_iPhone6']
    """
    names = sorted(names)
    labels = [device_label(n) for n in names]
    if len(set(labels)) == len(labels) and all(lb in CAMERAS for lb in labels):
        return sorted(names, key=lambda n: CAMERAS.index(device_label(n)))
    return names
