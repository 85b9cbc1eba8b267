"""The claim check's grid (notebook 09, issue 16): which networks a grid trains."""
from __future__ import annotations

from csi import claim, experiments


def test_grid_runs_cover_every_extractor_budget_seed_and_target_once():
    for scale in ("smoke", "cpu", "paper"):
        assert {"short", "full"} <= set(experiments.SCALES[scale]["claim_grids"])  # cpu adds "medium"
        for grid in experiments.SCALES[scale]["claim_grids"]:
            st = {**experiments.sizes(scale, "claim"), **experiments.SCALES[scale]["claim_grids"][grid]}
            runs = claim.grid_runs(st)
            assert len(runs) == len(set(runs))
            for ex, budgets in st["budgets"].items():
                main = {(n, s) for e, r, t, n, s in runs if e == ex and r == "originals" and t == "fingerprint"}
                assert main == {(n, s) for n in budgets for s in st["seeds"]}, (scale, grid, ex)
            for t in st["targets"]:
                assert t in claim.TARGETS
                assert {s for e, r, tt, n, s in runs if tt == t and n == st["target_budget"]} == set(st["seeds"])
            aug = {(n, s) for e, r, t, n, s in runs if r == "augmented"}
            assert aug == {(n, s) for n in st["augmented"] for s in st["seeds"]}
    full = experiments.SCALES["cpu"]["claim_grids"]["full"]
    # issue 16: at least 4 CSI-CNN budgets up to 128,000 pairs and 2 DnCNN-17 budgets, 3 seeds each, on CPU
    assert len(full["budgets"]["csi-cnn"]) >= 4 and max(full["budgets"]["csi-cnn"]) >= 128_000
    assert len(full["budgets"]["dncnn-cosine"]) >= 2 and len(full["seeds"]) == 3
    assert max(experiments.SCALES["paper"]["claim_grids"]["full"]["budgets"]["csi-cnn"]) >= 3_200_000
