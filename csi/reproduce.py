"""Run the numbered notebooks with papermill and record a manifest (``make reproduce``).

``python -m csi.reproduce --scale cpu`` runs every ``notebooks/NN_*.ipynb`` in order, then the workshop, into
``<out>/<NN_name>/`` (executed copies in ``<out>/executed/``; ``<out>/manifest.json``: scale, seed, data, commit,
versions, device, each notebook's time and commit). ``--only 04,06`` reruns some. ``<out>``: :func:`default_out`.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from csi.cache import atomic_write_text
from csi.config import DEVICES, SCALES, check_choice, select_device
from csi.progress import BATCH_ENV

log = logging.getLogger("csi.reproduce")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PACKAGES = ("torch", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "PyWavelets", "scikit-learn",
            "scikit-image", "pillow", "papermill")  # fmt: skip
SOURCES = ("synthetic", "vision", "kaggle", "daxing", "dresden", "fodb", "folder")
DEFAULT_DATASETS = "our,kaggle,vision,daxing"


def list_notebooks(only: str = "", folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks, then the workshop; ``only``: comma-separated prefixes (``"04,06"``), each must match."""
    books = sorted(folder.glob("[0-9][0-9]_*.ipynb")) + sorted(folder.glob("workshop*.ipynb"))
    if not books:
        raise ValueError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    chosen: list[Path] = []
    for prefix in (s.strip() for s in only.split(",") if s.strip()):
        hits = [b for b in books if b.name.startswith(prefix)]
        if not hits:
            raise ValueError(f"--only {prefix!r} matches no notebook; have: {', '.join(b.stem for b in books)}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen) or books


def default_out(scale: str = "cpu", source: str = "synthetic", seed: int = 0,
                datasets: str = DEFAULT_DATASETS, only: str = "", params: dict | None = None) -> Path:
    """The output folder of a run without ``--out``: ``figures/`` for the reference run, else ``runs/<source>-<scale>/``.

    The reference run is every notebook with every setting at its default.

    Examples
    --------
    >>> default_out().name, default_out(source="folder").relative_to(ROOT).as_posix()
    ('figures', 'runs/folder-cpu')
    >>> default_out(only="06").relative_to(ROOT).as_posix()
    'runs/synthetic-cpu'
    """
    reference = (scale == "cpu" and source == "synthetic" and int(seed) == 0 and datasets == DEFAULT_DATASETS
                 and not only and not params)
    return ROOT / "figures" if reference else ROOT / "runs" / f"{source}-{scale}"


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when it lies in the repository, else absolute."""
    path = Path(path).resolve()
    return os.path.relpath(path, start) if path == ROOT or ROOT in path.parents else str(path)


def _merge_streams(outputs: list[dict]) -> list[dict]:
    """Consecutive stream outputs of one name joined into one (as Jupyter shows them; the text is unchanged)."""
    merged: list[dict] = []
    for o in outputs:
        prev = merged[-1] if merged else None
        if (o.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == o.get("name")):
            text = "".join(prev.get("text", "")) + "".join(o.get("text", ""))
            merged[-1] = {**prev, "text": text.splitlines(keepends=True)}
        else:
            merged.append(o)
    return merged


def _scrub_paths(executed: Path) -> None:
    """Make papermill's ``input_path``/``output_path``/``cwd`` metadata repository-relative; join progress lines."""
    nb = json.loads(executed.read_text())
    meta = nb.get("metadata", {}).get("papermill", {})
    for key in ("input_path", "output_path", "cwd"):
        if isinstance(meta.get(key), str):
            meta[key] = _relative(Path(meta[key]), ROOT)
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = _merge_streams(cell["outputs"])
    executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _git_commit() -> dict:
    """The code's commit; ``dirty`` if the code differed from it (outputs and data caches excluded)."""
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    status = git("status", "--porcelain", "--", ".", *(f":(exclude){p}" for p in ("figures", "figures-*", "data", "runs")))
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)}


def _environment(device: str) -> dict:
    """Commit, package versions and device of a run."""
    import torch

    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    resolved = select_device(device)
    info = {"requested": device, "resolved": resolved, "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            **({"gpu": torch.cuda.get_device_name(0)} if resolved == "cuda" else {})}
    return {"git": _git_commit(), "versions": versions, "device": info, "platform": platform.platform()}


def _parse_params(items: list[str] | None) -> dict:
    """``["grid=full", "crop=256"]`` -> ``{"grid": "full", "crop": 256}`` (ints and booleans converted)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        if not k.isidentifier():
            raise ValueError(f"--param name {k!r} is not a valid parameter name")
        out[k] = int(v) if v.lstrip("-").isdigit() else (v == "True" if v in ("True", "False") else v)
    return out


def _accepted(nb: Path, params: dict) -> dict:
    """The entries of ``params`` that the notebook's ``parameters`` cell defines (papermill would add others)."""
    cells = json.loads(nb.read_text())["cells"]
    src = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
    names = {t.id for node in ast.parse(src).body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    return {k: v for k, v in params.items() if k in names}


def run(scale: str = "cpu", device: str = "auto", seed: int = 0, source: str = "synthetic",
        data_path: str = "", datasets: str = DEFAULT_DATASETS, out: str | Path | None = None,
        only: str = "", data_root: str | Path = "data", params: dict | None = None) -> dict:
    """Execute the notebooks with papermill, write ``<out>/manifest.json`` (``out`` None: :func:`default_out`), return it.

    The settings and ``params`` (e.g. ``{"grid": "full"}``) go to each notebook that defines them in its
    ``parameters`` cell; ``only``: notebook prefixes; ``data_root``: synthetic data and caches.
    """
    import papermill

    check_choice("scale", scale, SCALES)
    check_choice("device", device, DEVICES)
    check_choice("source", source, SOURCES)
    if source != "synthetic" and not data_path:
        raise ValueError(f"source {source!r} needs --data-path pointing at your copy of the dataset")
    books = list_notebooks(only)
    out = Path(out).resolve() if out is not None else default_out(scale, source, seed, datasets, only, params)
    log.info("writing to %s", _relative(out, Path.cwd()))
    (out / "executed").mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if (only and manifest_path.exists()) else {}
    # notebooks run in notebooks/ and get repository paths relative to it: no machine folders in executed copies
    base = {"scale": scale, "source": source, "data_path": str(data_path), "datasets": datasets,
            "device": device, "seed": int(seed), "out_dir": _relative(out, NOTEBOOKS),
            "data_root": _relative(Path(data_root).resolve(), NOTEBOOKS), **(params or {})}
    os.environ[BATCH_ENV] = "terminal"  # a progress line per stage, relayed by log_output
    env = _environment(device)  # an --only rerun keeps the full run's commit; each notebook records its own
    run_git, env["git"] = env["git"], manifest.get("git", env["git"]) if only else env["git"]
    manifest.update({"scale": scale, "seed": int(seed), "source": source, "datasets": datasets,
                     "data_path": str(data_path) if source != "synthetic" else "", "params": dict(params or {}),
                     **env})  # fmt: skip
    manifest.setdefault("notebooks", {})
    started = time.perf_counter()
    failed = None
    for i, nb in enumerate(books, 1):
        target = out / "executed" / nb.name
        log.info("[%d/%d] %s (scale=%s, seed=%s)", i, len(books), nb.stem, scale, seed)
        t0, status = time.perf_counter(), "ok"
        try:
            papermill.execute_notebook(
                str(nb), str(target), parameters=_accepted(nb, base), kernel_name="python3", cwd=str(nb.parent),
                progress_bar=sys.stderr.isatty(), log_output=True,
            )
        except Exception as exc:  # papermill raises PapermillExecutionError; keep the manifest honest
            status = f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
            failed = (nb, target, exc)
        seconds = round(time.perf_counter() - t0, 1)
        if target.is_file():
            _scrub_paths(target)
        entry = manifest["notebooks"][nb.stem] = {"seconds": seconds, "status": status, "git": run_git,
                                                  "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        costs = out / nb.stem / "training_time_timings.csv"  # 09: each budget's training time (its networks' runs)
        if status == "ok" and costs.is_file():
            entry["training_time"] = pd.read_csv(costs).to_dict("records")
        log.info("    %s in %.1f s", status, seconds)
        atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
        if failed:
            break
    manifest["total_seconds"] = round(sum(v["seconds"] for v in manifest["notebooks"].values()), 1)
    manifest["this_run_seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    if failed:
        nb, target, exc = failed
        raise RuntimeError(f"notebook {nb.name} failed; the executed copy with the traceback is {target}") from exc
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m csi.reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="cpu", choices=SCALES)
    ap.add_argument("--device", default="auto", choices=DEVICES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", dest="source", default="synthetic", choices=SOURCES,
                    help="synthetic (default) or the loader for your real dataset")
    ap.add_argument("--data-path", default="", help="root folder of the real dataset")
    ap.add_argument("--datasets", default=DEFAULT_DATASETS, help="synthetic recipes to run")
    ap.add_argument("--out", default=None,
                    help="output folder (default: figures/ for the reference run of every notebook at the default "
                         "settings, else runs/<source>-<scale>/)")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--only", default="", help="comma-separated notebook prefixes, e.g. 06")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="another notebook parameter, e.g. --param crop=256 (repeatable)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("papermill").setLevel(logging.INFO)
    try:
        params = _parse_params(args.param)
        out = args.out or default_out(args.scale, args.source, args.seed, args.datasets, args.only, params)
        manifest = run(args.scale, args.device, args.seed, args.source, args.data_path, args.datasets,
                       out, args.only, args.data_root, params)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, entry in manifest["notebooks"].items():
        print(f"{name:32s} {entry['seconds']:8.1f} s  {entry['status']}")
    print(f"{'total':32s} {manifest['total_seconds']:8.1f} s -> {_relative(Path(out), Path.cwd())}/manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
