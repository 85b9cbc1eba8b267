# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Data: the four datasets, the five platforms, and the simulator
#
# §4.1: the paper tests on four datasets — VISION (§4.1.1), the Kaggle / SP Cup 2018 camera-model set (§4.1.2),
# Daxing (§4.1.3) and the authors' own five phones (§4.1.4) — each "uploaded" to Twitter, Facebook, Instagram,
# WeChat and Weibo: twenty conditions (§4.3). The authors' own set is not public and none of the others may be
# downloaded here, so by default the companion *simulates* a stand-in for each one with the same structure
# (devices, models, scene types, the real on-disk layout), using the camera model of Eq. 1–2:
# `I = I0 + I0·K + Θ`. The simulator knows the true fingerprint `K` of every device, which the paper never has
# (notebook 02 uses it).
#
# This notebook shows what the later ones run on: the datasets and their split (§3.2.2) beside the paper's sizes,
# the platform profiles, the simulator chain of Eq. 1–2 on one picture, sample pictures, and one picture as each
# platform serves it. Set `source` to a real loader and `data_path` to your copy to run every notebook on real
# data instead (the simulator sections then still show the simulator).

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, Markdown, display

from csi import experiments, io, paper, pipeline, prnu, simulate

# %% [markdown]
# ## Parameters
# Papermill overrides this cell (`make reproduce`, `make figure NB=00`). `scale`: `"smoke"` (seconds, for tests),
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
                        notebook="00_data")
paper.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The datasets of this run, beside the paper's (§4.1)
# Each dataset is loaded (a synthetic stand-in is built on first use) and split per device (§3.2.2; `csi.pipeline`
# says how for each one). Kaggle appears in both readings of notebook 06: `kaggle` splits the training phones'
# images 1:1:6:2, `kaggle-other` tests the same fingerprints on the competition's second phone of each model.
# The paper's columns are its printed sizes (`data/paper/datasets.csv`; its Kaggle figures cover both libraries).

# %%
names = experiments.table_datasets(cfg)
data = {name: pipeline.load(cfg, name) for name in names}
split = {name: ds.split_counts() for name, ds in data.items()}
pub = paper.datasets()
rows = []
for name, ds in data.items():
    frame = pd.concat([ds.images, ds.test]).drop_duplicates("path")
    key = "kaggle" if name == "kaggle-other" else name
    ref = pub.loc[key] if key in pub.index else None
    rows.append({"dataset": name, "devices": len(split[name]), "cameras": ds.images["label"].nunique(),
                 "models": frame["model"].nunique(), "brands": frame["brand"].nunique(),
                 "width": int(frame["width"].median()), "height": int(frame["height"].median()),
                 "originals": len(frame), "platform_copies": len(ds.copies),
                 **split[name].sum().astype(int).to_dict(),
                 **{f"paper_{c}": (ref[c] if ref is not None and pd.notna(ref[c]) else "")
                    for c in ("devices", "models", "brands", "images")}})
summary = pd.DataFrame(rows)
paper.save_table(summary, cfg.out, "datasets")
summary

# %% [markdown]
# ### The split per device
# One row per device: its images in each split, and `tested`, the test images actually scored (the synthetic
# stand-ins cap them per device and per dataset by the scale: `max_test`, `max_test_total`). A device with
# only `tested` images is one of Kaggle's second phones.

# %%
per_device = pd.concat(split, names=["dataset"]).reset_index()
paper.save_table(per_device, cfg.out, "split_per_device")
per_device.groupby("dataset", sort=False)[["fingerprint", "train", "val", "test", "tested"]].agg(["min", "max"])

# %% [markdown]
# ### What the numbers say
# Computed from the two tables above: the size of each stand-in against the paper's dataset, and the protocol
# each one follows.

# %%
lines = []
for r in summary.itertuples():
    pi, pdv = r.paper_images, r.paper_devices
    share = (f"{r.originals / pi:.1%} of the paper's {int(pi):,} images" if pd.notna(pi) and pi
             else "the paper prints no single image count")
    dev = f"{r.devices} devices (paper: {int(pdv)})" if pd.notna(pdv) else f"{r.devices} devices"
    lines.append(f"- `{r.dataset}`: {dev}, {r.cameras} candidate cameras, {r.originals:,} camera originals of "
                 f"{r.width}×{r.height} px ({share}); fingerprints from {r.fingerprint} images; {r.tested} test "
                 f"images scored" + (" (the second phones' images)" if r.dataset == "kaggle-other" else
                                     f" of the {r.test} in the test split")
                 + f". Protocol: {data[r.dataset].protocol}.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Platform profiles
# What each platform does to an upload (resize rule, JPEG quality, chroma subsampling, watermark), as simulated;
# the paper's five first. The values are public estimates that change over time; the `source` column of
# `csi.simulate.PLATFORMS` says where each number comes from. A run at a reduced sensor size scales every size
# cap by the same factor (`sensor_scale`), so the resize *ratio* stays that of a real 4032-px photo: the two
# `served_*` columns give the size each platform serves for a real 4032×3024 photo and for this run's sensor.

# %%
main = experiments.main_dataset(cfg)
ds = data[main]
sensor = (int(ds.images["width"].median()), int(ds.images["height"].median()))
order = [*experiments.PLATFORMS, *[p for p in simulate.PLATFORMS if p not in experiments.PLATFORMS]]
rows = []
for p in order:
    prof = simulate.get_profile(p)
    real = simulate.platform_size((4032, 3024), prof)
    ours = simulate.platform_size(sensor, prof, sensor_scale=ds.sensor_scale)
    rows.append({"platform": p, "in_paper": p in experiments.PLATFORMS,
                 "served_4032x3024": f"{real[0]}×{real[1]}", f"served_{sensor[0]}x{sensor[1]}": f"{ours[0]}×{ours[1]}",
                 **{k: ("" if v is None else v) for k, v in prof.items() if k != "source"}, "source": prof["source"]})
profiles = pd.DataFrame(rows)
paper.save_table(profiles, cfg.out, "platform_profiles")
profiles.drop(columns="source")

# %% [markdown]
# ## The simulator chain (Eq. 1–2)
# Scene `Y` → sensor with PRNU `(1 + K)·Y` (Eq. 1) → shot and read noise `ξ`, demosaicing, white balance `g`, tone
# curve `γ`, 8-bit quantisation `Θ` → the camera's JPEG → a platform's resize and re-compression. Every panel is a
# real intermediate of one synthetic picture (the centre of the sensor of the main dataset's first device), and
# the last one is what Eq. 4 recovers from the WeChat copy: the noise residual `W`.

# %%
plan = simulate.recipe_plan("our", cfg.scale, cfg.seed)
dev = sorted(plan["devices"])[0]
proc = plan["processing"][plan["devices"][dev]]
h, w = min(128, plan["sensor_shape"][0]), min(128, plan["sensor_shape"][1])
rng = np.random.default_rng(cfg.seed)
scene = simulate.make_scene("photo", (h, w), rng)                                        # Y
K_dev = simulate.device_prnu(tuple(plan["sensor_shape"]), cfg.seed, "our", dev, plan["sensor"]["prnu_std"])[:h, :w]
raw = simulate.render_raw(scene, K_dev, proc, np.random.default_rng(cfg.seed + 1))       # Eq. 1, 8 bit
jpeg = simulate.encode_jpeg(raw, proc["quality"], proc["subsampling"])                   # in-camera JPEG
wechat = io.decode_rgb(simulate.apply_platform(jpeg, "wechat", sensor_scale=float(plan["sensor_scale"])))
W_wechat = prnu.noise_residual(wechat)                                                   # Eq. 3-4


# %%
def show(ax, img, title, symmetric=False):
    """One image panel: RGB as is, 2-D arrays in gray (symmetric ones centred on 0, 99th-percentile range)."""
    img = np.asarray(img)
    if symmetric:
        v = float(np.percentile(np.abs(img), 99)) or 1.0
        ax.imshow(img, cmap="gray", vmin=-v, vmax=v, interpolation="nearest")
    else:
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)


fig, axes = plt.subplots(2, 3, figsize=(9, 6.8), layout="constrained")
show(axes[0, 0], (np.clip(scene, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8), "1. scene Y\n(linear light, shown γ = 2.2)")
show(axes[0, 1], K_dev, f"2. PRNU K of {dev}\n(std {K_dev.std():.4f})", symmetric=True)
show(axes[0, 2], raw, "3. (1+K)Y + ξ, demosaic, white\nbalance g, tone curve γ, 8 bit Θ")
show(axes[1, 0], io.decode_rgb(jpeg), f"4. in-camera JPEG\n(QF {proc['quality']}, {proc['subsampling']})")
show(axes[1, 1], wechat, f"5. WeChat copy {wechat.shape[1]}×{wechat.shape[0]}\n"
                         f"(QF {simulate.PLATFORMS['wechat']['quality']})")
show(axes[1, 2], W_wechat, "6. noise residual W (Eq. 4)\nof the WeChat copy", symmetric=True)
fig.suptitle(f"Simulator chain (Eq. 1–2), model {plan['devices'][dev]}, centre {h}×{w} px of the sensor")
paper.save_figure(fig, cfg.out, "simulator_chain", formats=("jpg",), dpi=paper.PHOTO_DPI)  # photographs: one JPEG
Image(filename=str(cfg.out / "simulator_chain.jpg"))

# %% [markdown]
# ## Sample images
# One camera original of each of the first five devices of every dataset (a dataset per row).

# %%
per_row = 5
fig, axes = plt.subplots(len(cfg.datasets), per_row, figsize=(10, 1.75 * len(cfg.datasets) + 0.3), squeeze=False)
for r, name in enumerate(cfg.datasets):
    firsts = data[name].images.sort_values("path").groupby("device", sort=True).head(1).head(per_row)
    for c, ax in enumerate(axes[r]):
        if c >= len(firsts):
            ax.axis("off")
            continue
        one = firsts.iloc[c]
        show(ax, io.read_rgb(one["path"]), one["device"][:28])
    axes[r, 0].set_ylabel(name, fontsize=10)
fig.tight_layout()
paper.save_figure(fig, cfg.out, "samples", formats=("jpg",), dpi=paper.PHOTO_DPI)  # photographs: one JPEG
Image(filename=str(cfg.out / "samples.jpg"))

# %% [markdown]
# ## One picture on every platform
# A test picture of the main dataset as the camera wrote it and as each platform serves it
# (`pipeline.views`, the same cached copies notebooks 04–07 score). Top: the whole picture, drawn at its served
# size on the original's canvas, so the resize shows; bottom: the 100 % centre crop, where the re-compression
# shows. The table gives each copy's size, its JPEG quality estimated from the file's quantisation tables, and
# its bytes.

# %%
first = ds.test.sort_values("path").head(8)  # of the first few test pictures, the most textured one
one = first.iloc[int(np.argmax([io.read_rgb(p).std() for p in first["path"]]))]
copies = {cond: pipeline.views(cfg, ds, cond).set_index("scene_id").loc[one["scene_id"], "path"]
          for cond in experiments.CONDITIONS}
rows = []
for cond, path in copies.items():
    img = io.read_rgb(path)
    rows.append({"platform": cond, "width": img.shape[1], "height": img.shape[0],
                 "jpeg_quality": io.estimate_jpeg_quality(path), "bytes": Path(path).stat().st_size})
views = pd.DataFrame(rows)
views["pixels_vs_original"] = views.width * views.height / (views.width[0] * views.height[0])
views["bytes_vs_original"] = views.bytes / views.bytes[0]
views["bits_per_pixel"] = 8 * views.bytes / (views.width * views.height)
paper.save_table(views, cfg.out, "platform_views")
views

# %%
W0, H0 = int(views.width[0]), int(views.height[0])
fig, axes = plt.subplots(2, len(copies), figsize=(10.2, 4.4))
for c, (cond, path) in enumerate(copies.items()):
    img, v = io.read_rgb(path), views.iloc[c]
    axes[0, c].imshow(img, extent=(0, img.shape[1], img.shape[0], 0))
    axes[0, c].set(xlim=(0, W0), ylim=(H0, 0), xticks=[], yticks=[])
    axes[0, c].spines[:].set(visible=True, color="0.75")  # the original's canvas
    axes[0, c].set_title(f"{paper.PLATFORM_LABELS[cond]}\n{v.width}×{v.height}", fontsize=8)
    k = min(96, img.shape[0], img.shape[1])
    y0, x0 = (img.shape[0] - k) // 2, (img.shape[1] - k) // 2
    show(axes[1, c], img[y0:y0 + k, x0:x0 + k], f"QF≈{v.jpeg_quality}, {v.bytes / 1024:.1f} KiB")
fig.suptitle(f"One test picture of the {paper.DATASET_LABELS.get(main, main)} dataset ({paper.device_label(one['device'])}) "
             "as each platform serves it")
fig.tight_layout()
paper.save_figure(fig, cfg.out, "platform_views", formats=("jpg",), dpi=paper.PHOTO_DPI)  # photographs: one JPEG
Image(filename=str(cfg.out / "platform_views.jpg"))

# %% [markdown]
# ### What the numbers say

# %%
lines = []
for v in views.iloc[1:].itertuples():
    lines.append(f"- {paper.PLATFORM_LABELS[v.platform]}: {v.width}×{v.height} px ({v.pixels_vs_original:.0%} of "
                 f"the original's pixels), QF≈{v.jpeg_quality} (profile: {simulate.get_profile(v.platform)['quality']}), "
                 f"{v.bytes:,} bytes ({v.bytes_vs_original:.0%} of the camera file, {v.bits_per_pixel:.2f} bit/px).")
marked = [p for p in experiments.PLATFORMS if simulate.get_profile(p).get("watermark")]
small, low = views.iloc[1:].sort_values("bytes").iloc[0], views.iloc[1:].sort_values("jpeg_quality").iloc[0]
lines.append(f"- Smallest copy: {paper.PLATFORM_LABELS[small.platform]} ({small.bytes_vs_original:.0%} of the camera "
             f"file's bytes, {small.pixels_vs_original:.0%} of its pixels); lowest JPEG quality: "
             f"{paper.PLATFORM_LABELS[low.platform]} (QF≈{low.jpeg_quality}). Both remove PRNU signal: the resize "
             "averages neighbouring sensor pixels, the quantisation discards the weak high frequencies.")
lines.append("- Watermarks drawn into the pixels: " + (", ".join(
    f"{paper.PLATFORM_LABELS[p]} ('{simulate.get_profile(p)['watermark']}', bottom right)" for p in marked)
    if marked else "none") + ".")
display(Markdown("\n".join(lines)))
