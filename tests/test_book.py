"""The static book (``make book``, tools/build_book.py): built from executed notebooks without running them.

The main test builds the book from the smoke-scale executed notebooks (the session fixture ``smoke_run``,
shared with tests/test_notebooks.py) and reads the HTML as a browser would: every notebook has a page, every
page shows the figures its notebook stored (``<img>`` tags whose files exist in the build), the landing page
links each paper item only to pages that exist, no relative link or anchor is broken, and nothing is loaded
from the network. A fast test builds a book from two hand-made notebooks to check discovery, the paper map and
the stream tidying.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from csi import paper

ROOT = Path(__file__).resolve().parents[1]
# Sphinx 9 flags APIs that the theme and myst-parser still use; not this project's to fix
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bb = _load_builder()

# ------------------------------------------------------------------------------------------------------------
# reading the HTML
# ------------------------------------------------------------------------------------------------------------

#: attributes that name another file; resources (everything but <a href>) must be local
LINK_ATTRS = {("a", "href"), ("link", "href"), ("script", "src"), ("img", "src"), ("source", "src"),
              ("iframe", "src"), ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")}
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, data:, javascript:, ...


class Page(HTMLParser):
    """Links, anchors and the figures inside notebook cell outputs of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.ids: set[str] = set()
        self.output_imgs: list[str] = []
        self._output_depth = 0  # >0 while inside <div class="cell_output ...">
        self._div_stack: list[bool] = []
        self._text: list[str] = []

    @property
    def text(self) -> str:
        """The page's visible text, whitespace collapsed."""
        return " ".join(" ".join(self._text).split())

    def handle_data(self, data):
        self._text.append(data)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(a[key])
        for attr in ("href", "src", "data"):
            if (tag, attr) in LINK_ATTRS and a.get(attr) is not None:
                self.links.append((tag, a[attr]))
        if tag == "div":
            is_output = "cell_output" in (a.get("class") or "").split()
            self._div_stack.append(is_output)
            self._output_depth += is_output
        if tag == "img" and self._output_depth and a.get("src"):
            self.output_imgs.append(a["src"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "div":
            self._output_depth -= self._div_stack.pop()

    def handle_endtag(self, tag):
        if tag == "div" and self._div_stack:
            self._output_depth -= self._div_stack.pop()


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_site(html: Path) -> dict[str, Page]:
    """Parse every page; fail on a broken relative link or anchor, or a resource from the network."""
    # _static/ holds the theme's Jinja macro files (*.html that no page loads); every other .html is a page
    pages = {p: parse(p) for p in sorted(html.rglob("*.html")) if "_static" not in p.relative_to(html).parts}
    problems = []
    for path, page in pages.items():
        rel = path.relative_to(html)
        for tag, url in page.links:
            if EXTERNAL.match(url) or url.startswith("//"):
                if tag != "a" and not url.startswith("data:"):
                    problems.append(f"{rel}: <{tag}> loads {url} from outside the build")
                continue
            parts = urlsplit(url)
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if parts.path and not target.exists():
                problems.append(f"{rel}: <{tag}> {url} -> missing {unquote(parts.path)}")
                continue
            if parts.fragment and target.suffix == ".html" and target.is_file():
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{rel}: <{tag}> {url} -> no anchor #{parts.fragment}")
    assert not problems, "broken links or network resources in the book:\n" + "\n".join(problems[:40])
    return pages


def check_figures(html: Path, page: Page, expected: int, name: str, min_px: int = 0) -> None:
    """The page shows at least the ``expected`` figures its notebook stored, each a file in the build, raster
    figures at least ``min_px`` wide."""
    from PIL import Image

    assert len(page.output_imgs) >= expected, (
        f"{name}: the notebook stored {expected} figure(s) but its page shows {len(page.output_imgs)}")
    for src in page.output_imgs:
        if src.startswith("data:"):
            continue
        f = (html / unquote(urlsplit(src).path)).resolve()
        assert f.is_file() and f.stat().st_size > 0, f"{name}: figure {src} is not in the build"
        if min_px and f.suffix.lower() in (".png", ".jpg", ".jpeg"):
            with Image.open(f) as im:
                assert im.size[0] >= min_px, f"{name}: figure {src} is {im.size[0]} px wide, under {min_px}"


# ------------------------------------------------------------------------------------------------------------
# the book from the smoke-scale notebooks
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_book(smoke_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    return bb.build(smoke_run["executed"], out, clean=True)


@pytest.mark.notebooks
@pytest.mark.slow
def test_book_from_smoke_notebooks(smoke_run, smoke_book):
    html = smoke_book["html"]
    executed = sorted(Path(smoke_run["executed"]).glob("*.ipynb"))
    assert executed, "the smoke run left no executed notebooks"
    print(f"book built in {smoke_book['seconds']} s from {len(executed)} notebooks")
    pages = check_site(html)

    index = parse(html / "index.html")
    index_links = {urlsplit(u).path for _, u in index.links}
    total_figures = 0
    for nb_path in executed:
        stem = nb_path.stem
        page_path = html / f"{stem}.html"
        assert page_path.is_file(), f"no page for {nb_path.name}"
        assert f"{stem}.html" in index_links, f"the landing page does not link {stem}"
        nb = json.loads(nb_path.read_text())
        expected = bb.count_figures(nb)
        total_figures += expected
        check_figures(html, pages[page_path], expected, stem, min_px=paper.MIN_FIGURE_PX)
        # compare words only: Sphinx typesets quotes and dashes (' -> ’)
        title = _words(bb.notebook_title(nb, stem))
        assert title in _words(pages[page_path].text), f"{stem}: the page does not show the notebook's title"
        assert "\r" not in page_path.read_text(encoding="utf-8"), f"{stem}: raw carriage returns on the page"
    ran = [stem for stem, (_, err) in smoke_run["results"].items() if err is None]
    if ran:  # a notebook that failed is reported by its own test; its page still shows what it stored
        assert total_figures > 0, "the smoke notebooks that ran stored no figure at all"
    check_relative(html)

    # the paper map: a row for every item, linked to its page where the notebook is in this build
    stems = [p.stem for p in executed]
    for row in bb.read_paper_map():
        assert _words(row["item"]) in _words(index.text), f"the landing page lacks {row['item']!r}"
        stem = bb.match_notebook(row["notebook"], stems)
        if stem is None:
            assert f"{row['notebook']} (not in this build)" in index.text

    # the README's results are a page of their own, linked from the landing page
    assert "results.html" in index_links
    results = (html / "results.html").read_text(encoding="utf-8")
    assert "Table 3" in results and "README.md" in results


def check_relative(html: Path) -> None:
    """No page names the build folder: the site can be moved, zipped or served as it is."""
    root = str(html.parent.resolve())
    for path in html.glob("*.html"):
        assert root not in path.read_text(encoding="utf-8"), f"{path.name} names the build folder {root}"


# ------------------------------------------------------------------------------------------------------------
# fast: a book from two hand-made notebooks
# ------------------------------------------------------------------------------------------------------------


def _png_bytes() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (64, 48), (30, 90, 160))
    for x in range(64):
        img.putpixel((x, x % 48), (250, 200, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _notebook(title: str, png: bytes) -> dict:
    stream = ["\rwork:   0%|          | 0/3", "\rwork:  67%|######6   | 2/3",
              "\rwork: 100%|##########| 3/3\n"]
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": f"# {title}\n\nSome text."},
            {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1, "source": "fig",
             "outputs": [
                 *({"output_type": "stream", "name": "stderr", "text": s} for s in stream),
                 {"output_type": "display_data", "metadata": {},
                  "data": {"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"}},
                 {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                  "data": {"text/html": "<table class='dataframe'><tr><td>0.5</td></tr></table>",
                           "text/plain": "0.5"}},
             ]},
        ],
    }


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny_book")
    executed = base / "executed"
    executed.mkdir()
    png = _png_bytes()
    (executed / "06_table3_accuracy.ipynb").write_text(json.dumps(_notebook("06 · Table 3: accuracy", png)))
    workshop = _notebook("10 · Workshop", png)
    # a notebook that saved ipywidgets state: myst-nb would load the widget manager from a CDN unless told not
    model = {"model_name": "FloatProgressModel", "model_module": "@jupyter-widgets/controls",
             "model_module_version": "2.0.0", "state": {"value": 3, "max": 3}}
    workshop["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"m1": model}, "version_major": 2, "version_minor": 0}}
    workshop["cells"][1]["outputs"].append({"output_type": "display_data", "metadata": {}, "data": {
        "application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2,
                                                     "version_minor": 0},
        "text/plain": "bar: 100% 3/3"}})
    (executed / "10_workshop.ipynb").write_text(json.dumps(workshop))
    return bb.build(executed, base / "book", clean=True)


def test_tiny_book_pages_links_and_figures(tiny_book):
    html = tiny_book["html"]
    pages = check_site(html)
    check_relative(html)
    assert tiny_book["pages"] == {"06_table3_accuracy": 1, "10_workshop": 1}
    for stem in tiny_book["pages"]:
        check_figures(html, pages[html / f"{stem}.html"], 1, stem)
    index = (html / "index.html").read_text(encoding="utf-8")
    index_text = pages[html / "index.html"].text
    # discovered, not listed: a notebook named after the workshop is mapped to the workshop row
    assert 'href="10_workshop.html"' in index and 'href="06_table3_accuracy.html"' in index
    # rows whose notebook is not in this build are shown without a link
    assert "09 (not in this build)" in index_text and 'href="00_data.html"' not in index
    assert "not recorded" in index_text  # no manifest.json beside these notebooks
    page = (html / "06_table3_accuracy.html").read_text(encoding="utf-8")
    assert "0/3" not in page and "3/3" not in page, "progress bars are not results: the page drops them"


def test_terminal_text_resolves_progress_bars():
    t = bb._terminal_text
    assert t("\ra 0%\ra 50%\ra 100%\n") == "a 100%\n"
    # nested tqdm bars: the inner bar is redrawn one line down and the cursor moves back up with ESC[A
    nested = "\router 0%\n\rinner 1\x1b[A\n\rinner 2\x1b[A\n\rinner 3\x1b[A\router 100%\n"
    assert t(nested) == "outer 100%\ninner 3\n"
    assert t("plain\ntext\n") == "plain\ntext\n"
    assert t("erase me\r\x1b[Kkept\n") == "kept\n"


def test_progress_lines_are_dropped_and_results_kept():
    drop = bb.drop_progress_lines
    kept = "0 file(s) left out\nwavelet filter: 48 of 50 test pictures attributed to their phone\n"
    progress = ("scores: 74/90 table after 60 s\ntrain CSI-CNN: 250 step in 154.5 s (loss=0.48, val_auc=0.80)\n"
                "building our/cpu: 400 shot in 20.6 s\nwork: 100%|##########| 3/3 [00:01<00:00]\n 67%|######6   | 2/3\n")
    assert drop(progress + kept) == kept


def test_one_toggle_for_the_parameters_and_contents_on_long_pages():
    code = {"cell_type": "code", "outputs": [], "execution_count": 1}
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Title"},
                    {**code, "metadata": {"tags": ["parameters"]}, "source": 'scale = "cpu"  # the size'},
                    {**code, "metadata": {"tags": ["injected-parameters"]}, "source": 'scale = "smoke"'},
                    *({"cell_type": "markdown", "metadata": {}, "source": f"## Part {k}"} for k in range(4))]}
    out = bb.add_contents(bb.fold_parameter_cells(nb))
    params = [c for c in out["cells"] if c["cell_type"] == "code"]
    assert len(params) == 1 and "hide-input" in params[0]["metadata"]["tags"]
    assert 'scale = "cpu"  # the size' in params[0]["source"] and 'scale = "smoke"' in params[0]["source"]
    assert "{contents}" in out["cells"][1]["source"]  # under the title
    short = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Title\n\n## Only part"}]}
    assert not any("{contents}" in str(c["source"]) for c in bb.add_contents(short)["cells"])


def test_tidy_streams_merges_and_keeps_other_outputs():
    nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": "\rx 1"},
        {"output_type": "stream", "name": "stderr", "text": ["\rx 2", "\n"]},
        {"output_type": "display_data", "data": {"text/plain": "keep"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "\r"},
    ]}]}
    outs = bb.tidy_streams(nb)["cells"][0]["outputs"]
    assert outs == [{"output_type": "stream", "name": "stderr", "text": "x 2\n"},
                    {"output_type": "display_data", "data": {"text/plain": "keep"}, "metadata": {}}]


def test_paper_map_matches_notebook_names():
    rows = bb.read_paper_map()
    assert rows and all(r["item"] and r["notebook"] for r in rows)
    stems = ["00_data", "01_table1_architecture", "06_table3_accuracy", "09_claim_check", "workshop"]
    assert bb.match_notebook("00", stems) == "00_data"
    assert bb.match_notebook("09", stems) == "09_claim_check"
    assert bb.match_notebook("workshop", stems) == "workshop"
    assert bb.match_notebook("workshop", ["10_workshop"]) == "10_workshop"
    assert bb.match_notebook("07", stems) is None
    items = " ".join(r["item"] for r in rows)
    for needed in ("§4.1", "Eq. 1", "Table 1", "Fig. 1", "Eq. 3", "§3.2.2", "Fig. 2", "Eq. 6", "Table 2",
                   "Fig. 3", "Table 3", "Fig. 4", "Fig. 5", "Fig. 6"):
        assert needed in items, f"the paper map has no row for {needed}"
