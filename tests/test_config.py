"""Run configuration and the reproduce driver's argument checks."""

import json
from pathlib import Path

import pytest

from csi import config, reproduce


def test_check_choice_names_parameter():
    assert config.check_scale("smoke") == "smoke"
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        config.check_scale("huge")


def test_check_keys_lists_unknown():
    config.check_keys("option", {"a": 1}, ["a", "b"])
    with pytest.raises(ValueError, match="unknown option: zz"):
        config.check_keys("option", {"a": 1, "zz": 2}, ["a", "b"])


def test_select_device_cpu_and_bad():
    assert config.select_device("cpu") == "cpu"
    assert config.select_device("auto") in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="unknown device"):
        config.select_device("tpu")


def test_seed_everything_is_reproducible():
    import random

    import torch

    config.seed_everything(3)
    a = (random.random(), torch.rand(3))
    config.seed_everything(3)
    b = (random.random(), torch.rand(3))
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-1)


def test_reproduce_only_prefix(tmp_path):
    for name in ("00_a.ipynb", "06_b.ipynb", "06x_c.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text(json.dumps({}))
    assert [p.name for p in reproduce.list_notebooks("", tmp_path)] == ["00_a.ipynb", "06_b.ipynb"]
    assert [p.name for p in reproduce.list_notebooks("06", tmp_path)] == ["06_b.ipynb"]
    with pytest.raises(ValueError, match="matches no notebook"):
        reproduce.list_notebooks("07", tmp_path)
    with pytest.raises(ValueError, match="no numbered notebooks"):
        reproduce.list_notebooks("", tmp_path / "missing")


def test_reproduce_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown scale"):
        reproduce.run(scale="huge", out=tmp_path)
    with pytest.raises(ValueError, match="needs --data-path"):
        reproduce.run(scale="smoke", source="vision", out=tmp_path)
    assert reproduce.main(["--scale", "smoke", "--data", "vision", "--out", str(tmp_path)]) == 1


def test_reproduce_passes_repo_paths_relative_to_notebooks(tmp_path):
    assert reproduce._relative(reproduce.ROOT / "figures", reproduce.NOTEBOOKS) == "../figures"
    assert reproduce._relative(tmp_path, reproduce.NOTEBOOKS) == str(tmp_path.resolve())


def test_scrub_paths_makes_papermill_metadata_relative(tmp_path):
    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"metadata": {"papermill": {
        "input_path": str(reproduce.NOTEBOOKS / "00_data.ipynb"), "output_path": str(tmp_path / "out.ipynb")}}}))
    reproduce._scrub_paths(nb)
    meta = json.loads(nb.read_text())["metadata"]["papermill"]
    assert meta["input_path"] == "notebooks/00_data.ipynb"
    assert meta["output_path"] == str(tmp_path / "out.ipynb")  # outside the repository: left absolute


def test_an_only_rerun_keeps_the_full_runs_commit_and_records_its_own(tmp_path, monkeypatch):
    import papermill

    folder = tmp_path / "nbs"
    folder.mkdir()
    for name in ("00_a.ipynb", "06_b.ipynb"):
        (folder / name).write_text(json.dumps({"cells": [], "metadata": {}}))
    monkeypatch.setattr(reproduce, "NOTEBOOKS", folder)
    monkeypatch.setattr(reproduce, "list_notebooks", lambda only="": [
        p for p in sorted(folder.glob("*.ipynb")) if not only or p.name.startswith(only)])
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dest, **kw: Path(dest).write_text("{}"))
    commits = iter([{"commit": "a" * 40, "dirty": False}, {"commit": "b" * 40, "dirty": False}])
    monkeypatch.setattr(reproduce, "_git_commit", lambda: next(commits))
    out = tmp_path / "figs"
    full = reproduce.run(scale="smoke", out=out)
    assert full["git"]["commit"] == "a" * 40 and full["notebooks"]["06_b"]["git"]["commit"] == "a" * 40
    again = reproduce.run(scale="smoke", out=out, only="06")
    assert again["git"]["commit"] == "a" * 40  # the commit of the full run stays at the top
    assert again["notebooks"]["06_b"]["git"]["commit"] == "b" * 40  # the rerun notebook says where it ran
    assert again["notebooks"]["00_a"]["git"]["commit"] == "a" * 40
