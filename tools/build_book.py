"""Build the companion's static book from executed notebooks, without executing them (``make book``).

Usage
-----
``python tools/build_book.py`` reads the executed notebooks in ``figures/executed/`` (what ``make reproduce``
commits) and writes the site to ``_build/book/html/index.html``. ``--executed DIR`` builds from another folder
(the tests build from a smoke-scale run), ``--out DIR`` moves the build, ``--clean`` starts from nothing.

What it does
------------
1. Assembles a Sphinx source folder in ``<out>/src``: one page per ``*.ipynb`` found in ``--executed``
   (found, not listed, so new notebooks appear on their own), the landing page ``index.md`` made from
   ``book/landing.md`` and the paper-to-notebook table ``book/paper_map.csv``, and ``results.md`` from the
   README's results section. Notebooks are copied with their stored outputs; only progress-bar streams are
   tidied (carriage returns resolved the way a terminal shows them, consecutive stream outputs merged,
   progress lines dropped), the parameter cells merged into one folded cell, and long pages given an in-page
   contents list.
2. Runs Sphinx (myst-nb, execution off) with ``book/`` as the configuration folder into ``<out>/html``.

Everything is local: the build reads the repository and writes ``<out>``; see book/conf.py for why this stack.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PAPER_MAP = BOOK / "paper_map.csv"
LANDING = BOOK / "landing.md"
README = ROOT / "README.md"
RESULTS_HEADING = "## Results"


# ------------------------------------------------------------------------------------------------------------
# notebooks
# ------------------------------------------------------------------------------------------------------------


def find_notebooks(executed: Path) -> list[Path]:
    """Every ``*.ipynb`` in ``executed`` (numbered ones first, by name), checkpoints ignored."""
    return sorted(p for p in Path(executed).glob("*.ipynb") if not p.name.startswith("."))


_CONTROL = re.compile(r"(\x1b\[(\d*)([ABK])|\r|\n)")


def _terminal_text(text: str) -> str:
    """What a terminal would show after printing ``text``: progress bars (tqdm) redraw a line after ``\\r``
    and nested bars move between lines with ``ESC[A``; only the final state of each line is kept.

    Understands ``\\r`` (which, as in Jupyter, starts the line afresh), ``\\n``, cursor up/down (``ESC[nA``,
    ``ESC[nB``) and erase line (``ESC[K``); colour codes and other characters are written as they are.
    """
    screen: list[str] = [""]
    row = col = 0
    pos = 0

    def write(chunk: str) -> None:
        nonlocal col
        if chunk:
            line = screen[row].ljust(col)
            screen[row] = line[:col] + chunk + line[col + len(chunk):]
            col += len(chunk)

    for m in _CONTROL.finditer(text):
        write(text[pos:m.start()])
        pos = m.end()
        token = m.group(0)
        if token == "\r":  # as Jupyter shows it: the redrawn line replaces the old one entirely
            screen[row], col = "", 0
        elif token == "\n":
            row, col = row + 1, 0
        else:
            n, code = int(m.group(2) or 1), m.group(3)
            if code == "A":
                row = max(0, row - n)
            elif code == "B":
                row += n
            else:
                screen[row] = screen[row][:col]
        while len(screen) <= row:
            screen.append("")
    write(text[pos:])
    lines = [ln.rstrip() for ln in screen]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + ("\n" if lines else "")


#: A progress line of ``csi.progress`` ("scores: 74/90 table after 60 s", "train CSI-CNN: 250 step in 154.5 s
#: (loss=0.48)") or of a tqdm bar ("work: 100%|####| 3/3 [00:01<00:00]"): how long something took, not a result.
PROGRESS_LINE = re.compile(r"^(?:[^\n:]{1,80}: \d+(?:/\d+)? \S+ (?:after \d+ s|in \d+(?:\.\d+)? s(?: \(.*\))?)"
                           r"|(?:[^\n:|]{1,80}: )?\s*\d+%\|.*\|.*)$")


def drop_progress_lines(text: str) -> str:
    """``text`` without its progress lines (:data:`PROGRESS_LINE`); every other line is kept."""
    kept = [ln for ln in text.splitlines(keepends=True) if not PROGRESS_LINE.match(ln.rstrip("\n"))]
    return "".join(kept)


def tidy_streams(nb: dict) -> dict:
    """Merge consecutive stream outputs of the same name, resolve their carriage returns (tqdm bars) and drop
    progress lines.

    A cell that printed 3,000 progress updates shows one final line per bar, as in a terminal; a line that only
    says how far or how long a step ran (:data:`PROGRESS_LINE`) is dropped, so the page shows results, not the
    run's timing. Every other output (tables, figures, Markdown) is kept as stored.
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        merged: list[dict] = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
                if merged and merged[-1].get("output_type") == "stream" and merged[-1]["name"] == out["name"]:
                    merged[-1]["text"] += text
                else:
                    merged.append({"output_type": "stream", "name": out["name"], "text": text})
            else:
                merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream":
                out["text"] = drop_progress_lines(re.sub(r"\n{3,}", "\n\n", _terminal_text(out["text"])))
        cell["outputs"] = [o for o in merged if o.get("output_type") != "stream" or o["text"].strip()]
    return nb


FOLDED_TAGS = ("parameters", "injected-parameters")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def fold_parameter_cells(nb: dict) -> dict:
    """Fold the parameter cells behind one "show code" toggle (``hide-input``), so each page opens with the
    paper's text, the settings table and the results rather than two screens of ``scale = "cpu"``.

    papermill's injected cell (the values of this run) is appended to the notebook's ``parameters`` cell (the
    defaults, with their comments) and dropped, so the page has one toggle, not two that read the same.
    """
    cells = nb.get("cells", [])
    tagged = [(c, c.setdefault("metadata", {}).setdefault("tags", [])) for c in cells]
    params = next((c for c, tags in tagged if "parameters" in tags and c.get("cell_type") == "code"), None)
    injected = [c for c, tags in tagged if "injected-parameters" in tags]
    if params is not None and injected:
        run_values = "\n".join(_source(c).strip() for c in injected)
        params["source"] = _source(params).rstrip() + "\n\n" + run_values + "\n"
        nb["cells"] = [c for c in cells if not any(c is i for i in injected)]
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        folded = any(t in tags for t in FOLDED_TAGS)
        if cell.get("cell_type") == "code" and folded and "hide-input" not in tags:
            tags.append("hide-input")
    return nb


#: A page with at least this many second-level headings gets a list of them under its title.
CONTENTS_MIN_SECTIONS = 4


def add_contents(nb: dict, min_sections: int = CONTENTS_MIN_SECTIONS) -> dict:
    """Put an in-page contents list (the page's ``##`` sections) under the title of a long notebook page.

    The theme's right-hand contents column is kept for the landing page (notebook pages need the width for
    their tables and figures, and it is hidden on narrow screens anyway), so long pages carry their own.
    """
    cells = nb.get("cells", [])
    sections = sum(1 for c in cells if c.get("cell_type") == "markdown"
                   for ln in _source(c).splitlines() if ln.startswith("## "))
    first = next((i for i, c in enumerate(cells) if c.get("cell_type") == "markdown"), None)
    if sections < min_sections or first is None:
        return nb
    contents = {"cell_type": "markdown", "id": "book-contents", "metadata": {},
                "source": ":::{contents} On this page\n:local:\n:depth: 1\n:class: page-contents\n:::\n"}
    nb["cells"] = [*cells[:first + 1], contents, *cells[first + 1:]]
    return nb


def notebook_title(nb: dict, stem: str) -> str:
    """The first Markdown heading of the notebook, else its file stem."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for line in src.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return stem


def count_figures(nb: dict) -> int:
    """Number of image outputs (PNG, JPEG, SVG) stored in a notebook: each must appear on its page."""
    kinds = ("image/png", "image/jpeg", "image/svg+xml")
    return sum(
        1
        for cell in nb.get("cells", [])
        for out in cell.get("outputs", [])
        if any(k in out.get("data", {}) for k in kinds)
    )


# ------------------------------------------------------------------------------------------------------------
# the paper map and the landing page
# ------------------------------------------------------------------------------------------------------------


def read_paper_map(path: Path = PAPER_MAP) -> list[dict]:
    """Rows of ``book/paper_map.csv``: ``item`` (paper section, equation, table, figure), ``notebook`` (key),
    ``what the page shows``."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def match_notebook(key: str, stems: list[str]) -> str | None:
    """The notebook stem that a paper-map key names: ``06`` -> ``06_table3_accuracy``; ``workshop`` -> any
    stem that is or contains the word ``workshop`` (``10_workshop``, ``workshop``)."""
    for stem in stems:
        if stem == key or stem.startswith(key + "_") or key in stem.split("_"):
            return stem
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]], css_class: str = "paper-map") -> str:
    lines = [f":::{{table}}\n:class: {css_class}\n", "| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n:::\n"


def paper_map_table(rows: list[dict], stems: list[str]) -> str:
    """One row per paper item; the page is linked only when that notebook is in this build."""
    out = []
    for row in rows:
        stem = match_notebook(row["notebook"], stems)
        page = f"[`{stem}`]({stem}.ipynb)" if stem else f"{row['notebook']} (not in this build)"
        out.append([row["item"], page, row.get("what the page shows", "")])
    return _md_table(["paper", "notebook page", "what the page shows"], out)


def notebooks_table(stems: list[str], titles: dict[str, str], rows: list[dict], manifest: dict) -> str:
    """One row per notebook in this build: its title, the paper items it covers, its run time if recorded."""
    items: dict[str, list[str]] = {s: [] for s in stems}
    for row in rows:
        stem = match_notebook(row["notebook"], stems)
        if stem:
            items[stem].append(row["item"].split(" (")[0])
    times = manifest.get("notebooks", {}) if manifest else {}
    header = ["page", "paper items"] + (["run time"] if times else [])
    out = []
    for stem in stems:
        line = [f"[{titles[stem]}]({stem}.ipynb)", "; ".join(items[stem]) or "—"]
        if times:
            entry = times.get(stem, {})
            secs, status = entry.get("seconds"), str(entry.get("status", "ok"))
            shown = f"{secs:.0f} s" if isinstance(secs, int | float) else "—"
            line.append(shown if status == "ok" else f"{shown} (failed)")
        out.append(line)
    return _md_table(header, out)


def provenance(manifest: dict) -> str:
    """One paragraph on how the shown outputs were made, from ``figures/manifest.json`` when present."""
    if not manifest:
        return "*No `manifest.json` beside these notebooks: scale, commit and versions are not recorded.*"
    git = manifest.get("git", {})
    versions = manifest.get("versions", {})
    device = manifest.get("device", {})
    commit = str(git.get("commit", "unknown"))[:10]
    bits = [
        f"scale `{manifest.get('scale', '?')}`",
        f"seed {manifest.get('seed', '?')}",
        f"data `{manifest.get('source', '?')}`",
        f"commit `{commit}`" + (" (with uncommitted changes)" if git.get("dirty") else ""),
        f"device `{device.get('resolved', '?')}`",
        f"Python {versions.get('python', '?')}, torch {versions.get('torch', '?')}",
    ]
    total = manifest.get("total_seconds")
    if isinstance(total, int | float):
        bits.append(f"{total:.0f} s in all")
    where = "(from the `manifest.json` beside the executed notebooks)"
    return "**These outputs:** " + ", ".join(bits) + f" {where}."


def toctree(stems: list[str], with_results: bool) -> str:
    entries = (["results"] if with_results else []) + stems
    return "```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(entries) + "\n```\n"


# ------------------------------------------------------------------------------------------------------------
# README results
# ------------------------------------------------------------------------------------------------------------


def readme_results(readme: Path, stems: list[str]) -> str:
    """The README's ``## Results`` section as a page (the whole README if it has none).

    Links into the repository cannot work inside the site: links to a notebook point at its page when it is in
    this build, other repository links become plain text with the path.
    """
    text = readme.read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith(RESULTS_HEADING)), None)
    if start is None:
        body = lines
        title = "# The README"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        body = lines[start + 1:end]
        title = "# " + lines[start][3:].strip()

    def relink(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+://|^#|^mailto:", target):
            return m.group(0)
        stem = Path(target.split("#")[0]).stem
        if target.startswith("notebooks/") and stem in stems:
            return f"[{label}]({stem}.ipynb)"
        return label if label.strip("`") == target else f"{label} (`{target}`)"

    body_text = re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", relink, "\n".join(body))
    note = ("*This page is the results section of the repository's `README.md`, copied at build time; the "
            "tables and figures it quotes are on the notebook pages.*")
    return f"{title}\n\n{note}\n\n{body_text.strip()}\n"


# ------------------------------------------------------------------------------------------------------------
# assembling and building
# ------------------------------------------------------------------------------------------------------------


def _write_if_changed(path: Path, text: str) -> None:
    """Write only when the content differs, so Sphinx's incremental build skips unchanged pages."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def assemble(executed: Path, src: Path, readme: Path = README, manifest_path: Path | None = None) -> dict:
    """Write the Sphinx source folder ``src``; return ``{"pages": {stem: n_figures}, "titles": {...}}``."""
    executed = Path(executed)
    books = find_notebooks(executed)
    if not books:
        raise ValueError(f"no executed notebooks (*.ipynb) in {executed}")
    src.mkdir(parents=True, exist_ok=True)
    stems = [b.stem for b in books]
    titles, figures = {}, {}
    for book in books:
        nb = json.loads(book.read_text(encoding="utf-8"))
        titles[book.stem] = notebook_title(nb, book.stem)
        figures[book.stem] = count_figures(nb)
        shown = add_contents(fold_parameter_cells(tidy_streams(nb)))
        _write_if_changed(src / book.name, json.dumps(shown, indent=1, ensure_ascii=False) + "\n")
    keep = {b.name for b in books} | {"index.md", "results.md"}
    for stale in src.iterdir():  # notebooks removed from the executed folder since the last build
        if stale.is_file() and stale.name not in keep:
            stale.unlink()

    manifest_path = manifest_path or executed.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    rows = read_paper_map()
    with_results = readme.is_file()
    page = LANDING.read_text(encoding="utf-8")
    for key, value in {
        "{{provenance}}": provenance(manifest),
        "{{paper_map}}": paper_map_table(rows, stems),
        "{{notebooks}}": notebooks_table(stems, titles, rows, manifest),
        "{{toctree}}": toctree(stems, with_results),
    }.items():
        page = page.replace(key, value)
    if not with_results:
        page = page.replace("[Results beside the paper](results.md)", "Results beside the paper (no README)")
    _write_if_changed(src / "index.md", page)
    if with_results:
        _write_if_changed(src / "results.md", readme_results(readme, stems))
    return {"pages": figures, "titles": titles}


#: what a build folder holds (jupyter_execute/ is myst-nb's copy of the notebooks and their output files)
BUILD_ENTRIES = {"src", "html", "doctrees", "jupyter_execute", "warnings.txt", "screenshots"}


def _remove_build(out: Path) -> None:
    """``--clean``: remove a previous build, and refuse to remove anything that does not look like one."""
    foreign = sorted(p.name for p in out.iterdir() if p.name not in BUILD_ENTRIES)
    if out == ROOT or out in ROOT.parents or foreign:
        raise ValueError(f"--clean refuses to remove {out}: it is not a book build folder "
                         f"(holds {', '.join(foreign[:5]) or 'the repository'})")
    shutil.rmtree(out)


def build(executed: Path | str = ROOT / "figures" / "executed", out: Path | str = ROOT / "_build" / "book",
          clean: bool = False, strict: bool = False, readme: Path = README, quiet: bool = True) -> dict:
    """Assemble the sources and run Sphinx; return ``{"index", "html", "pages", "titles", "seconds",
    "warnings"}``.

    Raises
    ------
    RuntimeError
        If Sphinx fails (or, with ``strict``, warns).
    """
    from sphinx.cmd.build import build_main

    t0 = time.perf_counter()
    out = Path(out).resolve()
    if clean and out.exists():
        _remove_build(out)
    src, html, doctrees = out / "src", out / "html", out / "doctrees"
    info = assemble(Path(executed), src, readme=readme)
    warnings_file = out / "warnings.txt"
    args = ["-b", "html", "-c", str(BOOK), "-d", str(doctrees), "-w", str(warnings_file), "-j", "auto"]
    args += (["-q"] if quiet else []) + (["-W", "--keep-going"] if strict else [])
    code = build_main([*args, str(src), str(html)])
    warnings = warnings_file.read_text().strip() if warnings_file.exists() else ""
    if code != 0:
        raise RuntimeError(f"sphinx-build failed (exit {code}); warnings:\n{warnings}")
    return {"index": html / "index.html", "html": html, "seconds": round(time.perf_counter() - t0, 1),
            "warnings": warnings, **info}


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it, else absolute."""
    path = Path(path).resolve()
    return os.path.relpath(path) if Path.cwd() in path.parents else str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/build_book.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--executed", default=os.path.relpath(ROOT / "figures" / "executed"),
                    help="folder of executed notebooks (default: figures/executed)")
    ap.add_argument("--out", default=os.path.relpath(ROOT / "_build" / "book"),
                    help="build folder; the site lands in OUT/html (default: _build/book)")
    ap.add_argument("--clean", action="store_true", help="remove OUT first")
    ap.add_argument("--strict", action="store_true", help="fail on Sphinx warnings")
    ap.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    args = ap.parse_args(argv)
    try:
        res = build(args.executed, args.out, clean=args.clean, strict=args.strict, quiet=not args.verbose)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if res["warnings"]:
        print(res["warnings"], file=sys.stderr)
    print(f"{len(res['pages'])} notebook pages in {res['seconds']:.1f} s -> {_shown(res['index'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
