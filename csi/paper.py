"""The paper's published numbers and the helpers that put them beside this run's.

The numbers live in ``data/paper/*.csv`` (transcribed by hand from Wang et al. 2021; see
``data/paper/README.md``). This module loads them, renames the paper's labels to the companion's keys
(``"WeiBo"`` -> ``"weibo"``, ``"CSI-CNN"`` -> ``"csi-cnn"``), builds side-by-side tables, writes tables and
figures to disk, and phrases comparisons as sentences computed from the numbers, so that a notebook's
discussion stays true whatever the numbers are.

References
----------
Wang, Y., Sun, Q., Rong, D., Li, S. and Xu, L. D. (2021). Image Source Identification Using Convolutional
Neural Networks in IoT Environment. Wireless Communications and Mobile Computing. Tables 1-3.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Folder holding the transcribed CSV files (relative to this package, so it works from any checkout).
PAPER_DIR: Path = Path(__file__).resolve().parent.parent / "data" / "paper"

#: Files under :data:`PAPER_DIR`, by short name.
TABLES: dict[str, str] = {
    "table1": "table1.csv",
    "table2": "table2.csv",
    "table3": "table3.csv",
    "claims": "claims.csv",
    "datasets": "datasets.csv",
}

#: The authors' five phones, in Table 2's order.
CAMERAS: tuple[str, ...] = ("Honor 10", "iPhone 6", "Nubia Z17", "Redmi note8", "Galaxy S5")

#: The three algorithms, as the companion names them, in Table 3's column order.
METHODS: tuple[str, ...] = ("csi-cnn", "wavelet", "dncnn")

#: Display names for methods, datasets and platforms.
METHOD_LABELS: dict[str, str] = {"csi-cnn": "CSI-CNN", "wavelet": "Wavelet", "dncnn": "DnCNN"}
DATASET_LABELS: dict[str, str] = {"our": "Our", "kaggle": "Kaggle", "kaggle-other": "Kaggle, other phone",
                                  "vision": "Vision", "daxing": "Daxing"}
PLATFORM_LABELS: dict[str, str] = {
    "original": "Original", "twitter": "Twitter", "facebook": "Facebook", "instagram": "Instagram",
    "wechat": "WeChat", "weibo": "WeiBo",
}

#: Table 3's column name for each method.
METHOD_COLUMNS: dict[str, str] = {"csi-cnn": "csi_cnn", "wavelet": "wavelet", "dncnn": "dncnn"}


def load_table(name: str, folder: str | Path | None = None) -> pd.DataFrame:
    """Read one transcribed table as printed.

    Parameters
    ----------
    name : {"table1", "table2", "table3", "claims", "datasets"}
        Which file of ``data/paper/``.
    folder : path, optional
        Folder to read from instead of :data:`PAPER_DIR` (for tests and forks).

    Returns
    -------
    pandas.DataFrame
        The CSV as printed in the paper (labels unchanged).

    Raises
    ------
    ValueError
        If ``name`` is unknown or the file is missing.

    Examples
    --------
    >>> int(load_table("table1")["parameters"].sum())
    47628
    """
    if name not in TABLES:
        raise ValueError(f"unknown paper table {name!r}; expected one of {', '.join(map(repr, TABLES))}")
    path = Path(folder if folder is not None else PAPER_DIR) / TABLES[name]
    if not path.is_file():
        raise ValueError(f"paper table file {path} does not exist")
    return pd.read_csv(path)


def table1(folder: str | Path | None = None) -> pd.DataFrame:
    """Table 1: CSI-CNN's rows and their parameter counts (30 rows, 47,628 parameters in all).

    Returns
    -------
    pandas.DataFrame
        Columns ``row`` (int, 1-based order), ``stage`` (``"1"``, ``"sub"``, ``"2"``), ``layer`` (str as
        printed), ``formula`` (str, empty for parameter-free rows), ``parameters`` (int >= 0).

    References
    ----------
    Wang et al. (2021), Table 1.

    Examples
    --------
    >>> t = table1()
    >>> len(t), int(t.parameters.sum())
    (30, 47628)
    """
    t = load_table("table1", folder)
    t["stage"] = t["stage"].astype(str)
    t["formula"] = t["formula"].fillna("")
    return t


def table2(folder: str | Path | None = None) -> pd.DataFrame:
    """Table 2: mean correlation of each camera's test images with each camera's fingerprint.

    Returns
    -------
    pandas.DataFrame
        5 x 6 float frame: index ``image_camera`` (the test images' camera, :data:`CAMERAS`), columns the five
        fingerprints' cameras (CSI-CNN residuals) plus ``"Wavelet"`` (wavelet residuals, own camera only).
        Values are correlations in [-1, 1].

    References
    ----------
    Wang et al. (2021), Table 2 (200 test images per camera, the authors' 5-phone set).

    Examples
    --------
    >>> float(table2().loc["Galaxy S5", "Galaxy S5"])
    0.261
    """
    return load_table("table2", folder).set_index("image_camera")


def table3(folder: str | Path | None = None, long: bool = False) -> pd.DataFrame:
    """Table 3: closed-set accuracy for 4 datasets x 5 platforms x 3 algorithms.

    Parameters
    ----------
    folder : path, optional
        Alternative folder for the CSV.
    long : bool
        If false, the printed layout with keys renamed: columns ``dataset``, ``platform``, ``csi-cnn``,
        ``wavelet``, ``dncnn`` (20 rows). If true, one row per value: ``dataset``, ``platform``, ``method``,
        ``acc`` (60 rows).

    Returns
    -------
    pandas.DataFrame
        Keys use the companion's names: dataset in ``our, kaggle, vision, daxing``; platform in
        ``twitter, facebook, instagram, wechat, weibo``; accuracies are floats in [0, 1].

    References
    ----------
    Wang et al. (2021), Table 3.

    Examples
    --------
    >>> table3(long=True).shape
    (60, 4)
    """
    t = load_table("table3", folder)
    t["dataset"] = t["dataset"].map(_inverse(DATASET_LABELS, "dataset"))
    t["platform"] = t["platform"].map(_inverse(PLATFORM_LABELS, "platform"))
    t = t.rename(columns={v: k for k, v in METHOD_COLUMNS.items()})
    if not long:
        return t
    return (t.melt(id_vars=["dataset", "platform"], value_vars=list(METHODS), var_name="method", value_name="acc")
            .reset_index(drop=True))


def claims(folder: str | Path | None = None) -> pd.DataFrame:
    """The paper's qualitative claims (for Figs. 3-6, which print no numbers, and about Tables 2-3).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``item`` (e.g. ``"fig4"``) with columns ``section``, ``claim``, ``check``.

    Examples
    --------
    >>> "fig6" in claims().index
    True
    """
    return load_table("claims", folder).set_index("item")


def datasets(folder: str | Path | None = None) -> pd.DataFrame:
    """The paper's dataset sizes (Sec. 4.1) as printed.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``dataset`` (``our, kaggle, vision, daxing``) with nullable integer columns ``devices``,
        ``models``, ``brands``, ``images`` and the sentence ``as_printed``.

    Examples
    --------
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


# ----------------------------------------------------------------------------------------------------------
# Side-by-side tables
# ----------------------------------------------------------------------------------------------------------


def side_by_side(ours: pd.DataFrame, published: pd.DataFrame, keys: Sequence[str], column: str = "method",
                 value: str = "acc", order: Sequence[str] | None = None) -> pd.DataFrame:
    """Join this run's long table with the paper's: ``paper_<m>``, ``ours_<m>``, ``delta_<m>`` per method.

    Parameters
    ----------
    ours, published : pandas.DataFrame
        Long tables with columns ``keys + [column, value]``; one row per key combination and method.
        Neither is modified.
    keys : sequence of str
        Row keys, e.g. ``("dataset", "platform")``.
    column : str
        Column whose values become column groups (default ``"method"``).
    value : str
        The numeric column (default ``"acc"``).
    order : sequence of str, optional
        Order of the column groups; default: the paper's order of appearance.

    Returns
    -------
    pandas.DataFrame
        One row per key combination present in either table (outer join, NaN where one side is missing),
        columns ``keys``, then for each method ``paper_<m>``, ``ours_<m>``, ``delta_<m>`` (ours - paper).
        Method names have ``-`` replaced by ``_`` in column names (``ours_csi_cnn``).

    Raises
    ------
    ValueError
        If a required column is missing or a key combination appears twice in one table.

    Examples
    --------
    >>> paper = table3(long=True)
    >>> ours = paper.assign(acc=paper.acc - 0.1)
    >>> float(side_by_side(ours, paper, ["dataset", "platform"])["delta_wavelet"].round(3).iloc[0])
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


# ----------------------------------------------------------------------------------------------------------
# Sentences computed from numbers
# ----------------------------------------------------------------------------------------------------------


def count_wins(a: Iterable[float], b: Iterable[float], tol: float = 0.0) -> dict[str, int]:
    """Count pairs where ``a`` beats, ties or loses to ``b``.

    Parameters
    ----------
    a, b : iterable of float
        Paired scores of equal length (higher is better). NaN pairs are counted as ``missing``.
    tol : float
        Differences with ``|a - b| <= tol`` count as ties.

    Returns
    -------
    dict
        ``{"wins", "ties", "losses", "missing", "n"}`` with ``n`` the number of comparable pairs.

    Examples
    --------
    >>> count_wins([0.9, 0.5, 0.7], [0.8, 0.5, 0.9])
    {'wins': 1, 'ties': 1, 'losses': 1, 'missing': 0, 'n': 3}
    """
    a = np.asarray(list(a), dtype=float)
    b = np.asarray(list(b), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    ok = ~(np.isnan(a) | np.isnan(b))
    d = a[ok] - b[ok]
    return {"wins": int((d > tol).sum()), "ties": int((np.abs(d) <= tol).sum()),
            "losses": int((d < -tol).sum()), "missing": int((~ok).sum()), "n": int(ok.sum())}


def wins_sentence(a: Iterable[float], b: Iterable[float], name_a: str, name_b: str, over: str = "conditions",
                  where: str = "in this run", tol: float = 0.0) -> str:
    """Phrase :func:`count_wins` as a sentence, e.g. "CSI-CNN beats Wavelet on 2 of 5 platforms in this run."

    Examples
    --------
    >>> wins_sentence([0.9, 0.4], [0.8, 0.5], "CSI-CNN", "Wavelet", "platforms")
    'CSI-CNN beats Wavelet on 1 of 2 platforms in this run (1 loss).'
    """
    c = count_wins(a, b, tol)
    if c["n"] == 0:
        return f"{name_a} and {name_b} have no comparable {over} {where}."
    extra = []
    if c["ties"]:
        extra.append(_plural(c["ties"], "tie"))
    if c["losses"]:
        extra.append(_plural(c["losses"], "loss", "losses"))
    if c["missing"]:
        extra.append(f"{c['missing']} missing")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"{name_a} beats {name_b} on {c['wins']} of {c['n']} {over} {where}{tail}."


def delta_sentence(ours: Iterable[float], published: Iterable[float], what: str = "values") -> str:
    """Summarise ``ours - published`` as a sentence (mean, range, how many are higher).

    Examples
    --------
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
    """One Markdown paragraph: the paper's claim (``data/paper/claims.csv``) and what this run found.

    Parameters
    ----------
    item : str
        Row of :func:`claims` (e.g. ``"fig4"``).
    holds : bool or None
        Whether this run supports the claim (None: cannot be tested in this run).
    detail : str
        The computed sentence(s) behind the verdict.

    Examples
    --------
    >>> claim_markdown("fig5", True, "All AUCs are above 0.5.").startswith("**Paper (§4.3.2)")
    True
    """
    c = claims(folder).loc[item]
    verdict = {True: "consistent with the claim", False: "**not** consistent with the claim",
               None: "cannot be tested in this run"}[holds]
    return f"**Paper (§{c.section}):** {c.claim}\n\n**This run:** {detail} → {verdict}.\n"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# ----------------------------------------------------------------------------------------------------------
# Writing tables and figures
# ----------------------------------------------------------------------------------------------------------


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4f", index: bool = False) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table (no ``tabulate`` needed).

    Parameters
    ----------
    df : pandas.DataFrame
        Any frame; it is not modified.
    floatfmt : str
        Format spec for floats (NaN is written as an empty cell).
    index : bool
        Include the index as the first column(s).

    Returns
    -------
    str
        The table, ending with a newline. ``|`` inside cells is escaped.

    Examples
    --------
    >>> print(to_markdown(pd.DataFrame({"a": [1.5], "b": ["x"]}), floatfmt=".1f"), end="")
    | a | b |
    |---:|---|
    | 1.5 | x |
    """
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in cols) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for row in frame.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


_REPO = Path(__file__).resolve().parents[1]


def _portable_paths(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose absolute file paths inside the repository are made repository-relative.

    Saved tables are committed as reference outputs, so they must not carry this machine's folders. Paths
    outside the repository (a user's own dataset) are left as they are.
    """
    root = str(_REPO) + os.sep

    def rel(v):
        if isinstance(v, str) and v.startswith(root):
            return Path(v).relative_to(_REPO).as_posix()
        return v

    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(rel)
    return out


#: A Markdown copy larger than this keeps only its first :data:`MARKDOWN_HEAD_ROWS` rows (the CSV keeps all).
MAX_MARKDOWN_BYTES: int = 100_000
MARKDOWN_HEAD_ROWS: int = 30


def save_table(df: pd.DataFrame, folder: str | Path, name: str, floatfmt: str = ".4f",
               index: bool = False) -> dict[str, Path]:
    """Write ``df`` as ``<folder>/<name>.csv`` and ``<folder>/<name>.md``.

    The Markdown copy is for reading: beyond :data:`MAX_MARKDOWN_BYTES` it holds the table's first rows and a
    note pointing at the CSV.

    Parameters
    ----------
    df : pandas.DataFrame
        The table (not modified).
    folder : path
        Output folder; created if needed.
    name : str
        File stem: letters, digits, ``_`` and ``-`` only.
    floatfmt : str
        Float format of the Markdown copy (the CSV keeps full precision).
    index : bool
        Write the index too.

    Returns
    -------
    dict
        ``{"csv": Path, "md": Path}``.

    Examples
    --------
    >>> import tempfile
    >>> paths = save_table(pd.DataFrame({"a": [1]}), tempfile.mkdtemp(), "t")
    >>> sorted(paths)
    ['csv', 'md']
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    folder = _out_folder(folder, name)
    paths = {"csv": folder / f"{name}.csv", "md": folder / f"{name}.md"}
    df = _portable_paths(df)
    df.to_csv(paths["csv"], index=index)
    md = to_markdown(df, floatfmt=floatfmt, index=index)
    if len(md.encode()) > MAX_MARKDOWN_BYTES:  # a long table: its head here, all of it in the CSV
        head = to_markdown(df.head(MARKDOWN_HEAD_ROWS), floatfmt=floatfmt, index=index)
        md = head + f"\n*First {MARKDOWN_HEAD_ROWS} of {len(df):,} rows; all of them are in `{name}.csv`.*\n"
    paths["md"].write_text(md)
    log.info("wrote %s (.csv, .md)", folder / name)
    return paths


def save_figure(fig, folder: str | Path, name: str, formats: Sequence[str] = ("png", "pdf"), dpi: int | None = None,
                close: bool = True) -> list[Path]:
    """Save a matplotlib figure as ``<folder>/<name>.<fmt>`` for each format.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save; it must pass :func:`check_readable`.
    folder : path
        Output folder; created if needed.
    name : str
        File stem: letters, digits, ``_`` and ``-`` only.
    formats : sequence of str
        Any of ``png``, ``pdf``, ``svg``, ``jpg``. Save grids of photographs as ``("jpg",)`` (quality 88) at
        a modest ``dpi``: a PNG or PDF of photographs is many times bigger and no sharper to the eye.
    dpi : int, optional
        Resolution of raster formats; default :data:`FIGURE_DPI`.
    close : bool
        Close the figure in pyplot afterwards (it can still be displayed, e.g. as a notebook cell's value).

    Returns
    -------
    list of Path
        The written files.

    Examples
    --------
    >>> import tempfile, matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1])
    >>> [p.suffix for p in save_figure(fig, tempfile.mkdtemp(), "line")]
    ['.png', '.pdf']
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    bad = [f for f in formats if f not in ("png", "pdf", "svg", "jpg")]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of png, pdf, svg, jpg; got {list(formats)}")
    check_readable(fig)
    folder = _out_folder(folder, name)
    paths = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        if fmt == "png":  # a palette PNG: a third of the size, the same to the eye (compact_png)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi or FIGURE_DPI, bbox_inches="tight")
            path.write_bytes(compact_png(buf.getvalue()))
            paths.append(path)
            continue
        extra = {"pil_kwargs": {"quality": 88}} if fmt == "jpg" else {}
        fig.savefig(path, dpi=dpi or FIGURE_DPI, bbox_inches="tight", **extra)
        paths.append(path)
    log.info("wrote %s (%s)", folder / name, ", ".join(formats))
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return paths


#: Smallest font (points, at the saved size) and widest figure (inches) that stay readable at notebook width.
MIN_FONT_PT: float = 8.0
MAX_WIDTH_IN: float = 10.5

#: Resolution of inline and saved figures: a 10-inch figure is 1,300 px wide, its 8-pt text about 14 px high.
#: (Inline, a narrower figure is drawn finer, up to :data:`MIN_FIGURE_PX`; see :func:`use_style`.)
FIGURE_DPI: int = 130

#: Resolution of grids of photographs saved as JPEG: a 9-inch grid is more than 1,000 px wide.
PHOTO_DPI: int = 130

#: Narrowest inline figure (pixels): the book shows the PNG stored in the executed notebook.
MIN_FIGURE_PX: int = 1000

#: Decimals of floats in displayed tables (the CSV files keep full precision).
TABLE_PRECISION: int = 3

#: One colour (Okabe-Ito, readable with colour-vision deficiency), line style and marker per method, the same in
#: every figure. Keys are the companion's names; :func:`method_style` also accepts labels and variants.
METHOD_STYLE: dict[str, dict[str, str]] = {
    "csi-cnn": {"color": "#0072B2", "linestyle": "-", "marker": "o"},
    "csi-cnn augmented": {"color": "#56B4E9", "linestyle": "--", "marker": "s"},
    "wavelet": {"color": "#E69F00", "linestyle": "--", "marker": "s"},
    "dncnn": {"color": "#009E73", "linestyle": "-.", "marker": "^"},
    "oracle": {"color": "#000000", "linestyle": ":", "marker": "D"},
    "my_residual": {"color": "#CC79A7", "linestyle": "-", "marker": "v"},
    "mse-std": {"color": "#D55E00", "linestyle": "--", "marker": "s"},
    "mse": {"color": "#999999", "linestyle": ":", "marker": "^"},
}
_OTHER_STYLE: dict[str, str] = {"color": "#555555", "linestyle": "-", "marker": "x"}
_STYLE_ALIASES: dict[str, str] = {"csi_cnn": "csi-cnn", "csicnn": "csi-cnn", "cosine": "csi-cnn",
                                  "csi-cnn, augmented": "csi-cnn augmented", "augmented": "csi-cnn augmented"}


def method_style(name: str) -> dict[str, str]:
    """Colour, line style and marker of a method, the same in every figure (:data:`METHOD_STYLE`).

    Parameters
    ----------
    name : str
        A method key (``"csi-cnn"``), its label (``"CSI-CNN"``) or a variant that starts with one
        (``"csi-cnn 8,000 pairs"``, ``"CSI-CNN, augmented"``); case is ignored. Unknown names get a dark grey.

    Returns
    -------
    dict
        A copy of ``{"color", "linestyle", "marker"}``, ready for ``ax.plot(x, y, **method_style(m))``
        (use ``["color"]`` alone for bars).

    Examples
    --------
    >>> method_style("CSI-CNN") == method_style("csi-cnn 8,000 pairs") == METHOD_STYLE["csi-cnn"]
    True
    >>> method_style("wavelet")["color"]
    '#E69F00'
    """
    key = " ".join(str(name).strip().lower().split())
    key = _STYLE_ALIASES.get(key, key)
    if key in METHOD_STYLE:
        return dict(METHOD_STYLE[key])
    for known in sorted([*METHOD_STYLE, *_STYLE_ALIASES], key=len, reverse=True):
        if key.startswith(known) and not key[len(known):len(known) + 1].isalnum():
            return method_style(_STYLE_ALIASES.get(known, known))
    return dict(_OTHER_STYLE)


def _model_key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def device_label(name: str) -> str:
    """Display name of a camera: the paper's name for its five phones, else brand and model.

    Parameters
    ----------
    name : str
        A device folder name, ``D<nn>_<Brand>_<Model>`` (the prefix and brand are optional).

    Returns
    -------
    str
        ``"Honor 10"`` for ``"D05_Huawei_Honor10"`` (the names of :data:`CAMERAS`, Table 2); otherwise brand and
        model separated by a space (``"Samsung GalaxyS3Mini"``). Use :func:`device_labels` for a set of cameras
        in which two may share a model.

    Examples
    --------
    >>> device_label("D05_Huawei_Honor10"), device_label("D03_Nubia_Z17"), device_label("D03_Huawei_P9")
    ('Honor 10', 'Nubia Z17', 'Huawei P9')
    """
    bare = re.sub(r"^D\d+_", "", str(name))
    parts = bare.split("_")
    keys = {_model_key(parts[-1]), _model_key(bare)}
    for camera in CAMERAS:
        if _model_key(camera) in keys:
            return camera
    return " ".join(parts)


def device_labels(names: Iterable[str]) -> dict[str, str]:
    """:func:`device_label` of each camera, with its ``D<nn>`` number added where two would read the same.

    Examples
    --------
    >>> device_labels(["D01_Samsung_GalaxyS3Mini", "D26_Samsung_GalaxyS3Mini", "D03_Huawei_P9"])["D26_Samsung_GalaxyS3Mini"]
    'Samsung GalaxyS3Mini (D26)'
    """
    names = list(names)
    labels = {n: device_label(n) for n in names}
    counts = pd.Series(list(labels.values())).value_counts()
    for n, label in labels.items():
        number = re.match(r"^(D\d+)_", str(n))
        if counts[label] > 1 and number:
            labels[n] = f"{label} ({number.group(1)})"
    return labels


def device_order(names: Iterable[str]) -> list[str]:
    """Cameras in Table 2's order when they are the paper's five phones, else in sorted order.

    Examples
    --------
    >>> device_order(["D01_Apple_iPhone6", "D05_Huawei_Honor10", "D02_Samsung_GalaxyS5"])
    ['D05_Huawei_Honor10', 'D01_Apple_iPhone6', 'D02_Samsung_GalaxyS5']
    """
    names = sorted(names)
    labels = [device_label(n) for n in names]
    if len(set(labels)) == len(labels) and all(lb in CAMERAS for lb in labels):
        return sorted(names, key=lambda n: CAMERAS.index(device_label(n)))
    return names


def _frame_html(df: pd.DataFrame) -> str:
    """A DataFrame as the notebook shows it, without an index that only numbers the rows (unnamed integers)."""
    index = df.index
    plain = (not isinstance(index, pd.MultiIndex) and index.name is None
             and (isinstance(index, pd.RangeIndex) or pd.api.types.is_integer_dtype(index.dtype)))
    return df.to_html(index=not plain, notebook=True, max_rows=pd.get_option("display.max_rows"),
                      max_cols=pd.get_option("display.max_columns"),
                      show_dimensions=pd.get_option("display.show_dimensions"))


def compact_png(png: bytes) -> bytes:
    """A PNG re-encoded with a palette of 256 colours (no dithering): a chart weighs about a third.

    Charts hold few colours: the palette keeps the large areas' colours (white, the method colours) as they
    are and shares the rest among gradients and anti-aliased edges. Every figure this package saves or shows
    inline goes through it, so that ``figures/`` stays small.

    Examples
    --------
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (40, 30), (255, 255, 255)).save(buf, format="PNG")
    >>> Image.open(io.BytesIO(compact_png(buf.getvalue()))).convert("RGB").getpixel((0, 0))
    (255, 255, 255)
    """
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        quantized = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    quantized.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _figure_png(fig) -> bytes | None:
    """The inline PNG of a figure: at :data:`FIGURE_DPI`, or finer if that leaves it under :data:`MIN_FIGURE_PX`
    wide once cropped to its content."""
    from IPython.core.pylabtools import print_figure

    png = print_figure(fig, "png", bbox_inches="tight", dpi=FIGURE_DPI)
    if png is None:  # nothing drawn
        return None
    width = int.from_bytes(png[16:20], "big")  # the PNG header's IHDR width
    if 0 < width < MIN_FIGURE_PX:
        png = print_figure(fig, "png", bbox_inches="tight", dpi=math.ceil(FIGURE_DPI * MIN_FIGURE_PX / width) + 1)
    return compact_png(png)


def use_style() -> None:
    """Settings of every notebook: readable figures and tables.

    * Matplotlib: fonts of at least :data:`MIN_FONT_PT` pt, inline and saved figures at :data:`FIGURE_DPI`,
      cropped to their content; in IPython, inline figures at least :data:`MIN_FIGURE_PX` wide.
    * pandas: floats shown with :data:`TABLE_PRECISION` decimals, text cells up to 160 characters whole; in
      IPython, tables whose index only numbers the rows (unnamed integers) are shown without it.

    Examples
    --------
    >>> use_style()
    >>> import matplotlib
    >>> matplotlib.rcParams["legend.fontsize"] >= MIN_FONT_PT, matplotlib.rcParams["figure.dpi"] == FIGURE_DPI
    (True, True)
    """
    import matplotlib
    import matplotlib.pyplot as plt

    # pyplot loads its backend with the first figure; in a notebook the inline backend then sets its own rc and
    # figure formatter, which would undo the settings below: load it now (once a figure exists, it is loaded)
    if not plt.get_fignums():
        plt.switch_backend(matplotlib.get_backend())

    matplotlib.rcParams.update({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
        "legend.fontsize": 8, "legend.title_fontsize": 8, "figure.titlesize": 11, "figure.dpi": FIGURE_DPI,
        "savefig.dpi": FIGURE_DPI, "savefig.bbox": "tight", "axes.spines.top": False, "axes.spines.right": False,
    })
    pd.set_option("display.precision", TABLE_PRECISION)
    pd.set_option("display.max_colwidth", 160)  # a verdict sentence is shown whole
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to register
        return
    shell = get_ipython()
    if shell is not None:
        from matplotlib.figure import Figure

        formatters = shell.display_formatter.formatters
        formatters["text/html"].for_type(pd.DataFrame, _frame_html)
        formatters["image/png"].for_type(Figure, _figure_png)


def legend_on_top(fig, handles, labels, title: str | None = None, ncols: int | None = None) -> None:
    """Lay out a figure with ``title`` on top, its legend in a row below it, off the data, then the panels.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure without a layout engine (``tight_layout`` is applied here).
    handles, labels : lists
        As from ``ax.get_legend_handles_labels()``.
    title : str, optional
        The figure's title.
    ncols : int, optional
        Legend columns; default one row of up to five.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(6, 3)); _ = ax.plot([0, 1], label="a")
    >>> legend_on_top(fig, *ax.get_legend_handles_labels(), title="A line")
    >>> bool(ax.get_position().y1 < fig.legends[0].get_window_extent().y0 / fig.bbox.height)
    True
    """
    height = float(fig.get_size_inches()[1])
    top = 1.0 - 0.05 / height
    if title:
        fig.suptitle(title, y=top, va="top")
        top -= 0.3 / height
    ncols = ncols or max(1, min(len(labels), 5))
    rows = -(-len(labels) // ncols)
    fig.legend(handles, labels, loc="upper center", ncols=ncols, bbox_to_anchor=(0.5, top))
    fig.tight_layout(rect=(0, 0, 1, top - (0.05 + 0.17 * rows) / height))


def check_readable(fig, min_pt: float = MIN_FONT_PT, max_width: float = MAX_WIDTH_IN) -> None:
    """Raise if a figure would be unreadable at notebook width: too wide, or any visible text too small.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    min_pt : float
        Smallest allowed font size in points (at the saved size).
    max_width : float
        Widest allowed figure, in inches.

    Raises
    ------
    ValueError
        Naming the offending text (its first characters and size) or the width.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(4, 3)); _ = ax.set_title("ok", fontsize=9)
    >>> check_readable(fig)
    >>> _ = ax.text(0, 0, "tiny", fontsize=5)
    >>> check_readable(fig)
    Traceback (most recent call last):
    ...
    ValueError: text 'tiny' is 5.0 pt; figures need at least 8.0 pt to be readable at notebook width
    """
    from matplotlib.text import Text

    width = float(fig.get_size_inches()[0])
    if width > max_width:
        raise ValueError(f"figure is {width:.1f} in wide; at most {max_width} in stays readable at notebook width")
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < min_pt - 1e-6:
            raise ValueError(f"text {t.get_text()[:30]!r} is {t.get_fontsize():.1f} pt; figures need at least "
                             f"{min_pt} pt to be readable at notebook width")


def _out_folder(folder: str | Path, name: str) -> Path:
    if not isinstance(name, str) or not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise ValueError(f"name must be a non-empty file stem of letters, digits, '_' or '-', got {name!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
