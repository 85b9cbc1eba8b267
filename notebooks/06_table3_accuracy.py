# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Table 3: closed-set accuracy on the five platforms and the camera originals
#
# §4.3.2, Table 3: "the camera with the largest correlation coefficient with the image is used as the source
# camera", and the accuracy ACC (Eq. 9) is the fraction of test images attributed to their true camera. The three
# residual extractors (CSI-CNN, the wavelet filter of Eq. 3–4, DnCNN) are correlated with the same fingerprints
# (Eq. 5). The paper's numbers (`data/paper/table3.csv`) stand beside ours with the difference, and every accuracy
# comes with its number of test images *n* and a 95 % (Wilson) interval.
#
# What this notebook adds to the paper's table:
# * an **original** row per dataset: the camera files before any platform touched them;
# * **Kaggle in both readings**: `kaggle` splits the training phones' images 1:1:6:2 as §3.2.2 implies (compared
#   with the paper), `kaggle-other` tests on the competition's test images, which a *second* phone of each model
#   took, as §4.1.2 describes — PRNU identifies a device, not a model, so that reading should sit at chance;
# * a **paired comparison** of CSI-CNN and the wavelet on the same images: the 95 % bootstrap interval of the
#   accuracy difference and McNemar's test. "Beats" means the whole interval lies above 0.
#
# With the default `source="synthetic"` the datasets are simulated stand-ins (notebook 00), so the *pattern*
# (which method wins, which platform hurts most) matters more than the values.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from csi import evaluate, experiments, figures, io, paper, pipeline, prnu, simulator, stats

# %% [markdown]
# ## Parameters
# Papermill overrides this cell (`make reproduce`, `make figure NB=06`). `scale`: `"smoke"` (seconds, for tests),
# `"cpu"` (minutes on a laptop) or `"paper"` (the paper's sizes, for a GPU). `source`: `"synthetic"` or a real
# loader (`vision`, `kaggle`, `daxing`, `dresden`, `fodb`, `folder`) with `data_path` pointing at your copy.
# `crop` (an int or `"full"`) and `fingerprint_size` set the evaluation geometry (`"auto"`: 512 px for real
# photos). The next cell checks every value.

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
                        notebook="06_table3_accuracy")
figures.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The images and the fingerprints
# Each dataset is split per device (§3.2.2; `csi.pipeline` says how for each one), and every camera's fingerprint
# is estimated from its fingerprint images with Eq. 5 (cached after the first run). The table lists, per dataset,
# the cameras, the images behind the fingerprints and the test images scored here.

# %%
names = experiments.table_datasets(cfg)
data = {name: pipeline.load(cfg, name) for name in names}
K = {name: pipeline.fingerprints(cfg, ds) for name, ds in data.items()}  # Eq. 5

split = pd.DataFrame([{"dataset": name, "cameras": len(K[name]),
                       "fingerprint images": int((ds.images["split"] == "fingerprint").sum()),
                       "test images": len(ds.test), "protocol": ds.protocol} for name, ds in data.items()])
figures.save_table(split, cfg.out, "datasets")
split

# %%
per_device = pd.concat({name: ds.split_counts() for name, ds in data.items()}, names=["dataset"])
figures.save_table(per_device.reset_index(), cfg.out, "split_per_device")
skipped = [(name, p, r) for name, ds in data.items() for p, r in ds.skipped]
print(f"{len(skipped)} file(s) left out" + "".join(f"\n  {n}: {p}: {r}" for n, p, r in skipped[:20]))
per_device.groupby("dataset").sum()

# %% [markdown]
# ## The three residual extractors
# CSI-CNN (Table 1, trained with the cosine loss of Eq. 6–8, notebook 03), the wavelet filter (Eq. 3–4) and
# DnCNN (ref. [21], trained here as a blind denoiser). Each maps an RGB image to a one-channel residual `W`, which
# gets the same post-processing (zero-mean rows and columns, Wiener filtering in the DFT domain).
#
# Which networks: `csi_cnn_checkpoint`/`dncnn_checkpoint` if given. Otherwise a real source (`source="folder"`
# and the others) uses the two shipped with the package (`csi/weights/`, trained by `make reproduce` at `cpu`
# scale, seed 0, with their provenance beside them), so your photos are scored without training first. With
# `train_on_source=True` CSI-CNN trains on your photos; at a scale or seed with no shipped networks both train on
# the synthetic default; either way once, then cached. The synthetic source trains them in notebook 03
# (docs/training.md, "Shipped networks").
#
# *Workshop edit:* put any function `image -> residual` in `methods`, e.g.
# `methods["wavelet"] = lambda img: img[..., 1] - scipy.ndimage.uniform_filter(img[..., 1].astype(float), 3)`;
# its scores are recomputed because the cache is keyed by the function's code.

# %% tags=["edit-extractor"]
ckpt = pipeline.checkpoints(cfg)
methods = pipeline.extractors(cfg, ckpt)
list(methods)

# %% [markdown]
# ## The platforms
# How each platform re-serves an upload (resize rule and JPEG quality; `csi.simulator.PLATFORMS` gives the source
# of every number). A dataset's own platform copies, where it has them, are used as they are.
#
# *Workshop edit:* change a profile here, e.g. `profiles["wechat"]["quality"] = 30`, and rerun: the WeChat copies
# are made again and the WeChat rows change.

# %% tags=["edit-platform"]
profiles = {p: dict(simulator.PLATFORMS[p]) for p in experiments.PLATFORMS}
pd.DataFrame(profiles).T[["long_side", "quality", "subsampling"]]

# %% [markdown]
# ## One test image, step by step
# For one WeChat copy of the main dataset: crop the centre, take the residual `W = I − F(I)` (Eq. 4) with each
# extractor, correlate it with every camera's fingerprint window (the paper's ρ), and take the camera with the
# largest ρ as the source.

# %%
ds = data[experiments.main_dataset(cfg)]
one = pipeline.views(cfg, ds, "wechat", profiles).iloc[0]
img = io.read_rgb(one["path"])
y0, y1, x0, x1 = evaluate.crop_box(img.shape[:2], cfg.crop)
rho = {}
for m, extract in methods.items():
    W = extract(img[y0:y1, x0:x1])  # Eq. 3-4 (CNNs: their own residual)
    rho[m] = {cam: prnu.ncc(W, evaluate.fingerprint_window(Kc, img.shape[:2], (y0, y1, x0, x1)))
              for cam, Kc in K[ds.name].items()}
rho = pd.DataFrame(rho)
print(f"true camera: {one['device']}; chosen (argmax rho): "
      + ", ".join(f"{m} -> {rho[m].idxmax()}" for m in rho))
rho.style.format("{:+.4f}").highlight_max(axis=0)

# %% [markdown]
# ## Every test image against every camera
# The same computation for every image, dataset, condition and method (`pipeline.score`, which caches each table;
# CNNs see a few pixels of context around the crop, so their zero padding never meets real image content).

# %%
scores = pipeline.score_grid(cfg, names, experiments.CONDITIONS, methods, profiles=profiles)
scores.head()

# %% [markdown]
# ## ACC (Eq. 9), closed set
# For each image, the predicted camera is the argmax of ρ over the candidates; ACC = correct / n. The 95 %
# interval is Wilson's; chance is 1 / (number of cameras).

# %%
def correct(g: pd.DataFrame) -> pd.Series:
    """Per image: is the camera with the largest rho its true camera? (Table 3's closed-set rule)"""
    S = g.pivot_table(index="image", columns="candidate_device", values="ncc")
    true = g.groupby("image")["true_device"].first().reindex(S.index)
    return S.idxmax(axis=1) == true


acc = (scores.groupby(["dataset", "platform", "method"], sort=False)
       .apply(lambda g: pd.Series({"correct": int(correct(g).sum()), "n_images": g["image"].nunique(),
                                   "n_cameras": g["candidate_device"].nunique()}))
       .reset_index())
acc["acc"] = acc["correct"] / acc["n_images"]
acc["ci_low"], acc["ci_high"] = stats.wilson_interval(acc["correct"], acc["n_images"])
acc["chance"] = 1.0 / acc["n_cameras"]
figures.save_table(acc, cfg.out, "accuracy_long")
acc.pivot_table(index=["dataset", "platform"], columns="method", values="acc", sort=False)[list(methods)]

# %% [markdown]
# ## CSI-CNN against the wavelet, image by image
# Both methods see the same images and crops, so their difference is measured on pairs: the 95 % interval of
# ACC(CSI-CNN) − ACC(wavelet) resamples the images (bootstrap), and McNemar's test counts the images only one of
# the two gets right.

# %%
rows = []
for (d, p), g in scores.groupby(["dataset", "platform"], sort=False):
    diff = stats.paired_bootstrap(g, "acc", "csi-cnn", "wavelet", n_boot=1000, seed=cfg.seed)
    c = {m: correct(g[g.method == m]) for m in ("csi-cnn", "wavelet")}
    mc = stats.mcnemar(c["csi-cnn"].to_numpy(), c["wavelet"].reindex(c["csi-cnn"].index).to_numpy())
    rows.append({"dataset": d, "platform": p, "n_images": diff["n_images"], "csi_cnn": diff["a"],
                 "wavelet": diff["b"], "diff": diff["diff"],
                 "ci_low": diff["ci_low"], "ci_high": diff["ci_high"], "cnn_only": mc["a_only"],
                 "wavelet_only": mc["b_only"], "mcnemar_p": mc["p_value"],
                 "verdict": diff["verdict"]})
paired = pd.DataFrame(rows)
figures.save_table(paired, cfg.out, "csicnn_minus_wavelet")
paired

# %% [markdown]
# ## Table 3 beside the paper
# One row per dataset and condition: the paper's ACC, ours (with its 95 % interval) and ours − paper, for each
# method. The paper has no `original` rows and no `kaggle-other` rows.

# %%
pub = paper.table3(long=True)
t3 = paper.side_by_side(acc[["dataset", "platform", "method", "acc"]], pub, ["dataset", "platform"],
                        order=experiments.METHODS)
first = acc.groupby(["dataset", "platform"], sort=False)[["n_images", "chance"]].first().reset_index()
t3 = first.merge(t3, on=["dataset", "platform"], how="left")  # the rows of this run's datasets
for m in experiments.METHODS:
    ci = acc[acc.method == m].set_index(["dataset", "platform"])[["ci_low", "ci_high"]]
    tag = m.replace("-", "_")
    t3[f"ci_low_{tag}"] = [ci["ci_low"].get((d, p), np.nan) for d, p in zip(t3.dataset, t3.platform, strict=True)]
    t3[f"ci_high_{tag}"] = [ci["ci_high"].get((d, p), np.nan) for d, p in zip(t3.dataset, t3.platform, strict=True)]
order = {d: i for i, d in enumerate(["our", "kaggle", "kaggle-other", "vision", "daxing"])}
t3 = t3.sort_values(["dataset", "platform"], key=lambda s: s.map(order) if s.name == "dataset"
                    else s.map({p: i for i, p in enumerate(experiments.CONDITIONS)})).reset_index(drop=True)
figures.save_table(t3, cfg.out, "table3")
t3[["dataset", "platform", "n_images", "chance"] + [c for c in t3.columns if c.startswith(("paper_", "ours_"))]]

# %% [markdown]
# ## The figure: Table 3 drawn as a table
# Each cell shows the paper's ACC, ours with its interval and the difference; the colour is ours − paper (red:
# ours lower, blue: higher). Rows the paper does not have are grey on the paper side.

# %%
labels = {"csi-cnn": "CSI-CNN", "wavelet": "Wavelet", "dncnn": "DnCNN"}
rows_shown = t3[t3.dataset.isin(names)].reset_index(drop=True)
fig, ax = plt.subplots(figsize=(10, 0.26 * len(rows_shown) + 1.0))
ax.set_axis_off()
cell_text, colours = [], []
cmap = plt.get_cmap("RdBu")
for r in rows_shown.itertuples():
    line = [paper.DATASET_LABELS.get(r.dataset, r.dataset), paper.PLATFORM_LABELS.get(r.platform, r.platform),
            f"{int(r.n_images)}", f"{r.chance:.2f}"]
    col = ["w", "w", "w", "w"]
    for m in experiments.METHODS:
        tag = m.replace("-", "_")
        p, o = getattr(r, f"paper_{tag}"), getattr(r, f"ours_{tag}")
        lo, hi = getattr(r, f"ci_low_{tag}"), getattr(r, f"ci_high_{tag}")
        line += ["–" if np.isnan(p) else f"{p:.2f}", f"{o:.2f} ({lo:.2f}–{hi:.2f})",
                 "" if np.isnan(p) else f"{o - p:+.2f}"]
        col += ["0.92" if np.isnan(p) else "w", "w",
                "0.92" if np.isnan(p) else cmap(0.5 + np.clip(o - p, -1, 1) * 0.35)]
    cell_text.append(line)
    colours.append(col)
header = ["dataset", "condition", "n", "chance"] + [f"{labels[m]}\n{h}" for m in experiments.METHODS
                                                   for h in ("paper", "ours (95 % CI)", "Δ")]
tab = ax.table(cellText=cell_text, cellColours=colours, colLabels=header, loc="upper center", cellLoc="center")
tab.auto_set_font_size(False)
tab.set_fontsize(8)
tab.auto_set_column_width(list(range(len(header))))
tab.scale(1, 1.25)
for (i, _), cell in tab.get_celld().items():
    if i == 0:  # two-line header
        cell.set_height(2 * cell.get_height())
ax.set_title("Table 3: closed-set ACC (Eq. 9), paper vs this run", fontsize=10)
figures.save_figure(fig, cfg.out, "table3", formats=("png", "pdf"))
fig

# %% [markdown]
# ## What the numbers say
# The sentences below are computed from the tables above.

# %%
both = t3.dropna(subset=["paper_csi_cnn", "ours_csi_cnn"])
informative = paired[paired.dataset != "kaggle-other"]
lines = [f"- Paired comparison on {len(informative)} dataset × condition cells (Kaggle's other-phone reading left "
         f"out): CSI-CNN beats the wavelet (95 % interval of the ACC difference above 0) in "
         f"{int((informative.verdict == 'beats').sum())}, loses in "
         f"{int((informative.verdict == 'loses').sum())}, and the difference is not significant "
         f"in {int((informative.verdict == 'no difference').sum())}; the median difference is "
         f"{informative['diff'].median():+.3f} with a median n of {int(informative.n_images.median())} images."]
for d, g in acc[acc.platform != "original"].groupby("dataset", sort=False):
    means = g.groupby("method")["acc"].mean()
    lines.append(f"- `{d}`: mean ACC over the five platforms " + ", ".join(
        f"{labels[m]} {means[m]:.3f}" for m in experiments.METHODS) + f" (chance {g.chance.iloc[0]:.3f}, "
        f"n = {int(g.n_images.iloc[0])} images per cell).")
if "kaggle-other" in names:
    ko = acc[acc.dataset == "kaggle-other"]
    lines.append(f"- `kaggle-other` (second phone of each model): ACC {ko.acc.min():.3f}–{ko.acc.max():.3f} against "
                 f"chance {ko.chance.iloc[0]:.3f}: PRNU does not carry over to another phone of the same model.")
deltas = [paper.delta_sentence(both[f"ours_{t}"], both[f"paper_{t}"], f"{labels[m]} accuracies")
          for m, t in (("csi-cnn", "csi_cnn"), ("wavelet", "wavelet"), ("dncnn", "dncnn"))]
k_pub = int((both.paper_csi_cnn > both[["paper_wavelet", "paper_dncnn"]].max(axis=1)).sum())
beats_both = informative[informative.dataset.isin(set(both.dataset)) & informative.platform.isin(experiments.PLATFORMS)]
holds = bool((beats_both.verdict == "beats").all()) if len(beats_both) else None
claim = paper.claim_markdown(
    "table3", holds, f"CSI-CNN beats the wavelet with a 95 % interval above 0 in "
    f"{int((beats_both.verdict == 'beats').sum())} of {len(beats_both)} platform conditions "
    f"(the paper's own table has CSI-CNN strictly best in {k_pub} of {len(both)}, without intervals)")
display(Markdown("\n".join(lines) + "\n\nAgainst the paper: " + " ".join(deltas) + "\n\n" + claim))

# %% [markdown]
# ### The paper's remark on flat images
# §4.3.2 explains the low accuracy on Vision and Daxing by their many flat images. In our stand-ins flat images only
# estimate fingerprints, so a difference here comes from the number of cameras (35 and 90 against 5 and 10).

# %%
have = set(acc.dataset)
if {"vision", "daxing"} & have and {"our", "kaggle"} & have:
    plat = acc[acc.platform.isin(experiments.PLATFORMS)]
    low = plat[plat.dataset.isin(["vision", "daxing"])].groupby("method")["acc"].mean()
    high = plat[plat.dataset.isin(["our", "kaggle"])].groupby("method")["acc"].mean()
    holds = bool((low < high).all())
    display(Markdown(paper.claim_markdown("table3_flat", holds, "mean ACC on Vision/Daxing vs Our/Kaggle: " + "; ".join(
        f"{labels[m]} {low[m]:.3f} vs {high[m]:.3f}" for m in experiments.METHODS))))
else:
    display(Markdown("This run does not hold both groups of datasets, so the remark cannot be checked."))
