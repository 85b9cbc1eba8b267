"""csi.experiments: run settings and validation of the notebooks' parameter values (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csi import experiments as ex


def _setup(**kw):
    args = {"scale": "smoke", "out_dir": "figs", "data_root": "data", "notebook": "00_data"}
    args.update(kw)
    return ex.setup(**args)


def test_setup_defaults_and_derived_paths(tmp_path):
    cfg = _setup(out_dir=tmp_path / "f", data_root=tmp_path / "d", notebook="06_table3_accuracy")
    assert cfg.datasets == ex.RECIPES
    assert cfg.torch_device in ("cpu", "cuda", "mps")
    assert cfg.out == tmp_path / "f" / "06_table3_accuracy" and cfg.out.is_dir()
    assert cfg.cache == tmp_path / "d" / "cache"
    assert cfg.settings == ex.SCALES["smoke"]["notebooks"]
    assert cfg.crop == ex.SCALES["smoke"]["notebooks"]["crop"] and cfg.fingerprint_size == "full"
    assert cfg.csi_cnn_checkpoint is None and cfg.train_on_source is False
    d = ex.describe(cfg)
    assert list(d.columns) == ["setting", "value"] and {"scale", "crop"} <= set(d.setting)
    assert not d.setting.duplicated().any()


def test_the_parameters_cell_names_and_defaults_agree():
    assert list(ex.DEFAULTS) == list(ex.PARAMETERS)
    import inspect

    sig = inspect.signature(ex.setup).parameters
    for name, value in ex.DEFAULTS.items():
        assert sig[name].default == value, name


def test_setup_parses_dataset_lists():
    assert _setup(datasets=" vision, our ,vision").datasets == ("vision", "our")
    assert _setup(datasets=["daxing"]).datasets == ("daxing",)


def test_geometry_defaults_depend_on_the_source(tmp_path):
    real = _setup(source="folder", data_path=tmp_path, scale="cpu")
    assert real.crop == ex.SCALES["cpu"]["real_crop"] == 512 and real.datasets == ("folder",)
    assert _setup(scale="cpu").crop == ex.SCALES["cpu"]["notebooks"]["crop"]
    assert _setup(crop="full").crop is None
    assert _setup(crop=256, fingerprint_size=512).fingerprint_size == 512
    assert _setup(crop="96").crop == 96  # papermill -p passes strings


def test_table_datasets_reads_kaggle_both_ways():
    cfg = _setup(datasets="our,kaggle,vision")
    assert ex.table_datasets(cfg) == ("our", "kaggle", "kaggle-other", "vision")
    assert ex.main_dataset(_setup(datasets="vision,daxing")) == "vision"


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"scale": "huge"}, ValueError, "unknown scale 'huge'"),
    ({"source": "flickr"}, ValueError, "unknown source 'flickr'"),
    ({"datasets": "our,dresden"}, ValueError, "unknown dataset 'dresden'"),
    ({"datasets": " , "}, ValueError, "datasets must name at least one"),
    ({"datasets": 3}, TypeError, "datasets must be"),
    ({"device": "tpu"}, ValueError, "unknown device 'tpu'"),
    ({"seed": -1}, ValueError, "seed must be a non-negative int"),
    ({"seed": True}, ValueError, "seed must be a non-negative int"),
    ({"seed": 1.5}, ValueError, "seed must be a non-negative int"),
    ({"notebook": "99_nope"}, ValueError, "unknown notebook"),
    ({"scale": 1}, TypeError, "scale must be a string"),
    ({"out_dir": ""}, ValueError, "out_dir must not be empty"),
    ({"data_root": 5}, TypeError, "data_root must be a str or Path"),
    ({"source": "vision"}, ValueError, "needs data_path"),
    ({"source": "vision", "data_path": "no/such/dataset"}, ValueError, "is not an existing folder"),
    ({"crop": 4}, ValueError, "crop must be an int >= 8"),
    ({"crop": "whole"}, ValueError, "crop must be an int >= 8"),
    ({"fingerprint_size": 16, "crop": 32}, ValueError, "fingerprint_size .* must be at least the crop"),
    ({"csi_cnn_checkpoint": "no/such.pt"}, ValueError, "csi_cnn_checkpoint .* is not an existing"),
    ({"train_on_source": "yes"}, TypeError, "train_on_source must be True or False"),
])
def test_setup_rejects_bad_values(kw, exc, match):
    with pytest.raises(exc, match=match):
        _setup(**kw)


def test_setup_can_run_again_and_ignores_other_names_in_the_notebook():
    # the notebook may define any other name and re-run the setup cell: only values are validated
    a = _setup()
    b = _setup()
    assert a == b


def test_experiments_stays_a_settings_module():
    lines = (Path(ex.__file__).read_text()).count("\n")
    assert lines <= 600, f"csi/experiments.py has {lines} lines; it holds run settings and validation only"
