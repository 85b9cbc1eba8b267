"""Write the README's results from the committed reference outputs in ``figures/`` (so they cannot drift).

Usage: ``python tools/readme_results.py`` rewrites the block between ``<!-- results:begin -->`` and
``<!-- results:end -->`` in README.md; ``--check`` only compares and exits 1 when the README is stale
(``tests/test_readme.py`` runs it). Every number below is read from a CSV of ``figures/`` or from
``figures/manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
LABEL = {"csi-cnn": "CSI-CNN", "wavelet": "Wavelet", "dncnn": "DnCNN"}
DATASETS = {"our": "Our (5 phones)", "kaggle": "Kaggle, same phones", "kaggle-other": "Kaggle, other phone",
            "vision": "Vision (35 devices)", "daxing": "Daxing (90 devices)"}
PLATFORMS = ("twitter", "facebook", "instagram", "wechat", "weibo")
CONDITION = {"original": "Original", "twitter": "Twitter", "facebook": "Facebook", "instagram": "Instagram",
             "wechat": "WeChat", "weibo": "WeiBo"}


def _ci(v: float, lo: float, hi: float, d: int = 3) -> str:
    return f"{v:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def table3_block(figures: Path) -> list[str]:
    f = figures / "06_table3_accuracy"
    acc = pd.read_csv(f / "accuracy_long.csv")
    pub = pd.read_csv(ROOT / "data" / "paper" / "table3.csv")
    pub["dataset"] = pub["dataset"].str.lower()
    lines = ["**Table 3, closed-set ACC (Eq. 9), mean over the five platforms** — ours (pooled 95 % Wilson "
             "interval) / paper; *n* test images per platform "
             "(`figures/06_table3_accuracy/accuracy_long.csv`):", "",
             "| dataset | n | chance | " + " | ".join(f"{LABEL[m]} ours / paper" for m in LABEL) + " |",
             "|---|---:|---:|" + "---|" * len(LABEL)]
    from csi.stats import wilson_interval

    plat = acc[acc.platform.isin(PLATFORMS)]
    for d, g in plat.groupby("dataset", sort=False):
        cells = []
        for m in LABEL:
            h = g[g.method == m]
            lo, hi = wilson_interval(int(h.correct.sum()), int(h.n_images.sum()))
            p = pub[pub.dataset == d][m.replace("-", "_")].mean() if d in set(pub.dataset) else float("nan")
            cells.append(f"{h.correct.sum() / h.n_images.sum():.3f} [{lo:.2f}, {hi:.2f}] / "
                         + ("–" if pd.isna(p) else f"{p:.3f}"))
        lines.append(f"| {DATASETS.get(d, d)} | {int(g.n_images.iloc[0])} | {g.chance.iloc[0]:.3f} | "
                     + " | ".join(cells) + " |")
    diff = pd.read_csv(f / "csicnn_minus_wavelet.csv")
    diff = diff[diff.dataset != "kaggle-other"]
    lines += ["", f"CSI-CNN − wavelet, paired on the same images (`csicnn_minus_wavelet.csv`, {len(diff)} dataset × "
              f"condition cells): CSI-CNN beats the wavelet (95 % interval above 0) in "
              f"{int(diff.verdict.str.startswith('CSI-CNN beats').sum())}, loses in "
              f"{int(diff.verdict.str.startswith('CSI-CNN loses').sum())}, no significant difference in "
              f"{int(diff.verdict.str.startswith('no significant').sum())}."]
    return lines


def claim_block(figures: Path) -> list[str]:
    f = figures / "09_claim_check"
    if not (f / "differences.csv").is_file():
        return ["Notebook 09 has no outputs in this `figures/`."]
    d = pd.read_csv(f / "differences.csv")
    head = pd.read_csv(f / "headroom.csv")
    top = int(d[d.regime == "originals"].pairs.max())
    end = d[(d.regime == "originals") & (d.pairs == top) & (d.metric == "acc")]
    lines = [f"**The central claim (notebook 09)**, `figures/09_claim_check/`: CSI-CNN at {top:,} training pairs "
             f"({int(end.n_seeds.iloc[0])} seeds, originals regime) against the wavelet, and the oracle's headroom, "
             f"n = {int(end.n_images.iloc[0])} test images per condition:", "",
             "| condition | wavelet ACC | oracle ACC | CSI-CNN ACC | CSI-CNN − wavelet, 95 % CI | verdict |",
             "|---|---:|---:|---:|---|---|"]
    acc = head.pivot_table(index="platform", columns="method", values="acc")
    cnn = [c for c in acc.columns if c.startswith("csi-cnn")][0]
    for r in end.itertuples():
        lines.append(f"| {CONDITION[r.platform]} | {acc.loc[r.platform, 'wavelet']:.3f} | "
                     f"{acc.loc[r.platform, 'oracle']:.3f} | {acc.loc[r.platform, cnn]:.3f} | "
                     f"{_ci(r.diff, r.ci_low, r.ci_high)} | {r.verdict} |")
    aug = d[(d.regime == "augmented") & (d.metric == "acc")]
    if len(aug):
        a = aug[aug.pairs == aug.pairs.max()]
        lines += ["", f"With platform augmentation ({int(a.pairs.iloc[0]):,} pairs): CSI-CNN beats the wavelet on "
                  f"{int(a.verdict.str.startswith('CSI-CNN beats').sum())}, loses on "
                  f"{int(a.verdict.str.startswith('CSI-CNN loses').sum())} of {len(a)} conditions."]
    return lines


def times_block(figures: Path) -> list[str]:
    man = json.loads((figures / "manifest.json").read_text())
    nbs = man.get("notebooks", {})
    total = sum(v["seconds"] for v in nbs.values())
    dev = man.get("device", {})
    where = dev.get("gpu") or dev.get("cpu") or "cpu"
    return [f"Run of `figures/`: scale `{man.get('scale')}`, seed {man.get('seed')}, commit "
            f"`{str(man.get('git', {}).get('commit', ''))[:10]}`, on {where} ({dev.get('resolved', '')}); "
            "per notebook: " + ", ".join(f"{k[:2]} {v['seconds']:.0f} s" for k, v in nbs.items())
            + f"; total {total / 60:.1f} min."]


def render(figures: Path = ROOT / "figures") -> str:
    parts = [*table3_block(figures), "", *claim_block(figures), "", *times_block(figures)]
    return "\n".join([BEGIN, *parts, END])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is not up to date")
    ap.add_argument("--figures", default=str(ROOT / "figures"))
    args = ap.parse_args(argv)
    text = README.read_text()
    if BEGIN not in text or END not in text:
        print(f"README.md lacks the markers {BEGIN} ... {END}", file=sys.stderr)
        return 1
    new = text.split(BEGIN)[0] + render(Path(args.figures)) + text.split(END, 1)[1]
    if args.check:
        if new != text:
            print("README.md results are stale: run python tools/readme_results.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
