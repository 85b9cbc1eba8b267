"""Every per-scale size of the project in one table (``smoke``, ``cpu``, ``paper``); pure data, no imports of csi.

The run machinery (:mod:`csi.experiments`, :mod:`csi.pipeline`, :mod:`csi.claim`) and the simulator's recipes read
it; the science modules take sizes as arguments.
"""

from __future__ import annotations

import copy
from typing import Any

SCALE_NAMES: tuple[str, ...] = ("smoke", "cpu", "paper")

#: Every per-scale size of the project, in one table: ``SCALES[scale][section]``. Sections:
#:
#: * ``notebooks``: ``crop`` (centre crop compared on the synthetic stand-ins), ``max_test`` test images per
#:   device and ``max_test_total`` per dataset (None: all), ``fp_counts`` (notebook 02's curve),
#:   ``fig3_per_camera`` (the paper's 2), ``fig6_*`` (Fig. 6's devices, pairs, evaluation points, batch, patch,
#:   validation crop).
#: * ``real_crop``: default crop on a real source (real PRNU is weak; docs/data.md, "Evaluation geometry").
#: * ``csi_cnn``: the CSI-CNN of notebooks 03-07 (``csi.train.get_or_train``): ``pairs`` drawn (Fig. 2),
#:   ``evals`` evaluation points, ``batch`` and ``patch`` (paper: 64 and 64, Sec. 3.2.2), ``crop`` of the
#:   training images, ``val_crop``. ``paper``: 100 epochs of 500 steps of 64 pairs.
#: * ``dncnn``: the blind Gaussian DnCNN (DnCNN-B of Zhang et al. 2017 at ``paper``).
#: * ``claim``: notebook 09's images per camera and their use (``reserve``: kept out of training, added to the
#:   fingerprint images for the target ablation's larger fingerprint), the simulated ``prnu_std`` (real phones
#:   0.5-1 %), the primary ``crop`` and the crops of the calibration table, the cosine-trained DnCNN's depth, width
#:   and validation points (each costs 12x CSI-CNN's), validation platforms, batch, patch.
#: * ``claim_grids``: notebook 09's grids (``short``: ``make reproduce``; ``full``: ``make claim-check``; cpu's
#:   ``medium``: short + CSI-CNN's next budget): ``budgets`` in training pairs per learned extractor (CSI-CNN and
#:   the cosine-trained DnCNN-17), ``seeds``, the ``augmented`` regime's budgets, and the target ablation's extra
#:   ``targets`` (``"fingerprint+reserve"``: Eq. 5 on fingerprint + reserve images; ``"true"``: the simulator's K)
#:   at ``target_budget`` (cpu ``full``: no augmented budget, DnCNN-17 to 4k: with CSI-CNN 128k x 3 that fills a session).
#: * ``sensor_shape``: the simulated sensor (H, W), the same for every camera so fingerprints align.
#: * ``recipes``: the simulator's dataset recipes, counts per recipe (``csi.simulator.recipe_counts``;
#:   docs/data.md gives the reasons).
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "notebooks": {"crop": 32, "max_test": 2, "max_test_total": 20, "fp_counts": (1, 2, 4), "fig3_per_camera": 2,
                      "fig6_devices": 4, "fig6_pairs": 64, "fig6_points": 2, "fig6_batch": 8, "fig6_patch": 32,
                      "fig6_val_crop": 32},
        "real_crop": 64,
        "csi_cnn": {"pairs": 64, "evals": 2, "batch": 8, "patch": 32, "crop": 128, "val_crop": 64},
        "dncnn": {"depth": 4, "width": 8, "steps": 6, "batch": 4, "patch": 32, "scenes": 4, "scene_size": 64},
        "claim": {"images": 30, "fingerprint": 4, "val": 2, "test": 4, "reserve": 4, "crop": 64, "val_crop": 64,
                  "prnu_std": 0.010, "calibration_crops": (48, 64),
                  "dncnn_depth": 5, "dncnn_width": 16, "dncnn_evals": 1,
                  "val_platforms": ("original", "facebook", "wechat"), "batch": 8, "patch": 32, "evals": 2},
        "claim_grids": {"short": {"budgets": {"csi-cnn": (32, 64), "dncnn-cosine": (32,)}, "seeds": (0,),
                                  "augmented": (), "targets": (), "target_budget": 32},
                        "full": {"budgets": {"csi-cnn": (32, 64), "dncnn-cosine": (32, 64)}, "seeds": (0,),
                                 "augmented": (64,), "targets": ("fingerprint+reserve", "true"), "target_budget": 32}},
        "sensor_shape": (240, 320),
        "recipes": {"our": {"devices": 5, "images": 12}, "kaggle": {"devices": 10, "train": 6, "test": 4, "crop": 64},
                    "vision": {"devices": 6, "flat": 4, "nat": 6}, "daxing": {"devices": 6, "flat": 3, "nat": 5}},
    },
    "cpu": {
        "notebooks": {"crop": 128, "max_test": 10, "max_test_total": 60, "fp_counts": (1, 2, 5, 10, 20, 40),
                      "fig3_per_camera": 2, "fig6_devices": 10, "fig6_pairs": 8000, "fig6_points": 8,
                      "fig6_batch": 32, "fig6_patch": 48, "fig6_val_crop": 96},
        "real_crop": 512,
        "csi_cnn": {"pairs": 16_000, "evals": 6, "batch": 64, "patch": 64, "crop": 512, "val_crop": 192},
        "dncnn": {"depth": 10, "width": 32, "steps": 600, "batch": 32, "patch": 40, "scenes": 96, "scene_size": 256},
        "claim": {"images": 210, "fingerprint": 30, "val": 10, "test": 40, "reserve": 70, "crop": 144, "val_crop": 160,
                  "prnu_std": 0.010, "calibration_crops": (96, 128, 144, 160, 192, 256),
                  "dncnn_depth": 17, "dncnn_width": 64, "dncnn_evals": 1,
                  "val_platforms": ("original", "facebook", "wechat"), "batch": 64, "patch": 64, "evals": 4},
        "claim_grids": {"short": {"budgets": {"csi-cnn": (2_000, 8_000), "dncnn-cosine": (2_000,)}, "seeds": (0, 1, 2),
                                  "augmented": (), "targets": (), "target_budget": 8_000},
                        "medium": {"budgets": {"csi-cnn": (2_000, 8_000, 32_000), "dncnn-cosine": (2_000,)},
                                   "seeds": (0, 1, 2), "augmented": (), "targets": (), "target_budget": 8_000},
                        "full": {"budgets": {"csi-cnn": (2_000, 8_000, 32_000, 128_000), "dncnn-cosine": (2_000, 4_000)},
                                 "seeds": (0, 1, 2), "augmented": (), "targets": ("fingerprint+reserve", "true"),
                                 "target_budget": 8_000}},
        "sensor_shape": (768, 1024),
        "recipes": {"our": {"devices": 5, "images": 80}, "kaggle": {"devices": 10, "train": 30, "test": 12, "crop": 128},
                    "vision": {"devices": 35, "flat": 8, "nat": 10}, "daxing": {"devices": 90, "flat": 5, "nat": 7}},
    },
    "paper": {
        "notebooks": {"crop": 512, "max_test": 200, "max_test_total": None, "fp_counts": (1, 2, 5, 10, 20, 50, 100),
                      "fig3_per_camera": 2, "fig6_devices": None, "fig6_pairs": 320_000, "fig6_points": 100,
                      "fig6_batch": 64, "fig6_patch": 64, "fig6_val_crop": 512},
        "real_crop": 512,
        "csi_cnn": {"pairs": 3_200_000, "evals": 100, "batch": 64, "patch": 64, "crop": 1024, "val_crop": 512},
        "dncnn": {"depth": 17, "width": 64, "steps": 30000, "batch": 128, "patch": 40, "scenes": 800,
                  "scene_size": 256},
        "claim": {"images": 1000, "fingerprint": 100, "val": 100, "test": 200, "reserve": 100, "crop": 144, "val_crop": 256,
                  "prnu_std": 0.010, "calibration_crops": (96, 144, 192, 256, 512),
                  "dncnn_depth": 17, "dncnn_width": 64, "dncnn_evals": 1,
                  "val_platforms": ("original", "facebook", "instagram", "wechat"), "batch": 64, "patch": 64,
                  "evals": 10},
        "claim_grids": {"short": {"budgets": {"csi-cnn": (64_000, 256_000, 1_000_000), "dncnn-cosine": (64_000,)},
                                  "seeds": (0, 1, 2), "augmented": (), "targets": (), "target_budget": 256_000},
                        "full": {"budgets": {"csi-cnn": (16_000, 64_000, 256_000, 1_000_000, 3_200_000),
                                             "dncnn-cosine": (16_000, 64_000, 256_000)}, "seeds": (0, 1, 2),
                                 "augmented": (256_000,), "targets": ("fingerprint+reserve", "true"),
                                 "target_budget": 256_000}},
        "sensor_shape": (1512, 2016),
        "recipes": {"our": {"devices": 5, "images": 1000},
                    "kaggle": {"devices": 10, "train": 275, "test": 264, "crop": 256},
                    "vision": {"devices": 35, "flat": 60, "nat": 140}, "daxing": {"devices": 90, "flat": 160, "nat": 320}},
    },
}


def sizes(scale: str, section: str) -> dict[str, Any]:
    """A copy of ``SCALES[scale][section]``, e.g. ``sizes("cpu", "csi_cnn")["pairs"] == 16_000``."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(repr, SCALE_NAMES))}, got {scale!r}")
    return copy.deepcopy(SCALES[scale][section])
