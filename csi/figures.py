"""Saving tables and figures, and the notebooks' style: readable fonts, one look per method, compact PNGs.
Every notebook calls :func:`use_style` first, then :func:`save_table` (CSV + Markdown) and :func:`save_figure`.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

_REPO = Path(__file__).resolve().parents[1]

#: A Markdown copy larger than this keeps only its first :data:`MARKDOWN_HEAD_ROWS` rows (the CSV keeps all).
MAX_MARKDOWN_BYTES: int = 100_000
MARKDOWN_HEAD_ROWS: int = 30
#: Significant digits of every float in a saved CSV: a rerun on another machine then gives the same bytes for the
#: non-learned methods (their last-digit noise, ~1e-15, is below it).
CSV_SIGNIFICANT_DIGITS: int = 6
#: Wall-clock columns: :func:`save_table` writes them to ``<name>_timings.csv``, apart from the results.
TIMING_COLUMNS: tuple[str, ...] = ("seconds", "pairs_per_s", "val_seconds", "train_seconds", "wall_seconds")
#: Smallest font (points, at the saved size) and widest figure (inches) readable at notebook width.
MIN_FONT_PT: float = 8.0
MAX_WIDTH_IN: float = 10.5
#: Resolution of inline and saved figures (a 10-inch figure is 1,300 px wide) and of photo grids saved as JPEG.
FIGURE_DPI: int = 130
PHOTO_DPI: int = 130
#: Narrowest inline figure (pixels): the book shows the PNG stored in the executed notebook.
MIN_FIGURE_PX: int = 1000
#: Decimals of floats in displayed tables (the CSV files keep full precision).
TABLE_PRECISION: int = 3

#: One colour (Okabe-Ito), line style and marker per method, the same in every figure.
METHOD_STYLE: dict[str, dict[str, str]] = {
    "csi-cnn": {"color": "#0072B2", "linestyle": "-", "marker": "o"},
    "csi-cnn augmented": {"color": "#56B4E9", "linestyle": "--", "marker": "s"},
    "wavelet": {"color": "#E69F00", "linestyle": "--", "marker": "s"},
    "dncnn": {"color": "#009E73", "linestyle": "-.", "marker": "^"},
    "dncnn-cosine": {"color": "#882255", "linestyle": "-", "marker": "v"},
    "oracle": {"color": "#000000", "linestyle": ":", "marker": "D"},
    "my_residual": {"color": "#CC79A7", "linestyle": "-", "marker": "v"},
    "mse-std": {"color": "#D55E00", "linestyle": "--", "marker": "s"},
    "mse": {"color": "#999999", "linestyle": ":", "marker": "^"},
}
_OTHER_STYLE: dict[str, str] = {"color": "#555555", "linestyle": "-", "marker": "x"}
_STYLE_ALIASES: dict[str, str] = {"csi_cnn": "csi-cnn", "csicnn": "csi-cnn", "cosine": "csi-cnn",
                                  "csi-cnn, augmented": "csi-cnn augmented", "augmented": "csi-cnn augmented",
                                  "dncnn-17 (cosine)": "dncnn-cosine"}


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4f", index: bool = False) -> str:
    """A DataFrame as a GitHub Markdown table (NaN as an empty cell, ``|`` escaped), ending with a newline.

    >>> print(to_markdown(pd.DataFrame({"a": [1.5], "b": ["x"]}), floatfmt=".1f"), end="")
    | a | b |
    |---:|---|
    | 1.5 | x |
    """
    frame = df.reset_index() if index else df

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    lines = ["| " + " | ".join(str(c).replace("|", "\\|") for c in frame.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False, name=None)]
    return "\n".join(lines) + "\n"


def _portable_paths(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with absolute paths inside the repository made relative (saved tables are committed)."""
    root = str(_REPO) + os.sep

    def rel(v):
        return Path(v).relative_to(_REPO).as_posix() if isinstance(v, str) and v.startswith(root) else v

    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(rel)
    return out


def _out_folder(folder: str | Path, name: str) -> Path:
    if not isinstance(name, str) or not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise ValueError(f"name must be a non-empty file stem of letters, digits, '_' or '-', got {name!r}")
    (folder := Path(folder)).mkdir(parents=True, exist_ok=True)
    return folder


def save_table(df: pd.DataFrame, folder: str | Path, name: str, floatfmt: str = ".4f",
               index: bool = False) -> dict[str, Path]:
    """Write ``<folder>/<name>.csv`` and ``.md`` (``floatfmt``; long tables: the head and a note).

    CSV floats have :data:`CSV_SIGNIFICANT_DIGITS` significant digits; the :data:`TIMING_COLUMNS` go to
    ``<name>_timings.csv`` with the row's non-float columns.

    >>> import tempfile
    >>> sorted(save_table(pd.DataFrame({"a": [1]}), tempfile.mkdtemp(), "t"))
    ['csv', 'md']
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    folder = _out_folder(folder, name)
    paths = {"csv": folder / f"{name}.csv", "md": folder / f"{name}.md"}
    df = _portable_paths(df)
    float_format = f"%.{CSV_SIGNIFICANT_DIGITS}g"
    timing = [c for c in df.columns if c in TIMING_COLUMNS]
    if timing:  # timings apart from the results: the results stay byte-identical across reruns
        ids = [c for c in df.columns if c not in timing and df[c].dtype.kind not in "fc"]
        paths["timings"] = folder / f"{name}_timings.csv"
        df[ids + timing].to_csv(paths["timings"], index=index, float_format=float_format)
        paths["timings_md"] = paths["timings"].with_suffix(".md")
        paths["timings_md"].write_text(to_markdown(df[ids + timing], floatfmt=".1f", index=index))
        df = df.drop(columns=timing)
    df.to_csv(paths["csv"], index=index, float_format=float_format)
    md = to_markdown(df, floatfmt=floatfmt, index=index)
    if len(md.encode()) > MAX_MARKDOWN_BYTES:  # a long table: its head here, all of it in the CSV
        head = to_markdown(df.head(MARKDOWN_HEAD_ROWS), floatfmt=floatfmt, index=index)
        md = head + f"\n*First {MARKDOWN_HEAD_ROWS} of {len(df):,} rows; all of them are in `{name}.csv`.*\n"
    paths["md"].write_text(md)
    log.info("wrote %s (.csv, .md)", folder / name)
    return paths


def save_figure(fig, folder: str | Path, name: str, formats: Sequence[str] = ("png", "pdf"), dpi: int | None = None,
                close: bool = True) -> list[Path]:
    """Save a readable (:func:`check_readable`) figure as ``<folder>/<name>.<fmt>``; return the paths.

    ``formats``: ``png`` (palette, :func:`compact_png`), ``pdf`` (undated: same bytes on a rerun), ``svg``, ``jpg``
    (quality 88, at :data:`PHOTO_DPI` for photo grids). ``dpi``: :data:`FIGURE_DPI`; ``close`` closes it in pyplot.

    >>> import tempfile, matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1])
    >>> [p.suffix for p in save_figure(fig, tempfile.mkdtemp(), "line")]
    ['.png', '.pdf']
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not formats or any(f not in ("png", "pdf", "svg", "jpg") for f in formats):
        raise ValueError(f"formats must be a non-empty subset of png, pdf, svg, jpg; got {list(formats)}")
    check_readable(fig)
    folder = _out_folder(folder, name)
    paths = [folder / f"{name}.{fmt}" for fmt in formats]
    for fmt, path in zip(formats, paths, strict=True):
        if fmt == "png":
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi or FIGURE_DPI, bbox_inches="tight")
            path.write_bytes(compact_png(buf.getvalue()))
        else:
            extra = {"jpg": {"pil_kwargs": {"quality": 88}}, "pdf": {"metadata": {"CreationDate": None}}}.get(fmt, {})
            fig.savefig(path, dpi=dpi or FIGURE_DPI, bbox_inches="tight", **extra)
    log.info("wrote %s (%s)", folder / name, ", ".join(formats))
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return paths


def compact_png(png: bytes) -> bytes:
    """PNG bytes re-encoded with a 256-colour palette, no dithering (a chart weighs about a third).

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


def check_readable(fig, min_pt: float = MIN_FONT_PT, max_width: float = MAX_WIDTH_IN) -> None:
    """Raise ValueError if a figure is wider than ``max_width`` inches or any visible text is under ``min_pt``.

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(4, 3)); _ = ax.text(0, 0, "tiny", fontsize=5)
    >>> check_readable(fig)
    Traceback (most recent call last):
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


def method_style(name: str) -> dict[str, str]:
    """A copy of a method's ``{"color", "linestyle", "marker"}`` (:data:`METHOD_STYLE`); unknown names get grey.

    ``name`` is a key, a label or a variant starting with one (``"CSI-CNN, augmented"``), in any case.

    >>> method_style("CSI-CNN") == method_style("csi-cnn 8,000 pairs") == METHOD_STYLE["csi-cnn"]
    True
    """
    key = " ".join(str(name).strip().lower().split())
    key = _STYLE_ALIASES.get(key, key)
    if key in METHOD_STYLE:
        return dict(METHOD_STYLE[key])
    for known in sorted([*METHOD_STYLE, *_STYLE_ALIASES], key=len, reverse=True):
        if key.startswith(known) and not key[len(known):len(known) + 1].isalnum():
            return method_style(_STYLE_ALIASES.get(known, known))
    return dict(_OTHER_STYLE)


def pairs_axis(ax, ticks) -> None:
    """Ticks of a (log) axis of training pairs at ``ticks`` only, written 500, 2k, 128k, 3.2M (no minor ticks)."""
    def short(v: float) -> str:
        return f"{v / 1e6:g}M" if v >= 1e6 else f"{v / 1e3:g}k" if v >= 1e3 else f"{v:g}"
    ax.minorticks_off()
    ax.set_xticks(list(ticks), [short(v) for v in ticks])


def table_number(v: float) -> str:  # TABLE_PRECISION decimals; as many significant digits below 0.1 (rho ~ 0.001)
    return f"{v:.{TABLE_PRECISION}f}" if abs(v) >= 0.1 or v == 0 or v != v else f"{v:.{TABLE_PRECISION}g}"


def _frame_html(df: pd.DataFrame) -> str:
    """A DataFrame as the notebook shows it, without an index that only numbers the rows (unnamed integers)."""
    index = df.index
    plain = (not isinstance(index, pd.MultiIndex) and index.name is None
             and (isinstance(index, pd.RangeIndex) or pd.api.types.is_integer_dtype(index.dtype)))
    return df.to_html(index=not plain, notebook=True, float_format=table_number, max_rows=pd.get_option(
        "display.max_rows"), max_cols=pd.get_option("display.max_columns"), show_dimensions="truncate")


def _figure_png(fig) -> bytes | None:
    """Inline PNG at :data:`FIGURE_DPI`, finer if that leaves it under :data:`MIN_FIGURE_PX` wide once cropped."""
    from IPython.core.pylabtools import print_figure

    png = print_figure(fig, "png", bbox_inches="tight", dpi=FIGURE_DPI)
    if png is None:  # nothing drawn
        return None
    width = int.from_bytes(png[16:20], "big")  # the PNG header's IHDR width
    if 0 < width < MIN_FIGURE_PX:
        png = print_figure(fig, "png", bbox_inches="tight", dpi=math.ceil(FIGURE_DPI * MIN_FIGURE_PX / width) + 1)
    return compact_png(png)


def use_style() -> None:
    """Every notebook's settings: fonts >= :data:`MIN_FONT_PT`, figures at :data:`FIGURE_DPI` (inline at least
    :data:`MIN_FIGURE_PX` wide), tables with :data:`TABLE_PRECISION` decimals and no row-number index.

    >>> use_style()
    """
    import matplotlib
    import matplotlib.pyplot as plt

    # the inline backend sets its own rc and formatter when pyplot loads it with the first figure: load it now
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
    """Lay out ``fig`` (no layout engine) with ``title`` on top, the legend in rows below it, then the panels.

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(6, 3)); _ = ax.plot([0, 1], label="a")
    >>> legend_on_top(fig, *ax.get_legend_handles_labels(), title="A line")
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
