# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Training CSI-CNN (§3.2.2, Fig. 2, Eq. 6–8) and DnCNN
#
# §3.2.2, Fig. 2: a training pair is `(label, I', K')`. `I'` is a 64×64 patch of a training image; for `label = 1`,
# `K'` is the patch at the same position of the source camera's fingerprint (Eq. 5), for `label = 0` a patch of
# another camera's fingerprint. The loss is the paper's cosine loss (Eq. 6–8) with ρ the cosine similarity of the
# network output and `K'`; the paper gives no value for φ, we use φ = −1 (`csi.losses`, docs/training.md). 64 pairs
# per batch, lr 0.001, ×0.2 "every 30 of 100 epochs", which a run of any length keeps as ×0.2 after 30, 60 and 90 %
# of its steps. The budget is counted in training pairs.
#
# CSI-CNN trains once on the `our` stand-in's training split and is applied to every dataset: the paper says one
# training generalises across cameras. It is judged after every stage on held-out *platform copies* of the
# validation images (mean NCC with the true camera and the AUC, Eq. 12) — the originals alone would saturate
# and hide what matters. DnCNN (ref. [21]) cannot be downloaded pre-trained here, so it is trained as a blind
# Gaussian denoiser on the simulator's scenes. Both are cached and reused by notebooks 04–07. At `cpu` scale this
# is a short run; notebook 09 trains at many budgets.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Image, Markdown, display

from csi import experiments, losses, models, paper, pipeline, prnu, train

# %% [markdown]
# ## Parameters
# As in every notebook (see 06).

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
                        notebook="03_training")
paper.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The training data and the fingerprints it learns from
# The training split, the validation copies and the fingerprints (Eq. 5) that make the targets `K'`. On the
# simulator we can say how clean a target is: the NCC of each fingerprint with the camera's true K.

# %%
tcfg = pipeline.training_config(cfg)
ds = pipeline.training_dataset(cfg)
K = pipeline.fingerprints(tcfg, ds)
truth = pipeline.ground_truth(ds)
val = pipeline.validation_copies(tcfg, ds)
counts = ds.split_counts()[["fingerprint", "train", "val"]]
counts["NCC of K with the true K"] = [prnu.ncc(K[c], truth[c]) if c in truth else np.nan for c in counts.index]
counts["validation copies"] = val.groupby("device").size().reindex(counts.index).fillna(0).astype(int)
paper.save_table(counts.reset_index(), cfg.out, "training_data")
counts

# %% [markdown]
# ## Fig. 2: one batch of training pairs
# Pairs cut by `csi.train.PairSampler` (the same ones training uses): the image patch `I'`, the fingerprint patch
# `K'`, and the label.

# %%
sampler = train.PairSampler(ds.part("train")["path"][:40].tolist(), ds.part("train")["device"][:40].tolist(), K,
                            patch=64 if cfg.scale != "smoke" else 32, batch=8, seed=cfg.seed, crop=512)
x, y, label = sampler.batch_at(0, 0)
fig, axes = plt.subplots(2, 8, figsize=(10, 3.1))
for k in range(8):
    axes[0, k].imshow(x[k].permute(1, 2, 0).numpy())
    v = float(y[k].abs().max())
    axes[1, k].imshow(y[k, 0].numpy(), cmap="gray", vmin=-v, vmax=v)
    axes[0, k].set_title(f"label {int(label[k])}", fontsize=8)
for ax in axes.flat:
    ax.set_axis_off()
axes[0, 0].text(-0.2, 0.5, "I'", transform=axes[0, 0].transAxes, ha="right", fontsize=9)
axes[1, 0].text(-0.2, 0.5, "K'", transform=axes[1, 0].transAxes, ha="right", fontsize=9)
fig.suptitle("Fig. 2: training pairs (label, I', K')", fontsize=10)
paper.save_figure(fig, cfg.out, "training_pairs", formats=("jpg",), dpi=paper.PHOTO_DPI)  # photographs: one JPEG
Image(filename=str(cfg.out / "training_pairs.jpg"))

# %% [markdown]
# ## Eq. 6–8 on that batch, by hand
# ρ(x, y) = x·y / (‖x‖‖y‖) between the network output `x` and `K'`; label 1: `max(1 − ρ, 0)` (Eq. 8); label 0:
# `min(ρ, 0)·φ + |ρ|` (Eq. 7). The cell checks the hand computation against `csi.losses.cosine_loss` for an
# untrained network.

# %%
torch.manual_seed(cfg.seed)
net = models.CSICNN().eval()
with torch.no_grad():
    out = net(x)
rho = (out * y).flatten(1).sum(1) / (out.flatten(1).norm(dim=1) * y.flatten(1).norm(dim=1))
phi = losses.DEFAULT_PHI
by_hand = torch.where(label == 1, torch.clamp(1 - rho, min=0), torch.clamp(rho, max=0) * phi + rho.abs())
print(f"rho per pair: {np.round(rho.numpy(), 4)}")
print(f"loss by hand {by_hand.mean():.6f}, csi.losses.cosine_loss {losses.cosine_loss(out, y, label, phi=phi):.6f}")

# %% [markdown]
# ## Training
# *Workshop edit:* set `loss = "mse"` (ref. [20]'s MSE as written) or `"mse-std"` (the fair MSE, notebook 08) to
# train CSI-CNN with another loss; the model is cached under a new key.

# %% tags=["edit-loss"]
loss = "cosine"
ckpt = pipeline.checkpoints(cfg, loss=loss)
{k: str(v.name) for k, v in ckpt.items()}

# %%
cnn = train.load_history(ckpt["csi-cnn"]).assign(model="CSI-CNN", loss=loss)
dn = train.load_history(ckpt["dncnn"]).assign(model="DnCNN", loss="mse-noise")
history = pd.concat([cnn, dn], ignore_index=True)
paper.save_table(history, cfg.out, "training_history")
cnn.filter(regex="^(pairs_seen|train_loss|val_auc|val_ncc_true|val_acc|lr|pairs_per_s)$")

# %% [markdown]
# ## Training curves
# Left: the training loss (Eq. 6). Middle: the validation AUC (Eq. 12) and right: the mean true-camera NCC, on
# the held-out copies of each platform (step 0 = the untrained network). DnCNN's denoising PSNR is printed below.

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
axes[0].plot(cnn.pairs_seen, cnn.train_loss, "o-", ms=3)
axes[0].set(xlabel="training pairs", ylabel=f"{loss} loss", title="CSI-CNN training loss")
for p in pipeline.VAL_PLATFORMS:
    if f"val_auc_{p}" in cnn:
        axes[1].plot(cnn.pairs_seen, cnn[f"val_auc_{p}"], "o-", ms=3, label=paper.PLATFORM_LABELS[p])
        axes[2].plot(cnn.pairs_seen, cnn[f"val_ncc_true_{p}"], "o-", ms=3)
axes[1].axhline(0.5, color="k", ls=":", lw=1)
axes[1].set(xlabel="training pairs", ylabel="AUC (Eq. 12)", title="validation copies: AUC", ylim=(0, 1.02))
axes[2].set(xlabel="training pairs", ylabel="mean NCC, own camera", title="validation copies: NCC")
axes[1].legend(fontsize=8)
fig.tight_layout()
paper.save_figure(fig, cfg.out, "training_curves")
fig

# %% [markdown]
# ## What the curves say
# Computed from the history.

# %%
first, last = cnn.iloc[0], cnn.iloc[-1]
lines = [f"- CSI-CNN: {int(last.pairs_seen):,} training pairs with the {loss} loss; training loss "
         f"{cnn.train_loss.dropna().iloc[0]:.4f} → {last.train_loss:.4f}."]
if "val_auc" in cnn and cnn.val_auc.notna().any():
    best = cnn.loc[cnn.val_auc.idxmax()]
    lines.append(f"- Validation AUC on the platform copies: {first.val_auc:.3f} untrained, {last.val_auc:.3f} at the end, "
                 f"best {best.val_auc:.3f} at {int(best.pairs_seen):,} pairs; mean true-camera NCC "
                 f"{first.val_ncc_true:.4f} → {last.val_ncc_true:.4f}"
                 + (" (still rising at the end: the run is budget-limited)." if last.val_ncc_true >= cnn.val_ncc_true.max() - 1e-9
                    else "."))
if "pairs_per_s" in cnn and cnn.pairs_per_s.notna().any():
    lines.append(f"- Throughput {cnn.pairs_per_s.dropna().median():.0f} training pairs/s on {cfg.torch_device}.")
if "psnr_denoised" in dn:
    lines.append(f"- DnCNN: {int(dn.step.iloc[-1])} steps; PSNR on its training noise {dn.psnr_noisy.iloc[-1]:.2f} dB "
                 f"(noisy) → {dn.psnr_denoised.iloc[-1]:.2f} dB (denoised).")
display(Markdown("\n".join(lines)))
