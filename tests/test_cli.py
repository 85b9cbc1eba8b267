"""The `csi` command on a generated folder: fingerprint, identify, verify, info, errors and exit codes.

The folder is made by the simulator (csi.simulator) at 192x256 px with a strong planted PRNU (3 %), so that
every decision is clear-cut on photos this small: VISION-like `<device>/flat` and `<device>/nat` folders for
three cameras (two of one model), natural photos of a fourth camera that has no fingerprint, and a portrait,
a cropped and a downscaled copy of a photo of the first camera.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

click_testing = pytest.importorskip("click.testing")

from csi import batch, cli, evaluate, io, prnu, simulator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (192, 256)
DEVICES = [("D01_Apple_X", "Apple_X"), ("D02_Sony_Y", "Sony_Y"), ("D03_Apple_X", "Apple_X"), ("D04_Nokia_Z", "Nokia_Z")]
N_FLAT = 10  # = batch.MIN_IMAGES


def _make_folder(root: Path) -> Path:
    data = root / "data"
    for i, (dev, model) in enumerate(DEVICES):
        K = simulator.device_prnu(SHAPE, 0, "cli-test", dev, 0.03)
        proc = simulator.model_processing(model)
        rng = np.random.default_rng(i)
        for kind, n in (("flat", N_FLAT if dev != "D04_Nokia_Z" else 0), ("nat", 2)):
            folder = data / dev / kind
            folder.mkdir(parents=True, exist_ok=True)
            for j in range(n):
                scene = simulator.make_scene("flat" if kind == "flat" else "dead_leaves", SHAPE, rng)
                (folder / f"{kind}_{j:02d}.jpg").write_bytes(simulator.render_jpeg(scene, K, proc, rng))
        if i == 0:  # altered copies of one photo of the first camera
            img = simulator.render_raw(simulator.make_scene("dead_leaves", SHAPE, rng), K, proc, rng)
            odd = root / "odd"
            odd.mkdir()
            Image.fromarray(np.rot90(img, 1).copy()).save(odd / "portrait_ccw.png")  # held the other way
            Image.fromarray(np.rot90(img, -1).copy()).save(odd / "portrait_cw.png")
            Image.fromarray(img[20:148, 50:210].copy()).save(odd / "crop.png")  # 160x128 px at (20, 50)
            Image.fromarray(img).resize((192, 144), Image.Resampling.BICUBIC).save(odd / "down.jpg", quality=92)
    return data


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = _make_folder(root)
    fp = root / "fp"
    result = click_testing.CliRunner().invoke(cli.cli, ["-q", "fingerprint", *map(str, sorted(data.glob("D0[123]*/flat"))),
                                                        "-o", str(fp)])
    assert result.exit_code == 0, result.output
    return root, data, fp


def run(*args):
    return click_testing.CliRunner().invoke(cli.cli, ["-q", *map(str, args)])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


# ------------------------------------------------------------------------------------------ main path


def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["csi"] == "csi.cli:main"


def test_help_lists_commands_examples_and_exit_codes():
    r = run("--help")
    assert r.exit_code == 0
    for word in ("fingerprint", "identify", "verify", "info", "Exit codes", "csi identify data/*/nat"):
        assert word in r.output
    for sub in ("fingerprint", "identify", "verify", "info"):
        r = run(sub, "--help")
        assert r.exit_code == 0 and "Example" in r.output, r.output


def test_fingerprint_files_hold_k_and_metadata(folder):
    root, data, fp = folder
    assert sorted(p.name for p in fp.glob("*.npz")) == ["D01_Apple_X.npz", "D02_Sony_Y.npz", "D03_Apple_X.npz"]
    K, meta = batch.load_fingerprint(fp / "D01_Apple_X.npz")
    assert K.dtype == np.float32 and K.shape == SHAPE
    assert meta["device"] == "D01_Apple_X" and meta["n_images"] == N_FLAT and len(meta["images"]) == N_FLAT
    assert meta["skipped"] == [] and meta["csi_version"] and meta["format_version"] == batch.FORMAT_VERSION
    assert meta["settings"]["sigma"] == 5.0 and meta["settings"]["shifts"] == 1
    # the library's Eq. 5 on the same files (chunks of 8 summed in order: equal to float32 rounding)
    paths = sorted((data / "D01_Apple_X" / "flat").glob("*.jpg"))
    np.testing.assert_allclose(K, prnu.estimate_fingerprint(paths), rtol=0, atol=1e-5 * np.abs(K).max())
    r = run("info", fp / "D01_Apple_X.npz")
    assert r.exit_code == 0 and "D01_Apple_X" in r.output and "256x192" in r.output and "10 used" in r.output


def test_fingerprint_of_one_chunk_is_bit_identical_to_the_library(folder, tmp_path):
    root, data, fp = folder
    paths = sorted((data / "D02_Sony_Y" / "flat").glob("*.jpg"))[: batch.CHUNK]
    sub = tmp_path / "D02" / "flat"
    sub.mkdir(parents=True)
    for p in paths:
        (sub / p.name).write_bytes(p.read_bytes())
    r = run("fingerprint", sub, "-o", tmp_path / "fp", "--min-images", 2)
    assert r.exit_code == 0, r.output
    K, _ = batch.load_fingerprint(tmp_path / "fp" / "D02.npz")
    np.testing.assert_array_equal(K, prnu.estimate_fingerprint(paths))


def test_identify_attributes_every_photo_and_unknown_camera(folder, tmp_path):
    """The acceptance commands: csi fingerprint <folder>/*/flat -o fp/, csi identify <folder>/*/nat --fingerprints fp/."""
    root, data, fp = folder
    out = tmp_path / "nat.csv"
    r = run("identify", *sorted(data.glob("*/nat")), "--fingerprints", fp, "-o", out)
    assert r.exit_code == 0, r.output
    rows = read_csv(out)
    assert len(rows) == 2 * len(DEVICES)
    for row in rows:
        true = Path(row["photo"]).parent.parent.name
        want = "unknown" if true == "D04_Nokia_Z" else true
        assert row["decision"] == want, row
        assert float(row["pce"]) == max(float(row[f"pce:{d}"]) for d, _ in DEVICES[:3])
        if want != "unknown":
            assert row["best_device"] == true and float(row["pce"]) > 100
        else:
            assert float(row["pce"]) < 60
        for d, _ in DEVICES[:3]:
            assert row[f"ncc:{d}"] and row[f"pce:{d}"]


def test_identify_portrait_cropped_and_downscaled(folder, tmp_path):
    root, data, fp = folder
    out = tmp_path / "odd.jsonl"
    r = run("identify", root / "odd", "-f", fp, "--format", "jsonl", "-o", out)
    assert r.exit_code == 0, r.output
    rows = {Path(x["photo"]).name: x for x in read_jsonl(out)}
    for name, row in rows.items():
        assert row["decision"] == "D01_Apple_X", (name, row)
        assert set(row["candidates"]) == {"D01_Apple_X", "D02_Sony_Y", "D03_Apple_X"}
    assert rows["portrait_ccw.png"]["rotation"] == 180  # read_rgb turns it upside down; 180 is tried
    assert rows["portrait_cw.png"]["rotation"] == 0
    assert rows["crop.png"]["how"] == "cropped" and rows["crop.png"]["offset"] == [20, 50]
    assert rows["down.jpg"]["how"] == "resampled"
    # a limited search range that excludes the crop's true position loses the peak
    r = run("identify", root / "odd" / "crop.png", "-f", fp, "--search", 4, "--format", "jsonl", "-o", out)
    assert r.exit_code == 0 and read_jsonl(out)[0]["decision"] == "unknown"
    # the scale search finds the downscaled copy as a crop of the 0.75x frame
    r = run("identify", root / "odd" / "down.jpg", "-f", fp, "--scales", "0.75", "--format", "jsonl", "-o", out)
    row = read_jsonl(out)[0]
    assert r.exit_code == 0 and row["decision"] == "D01_Apple_X"


def test_ncc_is_notebook_06s(folder, tmp_path):
    """csi identify's NCC is notebook 06's: csi.evaluate's wavelet extractor and fingerprint_window, csi.prnu.ncc."""
    root, data, fp = folder
    photo = sorted((data / "D02_Sony_Y" / "nat").glob("*.jpg"))[0]
    K = {d: batch.load_fingerprint(fp / f"{d}.npz")[0] for d, _ in DEVICES[:3]}
    for crop in (None, 96):
        out = tmp_path / "one.jsonl"
        r = run("identify", photo, "-f", fp, "--format", "jsonl", "-o", out, *(("--crop", crop) if crop else ()))
        assert r.exit_code == 0, r.output
        got = read_jsonl(out)[0]["candidates"]
        # notebook 06, "One test image, step by step", with one BLAS thread as csi runs (the same bits)
        with batch._runtime():
            img = io.read_rgb(photo)
            y0, y1, x0, x1 = evaluate.crop_box(img.shape[:2], crop)
            W = evaluate.get_extractor("wavelet")(img[y0:y1, x0:x1])
            for d, Kd in K.items():
                assert got[d]["ncc"] == prnu.ncc(W, evaluate.fingerprint_window(Kd, img.shape[:2], (y0, y1, x0, x1)))
        # and the evaluation table behind notebook 06's Table 3
        table = evaluate.evaluate("wavelet", pd.DataFrame({"path": [str(photo)], "device": ["D02_Sony_Y"]}), K,
                                  crop=crop, cache_dir=None, progress=False)
        for t in table.itertuples():
            assert got[t.candidate_device]["ncc"] == pytest.approx(t.ncc, abs=1e-12)
            assert got[t.candidate_device]["pce"] == pytest.approx(t.pce, rel=1e-9)


def test_verify(folder):
    root, data, fp = folder
    a, b = sorted((data / "D01_Apple_X" / "nat").glob("*.jpg"))
    r = run("verify", a, fp / "D01_Apple_X.npz")
    assert r.exit_code == 0 and r.output.startswith("same camera"), r.output
    r = run("verify", a, fp / "D03_Apple_X.npz", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["same"] is False
    r = run("verify", fp / "D01_Apple_X.npz", fp / "D02_Sony_Y.npz", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["kind"] == "fingerprint-fingerprint"
    r = run("verify", a, b, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["kind"] == "photo-photo"


# ------------------------------------------------------------------------------------- same results


def test_workers_and_dask_give_the_same_results(folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, data, fp = folder
    dirs = sorted(data.glob("D0[12]*/flat"))
    photos = sorted(data.glob("D0[12]*/nat"))
    ref = tmp_path / "ref.jsonl"
    assert run("identify", *photos, "-f", fp, "--format", "jsonl", "-o", ref, "--workers", "1").exit_code == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        runs = {"one process": ["--workers", "1"], "two processes": ["--workers", "2"],
                "dask": ["--scheduler", cluster.scheduler_address]}  # the fixture used the default: every core
        for name, opt in runs.items():
            r = run("fingerprint", *dirs, "-o", tmp_path / name.replace(" ", "_"), *opt)
            assert r.exit_code == 0, (name, r.output)
            for d in ("D01_Apple_X", "D02_Sony_Y"):
                K, meta = batch.load_fingerprint(tmp_path / name.replace(" ", "_") / f"{d}.npz")
                K0, meta0 = batch.load_fingerprint(fp / f"{d}.npz")
                # the same chunks summed in the same order (bit-identical here; a BLAS with another thread
                # count may round the residual's matrix products differently)
                np.testing.assert_allclose(K, K0, rtol=0, atol=1e-6 * np.abs(K0).max())
                assert meta["images"] == meta0["images"]
            out = tmp_path / f"{name.replace(' ', '_')}.jsonl"
            r = run("identify", *photos, "-f", fp, "--format", "jsonl", "-o", out, *opt)
            assert r.exit_code == 0, (name, r.output)
            got, want = read_jsonl(out), read_jsonl(ref)
            assert [_round(g) for g in got] == [_round(w) for w in want]


def _round(row):
    """A result row with floats to 9 significant digits (BLAS dot products differ in the last bits with the
    number of threads a worker process is given)."""
    if isinstance(row, float):
        return float(f"{row:.9g}")
    if isinstance(row, dict):
        return {k: _round(v) for k, v in row.items()}
    if isinstance(row, list):
        return [_round(v) for v in row]
    return row


# ---------------------------------------------------------------------------------- errors, exit codes


def test_unreadable_files_are_skipped_and_named(folder, tmp_path):
    root, data, fp = folder
    flat = tmp_path / "D09_Broken" / "flat"
    flat.mkdir(parents=True)
    for p in sorted((data / "D01_Apple_X" / "flat").glob("*.jpg")):
        (flat / p.name).write_bytes(p.read_bytes())
    (flat / "zz_truncated.jpg").write_bytes((flat / "flat_00.jpg").read_bytes()[:3000])
    Image.fromarray(np.full(SHAPE, 128, np.uint8)).save(flat / "zz_gray.png")  # grayscale: no colour PRNU
    (flat / "notes.txt").write_text("not a photo")
    r = run("fingerprint", flat, "-o", tmp_path / "fp")
    assert r.exit_code == 0, r.output
    assert "zz_truncated.jpg" in r.output and "zz_gray.png" in r.output and "notes.txt" in r.output
    _, meta = batch.load_fingerprint(tmp_path / "fp" / "D09_Broken.npz")
    assert meta["n_images"] == N_FLAT
    assert {Path(p).name for p, _ in meta["skipped"]} == {"zz_truncated.jpg", "zz_gray.png", "notes.txt"}
    assert all(reason for _, reason in meta["skipped"])
    # identify: the unusable photo gets decision 'error' and its reason, the others are written, exit code 4
    out = tmp_path / "id.csv"
    r = run("identify", flat / "zz_truncated.jpg", flat / "flat_00.jpg", "-f", fp, "-o", out)
    assert r.exit_code == 4, r.output
    assert "zz_truncated.jpg" in r.output
    rows = read_csv(out)
    assert [x["decision"] for x in rows] == ["error", "D01_Apple_X"] and rows[0]["error"]


def test_too_few_images(folder, tmp_path):
    root, data, fp = folder
    r = run("fingerprint", data / "D01_Apple_X" / "nat", "-o", tmp_path / "fp")
    assert r.exit_code == 5, r.output
    assert "D01_Apple_X" in r.output and "--min-images 10" in r.output
    assert not (tmp_path / "fp").exists()


def test_mixed_sizes(folder, tmp_path):
    root, data, fp = folder
    flat = tmp_path / "D05" / "flat"
    flat.mkdir(parents=True)
    for p in sorted((data / "D01_Apple_X" / "flat").glob("*.jpg")):
        (flat / p.name).write_bytes(p.read_bytes())
    Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(flat / "small.png")
    r = run("fingerprint", flat, "-o", tmp_path / "fp")
    assert r.exit_code == 6, r.output
    assert "2 sizes" in r.output and "small.png" in r.output and "--majority-size" in r.output
    r = run("fingerprint", flat, "-o", tmp_path / "fp", "--majority-size")
    assert r.exit_code == 0 and "small.png" in r.output


def test_missing_and_empty_inputs(folder, tmp_path):
    root, data, fp = folder
    (tmp_path / "empty" / "flat").mkdir(parents=True)
    r = run("fingerprint", tmp_path / "empty" / "flat", "-o", tmp_path / "fp")
    assert r.exit_code == 3 and "empty folder" in r.output and "'empty'" in r.output, r.output
    r = run("fingerprint", tmp_path / "nowhere", "-o", tmp_path / "fp")
    assert r.exit_code == 3 and "no such folder" in r.output
    r = run("identify", tmp_path / "empty" / "flat", "-f", fp)
    assert r.exit_code == 3 and "empty folder" in r.output
    r = run("identify", data / "D01_Apple_X" / "nat", "-f", tmp_path / "empty")
    assert r.exit_code == 3 and "no fingerprint files" in r.output
    r = run("identify", tmp_path / "nothing.jpg", "-f", fp)
    assert r.exit_code == 3 and "no such file" in r.output
    r = run("fingerprint", data / "D01_Apple_X" / "flat", data / "D01_Apple_X" / "nat", "-o", tmp_path / "fp")
    assert r.exit_code == 2 and "both give device name" in r.output
    assert run("identify", data, "-f", fp, "--format", "xml").exit_code == 2


def test_fingerprint_from_another_version_or_not_a_fingerprint(folder, tmp_path):
    root, data, fp = folder
    K, meta = batch.load_fingerprint(fp / "D01_Apple_X.npz")
    old = tmp_path / "old"
    old.mkdir()
    np.savez(old / "D01.npz", K=K, meta=np.array(json.dumps({**meta, "format_version": 0, "csi_version": "0.0.1"})))
    photo = sorted((data / "D01_Apple_X" / "nat").glob("*.jpg"))[0]
    for args in (("identify", photo, "-f", old), ("info", old / "D01.npz"), ("verify", photo, old / "D01.npz")):
        r = run(*args)
        assert r.exit_code == 7 and "format 0" in r.output and "csi fingerprint" in r.output, r.output
        assert "Traceback" not in r.output
    (old / "D01.npz").write_bytes(b"PK\x03\x04 not really a zip")
    r = run("info", old / "D01.npz")
    assert r.exit_code == 7 and "not a readable csi fingerprint file" in r.output
    np.savez(old / "D01.npz", K=K)
    r = run("info", old / "D01.npz")
    assert r.exit_code == 7 and "not a csi fingerprint file" in r.output


def test_device_names_from_folders():
    assert batch.device_name("VISION/D01_Samsung/images/flat") == "D01_Samsung"
    assert batch.device_name("VISION/D01_Samsung/images/natFBH") == "D01_Samsung"
    assert batch.device_name("phones/alice") == "alice"
    assert batch.device_name("phones/alice/Natural") == "alice"


def test_torch_residual_path_gives_the_same_fingerprints_and_decisions(folder, tmp_path):
    """--device cuda's code path (csi.prnu_torch), run on the CPU: fingerprints within 1e-4, same decisions."""
    pytest.importorskip("torch")
    root, data, fp = folder
    devices = [batch.scan_device(d) for d in sorted(data.glob("D0[12]*/flat"))]
    for dev, K, info in batch.compute_fingerprints(devices, device="torch-cpu", progress=False):
        K0, _ = batch.load_fingerprint(fp / f"{dev.name}.npz")
        np.testing.assert_allclose(K, K0, rtol=0, atol=1e-4)
        assert len(info["used"]) == N_FLAT
    fps = batch.find_fingerprints([fp])
    photos = [str(p) for p in sorted(data.glob("D0[12]*/nat/*.jpg"))] + [str(root / "odd" / "crop.png")]
    cpu = list(batch.identify(photos, fps, batch.MatchOptions(), progress=False))
    tor = list(batch.identify(photos, fps, batch.MatchOptions(device="torch-cpu"), progress=False))
    for a, b in zip(cpu, tor, strict=True):
        assert a["decision"] == b["decision"] and a["offset"] == b["offset"]
        assert b["ncc"] == pytest.approx(a["ncc"], rel=1e-3)


def test_reference_ik_and_entry_point(folder, tmp_path, capsys):
    root, data, fp = folder
    out = tmp_path / "ik.csv"
    r = run("identify", data / "D02_Sony_Y" / "nat", "-f", fp, "--reference", "IK", "-o", out)
    assert r.exit_code == 0 and all(x["decision"] == "D02_Sony_Y" for x in read_csv(out))
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and "csi" in capsys.readouterr().out


def test_internal_errors_are_one_line_with_exit_code_1(folder, monkeypatch):
    root, data, fp = folder

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(batch, "identify", broken)
    r = run("identify", data / "D01_Apple_X" / "nat", "-f", fp)
    assert r.exit_code == 1 and "internal error: RuntimeError: simulated bug" in r.output
    assert "Traceback" not in r.output and "--debug" in r.output
