# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Camera fingerprints (Eq. 3–5)
#
# §3.1.2: a denoising filter `F` gives `I0' = F(I)` (Eq. 3), the noise residual is `W = I − I0' = I·K + η`
# (Eq. 4), and the maximum-likelihood fingerprint of a camera from `N` images is `K = Σ W_k I_k / Σ I_k²` (Eq. 5).
# The companion's `F` is the established wavelet filter (4-level `db4`, local Wiener shrinkage, σ = 5), and its
# estimate adds the standard refinements of the PRNU literature the paper builds on (refs. [23, 24]): an intensity
# weight and a saturation mask in Eq. 5, then gray conversion, zero-mean rows and columns per CFA sub-lattice and
# Wiener filtering in the DFT domain (`csi.prnu`).
#
# Each camera's fingerprint is estimated from its `fingerprint` images (the split of notebook 00). Because the
# simulator knows every device's true `K` (Eq. 1–2), this notebook also measures what the paper cannot: how close
# each estimate is to the truth, for every dataset, and how that grows with the number of images `N` — for the
# estimate the later notebooks use and for Eq. 5 exactly as printed.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, Markdown, display

from csi import experiments, figures, io, paper, pipeline, prnu

# %% [markdown]
# ## Parameters
# Papermill overrides this cell (`make reproduce`, `make figure NB=02`); see notebook 06 for the meaning of each
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
                        notebook="02_fingerprints")
figures.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The datasets, their fingerprints and the truth
# `pipeline.fingerprints` runs Eq. 5 over each camera's fingerprint images (cached under `data_root/cache`;
# notebooks 03–08 reuse them). `pipeline.ground_truth` returns the simulator's true `K` of each camera (nothing
# for real data). `ncc` below is the paper's ρ (Pearson's correlation).

# %%
data = {name: pipeline.load(cfg, name) for name in cfg.datasets}
K = {name: pipeline.fingerprints(cfg, ds) for name, ds in data.items()}   # Eq. 5
truth = {name: pipeline.ground_truth(ds) for name, ds in data.items()}    # the simulator's K (Eq. 1-2)
used = {name: pipeline.fingerprint_images(ds) for name, ds in data.items()}


def ncc_centre(a: np.ndarray, b: np.ndarray) -> float:
    """ρ of two arrays over their common centre (a fingerprint and a truth of another size line up at the centre)."""
    return prnu.ncc(*prnu.common_centre(a, b))


{name: f"{len(k)} cameras, truth for {len(truth[name])}" for name, k in K.items()}

# %% [markdown]
# ## One picture through Eq. 3–5
# The first fingerprint image of the main dataset's first camera: the picture `I`, its denoised version `F(I)`
# (Eq. 3), the residual `W = I − F(I)` after the post-processing (Eq. 4), and — zoomed on the centre — the camera's
# fingerprint estimated from all its fingerprint images (Eq. 5) beside the simulator's true `K`.

# %%
main = experiments.main_dataset(cfg)
lab = sorted(K[main])[0]
path = used[main][lab]["path"].iloc[0]
img = io.read_rgb(path)
W3 = prnu.wavelet_residual(img)                          # I - F(I), per colour channel
F_I = np.clip(img.astype(np.float32) - W3, 0, 255)       # Eq. 3
W = prnu.noise_residual(img)                             # Eq. 4, gray + zero-mean + Wiener
K_est, K_true = K[main][lab], truth[main].get(lab)
I_gray = prnu.rgb_to_gray(img)
step = {"ncc(W, I·K_true)": ncc_centre(W, I_gray * K_true) if K_true is not None else np.nan,
        "ncc(K_est, K_true)": ncc_centre(K_est, K_true) if K_true is not None else np.nan,
        "images in K_est": len(used[main][lab])}
step


# %%
def show(ax, a, title, symmetric=False):
    """One image panel: RGB as is, 2-D arrays in gray (symmetric ones centred on 0, 99th-percentile range)."""
    a = np.asarray(a)
    if symmetric:
        v = float(np.percentile(np.abs(a), 99)) or 1.0
        ax.imshow(a, cmap="gray", vmin=-v, vmax=v, interpolation="nearest")
    else:
        ax.imshow(np.clip(a, 0, 255).astype(np.uint8), interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set(xticks=[], yticks=[])
    ax.spines[:].set_visible(False)


z = min(64, *W.shape)
zoom = (slice((W.shape[0] - z) // 2, (W.shape[0] - z) // 2 + z), slice((W.shape[1] - z) // 2, (W.shape[1] - z) // 2 + z))
fig, axes = plt.subplots(2, 3, figsize=(9, 6.2), layout="constrained")
show(axes[0, 0], img, f"I: {lab}")
show(axes[0, 1], F_I, "I0' = F(I)  (Eq. 3)")
show(axes[0, 2], W, "W = I − F(I), post-processed (Eq. 4)", symmetric=True)
show(axes[1, 0], W[zoom], f"W, centre {z}×{z}\nρ(W, I·K_true) = {step['ncc(W, I·K_true)']:.3f}", symmetric=True)
show(axes[1, 1], K_est[zoom], f"K estimate (Eq. 5), centre {z}×{z}\nfrom {len(used[main][lab])} image(s)",
     symmetric=True)
if K_true is not None:
    show(axes[1, 2], K_true[zoom], f"true K (simulator), centre {z}×{z}\nρ with the estimate = "
                                   f"{step['ncc(K_est, K_true)']:.3f}", symmetric=True)
else:
    axes[1, 2].axis("off")
figures.save_figure(fig, cfg.out, "prnu_steps", formats=("jpg",), dpi=figures.PHOTO_DPI)  # photographs: one JPEG
Image(filename=str(cfg.out / "prnu_steps.jpg"))

# %% [markdown]
# ## The fingerprints of every dataset
# One row per camera: the fingerprint's size, the images behind it, its standard deviation, its ρ with the
# camera's own true `K` (`ncc_truth`) and with the other cameras' true `K` (`ncc_truth_other`, the mean over up to
# ten of them, and the largest in magnitude): what a wrong match looks like.

# %%
rows = []
for name, fps in K.items():
    cams = sorted(truth[name])
    for lab_, Kc in fps.items():
        i = cams.index(lab_) if lab_ in cams else -1
        others = [cams[(i + j) % len(cams)] for j in range(1, min(11, len(cams)))]  # the next ten, cyclically
        o = [ncc_centre(Kc, truth[name][c]) for c in others]
        rows.append({"dataset": name, "camera": lab_, "height": Kc.shape[0], "width": Kc.shape[1],
                     "images": len(used[name][lab_]), "std": float(Kc.std()),
                     "ncc_truth": ncc_centre(Kc, truth[name][lab_]) if lab_ in truth[name] else np.nan,
                     "ncc_truth_other": float(np.mean(o)) if o else np.nan,
                     "ncc_truth_other_max_abs": float(np.max(np.abs(o))) if o else np.nan, "n_other": len(o)})
fps_table = pd.DataFrame(rows)
figures.save_table(fps_table, cfg.out, "fingerprints")
fps_table.groupby("dataset", sort=False)[["images", "ncc_truth", "ncc_truth_other", "ncc_truth_other_max_abs"]].agg(
    ["min", "mean", "max"]).round(4)

# %% [markdown]
# ### The figure: own camera against the others
# Each dot is one camera's fingerprint: its ρ with its own true `K` (colour) and the mean ρ with the other
# cameras' true `K` (grey).

# %%
have = fps_table.dropna(subset=["ncc_truth"])
fig, ax = plt.subplots(figsize=(9, 3.6))
rng = np.random.default_rng(cfg.seed)
for i, (name, g) in enumerate(have.groupby("dataset", sort=False)):
    jitter = rng.uniform(-0.12, 0.12, len(g))
    ax.scatter(i - 0.18 + jitter, g.ncc_truth, s=14, color=f"C{i}", label=f"{name} (n = {len(g)} cameras)")
    ax.scatter(i + 0.18 + jitter, g.ncc_truth_other, s=14, color="0.6")
ax.axhline(0, color="k", lw=0.6)
names_shown = list(dict.fromkeys(have.dataset))
ax.set_xticks(range(len(names_shown)), [f"{n}\nown | others" for n in names_shown])
ax.set(ylabel="ρ with the true K", title="Fingerprint estimates (Eq. 5) against the simulator's true K")
if len(have):
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), title="own camera (colour)\nothers (grey)")
fig.tight_layout()
figures.save_figure(fig, cfg.out, "fingerprints")
fig

# %% [markdown]
# ## Fingerprint quality against the number of images
# For the first five cameras of the main dataset, fingerprints are estimated from the first `N` of their
# non-test images (seeded order; the centre 256 px, so the curve stays quick) for each `N` in the scale's
# `fp_counts`, in two ways:
#
# * **csi.prnu** — `prnu.estimate_fingerprint`, the estimate every other notebook uses;
# * **Eq. 5 as printed** — `K = Σ W_k I_k / Σ I_k²` written out below, with `W_k` the gray wavelet residual and
#   `I_k` the gray picture, without weighting or post-processing (only `+1` in the denominator, which keeps a
#   pixel that is black in every image finite, as in `csi.prnu`).
#
# Each estimate is correlated with the camera's true `K` and with the other cameras' true `K` (not in the paper,
# which has no ground truth).

# %%
counts = list(cfg.settings["fp_counts"])
side = 256
cams = sorted(truth[main])[:5]
pool = data[main].images[data[main].images["split"] != "test"]
rows = []
for cam in cams:
    paths = sorted(pool.loc[pool["label"] == cam, "path"])
    paths = [paths[i] for i in np.random.default_rng(cfg.seed).permutation(len(paths))][:max(counts)]
    crops = [prnu.center_crop(im, min(side, *im.shape[:2])) for _, im in io.iter_rgb(paths, errors="skip")]
    if not crops:
        continue
    true_c = {c: prnu.center_crop(truth[main][c], crops[0].shape[:2]) for c in truth[main]}
    num = np.zeros(crops[0].shape[:2])
    den = np.zeros(crops[0].shape[:2])
    for n_img, im in enumerate(crops, 1):
        I_k = prnu.rgb_to_gray(im).astype(np.float64)
        num += prnu.rgb_to_gray(prnu.wavelet_residual(im)) * I_k   # Σ W_k I_k
        den += I_k ** 2                                           # Σ I_k²
        if n_img not in counts:
            continue
        for how, est in (("Eq. 5 as printed", num / (den + 1)), ("csi.prnu", prnu.estimate_fingerprint(crops[:n_img]))):
            rows.append({"camera": cam, "n_images": n_img, "estimator": how, "ncc_truth": prnu.ncc(est, true_c[cam]),
                         "ncc_other": float(np.mean([prnu.ncc(est, t) for c, t in true_c.items() if c != cam]))})
quality = pd.DataFrame(rows, columns=["camera", "n_images", "estimator", "ncc_truth", "ncc_other"])
figures.save_table(quality, cfg.out, "fingerprint_quality")
quality.pivot_table(index="n_images", columns="estimator", values=["ncc_truth", "ncc_other"]).round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
panel_titles = {"csi.prnu": "the companion's estimate (weighted, post-processed)",
                "Eq. 5 as printed": "Eq. 5 as printed"}
cam_names = paper.device_labels(quality.camera.unique())
for ax, how, letter in zip(axes, ("csi.prnu", "Eq. 5 as printed"), "ab", strict=True):
    q = quality[quality.estimator == how]
    for i, cam in enumerate(paper.device_order(q.camera.unique())):
        g = q[q.camera == cam]
        ax.plot(g.n_images, g.ncc_truth, "o-", color=f"C{i}", label=cam_names[cam])
        ax.plot(g.n_images, g.ncc_other, "--", color=f"C{i}", alpha=0.5)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set(xlabel="images in the estimate (N, Eq. 5)", title=f"({letter}) {panel_titles[how]}")
axes[0].set_ylabel("ρ with the true K\n(solid: own camera, dashed: others)")
if len(quality):
    axes[0].legend(loc="upper left")
fig.suptitle(f"Fingerprint quality vs number of images, {paper.DATASET_LABELS.get(main, main)} dataset, centre {side} px")
fig.tight_layout()
figures.save_figure(fig, cfg.out, "fingerprint_quality")
fig

# %% [markdown]
# ## What the numbers say
# Sentences computed from the two tables above.

# %%
lines = []
for name, g in fps_table.dropna(subset=["ncc_truth"]).groupby("dataset", sort=False):
    span = f"{int(g.images.min())}" + ("" if g.images.min() == g.images.max() else f"–{int(g.images.max())}")
    lines.append(f"- `{name}` ({len(g)} cameras, {span} fingerprint image(s) each): ρ with "
                 f"the own true K {g.ncc_truth.mean():.3f} on average (lowest {g.ncc_truth.min():.3f}), with the "
                 f"others' {g.ncc_truth_other.mean():+.4f} (largest magnitude {g.ncc_truth_other_max_abs.max():.4f}); "
                 f"own above every other in {int((g.ncc_truth > g.ncc_truth_other_max_abs).sum())} of {len(g)}.")
if len(quality):
    by = quality.groupby(["estimator", "n_images"])[["ncc_truth", "ncc_other"]].mean()
    lo, hi = min(quality.n_images), max(quality.n_images)
    for how in ("csi.prnu", "Eq. 5 as printed"):
        mono = sum(bool(np.all(np.diff(g.sort_values("n_images").ncc_truth.to_numpy()) > 0))
                   for _, g in quality[quality.estimator == how].groupby("camera"))
        lines.append(f"- {how}: mean ρ with the true K {by.loc[(how, lo), 'ncc_truth']:.3f} from {lo} image(s), "
                     f"{by.loc[(how, hi), 'ncc_truth']:.3f} from {hi}; it grows with every added step for {mono} of "
                     f"{quality.camera.nunique()} cameras; with the other cameras' K it stays within "
                     f"±{quality[quality.estimator == how].ncc_other.abs().max():.3f}.")
    gain = by.loc[("csi.prnu", hi), "ncc_truth"] - by.loc[("Eq. 5 as printed", hi), "ncc_truth"]
    lines.append(f"- At N = {hi} the weighting and post-processing of `csi.prnu` change ρ with the truth by "
                 f"{gain:+.3f} against Eq. 5 as printed.")
else:
    lines.append("- No ground truth in this run (real data): the quality curve needs the simulator's true K.")
display(Markdown("\n".join(lines) + "\n\nThe paper estimates its fingerprints with Eq. 5 too but cannot measure "
                 "their quality, having no ground truth."))
