# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Table 1: the CSI-CNN architecture
#
# §3.2.1, Fig. 1 and Table 1. CSI-CNN is fully convolutional: stage 1 (conv + BN + ReLU, a bottleneck residual
# block 1×1 → 3×3 → 1×1 with an ADD, BN, a 3×3 conv back to 3 channels) estimates a clean image; "Function sub"
# subtracts it from the input; stage 2 (the same blocks) maps the difference to a one-channel noise residual of the
# input's size. Table 1 prints every row with its parameter count, 47,628 in all.
#
# Below, the table is read off the model in `csi.models.CSICNN` row by row — every count is computed from the
# module's tensors, and a forward pass records the shape each row outputs — beside the paper's printed rows
# (`data/paper/table1.csv`), with a check that every row matches. Then the size and cost of the two learned
# extractors the paper compares (CSI-CNN and DnCNN, ref. [21]).
#
# Choices where the paper is ambiguous (documented in `csi.models`): the ReLU after "sub" is kept because Table 1
# lists it (switchable); Table 1's unnumbered "Convolution layer" is conv 3; biases only where Table 1 counts them.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from matplotlib.patches import Patch
from torch import nn

from csi import experiments, models, paper

# %% [markdown]
# ## Parameters
# Papermill overrides this cell (`make reproduce`, `make figure NB=01`); see notebook 06 for the meaning of each
# name. This notebook needs no data: it only builds the networks. The next cell checks every value.

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
                        notebook="01_table1_architecture")
paper.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The model's layers, in order
# The leaf modules of a fresh `CSICNN()` that hold parameters, in definition order, each with its weight shape and
# its number of trainable parameters (BatchNorm's running statistics are buffers, not parameters). A forward pass
# of a 1 × 3 × 64 × 64 input records the shape each one outputs.

# %%
net = models.CSICNN().eval()
layers = [(name, m) for name, m in net.named_modules()
          if name and not list(m.children()) and sum(p.numel() for p in m.parameters()) > 0]
out_shape = {}
hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: out_shape.__setitem__(name, tuple(out.shape)))
         for name, m in layers]
with torch.no_grad():
    y = net(torch.rand(1, 3, 64, 64))
for hk in hooks:
    hk.remove()


def describe_layer(m: nn.Module) -> tuple[str, str]:
    """The Table 1 kind of a module and its parameter shapes as Table 1 writes them."""
    if isinstance(m, nn.Conv2d):
        return "Convolution", " x ".join(map(str, m.weight.shape)) + (" + bias" if m.bias is not None else "")
    if isinstance(m, nn.BatchNorm2d):
        return "BatchNorm", f"{m.num_features} (gamma) + {m.num_features} (beta)"
    return type(m).__name__, ""


ours = pd.DataFrame([{"module": name, "module_type": type(m).__name__, "kind": describe_layer(m)[0],
                      "shape": describe_layer(m)[1], "output": " x ".join(map(str, out_shape[name][1:])),
                      "ours_parameters": models.count_parameters(m)} for name, m in layers])
print(f"{len(ours)} parameterised layers, output of the network: {tuple(y.shape)}")
ours

# %% [markdown]
# ## Table 1 row by row
# The paper's rows with parameters are paired, in order, with the model's parameterised layers; rows without
# parameters (ReLU, ADD, sub) stand as printed with 0 on both sides. A row *matches* when the layer kind agrees
# (a convolution row with a `Conv2d`, a BatchNorm row with a `BatchNorm2d`) and the counts are equal.

# %%
ref = paper.table1()
with_params = ref.index[ref.parameters > 0]
assert len(with_params) == len(ours), f"Table 1 has {len(with_params)} rows with parameters, the model {len(ours)}"
t1 = ref.rename(columns={"layer": "paper_layer", "formula": "paper_formula", "parameters": "paper_parameters"})
t1 = t1.join(ours.set_index(with_params))
t1[["module", "module_type", "kind", "shape", "output"]] = t1[["module", "module_type", "kind", "shape",
                                                               "output"]].fillna("")
t1["module_type"] = t1["module_type"].replace("", "functional")
t1["ours_parameters"] = t1["ours_parameters"].fillna(0).astype(int)
t1["match"] = np.where(t1.paper_parameters > 0,
                       np.array([k != "" and pl.startswith(k) for pl, k in zip(t1.paper_layer, t1.kind, strict=True)])
                       & (t1.ours_parameters == t1.paper_parameters).to_numpy(),
                       t1.ours_parameters == 0)
t1 = t1.drop(columns="kind")
paper.save_table(t1, cfg.out, "table1")
t1

# %% [markdown]
# The module names also follow `csi.models.TABLE1_ROWS`, the transcription the package itself checks against.

# %%
names_in_order = [m for m, _, n in models.TABLE1_ROWS if n > 0]
same_order = names_in_order == list(ours.module)
total, printed = int(t1.ours_parameters.sum()), int(t1.paper_parameters.sum())
k, n = int(t1["match"].sum()), len(t1)
bad = t1[~t1["match"]]
per_stage = t1.groupby("stage", sort=False)[["paper_parameters", "ours_parameters"]].sum()
display(Markdown(
    f"The model has **{total:,}** trainable parameters, {'equal to' if total == printed else 'different from'} the "
    f"{printed:,} of Table 1 (`models.count_parameters(net)` = {models.count_parameters(net):,}); **{k} of {n}** "
    f"rows agree in layer kind and count" + ("." if bad.empty else ": rows " + ", ".join(
        f"{r.row} ({r.paper_layer})" for r in bad.itertuples()) + " differ.")
    + " Per stage (ours / paper): " + "; ".join(f"stage {s}: {int(r.ours_parameters):,} / {int(r.paper_parameters):,}"
                                                 for s, r in per_stage.iterrows())
    + f". Module order {'equals' if same_order else 'differs from'} `csi.models.TABLE1_ROWS`. The output "
    f"{tuple(y.shape)} has the input's height and width, as §3.2.1 requires of a residual."))

# %% [markdown]
# ## Size and cost of the two learned extractors
# DnCNN (ref. [21]) is the paper's learned baseline: a 17-layer, 64-channel Gaussian denoiser. FLOPs count two per
# multiply-add (`models.flops_per_pixel`); the colour extractor runs DnCNN once per colour channel, CSI-CNN once
# on the RGB image. The receptive radius is how many pixels of context each output pixel sees.

# %%
rows = []
for label, model, passes in (("CSI-CNN", models.CSICNN(), 1), ("DnCNN", models.DnCNN(), 3)):
    fpp = models.flops_per_pixel(model)
    rows.append({"model": label, "parameters": models.count_parameters(model),
                 "conv_layers": sum(isinstance(m, nn.Conv2d) for m in model.modules()),
                 "receptive_radius_px": models.receptive_radius(model), "passes_per_rgb_image": passes,
                 "flops_per_pixel": fpp, "gflops_per_256px_image": fpp * 256 * 256 * passes / 1e9})
sizes = pd.DataFrame(rows)
paper.save_table(sizes, cfg.out, "model_sizes")
sizes

# %%
c, d = sizes.set_index("model").loc["CSI-CNN"], sizes.set_index("model").loc["DnCNN"]
display(Markdown(
    f"DnCNN has {d.parameters / c.parameters:.1f}× the parameters of CSI-CNN ({int(d.parameters):,} against "
    f"{int(c.parameters):,}) and costs {d.gflops_per_256px_image / c.gflops_per_256px_image:.1f}× its FLOPs on a "
    f"256 × 256 RGB image ({d.gflops_per_256px_image:.1f} against {c.gflops_per_256px_image:.1f} GFLOPs); each "
    f"CSI-CNN output pixel sees ±{int(c.receptive_radius_px)} px of context, a DnCNN pixel ±"
    f"{int(d.receptive_radius_px)} px."))

# %% [markdown]
# ## The figure: parameters per row
# One bar per row of Table 1 that has parameters, coloured by stage, as the model counts them; the black tick is the
# paper's printed count (they coincide when the row matches).

# %%
shown = t1[t1.paper_parameters.gt(0) | t1.ours_parameters.gt(0)].iloc[::-1]
colours = {"1": "C0", "sub": "C2", "2": "C1"}
fig, ax = plt.subplots(figsize=(8, 0.3 * len(shown) + 1.2))
yy = np.arange(len(shown))
ax.barh(yy, shown.ours_parameters, color=[colours[s] for s in shown.stage], height=0.7)
ax.scatter(shown.paper_parameters, yy, marker="|", s=180, color="k", zorder=3, label="paper (Table 1)")
for y_, v in zip(yy, shown.ours_parameters, strict=True):
    ax.text(v + 80, y_, f"{v:,}", va="center", fontsize=8)
ax.set_yticks(yy, [f"{r.row}. {r.paper_layer} ({r.module})" for r in shown.itertuples()])
ax.set_xlim(0, shown.ours_parameters.max() * 1.15)
ax.set_xlabel("trainable parameters (csi.models.CSICNN)")
handles = [Patch(color=colours[s], label=f"stage {s}") for s in dict.fromkeys(shown.stage[::-1])]
ax.legend(handles=[*ax.get_legend_handles_labels()[0], *handles], loc="lower right")
ax.set_title(f"Table 1 row by row: {total:,} parameters in all (paper: {printed:,})")
fig.tight_layout()
paper.save_figure(fig, cfg.out, "table1_parameters")
fig
