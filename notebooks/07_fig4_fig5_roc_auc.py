# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Fig. 4 (AUC per platform) and Fig. 5 (ROC curves)
#
# §4.2.2 and §4.3.2. Verification: every test image is scored against every camera's fingerprint (ρ, the NCC); a
# pair (image, camera) is *positive* when the camera took the image. Sweeping a threshold over ρ gives the ROC
# curve, TPR (Eq. 11) against FPR (Eq. 10), and the AUC is computed with the Mann–Whitney rank formula (Eq. 12).
# We use the standard definitions of TP, FP, TN and FN (the paper's text swaps FN and TN), and Eq. 12 with
# *ascending* ranks (the paper says descending, which would give 1 − AUC).
#
# The paper prints no numbers for Fig. 4 or Fig. 5. Its claims: "the method proposed in this paper has better
# results" (Fig. 4) and all three methods "have good performance" (Fig. 5). They are checked below with 95 %
# intervals: every AUC has a bootstrap interval over *images* (an image contributes one positive and several
# negative pairs, which are not independent), and CSI-CNN "has better results" where the interval of its AUC
# minus the wavelet's lies above 0. The scores are the same cached tables as notebook 06, with the camera
# originals as a sixth condition.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from csi import experiments, figures, metrics, paper, pipeline, stats

# %% [markdown]
# ## Parameters
# Papermill overrides this cell; see notebook 06 for the meaning of each name. The next cell checks every value.

# %% tags=["parameters"]
scale = "cpu"
source = "synthetic"
data_path = ""
datasets = "our,kaggle,vision,daxing"
device = "auto"
seed = 0
crop = "auto"
fingerprint_size = "auto"
csi_cnn_checkpoint = ""
dncnn_checkpoint = ""
train_on_source = False
out_dir = "auto"  # "auto": ../runs/<source>-<scale>/ (gitignored); make reproduce passes "../figures"
data_root = "../data"

# %%
cfg = experiments.setup(scale=scale, source=source, data_path=data_path, datasets=datasets, device=device,
                        seed=seed, crop=crop, fingerprint_size=fingerprint_size,
                        csi_cnn_checkpoint=csi_cnn_checkpoint, dncnn_checkpoint=dncnn_checkpoint,
                        train_on_source=train_on_source, out_dir=out_dir, data_root=data_root,
                        notebook="07_fig4_fig5_roc_auc")
figures.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The scores
# The datasets, fingerprints (Eq. 5) and extractors of notebook 06; `score_grid` reads the cached tables (or
# computes them): one row per test image × candidate camera with its ρ.

# %%
names = experiments.table_datasets(cfg)
methods = pipeline.extractors(cfg, pipeline.checkpoints(cfg))
scores = pipeline.score_grid(cfg, names, experiments.CONDITIONS, methods)
scores["positive"] = scores["candidate_device"] == scores["true_device"]
scores.groupby(["dataset", "method"], sort=False)["image"].nunique().unstack()

# %% [markdown]
# ## AUC (Eq. 12) with its 95 % interval
# Every (image, camera) pair is one sample with score ρ and label "the camera took the image". The interval
# resamples images (1,000 bootstrap draws).

# %%
rows = []
for (d, p, m), g in scores.groupby(["dataset", "platform", "method"], sort=False):
    a = metrics.auc_mann_whitney(g["ncc"].to_numpy(), g["positive"].to_numpy())  # Eq. 12
    _, lo, hi = stats.auc_interval(g["ncc"].to_numpy(), g["positive"].to_numpy(), g["image"].to_numpy(),
                                  n_boot=1000, seed=cfg.seed)
    rows.append({"dataset": d, "platform": p, "method": m, "auc": a, "ci_low": lo, "ci_high": hi,
                 "n_images": g["image"].nunique(), "n_pos": int(g["positive"].sum()),
                 "n_neg": int((~g["positive"]).sum())})
auc = pd.DataFrame(rows)
figures.save_table(auc, cfg.out, "fig4_auc")
auc.pivot_table(index=["dataset", "platform"], columns="method", values="auc", sort=False)[list(methods)]

# %% [markdown]
# ## CSI-CNN against the wavelet
# The AUC difference on the same images, with a paired bootstrap interval.

# %%
rows = []
for (d, p), g in scores.groupby(["dataset", "platform"], sort=False):
    r = stats.paired_bootstrap(g, "auc", "csi-cnn", "wavelet", n_boot=1000, seed=cfg.seed)
    rows.append({"dataset": d, "platform": p, "n_images": r["n_images"], "csi_cnn": r["a"], "wavelet": r["b"],
                 "diff": r["diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                 "verdict": r["verdict"]})
auc_diff = pd.DataFrame(rows)
figures.save_table(auc_diff, cfg.out, "fig4_auc_csicnn_minus_wavelet")
auc_diff

# %% [markdown]
# ## Fig. 4 (a)–(d): AUC per platform
# As in the paper: one panel per dataset (Our, Kaggle, Vision, Daxing), the platforms along x, one value per method;
# here with the camera originals first, as points with 95 % intervals (the paper draws bars), on a y-range that
# shows the differences. (Kaggle is the same-phone reading; the other-phone reading is in the table above.)

# %%
panels = [d for d in ("our", "kaggle", "vision", "daxing") if d in names] or [names[0]]
fig, axes = plt.subplots(int(np.ceil(len(panels) / 2)), min(2, len(panels)), figsize=(10, 3.2 * np.ceil(len(panels) / 2) + 0.5),
                         squeeze=False, sharey=True)
conds = list(experiments.CONDITIONS)
x = np.arange(len(conds))
shown = auc[auc.dataset.isin(panels)]
low = max(0.0, np.floor((shown["ci_low"].min() - 0.02) * 20) / 20)  # the y-range shows the differences
for ax, d, letter in zip(axes.flat, panels, "abcd", strict=False):
    for i, m in enumerate(experiments.METHODS):
        g = auc[(auc.dataset == d) & (auc.method == m)].set_index("platform").reindex(conds)
        sty = figures.method_style(m)
        ax.errorbar(x + (i - 1) * 0.22, g["auc"], yerr=[g["auc"] - g["ci_low"], g["ci_high"] - g["auc"]],
                    fmt=sty["marker"], color=sty["color"], ms=5, capsize=2, elinewidth=1, label=paper.METHOD_LABELS[m])
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.set_xticks(x, [paper.PLATFORM_LABELS[c] for c in conds], rotation=25)
    ax.tick_params(labelleft=True)
    ax.grid(axis="y", color="0.9", lw=0.6)
    ax.set(ylim=(low, 1.0 + (1.0 - low) * 0.03), title=f"({letter}) {paper.DATASET_LABELS.get(d, d)}",
           ylabel="AUC (Eq. 12), 95 % CI")
for ax in list(axes.flat)[len(panels):]:
    ax.axis("off")
figures.legend_on_top(fig, *axes.flat[0].get_legend_handles_labels(), title="Fig. 4: AUC per platform and method")
figures.save_figure(fig, cfg.out, "fig4_auc_per_platform")
fig

# %% [markdown]
# ## Fig. 5 (a)–(d): ROC curves
# The ROC (Eq. 10–11) of each method on each condition, in the paper's panel order: (a) Our, (b) Vision,
# (c) Kaggle, (d) Daxing, as rows; one panel per condition, so each panel holds one curve per method (colour and
# line style: method, the same as in every figure). The AUCs above are computed on the full curves;
# the stored curves keep about 200 points each (`metrics.downsample_roc`, which never shows a curve above the data).

# %%
roc_rows = []
for (d, p, m), g in scores.groupby(["dataset", "platform", "method"], sort=False):
    fpr, tpr, _ = metrics.roc_curve(g["ncc"].to_numpy(), g["positive"].to_numpy())  # Eq. 10-11
    f, t = metrics.downsample_roc(fpr, tpr, n=200)
    roc_rows.append(pd.DataFrame({"dataset": d, "platform": p, "method": m, "fpr": f, "tpr": t}))
roc = pd.concat(roc_rows, ignore_index=True)
figures.save_table(roc, cfg.out, "fig5_roc_points")
roc.groupby(["dataset", "platform", "method"]).size().describe()[["count", "max"]]

# %%
order5 = [d for d in ("our", "vision", "kaggle", "daxing") if d in names] or [names[0]]
fig, axes = plt.subplots(len(order5), len(conds), figsize=(10, 1.6 * len(order5) + 1.0), squeeze=False,
                         sharex=True, sharey=True)
for r, (d, letter) in enumerate(zip(order5, "abcd", strict=False)):
    for ax, p in zip(axes[r], conds, strict=True):
        for m in experiments.METHODS:
            g = roc[(roc.dataset == d) & (roc.platform == p) & (roc.method == m)]
            sty = figures.method_style(m)
            ax.plot(g.fpr, g.tpr, color=sty["color"], ls=sty["linestyle"], lw=1.3, label=paper.METHOD_LABELS[m])
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.7)
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.set_yticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.set_aspect("equal")
        ax.tick_params(labelbottom=True, labelleft=True)  # tick labels on every row
        if r == 0:
            ax.set_title(paper.PLATFORM_LABELS[p])
    axes[r, 0].set_ylabel(f"({letter}) {paper.DATASET_LABELS.get(d, d)}\nTPR (Eq. 11)")
for ax in axes[-1]:
    ax.set_xlabel("FPR (Eq. 10)")
figures.legend_on_top(fig, *axes[0, 0].get_legend_handles_labels(),
                    title="Fig. 5: ROC curves, one panel per dataset (rows) and platform (columns)")
figures.save_figure(fig, cfg.out, "fig5_roc")
fig

# %% [markdown]
# ## What the numbers say
# Computed from the tables above. "Good performance" (Fig. 5) is read as an AUC of at least 0.8 — the paper
# gives no threshold, so the choice is ours and stated.

# %%
GOOD_AUC = 0.8
cmp = auc_diff[auc_diff.dataset.isin(panels) & auc_diff.platform.isin(experiments.PLATFORMS)]
better = int((cmp.verdict == "beats").sum())
worse = int((cmp.verdict == "loses").sum())
best = auc.pivot_table(index=["dataset", "platform"], columns="method", values="auc").idxmax(axis=1).value_counts()
lines = ["- Highest AUC per dataset × condition: " + ", ".join(
    f"{paper.METHOD_LABELS[m]} {int(best.get(m, 0))}" for m in experiments.METHODS) + f" of {int(best.sum())} (point "
    "estimates, ignoring the intervals)."]
for d, g in auc.groupby("dataset", sort=False):
    lines.append(f"- `{d}`: mean AUC " + ", ".join(f"{paper.METHOD_LABELS[m]} {g[g.method == m].auc.mean():.3f}"
                                                   for m in experiments.METHODS)
                 + f" (n = {int(g.n_images.iloc[0])} images per cell).")
plat = auc[auc.platform.isin(experiments.PLATFORMS) & auc.dataset.isin(panels)]
good = int((plat.auc >= GOOD_AUC).sum())
above = int((plat.ci_low > 0.5).sum())
text = "\n".join(lines) + "\n\n" + paper.claim_markdown(
    "fig4", bool(len(cmp)) and better == len(cmp),
    f"CSI-CNN's AUC minus the wavelet's has a 95 % interval above 0 in {better} of {len(cmp)} platform conditions "
    f"and below 0 in {worse}")
text += "\n" + paper.claim_markdown(
    "fig5", bool(len(plat)) and good == len(plat),
    f"{good} of {len(plat)} platform ROC curves reach AUC ≥ {GOOD_AUC}; {above} have a 95 % interval above chance "
    f"(0.5); the lowest AUC is {plat.auc.min():.3f}")
display(Markdown(text))
