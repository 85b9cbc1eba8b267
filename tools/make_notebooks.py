"""Generate the numbered notebooks in ``notebooks/`` from the cell lists below (clean JSON, no outputs).

Run ``python tools/make_notebooks.py`` after editing; ``tests/test_notebooks.py`` checks that the stored
notebooks have no outputs, no execution counts, one ``parameters`` cell and the ``python3`` kernelspec.
The notebooks stay thin: every computation lives in :mod:`csi.experiments` and :mod:`csi.paper`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
LANGUAGE_INFO = {"name": "python"}

IMPORTS = """\
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from csi import experiments, paper

_before = set(globals())  # names defined so far; setup() rejects any other new name but the parameters"""

PARAMETERS = """\
scale = "cpu"
source = "synthetic"
data_path = ""
datasets = "our,kaggle,vision,daxing"
device = "auto"
seed = 0
out_dir = "../figures"
data_root = "../data\""""

PARAMS_MD = """\
## Parameters
Papermill overrides this cell (`make reproduce` / `make figure NB=..`). `scale`: `"smoke"` (seconds, for tests),
`"cpu"` (default, minutes on a laptop) or `"paper"` (the paper's sizes, for a GPU). `source`: `"synthetic"` (the
simulator's stand-ins for the paper's datasets) or a real loader (`vision`, `kaggle`, `daxing`, `dresden`, `fodb`,
`folder`) with `data_path` pointing at your copy. `datasets`: which synthetic recipes to run (ignored for a real
source). The next cell validates every value and stops with a clear message on a bad one."""


def setup_cell(name: str) -> str:
    return f"""\
cfg = experiments.setup(scale=scale, source=source, data_path=data_path, datasets=datasets, device=device,
                        seed=seed, out_dir=out_dir, data_root=data_root, notebook="{name}",
                        new_names=set(globals()) - _before)
experiments.describe(cfg)"""


def show(expr_name: str, save: str, what: str = "table") -> str:
    if what == "table":
        return f'paper.save_table({expr_name}, cfg.out, "{save}")\n{expr_name}'
    return f'paper.save_figure({expr_name}, cfg.out, "{save}")\n{expr_name}'


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["00_data"] = [
    ("md", """\
# 00 · Data: the four datasets, the five platforms, and the simulator

The paper (§4.1) tests on four datasets — VISION, the Kaggle / SP Cup 2018 camera-model set, Daxing and the
authors' own five phones — each "uploaded" to Twitter, Facebook, Instagram, WeChat and Weibo: 20 conditions
(§4.3). The authors' own set is not public and none of the others may be downloaded here, so by default the
companion *simulates* a stand-in for each one with the same structure (devices, models, scene types, the real
on-disk layout), using the camera model of Eq. 1–2: `I = I0 + I0·K + Θ`. The simulator knows the true
fingerprint `K` of every device, which the paper never has (notebook 02 uses it).

Set `source` to a real loader and `data_path` to your copy to run every notebook on real data instead."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("md", """\
## The datasets of this run
One row per dataset: devices, models, images, the image size and the 1:1:6:2 split per device
(validation, fingerprint estimation, training, test; §3.2.2). The paper's own counts (§4.1) are beside them."""),
    ("code", """\
summary = experiments.dataset_summary(cfg)
paper.save_table(summary, cfg.out, "datasets")
summary"""),
    ("code", "display(Markdown(experiments.dataset_sentences(summary)))"),
    ("md", """\
## Platform profiles
What each platform does to an upload (resize rule, JPEG quality, chroma subsampling), as simulated. The values are
public estimates that change over time (see `csi.simulate`); a run at a reduced sensor size scales the size cap
by the same factor so the resize ratio stays real."""),
    ("code", """\
profiles = experiments.platform_profiles()
paper.save_table(profiles, cfg.out, "platform_profiles")
profiles"""),
    ("md", """\
## The simulator chain
Scene → lens/light → sensor with PRNU `K` (Eq. 1) → shot/read noise → demosaicing, white balance, gamma → the
camera's JPEG → the platform's resize and re-compression. Each panel is a real intermediate of one synthetic
picture."""),
    ("code", """\
fig = experiments.plot_simulator_chain(cfg)
paper.save_figure(fig, cfg.out, "simulator_chain")
fig"""),
    ("md", "## Sample images\nOne camera original per device (first devices of each dataset)."),
    ("code", """\
fig = experiments.plot_samples(cfg)
paper.save_figure(fig, cfg.out, "samples")
fig"""),
    ("md", """\
## One picture on every platform
The same test picture as the camera wrote it and as each platform serves it (100 % crops of the centre): the
re-compression and the resize are what weaken the PRNU signal in the later notebooks."""),
    ("code", """\
fig, views = experiments.plot_platform_views(cfg)
paper.save_figure(fig, cfg.out, "platform_views")
paper.save_table(views, cfg.out, "platform_views")
display(views)
fig"""),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["01_table1_architecture"] = [
    ("md", """\
# 01 · Table 1: the CSI-CNN architecture

§3.2.1, Fig. 1 and Table 1. CSI-CNN is fully convolutional: stage 1 (conv + BN + ReLU, a bottleneck residual
block 1×1 → 3×3 → 1×1 with an ADD, BN, a 3×3 conv back to 3 channels) estimates a clean image; "Function sub"
subtracts it from the input; stage 2 (the same blocks) maps the difference to a one-channel noise residual of the
input's size. The table below is read off the model in `csi.models.CSICNN` — every count is computed from the
module's tensors — beside the paper's printed rows (`data/paper/table1.csv`).

Choices where the paper is ambiguous (documented in `csi.models`): the ReLU after "sub" is kept because Table 1
lists it (switchable); Table 1's unnumbered "Convolution layer" is conv 3; biases only where Table 1 counts them."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("code", """\
t1 = experiments.table1_from_model()
paper.save_table(t1, cfg.out, "table1")
t1"""),
    ("code", "display(Markdown(experiments.table1_sentences(t1)))"),
    ("md", """\
## Size and cost of the two learned extractors
DnCNN (ref. [21]) is the paper's second baseline; it is a 17-layer, 64-channel denoiser, about twelve times
larger than CSI-CNN. FLOPs count two per multiply-add."""),
    ("code", """\
sizes = experiments.model_summary()
paper.save_table(sizes, cfg.out, "model_sizes", index=True)
sizes"""),
    ("code", """\
fig = experiments.plot_table1(t1)
paper.save_figure(fig, cfg.out, "table1_parameters")
fig"""),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["02_fingerprints"] = [
    ("md", """\
# 02 · Camera fingerprints (Eq. 3–5)

§3.1.2: a denoising filter `F` gives `I0' = F(I)` (Eq. 3), the noise residual is `W = I − I0' = I·K + η`
(Eq. 4), and the maximum-likelihood fingerprint of a camera from `N` images is
`K = Σ W_k I_k / Σ I_k²` (Eq. 5). The companion uses the established wavelet filter (4-level `db4`, local Wiener
shrinkage, σ = 5) and the standard post-processing (gray, zero-mean rows/columns per CFA sub-lattice, Wiener
filtering in the DFT domain); see `csi.prnu`.

Each device's fingerprint is estimated from its `fingerprint` split (1 part in 10, §3.2.2). Because the simulator
knows every device's true `K`, this notebook can also measure what the paper cannot: how close the estimate is
to the truth as the number of images grows."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("md", "## One picture through Eq. 3–5"),
    ("code", """\
fig = experiments.plot_prnu_steps(cfg)
paper.save_figure(fig, cfg.out, "prnu_steps")
fig"""),
    ("md", """\
## The fingerprints of every dataset
Estimated once and cached (`data_root/cache/fingerprints/...`); notebooks 03–08 reuse them. `ncc_truth` is the
normalised correlation with the simulator's ground truth (empty for real data)."""),
    ("code", """\
fps = experiments.fingerprint_table(cfg)
paper.save_table(fps, cfg.out, "fingerprints")
fps"""),
    ("md", """\
## Fingerprint quality vs number of images
For `N` images of the `fingerprint` and `train` splits, the NCC of the estimate with the device's true `K`
(solid), and with the *other* devices' true `K` (dashed: what a wrong match looks like). Not in the paper."""),
    ("code", """\
quality = experiments.fingerprint_quality(cfg)
paper.save_table(quality, cfg.out, "fingerprint_quality")
fig = experiments.plot_fingerprint_quality(quality)
paper.save_figure(fig, cfg.out, "fingerprint_quality")
fig"""),
    ("code", "display(Markdown(experiments.fingerprint_sentences(quality)))"),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["03_training"] = [
    ("md", """\
# 03 · Training CSI-CNN and DnCNN

§3.2.2, Fig. 2: a training pair is `(label, I', K')` with `I'` a 64×64 patch of a training image; for `label = 1`,
`K'` is the patch at the same position of the source camera's fingerprint, for `label = 0` a patch of another
camera's fingerprint; 64 pairs per batch. The loss is the paper's cosine loss (Eq. 6–8) with `φ` chosen in
`csi.losses` (the paper gives no value). lr 0.001, ×0.2 every 30 epochs at paper scale (§4.3, our reading).

CSI-CNN is trained once on the `our` stand-in's `train` split and applied to every dataset: the paper says one
training generalises across cameras. DnCNN (the baseline, ref. [21]) cannot be downloaded pre-trained here, so it
is trained by the companion as a blind Gaussian denoiser on the same training images (`csi.train`). Both
checkpoints are cached (`csi.train.get_or_train`) and reused by notebooks 04–07. The number of epochs and
images depends on `scale`: at `cpu` scale this is a short run, not the paper's 100 epochs. The paper prints no
training curves for this model (its only curves are Fig. 6, notebook 08), so there is nothing to set beside them."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("code", """\
checkpoints = experiments.train_models(cfg)
history = experiments.training_history(cfg)
paper.save_table(history, cfg.out, "training_history")
history.tail(10)"""),
    ("md", """\
## Loss and validation AUC per epoch
The AUC is the verification AUC (Eq. 12) of the validation pairs: how well the correlation of the network's
output with a fingerprint patch separates matching from non-matching pairs."""),
    ("code", """\
fig = experiments.plot_training(history)
paper.save_figure(fig, cfg.out, "training_curves")
fig"""),
    ("code", "display(Markdown(experiments.training_sentences(history)))"),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["04_table2_correlation"] = [
    ("md", """\
# 04 · Table 2: correlation of each camera's images with each camera's fingerprint

§4.3.1: on their own 5-phone set, the authors take 200 test images per camera and report the mean correlation of
the CSI-CNN residual with every camera's fingerprint, plus a "Wavelet" column: the mean correlation of the
wavelet residual with the true camera. The paper does not say which platform the images come from; we use the
camera originals. Our stand-in has five simulated cameras (names differ from the paper's phones) and as many
test images per camera as the scale gives. The paper's claim: every camera's images correlate best with their
own camera's fingerprint, and CSI-CNN's own-camera correlation is higher than the wavelet one."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("code", """\
t2 = experiments.table2(cfg)
paper.save_table(t2["ours"], cfg.out, "table2_ours", index=True)
paper.save_table(t2["paper"], cfg.out, "table2_paper", index=True)
paper.save_table(t2["summary"], cfg.out, "table2_side_by_side")
display(Markdown("**This run** (rows: test images' camera; columns: fingerprint's camera)"), t2["ours"])
display(Markdown("**Paper, Table 2**"), t2["paper"])
t2["summary"]"""),
    ("code", """\
fig = experiments.plot_table2(t2)
paper.save_figure(fig, cfg.out, "table2_heatmaps")
fig"""),
    ("code", "display(Markdown(experiments.table2_sentences(t2)))"),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["05_fig3_heatmaps"] = [
    ("md", """\
# 05 · Fig. 3 (a–f): correlation heatmaps on each platform

§4.3.2, Fig. 3: "uploading our dataset to five platforms and taking two pictures randomly from each camera": a
heatmap of the correlation of each picture's CSI-CNN residual with each camera's fingerprint. We draw one panel
for the camera originals and one per platform, with two pictures per camera drawn with the run's seed. The paper
prints no numbers for Fig. 3; its text claims that the NCC of CSI-CNN is higher than that of DnCNN and the wavelet
filter, which is checked below on all test images of the `our` stand-in."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("code", """\
f3 = experiments.fig3_data(cfg)
paper.save_table(f3, cfg.out, "fig3_ncc")
fig = experiments.plot_fig3(f3)
paper.save_figure(fig, cfg.out, "fig3_heatmaps")
fig"""),
    ("code", """\
true_ncc = experiments.true_camera_ncc(cfg)
paper.save_table(true_ncc, cfg.out, "mean_true_camera_ncc")
true_ncc"""),
    ("code", "display(Markdown(experiments.fig3_sentences(f3, true_ncc)))"),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["06_table3_accuracy"] = [
    ("md", """\
# 06 · Table 3: closed-set accuracy, 4 datasets × 5 platforms × 3 methods

§4.3.2, Table 3: "the camera with the largest correlation coefficient with the image is used as the source
camera", and ACC (Eq. 9) is the fraction of test images attributed to their true camera. Methods: CSI-CNN, the
wavelet PRNU residual and DnCNN, all correlated with the same fingerprints (Eq. 5). The paper's numbers
(`data/paper/table3.csv`) are beside ours with the difference. Chance level is 1 / (number of cameras).

The datasets here are simulated stand-ins (notebook 00), so agreement in the *pattern* (which method wins, which
platform hurts most) matters more than the values. The Kaggle stand-in tests on a second device of each model,
as the real competition does. PRNU identifies devices, not models, so PRNU alone should give about chance-level
accuracy there; anything above chance comes from model-level traces (demosaicing, JPEG) that survive the
post-processing."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("code", """\
acc = experiments.table3(cfg)
t3 = experiments.table3_side_by_side(acc)
paper.save_table(acc, cfg.out, "accuracy_long")
paper.save_table(t3, cfg.out, "table3")
t3"""),
    ("code", """\
fig = experiments.plot_table3(t3)
paper.save_figure(fig, cfg.out, "table3_paper_vs_ours")
fig"""),
    ("code", "display(Markdown(experiments.table3_sentences(t3)))"),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["07_fig4_fig5_roc_auc"] = [
    ("md", """\
# 07 · Fig. 4 (AUC bars) and Fig. 5 (ROC curves)

§4.2.2, §4.3.2. Verification: every test image is scored against every camera's fingerprint (NCC); a pair is
positive when the camera is the image's true source. The ROC plots TPR (Eq. 11) against FPR (Eq. 10) over all
thresholds, and the AUC is computed with the Mann–Whitney rank formula (Eq. 12). We use the standard definitions
of TP/FP/TN/FN (the paper's text swaps FN and TN).

The paper prints no numbers for Fig. 4 or Fig. 5; its claims are "the method proposed in this paper has better
results" (Fig. 4) and that all three methods "have good performance" (Fig. 5). They are checked below against this
run. The scores are the same evaluation tables as notebook 06 (cached)."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("code", """\
auc = experiments.auc_table(cfg)
paper.save_table(auc, cfg.out, "fig4_auc")
fig = experiments.plot_fig4(auc)
paper.save_figure(fig, cfg.out, "fig4_auc_bars")
fig"""),
    ("code", """\
roc = experiments.roc_table(cfg)
paper.save_table(roc, cfg.out, "fig5_roc_points")
fig = experiments.plot_fig5(roc, auc)
paper.save_figure(fig, cfg.out, "fig5_roc")
fig"""),
    ("code", "display(Markdown(experiments.fig45_sentences(auc)))"),
]

# ------------------------------------------------------------------------------------------------------------
NOTEBOOKS["08_fig6_loss_curves"] = [
    ("md", """\
# 08 · Fig. 6: the paper's loss vs MSE, AUC per epoch on five platforms

§4.3.2, Fig. 6: to test the loss, the authors train CSI-CNN on Daxing with a 3:1 train/test split, lr 0.001 for
100 epochs (×0.2 every 30), once with the MSE loss of ref. [20] and once with their cosine loss (Eq. 6–8), and
plot the AUC on each of the five platforms after every epoch. We do the same on the Daxing stand-in (devices'
images split 3:1, fingerprints from the training part), with the number of epochs the scale allows.

The paper prints no numbers; its claim is that its loss "can make the model converge faster, and the training
result is more stable". Below, *faster* is measured as the first epoch reaching 95 % of the run's best AUC and
*more stable* as the standard deviation of the AUC over the last half of the epochs."""),
    ("code", IMPORTS),
    ("md", PARAMS_MD),
    ("code", PARAMETERS),
    ("code", "SETUP"),
    ("code", """\
curves = experiments.fig6_curves(cfg)
paper.save_table(curves, cfg.out, "fig6_auc_per_epoch")
fig = experiments.plot_fig6(curves)
paper.save_figure(fig, cfg.out, "fig6_auc_per_epoch")
fig"""),
    ("code", """\
conv = experiments.fig6_convergence(curves)
paper.save_table(conv, cfg.out, "fig6_convergence")
conv"""),
    ("code", "display(Markdown(experiments.fig6_sentences(conv)))"),
]


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = nbformat.NotebookNode({"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)})
    out = []
    for kind, src in cells:
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            if src == "SETUP":
                src = setup_cell(name)
            cell = nbformat.v4.new_code_cell(src)
            if src == PARAMETERS:
                cell.metadata["tags"] = ["parameters"]
        cell.pop("id", None)
        out.append(cell)
    nb.cells = out
    nb.nbformat, nb.nbformat_minor = 4, 4  # no cell ids: stable, diff-friendly JSON
    return nb


def main(folder: Path = ROOT / "notebooks") -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = build(name, cells)
        nbformat.validate(nb)
        path = folder / f"{name}.ipynb"
        path.write_text(nbformat.writes(nb) + "\n" if not nbformat.writes(nb).endswith("\n") else nbformat.writes(nb))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
