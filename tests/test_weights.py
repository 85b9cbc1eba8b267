"""The networks shipped with the package (csi/weights/): loadable, as their provenance says, used without training."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from csi import experiments, paper, pipeline, train, weights
from csi.checkpoints import load_checkpoint, load_model, save_checkpoint
from csi.models import CSICNN, count_parameters
from csi.reproduce import ROOT

SHIPPED = sorted(weights.WEIGHTS_DIR.glob("*.pt"))
REFERENCE = weights.REFERENCE_TRAINING


def test_both_networks_of_the_reference_run_ship():
    for kind in ("csi-cnn", "dncnn"):
        path = weights.shipped_checkpoint(kind, REFERENCE["scale"], REFERENCE["seed"])
        assert path is not None and path in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_file_loads_and_matches_its_provenance(path):
    meta = weights.provenance(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]
    assert path.name == meta["file"] == f"{meta['kind']}-{meta['scale']}-s{meta['seed']}.pt"
    model = load_model(path)
    assert count_parameters(model) == meta["parameters"]
    assert set(load_checkpoint(path)) == {"state_dict", "config", "complete"}  # no optimizer state, no timings
    assert len(meta["commit"]) == 40 and meta["dirty"] is False
    assert math.isfinite(meta["final"]["train_loss"])


def test_shipped_csi_cnn_is_table1_trained_at_the_scale_budget():
    path = weights.shipped_checkpoint("csi-cnn", REFERENCE["scale"], REFERENCE["seed"])
    meta = weights.provenance(path)
    assert count_parameters(load_model(path)) == int(paper.table1()["parameters"].sum())
    assert meta["training"]["loss"] == REFERENCE["loss"]
    assert meta["training"]["pairs"] == experiments.SCALES[REFERENCE["scale"]]["csi_cnn"]["pairs"]
    assert 0.5 < meta["final"]["val_auc"] <= 1  # the validation metrics of its last history row


def _real_config(tmp_path: Path, **changes) -> experiments.Config:
    photos = tmp_path / "photos"
    photos.mkdir(exist_ok=True)
    cfg = experiments.setup(scale="cpu", source="folder", data_path=photos, device="cpu", out_dir=tmp_path / "out",
                            data_root=tmp_path / "data", notebook="06_table3_accuracy")
    return dataclasses.replace(cfg, **changes)


@pytest.fixture
def trainer(monkeypatch):
    """Record every training that pipeline.checkpoints asks for, and train nothing."""
    calls = []

    def get_or_train(kind, *args, **kwargs):
        calls.append(kind)
        return Path(f"trained-{kind}.pt")

    ds = SimpleNamespace(name="our", part=lambda split: pd.DataFrame({"path": ["a.png"], "device": ["cam"]}))
    monkeypatch.setattr(train, "get_or_train", get_or_train)
    monkeypatch.setattr(pipeline, "training_dataset", lambda cfg: ds)
    monkeypatch.setattr(pipeline, "fingerprints", lambda cfg, ds, progress=True: {})
    monkeypatch.setattr(pipeline, "validation_copies", lambda cfg, ds: pd.DataFrame())
    return calls


def test_a_real_source_uses_the_shipped_networks_and_trains_nothing(tmp_path, trainer):
    cfg = _real_config(tmp_path)
    ckpt = pipeline.checkpoints(cfg)
    assert ckpt == {kind: weights.shipped_checkpoint(kind, "cpu", cfg.seed) for kind in ("csi-cnn", "dncnn")}
    assert trainer == []
    assert not (tmp_path / "data").exists()  # no synthetic data made, no cache written


@pytest.mark.parametrize(("changes", "loss", "trained"), [
    ({"scale": "smoke", "settings": experiments.sizes("smoke", "notebooks")}, "cosine", ["csi-cnn", "dncnn"]),
    ({"train_on_source": True}, "cosine", ["csi-cnn"]),
    ({}, "mse", ["csi-cnn"]),
    ({"source": "synthetic", "data_path": None, "datasets": ("our",)}, "cosine", ["csi-cnn", "dncnn"]),
], ids=["smoke-has-none", "train-on-source", "other-loss", "synthetic-trains"])
def test_other_runs_train_as_before(tmp_path, trainer, changes, loss, trained):
    ckpt = pipeline.checkpoints(_real_config(tmp_path, **changes), loss=loss)
    assert trainer == trained
    assert all(ckpt[k] == Path(f"trained-{k}.pt") for k in trained)


def test_given_checkpoints_win_over_the_shipped_ones(tmp_path, trainer):
    given = save_checkpoint(tmp_path / "mine.pt", CSICNN(), {"kind": "csi-cnn", "model": {}})
    ckpt = pipeline.checkpoints(_real_config(tmp_path, csi_cnn_checkpoint=given))
    assert ckpt["csi-cnn"] == given and trainer == []


def _trained(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    history = [{"step": 1, "train_loss": 0.5, "val_auc": 0.75, "seconds": 12.5, "pairs_per_s": 3.0}]
    return save_checkpoint(path, CSICNN(), {"kind": "csi-cnn", "model": {}, "train": {"pairs": 8}},
                           history=history, optimizer={"state": {}}, complete=True)


def test_only_the_reference_run_ships_and_unchanged_weights_leave_the_files_alone(tmp_path):
    folder = tmp_path / "weights"
    ckpt = {"csi-cnn": _trained(tmp_path / "a.pt", seed=1)}
    reference = dataclasses.replace(experiments.setup(scale="cpu", device="cpu", out_dir=tmp_path / "out",
                                                      data_root=tmp_path / "data", notebook="03_training"),
                                    out_dir=ROOT / "figures")
    assert weights.ship_reference(dataclasses.replace(reference, out_dir=tmp_path / "out"), ckpt, folder=folder) == {}
    assert weights.ship_reference(dataclasses.replace(reference, seed=1), ckpt, folder=folder) == {}
    assert weights.ship_reference(reference, ckpt, loss="mse", folder=folder) == {}
    assert not folder.exists()

    shipped = weights.ship_reference(reference, ckpt, folder=folder)
    path = folder / "csi-cnn-cpu-s0.pt"
    assert shipped == {"csi-cnn": path}
    meta = weights.provenance(path)
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["final"] == {"step": 1, "train_loss": 0.5, "val_auc": 0.75}  # timings left out
    assert meta["training"] == {"pairs": 8} and meta["scale"] == "cpu" and meta["seed"] == 0
    assert torch.equal(load_model(path).conv1.weight, load_model(ckpt["csi-cnn"]).conv1.weight)

    before = (path.read_bytes(), path.with_suffix(".json").read_text())
    again = {"csi-cnn": _trained(tmp_path / "b.pt", seed=1)}  # the same weights, trained again
    assert weights.ship_reference(reference, again, folder=folder) == {"csi-cnn": None}
    assert (path.read_bytes(), path.with_suffix(".json").read_text()) == before

    other = {"csi-cnn": _trained(tmp_path / "c.pt", seed=2)}
    assert weights.ship_reference(reference, other, folder=folder) == {"csi-cnn": path}
    assert path.read_bytes() != before[0]
