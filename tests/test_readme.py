"""The README's numbers are generated from the committed figures/, its commands and links exist, and it stays short."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOOL = ROOT / "tools" / "readme_results.py"
spec = importlib.util.spec_from_file_location("readme_results", TOOL)
readme_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_results)


def _check(readme: Path, figures: Path = ROOT / "figures") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), "--check", "--readme", str(readme), "--figures", str(figures)],
                          capture_output=True, text=True, cwd=ROOT)


def test_readme_results_match_the_committed_figures():
    out = _check(README)
    assert out.returncode == 0, out.stderr


def test_check_fails_when_a_number_in_the_prose_differs(tmp_path):
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- differs:begin -->")[1].split("<!-- differs:end -->")[0]
    number = re.search(r"\d\.\d\d", block).group(0)
    stale = tmp_path / "README.md"
    stale.write_text(text.replace(block, block.replace(number, "9.99", 1)), encoding="utf-8")
    assert _check(stale).returncode == 1
    stale.write_text(text.replace("<!-- differs:end -->", ""), encoding="utf-8")
    assert _check(stale).returncode == 1


@pytest.mark.parametrize("sentence, kind", [("CSI-CNN beats the wavelet", "beats"), ("beats", "beats"),
                                            ("CSI-CNN loses to the wavelet", "loses"), ("loses", "loses"),
                                            ("no significant difference between CSI-CNN and the wavelet",
                                             "no difference"), ("no difference", "no difference"),
                                            ("lower", "loses"), ("not significant", "no difference")])
def test_verdicts_as_sentences_or_categories(sentence, kind):
    assert readme_results.verdict_kind(sentence) == kind


def test_the_same_numbers_from_categories_and_renamed_figures(tmp_path):
    """figures/ with verdict categories and the new figure names gives the same README, up to the link names."""
    src, new = ROOT / "figures", tmp_path / "figures"
    shutil.copytree(src, new, ignore=shutil.ignore_patterns("executed", "workshop", "*.pdf", "*.jpg"))
    for csv in new.rglob("*.csv"):
        table = pd.read_csv(csv)
        if "verdict" in table.columns:
            table["verdict"] = table.verdict.map(readme_results.verdict_kind)
            table.to_csv(csv, index=False)
    renames = {}
    for old, renamed in (("07_fig4_fig5_roc_auc/fig4_auc_bars", "07_fig4_fig5_roc_auc/fig4_auc_per_platform"),
                         ("08_fig6_loss_curves/fig6_auc_per_epoch", "08_fig6_loss_curves/fig6_auc_per_training_pairs")):
        if (new / f"{old}.png").is_file():
            (new / f"{old}.png").rename(new / f"{renamed}.png")
            renames[Path(old).name] = Path(renamed).name
    text = README.read_text(encoding="utf-8")
    expected = readme_results.render(text, src)
    for old, renamed in renames.items():
        expected = expected.replace(old, renamed)
    assert readme_results.render(text, new) == expected


def test_readme_make_targets_exist():
    readme, makefile = README.read_text(encoding="utf-8"), (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for t in set(re.findall(r"`make ([a-z-]+)", readme)):
        assert t in targets, f"README mentions make {t}, which the Makefile lacks"


@pytest.mark.parametrize("page", ["README.md", "docs/guide.md"])
def test_local_links_exist(page):
    path = ROOT / page
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+://|^#|^mailto:", target):
            continue
        assert (path.parent / target.split("#")[0]).exists(), f"{page} links to {target}, which does not exist"


def test_readme_is_short_and_says_license_and_times():
    text = README.read_text(encoding="utf-8")
    prose = [ln for ln in text.splitlines() if not ln.startswith("|")]  # generated tables may grow with figures/
    assert len(prose) <= 150, f"README.md has {len(prose)} lines besides tables: move details to docs/guide.md"
    assert (ROOT / "LICENSE").is_file() and "[LICENSE](LICENSE)" in text
    assert "<!-- time: make-test -->" in text
