"""Sphinx configuration of the companion's book (``make book``; sources assembled by tools/build_book.py).

Why Sphinx + myst-nb and not Jupyter Book
-----------------------------------------
* Jupyter Book 2 builds on the MyST engine (mystmd), which needs Node.js and downloads its site template from
  the web on the first build; this project's machines and CI reach PyPI and Debian only, so it cannot
  build here.
* Jupyter Book 1 is a wrapper around exactly this stack (Sphinx + myst-nb + sphinx-book-theme), with older
  pins.
* Sphinx, myst-nb and sphinx-book-theme (with pydata-sphinx-theme) are pure-Python wheels from PyPI that carry
  their CSS, JavaScript and icon fonts inside the wheel: a build reads and writes local files only, and the
  pages load nothing from the network when opened (tests/test_book.py checks that every script, stylesheet
  and image is a local file). No option below names a remote service: no launch buttons, repository links,
  analytics, version switcher or intersphinx inventories; widgets and math, whose JavaScript would come from a
  CDN, are switched off (a widget shows its text form, a formula its source).

The notebooks are NOT executed (``nb_execution_mode = "off"``): the pages show the outputs stored in the
executed notebooks that ``make reproduce`` commits under ``figures/executed/``.

This file is used as the configuration directory (``sphinx-build -c book``); the source directory is generated
by tools/build_book.py inside the build folder, so nothing here refers to a machine path.
"""

from __future__ import annotations

project = "csi-companion"
author = "csi-companion contributors"
copyright = "csi-companion contributors; code under the MIT license"
html_title = "CSI-CNN companion"

extensions = ["myst_nb"]

# ---- myst-nb: render stored outputs, never run a kernel -----------------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True  # tools/build_book.py also collapses tqdm's carriage-return progress lines
nb_output_stderr = "show"
# myst-nb would load require.js and the widget manager from two CDNs on any page whose notebook saved widget
# state (e.g. a tqdm bar drawn with ipywidgets); without them a widget shows its text fallback.
nb_ipywidgets_js = {}
myst_enable_extensions = ["colon_fence", "deflist"]  # no "dollarmath"/"amsmath": no MathJax, nothing fetched
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"
language = "en"

# ---- theme: everything it loads ships in its wheel -----------------------------------------------------
html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,  # the page's .ipynb and .md, served from this build
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "navigation_with_keys": False,
    "navbar_persistent": [],  # pydata-sphinx-theme would add a second search box in a header bar
    "footer_content_items": ["copyright.html"],
    # the right-hand "Contents" column only on the landing page: notebook pages have one or two headings and
    # need the width for their tables and figures
    "secondary_sidebar_items": {"**": [], "index": ["page-toc"]},
}
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_show_sourcelink = False
html_copy_source = True  # needed by the download button
