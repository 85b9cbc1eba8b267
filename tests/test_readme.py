"""The README's results are generated from the committed figures/, and its commands exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_results_match_the_committed_figures():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_results.py"), "--check"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_readme_make_targets_exist():
    readme, makefile = (ROOT / "README.md").read_text(), (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for t in set(re.findall(r"`make ([a-z-]+)", readme)):
        assert t in targets, f"README mentions make {t}, which the Makefile lacks"
