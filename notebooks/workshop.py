# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Workshop · Which phone took this photo? Four exercises on Wang et al. (2021)
#
# A hands-on session on the paper's method, for a class of about two hours. Every sensor leaves a faint
# multiplicative pattern, its PRNU fingerprint `K`, in each photo (Eq. 1–2). A phone's fingerprint is estimated
# from a few of its photos (Eq. 3–5); a query photo is attributed to the phone whose fingerprint correlates best
# with the photo's noise residual (Table 3's rule; ACC, Eq. 9). Social platforms resize and re-compress photos,
# which weakens that correlation, and the paper's CSI-CNN (Table 1, Fig. 2, Eq. 6–8) is trained to extract a
# better residual than the wavelet filter.
#
# | part | minutes | what you do |
# |---|---|---|
# | start | 10 | run the first cells: the five simulated phones, their fingerprints, one score table |
# | exercise 1 | 25 | estimate a fingerprint (Eq. 3–5) and watch its quality grow with the number of photos |
# | exercise 2 | 25 | change WeChat's JPEG quality and watch the accuracy (Eq. 9) fall |
# | exercise 3 | 25 | write your own denoiser (Eq. 3–4) and compare it with the wavelet filter |
# | exercise 4 | 30 | train CSI-CNN for a few hundred steps (Fig. 2, Eq. 6–8) and compare it with the wavelet |
# | wrap-up | 5 | what the numbers say; where to go next |
#
# **How to work.** Run the cells one by one (Shift + Enter). Each exercise has a Markdown cell with the task and a
# code cell for you: it already runs as given (it does a first small step) and you complete it. Below it lies a
# **solution** cell: running it shows the reference answer's code and runs it (the code is kept in
# `workshop_solutions.b64`, so that it does not sit in plain text beside this notebook). Running a solution
# replaces your variables with the reference answer, so the next exercise always starts from a working state; "Run
# All" runs the solutions too. The short "what you should see" cell after each solution says what to look for.
#
# **Scale.** `scale = "cpu"` (the default below) simulates pictures of 1024 × 768 pixels and scores 50 test
# pictures, enough for every exercise to show its effect. The whole notebook, solutions and data simulation
# included, took 3.5 minutes on this project's 2-core reference machine the first time and 12 seconds once the
# data and scores were cached. `scale = "smoke"` simulates 320 × 240 pictures and scores 10 in about a minute,
# but at that size the effects of exercises 2 and 4 drown in the noise (every accuracy is uncertain by about
# ±0.3). The data are simulated stand-ins for the paper's photos (notebook 00), so the *pattern* matters more
# than the values.

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from scipy import ndimage

from csi import evaluate, experiments, figures, io, paper, pipeline, prnu, simulator, solutions, stats, train

# %% [markdown]
# ## Parameters
# Papermill overrides this cell. `scale`: `"cpu"` (the workshop's scale) or `"smoke"` (quick, too noisy to show
# the effects); `device`:
# `"auto"`, `"cpu"` or `"cuda"`; `out_dir`: where tables and figures go (`<out_dir>/workshop/`); `data_root`: the
# simulated data and every cache.

# %% tags=["parameters"]
scale = "cpu"
device = "auto"
seed = 0
out_dir = "../runs"  # your tables and figures go to ../runs/workshop/ (gitignored)
data_root = "../data"

# %%
cfg = experiments.setup(scale=scale, device=device, seed=seed, out_dir=out_dir, data_root=data_root,
                        notebook="workshop")
if cfg.scale == "smoke":
    # smoke pictures are 320 x 240 and the scale's 32-px centre crop holds too little PRNU for any method to beat
    # chance, so the workshop compares whole pictures there (the cpu and paper scales keep their crop)
    cfg = dataclasses.replace(cfg, crop=None)
figures.use_style()
experiments.describe(cfg)

# %% [markdown]
# ## The data: five simulated phones
# The `our` stand-in has five phones, like the authors' own set (Table 2). Each phone's pictures are split
# 1:1:6:2 into validation, fingerprint, training and test pictures (§3.2.2). `pipeline.fingerprints` estimates
# every phone's `K` from its fingerprint pictures (Eq. 5, cached), and, because the data are simulated,
# `pipeline.ground_truth` gives each phone's *true* `K`, which the paper cannot know.
#
# `pipeline.score` correlates the residual of every test picture with every phone's fingerprint: one row per
# picture and candidate phone, `ncc` being the paper's ρ. Table 3's rule attributes a picture to the phone with
# the largest ρ; `correct` below applies it, and ACC (Eq. 9) is the fraction of pictures it gets right.

# %%
ds = pipeline.load(cfg, "our")
K = pipeline.fingerprints(cfg, ds)      # Eq. 5, from each phone's fingerprint pictures
truth = pipeline.ground_truth(ds)       # the simulator's true K of each phone
platform = "facebook"                   # the platform of exercises 3 and 4
chance = 1 / len(K)
print(f"{len(K)} phones, pictures of {ds.images['width'].iloc[0]} x {ds.images['height'].iloc[0]} px, "
      f"{len(ds.test)} test pictures; chance = {chance:.2f}; crop: {cfg.crop or 'whole picture'}")
ds.split_counts()


# %%
def correct(scores: pd.DataFrame) -> pd.Series:
    """Per test picture: is the phone with the largest ρ its true phone? (Table 3's closed-set rule)"""
    S = scores.pivot_table(index="image", columns="candidate_device", values="ncc")
    true = scores.groupby("image")["true_device"].first().reindex(S.index)
    return S.idxmax(axis=1) == true


scores = pipeline.score(cfg, ds, "original", "wavelet")
print(f"wavelet filter on the camera originals: {correct(scores).sum()} of {scores['image'].nunique()} test "
      "pictures attributed to their phone")
scores.head()

# %% [markdown]
# ## Exercise 1 · Estimate a fingerprint and watch its quality grow with N (Eq. 3–5)
#
# §3.1.2: a denoising filter `F` gives `I0' = F(I)` (Eq. 3); the noise residual `W = I − I0' = I·K + η` (Eq. 4)
# holds the fingerprint `K` times the picture plus everything else `η`; and the maximum-likelihood estimate from
# `N` pictures is `K = Σ W_k I_k / Σ I_k²` (Eq. 5). `prnu.estimate_fingerprint(pictures)` computes Eq. 5 with the
# wavelet filter as `F` (plus the usual refinements: intensity weights, a saturation mask, zero-mean rows and
# columns, Wiener filtering). `prnu.ncc(a, b)` is the paper's correlation ρ.
#
# **Task.** The cell below reads every picture of one phone, whatever its split (their centres only). For N = 1,
# 2, 4, 8, … estimate `K` from the first N pictures, and compute its ρ with the phone's true `K` (`K_own`) and
# with another phone's true `K` (`K_other`). Plot both against N (a log scale on the x axis helps).

# %%
phones = sorted(truth)
phone, other = phones[0], phones[1]
side = 256  # centre crop of every picture and of the true K, so that the loop stays quick


def centre(a: np.ndarray) -> np.ndarray:
    return prnu.center_crop(a, (min(side, a.shape[0]), min(side, a.shape[1])))


paths = ds.images.loc[ds.images["device"] == phone, "path"].sort_values().tolist()
pictures = [centre(io.read_rgb(p)) for p in paths]
K_own, K_other = centre(truth[phone]), centre(truth[other])
print(f"{phone}: {len(pictures)} pictures, centre {pictures[0].shape[1]} x {pictures[0].shape[0]} px; "
      f"other phone: {other}")

# %%
# Exercise 1, your turn. As given, the cell estimates K from N = 1 picture only.
counts = [1]  # TODO: 1, 2, 4, 8, ... up to len(pictures)
rows = []
for n in counts:
    K_n = prnu.estimate_fingerprint(pictures[:n])  # Eq. 5 over the first n pictures
    rows.append({"N": n, "rho_own": prnu.ncc(K_n, K_own)})  # TODO: also rho with K_other
# TODO: plot rho against N
pd.DataFrame(rows)

# %% tags=["solution"]
# Solution 1: run this cell to see the reference answer and run it (it replaces your variables).
solutions.run(1)

# %% [markdown]
# ### What you should see
# ρ with the phone's own true `K` rises with N, steeply at first and then more slowly: each picture adds the same
# `K` while its scene and its random noise average out (roughly ρ² ∝ N / (N + c)). At smoke scale it goes from
# about 0.1 with one picture to about 0.36 with 8; at cpu scale from about 0.13 to about 0.42 with 8 and 0.65
# with 64. ρ with the other phone's `K` stays near 0 (0.01 or less) whatever N: that gap is what attribution
# relies on. The fingerprints of exercises 2–4 come from each phone's *fingerprint* pictures, 1 per phone at smoke
# scale and 8 at cpu scale: read off the curve how good they are.

# %% [markdown]
# ## Exercise 2 · Change a platform's JPEG quality and watch ACC fall (Eq. 9, Table 3)
#
# Table 3 reports the accuracy after each of five platforms re-served the photos. A platform resizes an upload and
# re-encodes it as JPEG at some quality factor (QF, 1–100); the simulator's profiles are in
# `simulator.PLATFORMS`, e.g. WeChat: long side 1280 px (scaled to the simulated sensor), QF 60. JPEG removes the
# fine high-frequency detail where the PRNU lives.
#
# ACC (Eq. 9) in Table 3's closed-set reading: every test picture is attributed to the phone with the largest ρ,
# and ACC = correct / n. Report it with n and a 95 % interval: with `k` correct out of `n`,
# `stats.wilson_interval(k, n)` returns `(low, high)`.
#
# **Task.** Make a copy of the WeChat profile with QF 90, 60, 30 and 10, score the wavelet filter on each copy
# (`pipeline.score(cfg, ds, "wechat", "wavelet", profiles={"wechat": prof})`; the copies are made and cached the
# first time), compute ACC with n and its Wilson interval, and plot ACC against QF. *Going further:* set
# `prof["long_side"] = None` (and `prof["aspect_short_cap"] = None`) to switch the resize off and see the JPEG
# alone.

# %%
pd.Series(simulator.PLATFORMS["wechat"]).drop("source").to_frame("wechat")

# %%
# Exercise 2, your turn. As given, the cell scores one quality.
prof = dict(simulator.PLATFORMS["wechat"])  # a copy: the simulator's own table stays as it is
prof["quality"] = 60  # TODO: loop over 90, 60, 30, 10
scores = pipeline.score(cfg, ds, "wechat", "wavelet", profiles={"wechat": prof})
ok = correct(scores)  # one True/False per test picture
print(f"QF {prof['quality']}: {ok.sum()} of {len(ok)} test pictures attributed to their phone")
# TODO: ACC = correct / n with its 95 % Wilson interval for each quality, in a table, and a plot against QF

# %% tags=["solution"]
# Solution 2: run this cell to see the reference answer and run it (it replaces your variables).
solutions.run(2)

# %% [markdown]
# ### What you should see
# With the resize switched off ("JPEG only") ACC is high at QF 90 and falls towards chance (0.2) as the quality
# drops to 10: quantisation wipes out the high-frequency noise that carries the PRNU (at cpu scale about 0.9,
# 0.7, 0.45, 0.3 for QF 90, 60, 30, 10, n = 50; at smoke scale 0.9–1.0 at QF 90 and 0.1–0.3 below). The copies as
# WeChat serves them are worse, because the downscale to 1280/4032 ≈ 32 % of the sensor's side mixes neighbouring
# pixels' PRNU: at cpu scale about 0.55 at QF 90 and about chance from QF 60 on; at smoke scale the copies are
# only about 100 px wide and sit near chance whatever the quality. With n = 10 (smoke) a Wilson interval is about
# ±0.3 wide: a difference between two points is only real where their intervals do not overlap much.
#
# From here on, two helpers package this computation: `accuracy` (ACC with n and the Wilson interval) and `auc`
# (the AUC of Eq. 12 with an interval that resamples pictures, `stats.auc_interval`).

# %%
def accuracy(scores: pd.DataFrame) -> dict:
    """Closed-set ACC (Eq. 9) with n and its 95 % Wilson interval."""
    ok = correct(scores)
    lo, hi = stats.wilson_interval(int(ok.sum()), len(ok))
    return {"correct": int(ok.sum()), "n": len(ok), "acc": float(ok.mean()), "ci_low": lo, "ci_high": hi}


def auc(scores: pd.DataFrame) -> dict:
    """AUC (Eq. 12): every picture x phone pair is a sample, positive for the true phone; 95 % interval."""
    positive = (scores["true_device"] == scores["candidate_device"]).to_numpy()
    a, lo, hi = stats.auc_interval(scores["ncc"].to_numpy(), positive, scores["image"].to_numpy(), n_boot=1000,
                                   seed=cfg.seed)
    return {"n": scores["image"].nunique(), "auc": a, "ci_low": lo, "ci_high": hi}


accuracy(pipeline.score(cfg, ds, "original", "wavelet"))

# %% [markdown]
# ## Exercise 3 · Swap in your own denoiser (Eq. 3–4)
#
# Eq. 3–4 do not fix the denoiser `F`: the residual is `W = I − F(I)` for any `F`. The paper compares three: the
# wavelet filter, DnCNN and its own CSI-CNN. `pipeline.score` accepts any Python function `image -> residual`
# (image: `(H, W, 3)` on 0–255; residual: `(H, W)`), and caches its scores under a key of the function's code, so
# editing the function and running the cell again recomputes them.
#
# **Task.** Write `my_residual`: for example the gray picture (`prnu.rgb_to_gray`) minus a Gaussian-filtered
# (`ndimage.gaussian_filter(gray, 1.0)`) or median-filtered (`ndimage.median_filter(gray, 3)`) copy of itself.
# Score it on the camera originals and on `platform` (Facebook), and compare its ACC (with intervals) with the
# wavelet's. *Going further:* end your function with `prnu.postprocess(W)`, the zero-mean and Wiener steps every
# built-in extractor gets.

# %%
# Exercise 3, your turn. As given, "my_residual" does not denoise at all: W is the picture itself.
def my_residual(img: np.ndarray) -> np.ndarray:
    gray = prnu.rgb_to_gray(img.astype(np.float32))
    return gray - gray.mean()  # TODO: gray minus a denoised copy of itself, F(I) (Eq. 3-4)


for condition in ("original", platform):
    for method in (my_residual, "wavelet"):
        r = accuracy(pipeline.score(cfg, ds, condition, method, progress=False))
        name = method if isinstance(method, str) else method.__name__
        print(f"{condition:>9} {name:>12}: ACC {stats.format_ci(r['acc'], r['ci_low'], r['ci_high'], 2)}, "
              f"n = {r['n']}")

# %% tags=["solution"]
# Solution 3: run this cell to see the reference answer and run it (it replaces your variables).
solutions.run(3)

# %% [markdown]
# ### What you should see
# Without denoising (the cell as given) the "residual" is mostly the scene, and ACC is far below the wavelet's:
# about 0.4–0.5 on the originals and near chance on the Facebook copies. Even a crude `F` changes that: the 3 × 3
# median filter with the post-processing matches the wavelet filter, at cpu scale about 0.98 against 0.96 on the
# originals and about 0.75 for both on the Facebook copies (n = 50; the intervals overlap: no real difference). At
# smoke scale the Facebook copies are downscaled by half to 160 px and the two land near 0.5 and 0.2–0.3, with
# intervals about ±0.3 wide. A Gaussian filter (σ = 1) does worse (at cpu scale 0.90 on the originals and 0.56
# on the copies, without the post-processing): it lets more of the scene's edges into the residual. The choice of
# `F` matters most after a platform has processed the photo, which is what a learned `F` (exercise 4) is meant to
# improve.

# %% [markdown]
# ## Exercise 4 · Train CSI-CNN for a few hundred steps and compare (Fig. 2, Eq. 6–8)
#
# CSI-CNN (Table 1, 47,628 parameters) is trained on pairs `(label, I', K')` (Fig. 2): `I'` a patch of a training
# picture and `K'` the patch of its own phone's fingerprint (label 1) or of another phone's (label 0), with the
# cosine loss of Eq. 6–8. The paper trains 100 epochs (about 3.2 million pairs); notebook 03 trains the scale's
# budget; here you train a few hundred steps. `train.get_or_train` trains once and caches the model under a key
# of the data, the budget and the code (as `pipeline.checkpoints` does for the other notebooks); the validation
# pictures' platform copies judge the network after each stage (AUC, Eq. 12).
#
# **Task.** Train CSI-CNN for a few hundred steps (e.g. 300 steps of 8 pairs at smoke scale, of 16 at cpu scale),
# look at its history (`train.load_history`), score it with `evaluate.get_extractor("csi-cnn", checkpoint=ckpt)`
# through `pipeline.score` on the originals and on `platform`, and compare its ACC and AUC with the wavelet's
# with `stats.paired_bootstrap(table, "acc" or "auc", "csi-cnn", "wavelet")`: both methods see the same pictures,
# so the interval of the difference is computed by resampling pictures. Say "beats" only if the whole 95 %
# interval of the difference lies above 0 (`stats.verdict`).

# %%
tcfg = pipeline.training_config(cfg)                   # the run whose data the network trains on (this one)
train_ds = pipeline.training_dataset(cfg)              # the `our` stand-in, checked to have training pictures
train_df = train_ds.part("train")[["path", "device"]]  # the training pictures and their phones
val_df = pipeline.validation_copies(tcfg, train_ds)    # validation pictures as four platforms serve them
K_train = pipeline.fingerprints(tcfg, train_ds)        # the targets K' come from these fingerprints
print(f"{len(train_df)} training pictures, {len(val_df)} validation copies")

# %%
# Exercise 4, your turn. As given, the cell trains for 10 steps only (seconds) and shows the history.
steps, batch = 10, 8  # TODO: a few hundred steps
sizes = {**experiments.sizes(cfg.scale, "csi_cnn"), "pairs": steps * batch, "batch": batch, "evals": 1}
ckpt = train.get_or_train("csi-cnn", "workshop-our", sizes, scale=cfg.scale, seed=cfg.seed, train=train_df,
                          val=val_df, fingerprints=K_train, cache_dir=cfg.cache / "models", device=cfg.torch_device)
history = train.load_history(ckpt)
# TODO: score it with evaluate.get_extractor("csi-cnn", checkpoint=ckpt) through pipeline.score, on "original"
#       and platform, and compare ACC and AUC with the wavelet's (stats.paired_bootstrap)
history[["pairs_seen", "train_loss", "val_auc", "val_ncc_true"]]

# %% tags=["solution"]
# Solution 4: run this cell to see the reference answer and run it (it replaces your variables).
solutions.run(4)

# %% [markdown]
# ### What you should see
# The training loss is noisy (each point is a few batches), so judge the run by the validation AUC. It depends on
# the scale:
#
# * **cpu** (300 steps of 16 pairs, 4,800 pairs, a thousandth of the paper's budget): the validation AUC climbs
#   from about 0.6 (the untrained network) to about 0.8, and on the test pictures CSI-CNN comes close to the
#   wavelet filter (ACC on the originals about 0.98 against 0.96, on the Facebook copies about 0.70 against 0.75,
#   n = 50): the differences are a few hundredths, their intervals contain 0 ("no significant difference") or lie
#   just below it ("loses"), and none lies above 0.
# * **smoke** (300 steps of 8 pairs): the validation AUC stays near 0.5. The targets `K'` come from fingerprints
#   of one picture each (ρ ≈ 0.1 with the truth, exercise 1), so there is almost nothing to learn, and CSI-CNN
#   loses to the wavelet: on the originals the whole interval of the difference lies below 0.
#
# Either way CSI-CNN does not *beat* the wavelet after a short run; a claim that it does needs the whole interval
# above 0. How the answer depends on the training budget is what notebook 09 measures.

# %% [markdown]
# ## Where to go next
# * **Notebook 06** (Table 3): the accuracy of all three extractors on four datasets and five platforms, beside
#   the paper's numbers; its cells tagged `edit-extractor` and `edit-platform` take your denoiser from exercise 3
#   and your platform profile from exercise 2 into the whole table.
# * **Notebook 07** (Fig. 4–5): ROC curves and AUC (Eq. 10–12) with intervals, the same paired comparison per
#   platform.
# * **Notebook 09** (claim check): does CSI-CNN beat the wavelet once it is trained long enough? Budgets, seeds
#   and intervals.
