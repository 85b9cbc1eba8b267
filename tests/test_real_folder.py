"""A user's own photos end to end: notebook 06 on a folder tree as a real user has it (issue: "every photo
counts", an "original" row, clear skip reports).

The tree: three phones with ``flat/`` and ``nat/`` sub-folders, one phone with a ``facebook/`` folder of
downloaded copies, a portrait photo, a photo of another size, a corrupt file and an empty device folder. The
photos come from the simulator (each phone has its own PRNU), written as ordinary JPEGs.
"""

from __future__ import annotations

import io as _io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from csi import simulator

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
PHONES = ("Acme_One", "Bolt_Two", "Core_Three")
SHAPE = (144, 192)


def _tree(root: Path) -> dict:
    rng = np.random.default_rng(0)
    proc = simulator.model_processing("Acme_One")
    expected_nat = 0
    for i, phone in enumerate(PHONES):
        K = simulator.device_prnu(SHAPE, 0, "folder-test", phone, 0.02)
        for kind, n in (("flat", 4), ("nat", 5)):
            d = root / phone / kind
            d.mkdir(parents=True)
            for j in range(n):
                scene = simulator.make_scene("flat" if kind == "flat" else "dead_leaves", SHAPE, rng)
                data = simulator.render_jpeg(scene, K, proc, rng)
                img = Image.open(_io.BytesIO(data))
                if kind == "nat" and i == 2 and j == 0:
                    img = img.transpose(Image.Transpose.ROTATE_90)  # a portrait photo
                if kind == "nat" and i == 2 and j == 1:
                    img = img.resize((144, 108))  # another size, same aspect
                img.save(d / f"IMG_{j:04d}.jpg", quality=95)
                if kind == "nat" and i == 1 and j < 2:  # downloaded copies of two photos
                    (root / phone / "facebook").mkdir(exist_ok=True)
                    (root / phone / "facebook" / f"IMG_{j:04d}.jpg").write_bytes(
                        simulator.apply_platform(data, "facebook", sensor_scale=1.0))
                expected_nat += kind == "nat"
    (root / PHONES[0] / "nat" / "IMG_9999.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    (root / "Empty_Phone").mkdir()
    return {"nat": expected_nat}


@pytest.mark.notebooks
@pytest.mark.slow
def test_notebook_06_on_a_folder_of_photos(tmp_path):
    import papermill

    from csi import weights

    photos = tmp_path / "photos"
    expected = _tree(photos)
    out = tmp_path / "figs"
    executed = tmp_path / "06.ipynb"
    papermill.execute_notebook(str(NB_DIR / "06_table3_accuracy.ipynb"), str(executed), kernel_name="python3",
                               cwd=str(NB_DIR), progress_bar=False,
                               parameters={"scale": "smoke", "source": "folder", "data_path": str(photos),
                                           "out_dir": str(out), "data_root": str(tmp_path / "data"),
                                           # the shipped networks: nothing to train at smoke scale either
                                           "csi_cnn_checkpoint": str(weights.shipped_checkpoint("csi-cnn", "cpu", 0)),
                                           "dncnn_checkpoint": str(weights.shipped_checkpoint("dncnn", "cpu", 0))})
    f = out / "06_table3_accuracy"
    acc = pd.read_csv(f / "accuracy_long.csv")
    assert set(acc.dataset) == {"folder"}
    assert {"original", "twitter", "facebook", "instagram", "wechat", "weibo"} == set(acc.platform)
    # every natural photo is a test photo, on every condition, for every method
    assert (acc.n_images == expected["nat"]).all(), acc[["platform", "method", "n_images"]]
    assert acc.ci_low.le(acc.acc).all() and acc.acc.le(acc.ci_high).all()
    table = pd.read_csv(f / "split_per_device.csv", keep_default_na=False).set_index("device")
    split = table[table["status"] == "used"]
    assert list(split.loc[list(PHONES), "tested"]) == [5, 5, 5]
    assert (split.loc[list(PHONES), "fingerprint"] == 4).all() and (split.loc[list(PHONES), "train"] == 0).all()
    left = table[table["status"] == "left out"]  # each file left out once, with its reason
    assert sorted(Path(p).name for p in left["file"]) == ["Empty_Phone", "IMG_9999.jpg"] and left["reason"].all()
    text = json.dumps(json.loads(executed.read_text())["cells"])
    assert "IMG_9999.jpg" in text and "Empty_Phone" in text  # skipped files are reported, by name
    t3 = pd.read_csv(f / "table3.csv")
    assert t3.paper_csi_cnn.isna().all() and len(t3) == 6
