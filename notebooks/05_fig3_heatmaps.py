# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Fig. 3 (a–f): correlation heatmaps on each platform
#
# §4.3.2, Fig. 3: "uploading our dataset to five platforms and taking two pictures randomly from each camera": for
# each picture, the correlation ρ of its CSI-CNN residual with each camera's fingerprint (Eq. 5), drawn as a heatmap
# per platform. The figure has six panels (a)–(f) for five platforms; we draw (a) the camera originals and (b)–(f)
# the five platforms in Table 3's order, two pictures per camera drawn with the run's seed (the same pictures in
# every panel), on one shared colour scale.
#
# The paper prints no numbers for Fig. 3. Its text claims that "the NCC identified by CSI-CNN is higher than those
# identified by DnCNN and wavelet filters"; this is checked below on *all* test images of the main dataset
# (`our`): the mean ρ of each image with its own camera's fingerprint, per condition and method, with *n* and a
# 95 % interval, and the paired interval of CSI-CNN minus each baseline on the same images.

# %%
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from scipy import stats as sps

from csi import experiments, paper, pipeline

# %% [markdown]
# ## Parameters
# Papermill overrides this cell (`make reproduce`, `make figure NB=05`); see notebook 06 for the meaning of each
# name. The next cell checks every value.

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
                        notebook="05_fig3_heatmaps")
paper.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The images, the fingerprints and the scores
# The main dataset's test images on every condition (`pipeline.views`: the originals and the five platforms'
# copies), its fingerprints (Eq. 5), and ρ of every image with every camera for the three extractors
# (`pipeline.score_grid`, cached; the same tables as notebooks 06–07).

# %%
main = experiments.main_dataset(cfg)
ds = pipeline.load(cfg, main)
K = pipeline.fingerprints(cfg, ds)                        # Eq. 5
methods = pipeline.extractors(cfg, pipeline.checkpoints(cfg))
conditions = list(experiments.CONDITIONS)
scores = pipeline.score_grid(cfg, [main], conditions, methods)
# every copy's path -> the scene it shows, so a picture can be followed from panel to panel
scene_of = {p: s for c in conditions for p, s in pipeline.views(cfg, ds, c, progress=False)[["path", "scene_id"]]
            .itertuples(index=False)}
scores["scene_id"] = scores["image"].map(scene_of)
scores.groupby(["platform", "method"], sort=False)["image"].nunique().unstack()

# %% [markdown]
# ## Two random pictures per camera
# Drawn once with the run's seed among each camera's test images; a picture is labelled `<camera> #k`.

# %%
per = int(cfg.settings["fig3_per_camera"])
rng = np.random.default_rng(cfg.seed)
cams = sorted(K)
short = {c: re.sub(r"^D\d+_", "", c) for c in cams}
picks = {}
for cam in cams:
    g = ds.test[ds.test["device"] == cam].sort_values("scene_id")
    for k, i in enumerate(sorted(rng.choice(len(g), size=min(per, len(g)), replace=False)), 1):
        picks[g["scene_id"].iloc[i]] = f"{short[cam]} #{k}"
pictures = list(picks.values())
pd.Series(picks, name="picture").rename_axis("scene_id").to_frame()

# %% [markdown]
# ## Fig. 3's numbers
# ρ of each chosen picture's CSI-CNN residual with each camera's fingerprint, on each condition.

# %%
f3 = scores[(scores.method == "csi-cnn") & scores.scene_id.isin(picks)].copy()
f3["picture"] = f3["scene_id"].map(picks)
f3 = f3[["platform", "picture", "scene_id", "image", "true_device", "candidate_device", "ncc"]]
paper.save_table(f3, cfg.out, "fig3_ncc")
f3.pivot_table(index="picture", columns=["platform", "candidate_device"], values="ncc", sort=False).iloc[:, :len(cams)]

# %% [markdown]
# ## The figure: Fig. 3 (a)–(f)
# One panel per condition: rows the pictures, columns the fingerprints' cameras, one colour scale for all six
# panels. The box marks each picture's own camera: a picture is attributed correctly when its box holds the row's
# largest ρ.

# %%
vmax = float(np.abs(f3.ncc).max()) if len(f3) else 1.0
shown_cams = paper.device_order(cams)  # Table 2's order
cam_names = paper.device_labels(cams)
cam_of = f3.groupby("picture")["true_device"].first()
shown_pics = sorted(pictures, key=lambda pic: (shown_cams.index(cam_of[pic]), pic))
pic_names = {pic: f"{cam_names[cam_of[pic]]} #{pic.rsplit(' #', 1)[1]}" for pic in pictures}
fig, axes = plt.subplots(2, 3, figsize=(10.4, 8.2), layout="constrained", sharex=True, sharey=True)
for ax, cond, letter in zip(axes.flat, conditions, "abcdef", strict=True):
    m = (f3[f3.platform == cond].pivot_table(index="picture", columns="candidate_device", values="ncc")
         .reindex(index=shown_pics, columns=shown_cams))
    im = ax.imshow(m.to_numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    for (i, j), x in np.ndenumerate(m.to_numpy()):
        ax.text(j, i, f"{x:.2f}", ha="center", va="center", fontsize=8, color="white" if abs(x) > 0.6 * vmax else "k")
    for i, pic in enumerate(shown_pics):
        j = shown_cams.index(cam_of[pic])
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="k", lw=1.2))
    ax.set_title(f"({letter}) {paper.PLATFORM_LABELS[cond]}")
    ax.set_xticks(range(len(shown_cams)), [cam_names[c] for c in shown_cams], rotation=40, ha="right")
    ax.set_yticks(range(len(shown_pics)), [pic_names[pic] for pic in shown_pics])
    ax.spines[:].set_visible(False)
for ax in axes[1]:
    ax.set_xlabel("fingerprint's camera")
for ax in axes[:, 0]:
    ax.set_ylabel("picture")
fig.colorbar(im, ax=axes, shrink=0.6, label="ρ of the CSI-CNN residual with the fingerprint")
fig.suptitle(f"Fig. 3: ρ of two random pictures per camera ({paper.DATASET_LABELS.get(main, main)} dataset) with "
             "every camera's fingerprint")
paper.save_figure(fig, cfg.out, "fig3_heatmaps")
fig

# %% [markdown]
# ## The text claim: mean ρ with the true camera, per condition and method
# For every test image (not only the pictures above): ρ with its own camera's fingerprint, averaged per condition
# and method, with *n* and the 95 % t-interval of the mean; `margin` is the mean of own ρ minus the largest ρ with
# another camera (positive: the own camera wins on average).

# %%
def mean_ci(x) -> tuple[float, float]:
    """95 % t-interval of a mean (NaN for fewer than two values)."""
    x = np.asarray(x, float)
    if len(x) < 2:
        return np.nan, np.nan
    h = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return x.mean() - h, x.mean() + h


own = {}
rows = []
for (cond, m), g in scores.groupby(["platform", "method"], sort=False):
    S = g.pivot_table(index="scene_id", columns="candidate_device", values="ncc")
    true = g.groupby("scene_id")["true_device"].first().reindex(S.index)
    is_own = S.columns.to_numpy()[None, :] == true.to_numpy()[:, None]
    o = pd.Series(S.to_numpy()[is_own], index=S.index)
    other = np.where(is_own, -np.inf, S.to_numpy()).max(axis=1)
    own[cond, m] = o
    lo, hi = mean_ci(o)
    rows.append({"platform": cond, "method": m, "n_images": len(o), "mean_ncc": o.mean(), "ci_low": lo, "ci_high": hi,
                 "margin": float((o - other).mean())})
true_ncc = pd.DataFrame(rows)
paper.save_table(true_ncc, cfg.out, "mean_true_camera_ncc")
true_ncc.pivot_table(index="platform", columns="method", values="mean_ncc", sort=False)[list(methods)]

# %% [markdown]
# ### CSI-CNN against each baseline, image by image
# The same images on each condition, so the difference is taken per image: the mean of ρ(CSI-CNN) − ρ(baseline)
# with its 95 % t-interval. "Higher" means the interval lies above 0.

# %%
rows = []
for cond in conditions:
    for base in ("wavelet", "dncnn"):
        d = (own[cond, "csi-cnn"] - own[cond, base]).dropna()
        lo, hi = mean_ci(d)
        rows.append({"platform": cond, "baseline": base, "n_images": len(d), "diff": d.mean(), "ci_low": lo,
                     "ci_high": hi, "verdict": "higher" if lo > 0 else "lower" if hi < 0 else "not significant"})
diff = pd.DataFrame(rows)
paper.save_table(diff, cfg.out, "fig3_csicnn_minus_baselines")
diff

# %%
labels = paper.METHOD_LABELS
fig, ax = plt.subplots(figsize=(8, 3.6))
x = np.arange(len(conditions))
for i, m in enumerate(experiments.METHODS):
    g = true_ncc[true_ncc.method == m].set_index("platform").reindex(conditions)
    sty = paper.method_style(m)
    ax.errorbar(x + (i - 1) * 0.22, g.mean_ncc, yerr=[g.mean_ncc - g.ci_low, g.ci_high - g.mean_ncc],
                fmt=sty["marker"], capsize=3, color=sty["color"], label=f"{labels[m]}")
ax.axhline(0, color="k", lw=0.6)
ax.set_xticks(x, [paper.PLATFORM_LABELS[c] for c in conditions])
n = int(true_ncc.n_images.median())
ax.set(ylabel="mean ρ with the own camera", title=f"Mean ρ with the true camera, {paper.DATASET_LABELS.get(main, main)} "
       f"dataset (n = {n} images per point, 95 % intervals)")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
fig.tight_layout()
paper.save_figure(fig, cfg.out, "mean_true_camera_ncc")
fig

# %% [markdown]
# ## What the numbers say
# Computed from the tables above.

# %%
hits = []
for cond, g in f3.groupby("platform", sort=False):
    best = g.loc[g.groupby("picture")["ncc"].idxmax()]
    hits.append(f"{paper.PLATFORM_LABELS[cond]} {int((best.candidate_device == best.true_device).sum())}/{len(best)}")
plat = diff[diff.platform.isin(experiments.PLATFORMS)]
lines = ["- Pictures of the heatmaps whose own camera has the largest ρ: " + ", ".join(hits) + "."]
for base in ("wavelet", "dncnn"):
    b = plat[plat.baseline == base]
    lines.append(f"- CSI-CNN against {labels[base]} on the five platforms: mean own-camera ρ higher (95 % interval "
                 f"above 0) on {int((b.verdict == 'higher').sum())}, lower on {int((b.verdict == 'lower').sum())}, "
                 f"not significant on {int((b.verdict == 'not significant').sum())}; median difference "
                 f"{b['diff'].median():+.4f} (n = {int(b.n_images.median())} images per platform).")
orig = true_ncc[true_ncc.platform == "original"].set_index("method").mean_ncc
lines.append("- On the camera originals the mean own-camera ρ is " + ", ".join(
    f"{labels[m]} {orig[m]:.4f}" for m in experiments.METHODS) + ".")
holds = bool(len(plat)) and bool((plat.verdict == "higher").all())
display(Markdown("\n".join(lines) + "\n\n" + paper.claim_markdown(
    "fig3", holds, f"CSI-CNN's mean ρ with the true camera is higher, with the paired 95 % interval above 0, in "
    f"{int((plat.verdict == 'higher').sum())} of {len(plat)} platform × baseline comparisons")))
